/**
 * The policy-gradient loss of tree GRPO: PPO-clip with asymmetric bounds, token-level aggregation, an optional
 * KL penalty to a frozen reference policy (k1 or k3 estimator) and an optional entropy bonus.
 *
 *   r = exp(logp_new - logp_old)                                   per sampled token
 *   l = max(-A·r, -A·clip(r, 1 - clipLow, 1 + clipHigh))
 *   k1 = logp_new - logp_ref        k3 = exp(logp_ref - logp_new) - (logp_ref - logp_new) - 1   (≥ 0)
 *   loss = agg(l) + klCoef·agg(kl) - entropyCoef·agg(entropy)
 * agg: token-mean = Σ(x·mask) / Σ mask over the minibatch; seq-mean-token-mean = mean over rows of each row's
 * token mean (rows without tokens are left out).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';

export const PolicyLossConfigSchema = z
  .object({
    clipLow: z.number().min(0).default(0.2),
    clipHigh: z.number().min(0).default(0.28),
    aggregation: z.enum(['token-mean', 'seq-mean-token-mean']).default('token-mean'),
    klCoef: z.number().min(0).default(0),
    klEstimator: z.enum(['k1', 'k3']).default('k3'),
    entropyCoef: z.number().min(0).default(0),
  })
  .strict();
export type PolicyLossConfig = z.infer<typeof PolicyLossConfigSchema>;

export interface PolicyLossInputs {
  logprobs: tf.Tensor2D; // [B,T] under the current weights (differentiable)
  oldLogprobs: tf.Tensor2D; // [B,T] recorded by the sampler
  advantages: tf.Tensor2D; // [B,T]
  mask: tf.Tensor2D; // [B,T] 1 = a sampled token
  entropy?: tf.Tensor2D;
  refLogprobs?: tf.Tensor2D;
}

/** Masked aggregate of x [B,T] by the configured mode. */
export function aggregate(x: tf.Tensor2D, mask: tf.Tensor2D, mode: PolicyLossConfig['aggregation']): tf.Scalar {
  const masked = tf.mul(x, mask);
  if (mode === 'token-mean') return tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  const perRowCount = tf.sum(mask, 1);
  const perRow = tf.div(tf.sum(masked, 1), tf.maximum(perRowCount, 1));
  const rows = tf.cast(tf.greater(perRowCount, 0), 'float32');
  return tf.div(tf.sum(tf.mul(perRow, rows)), tf.maximum(tf.sum(rows), 1)) as tf.Scalar;
}

/** The loss (differentiable) and its diagnostics (scalars): clip fraction, KL, entropy, ratio mean. */
export function policyLoss(x: PolicyLossInputs, cfg: PolicyLossConfig) {
  const agg = (t: tf.Tensor2D) => aggregate(t, x.mask, cfg.aggregation);
  const ratio = tf.exp(tf.sub(x.logprobs, x.oldLogprobs)) as tf.Tensor2D;
  const unclipped = tf.mul(tf.neg(x.advantages), ratio);
  const clipped = tf.mul(tf.neg(x.advantages), tf.clipByValue(ratio, 1 - cfg.clipLow, 1 + cfg.clipHigh));
  let loss = agg(tf.maximum(unclipped, clipped) as tf.Tensor2D);
  const clipFrac = agg(tf.cast(tf.greater(clipped, unclipped), 'float32') as tf.Tensor2D);
  let kl: tf.Scalar = tf.scalar(0);
  if (x.refLogprobs) {
    const d = tf.sub(x.refLogprobs, x.logprobs);
    const perToken = cfg.klEstimator === 'k1' ? tf.neg(d) : tf.sub(tf.sub(tf.exp(d), d), 1);
    kl = agg(perToken as tf.Tensor2D);
    if (cfg.klCoef > 0) loss = tf.add(loss, tf.mul(kl, cfg.klCoef));
  }
  let entropy: tf.Scalar = tf.scalar(0);
  if (x.entropy) {
    entropy = agg(x.entropy);
    if (cfg.entropyCoef > 0) loss = tf.sub(loss, tf.mul(entropy, cfg.entropyCoef));
  }
  return { loss, clipFrac, kl, entropy, ratioMean: agg(ratio) };
}
