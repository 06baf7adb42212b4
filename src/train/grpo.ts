/**
 * One tree-GRPO step, as named, timed phases:
 *
 *   rollout   P prompts × G trees each through the rollout engine (continuous batching, shared weights)
 *   reward    one global reward per tree (plus optional clone-local rewards)
 *   advantage group = the G trees of one prompt; one scalar advantage per context (advantage.ts)
 *   logprob   one no-grad pass of the learner over all rows: its log-probs of the sampled tokens (their gap to
 *             the sampler's is reported) and, with a reference policy, the reference log-probs for the KL term
 *   update    every context with sampled tokens is a training row; PPO-clip over minibatches and epochs
 *
 * The sampler's log-probs are the "old" log-probs; the gap between them and the learner's log-probs of the
 * same weights (before the first update) is reported. The monolithic baseline is the same step with
 * rollout.allowSpawn = false.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { GPT } from '../model/decoder.ts';
import { tokenStats } from '../model/decoder.ts';
import type { RowDecoder } from '../model/row-decoder.ts';
import { forbiddenTokens, ModelPolicy, runTrees, type RolloutItem } from '../rollout/engine.ts';
import { logSumExp, restrictTopK } from '../model/sampling.ts';
import type { ProtocolTokens, RolloutConfig } from '../rollout/protocol.ts';
import type { Tree } from '../rollout/tree.ts';
import type { Rng } from '../util/rng.ts';
import { AdvantageConfigSchema, groupAdvantages, type TreeReward } from './advantage.ts';
import { policyLoss, PolicyLossConfigSchema } from './loss.ts';
import { gradNorm, type AdamW } from './optim.ts';
import { padRows, type SftRow } from './sft.ts';

export const GrpoConfigSchema = z
  .object({
    prompts: z.number().int().min(1).default(4),
    groupSize: z.number().int().min(1).default(8),
    /** rows per optimizer step (0: all rows in one minibatch) */
    minibatchRows: z.number().int().min(0).default(0),
    /**
     * rows per forward/backward pass inside a minibatch (0: the whole minibatch): gradients of the passes are
     * summed, weighted so that the update equals the whole minibatch's, then one optimizer step — the memory
     * bound of the learner without changing the algorithm (many rows of deep trees can exhaust the wasm heap)
     */
    microbatchRows: z.number().int().min(0).default(0),
    epochs: z.number().int().min(1).default(1),
    /**
     * 0: synchronous (each step's trees sampled by the weights being updated). k >= 1: asynchronous, with rollout
     * workers (--broker): step t trains on trees sampled with the weights of step max(0, t-k), so the workers roll
     * out while the trainer updates; the PPO ratio uses the sampler's log-probs (docs/distributed.md)
     */
    staleness: z.number().int().min(0).default(0),
    /**
     * with --broker: split each step's prompts into this many jobs (whole groups each), so that several workers
     * share one step; each job then has its own sampler stream (1: one job per step, synchronous mode the in-process
     * trajectory)
     */
    jobsPerStep: z.number().int().min(1).default(1),
    advantage: AdvantageConfigSchema.prefault({}),
    loss: PolicyLossConfigSchema.prefault({}),
  })
  .strict();
export type GrpoConfig = z.infer<typeof GrpoConfigSchema>;

/** The task reward (src/tasks/reward.ts RewardFn) as the step calls it, keyed by the rollout item: rolloutReward adapts one. */
export type RolloutRewardFn = (item: RolloutItem, tree: Tree) => TreeReward;

export interface GrpoMetrics {
  reward_mean: number;
  reward_std: number;
  /** mean of the reward's `correct` component (NaN when the reward function gives none) */
  acc: number;
  clones_per_tree: number;
  calls_per_tree: number;
  malformed_rate: number;
  tokens_total: number;
  tokens_critical: number;
  zero_std_frac: number;
  /** share of the step's clone contexts whose advantage the gate zeroed (no answer, or a malformed call); 0 without clones */
  gated_frac: number;
  logprob_gap: number;
  kl: number;
  clip_frac: number;
  entropy: number;
  grad_norm: number;
  lr: number;
  rows: number;
  /** optimizer updates applied this step, and updates skipped for a non-finite loss or gradient norm */
  updates: number;
  skipped: number;
  /** mean probability the full softmax gave the tokens outside the sampled support (masked, or cut by top-k) */
  masked_mass: number;
  /** tokens sampled per second of rollout */
  tok_per_s: number;
  phase_ms: { rollout: number; reward: number; advantage: number; logprob: number; update: number };
}

/** A training row: an SFT row plus the sampler's log-probs, the context's advantage and reference log-probs. */
interface Row extends SftRow {
  old: number[];
  adv: number;
  /** reference log-probs of the targets (logprob phase, with a reference policy) */
  ref?: Float32Array;
  /** tokens the sampler forbade in this context */
  forbid: readonly number[];
  /** the sampled support per position, [len·V], 1 = the sampler could draw the token; set in the logprob phase */
  allowed?: Uint8Array;
}

/** the logit offset of a token outside the sampled support: exp underflows to exactly 0 */
const NEG = -1e9;

function padded(rows: Row[]) {
  const base = padRows(rows);
  const { B, T } = base;
  const old = new Float32Array(B * T);
  const adv = new Float32Array(B * T);
  const ref = new Float32Array(B * T);
  rows.forEach((r, b) => {
    old.set(r.old, b * T);
    adv.fill(r.adv, b * T, b * T + r.ids.length);
    if (r.ref) ref.set(r.ref, b * T);
  });
  return { ...base, old, adv, ref };
}

/** The rows' sampled supports as an additive logit mask [B·T·V] (0 allowed, NEG not; padding 0). */
function supportMask(rows: Row[], T: number, V: number): Float32Array {
  const out = new Float32Array(rows.length * T * V);
  rows.forEach((r, b) => r.allowed!.forEach((a, i) => (out[b * T * V + i] = a ? 0 : NEG)));
  return out;
}

/**
 * The sampled support of each row, from the logits [B,T,V] (already divided by the temperature) of the weights
 * that sampled: the forbidden tokens removed at every position, then (sampled positions, topK > 0) all but the
 * topK best, as the sampler did (sampling.ts). Sets row.allowed; returns, per row, the learner's log-probs of the
 * targets under that support, and the full-softmax mass outside it summed over the sampled positions.
 */
function supportOf(rows: Row[], scaled: Float32Array, T: number, V: number, topK: number): { lp: Float32Array[]; outside: number; n: number } {
  const x = new Float64Array(V);
  let outside = 0;
  let n = 0;
  const lp = rows.map((r, b) => {
    const L = r.ids.length;
    r.allowed = new Uint8Array(L * V).fill(1);
    const out = new Float32Array(L);
    for (let k = 0; k < L; k++) {
      const allowed = r.allowed.subarray(k * V, (k + 1) * V);
      for (const t of r.forbid) allowed[t] = 0;
      x.set(scaled.subarray((b * T + k) * V, (b * T + k + 1) * V));
      if (r.mask[k] && topK > 0 && topK < V) restrictTopK(x, allowed, topK);
      const kept = logSumExp(x, allowed);
      out[k] = x[r.targets[k]] - kept;
      if (r.mask[k]) {
        outside += 1 - Math.exp(kept - logSumExp(x, null));
        n++;
      }
    }
    return out;
  });
  return { lp, outside, n };
}

/** log-probs of the targets under the rows' supports (set by supportOf), from a second policy's scaled logits */
function supportedLogprobs(rows: Row[], scaled: Float32Array, T: number, V: number): Float32Array[] {
  const x = new Float64Array(V);
  return rows.map((r, b) => {
    const out = new Float32Array(r.ids.length);
    for (let k = 0; k < r.ids.length; k++) {
      x.set(scaled.subarray((b * T + k) * V, (b * T + k + 1) * V));
      out[k] = x[r.targets[k]] - logSumExp(x, r.allowed!.subarray(k * V, (k + 1) * V));
    }
    return out;
  });
}

/** A group of G trees per item: item ids `<id>#<g>` (the rollout order, locally and on a worker). */
export function expandGroups(items: readonly RolloutItem[], G: number): RolloutItem[] {
  return items.flatMap((it) => Array.from({ length: G }, (_, g) => ({ ...it, itemId: `${it.itemId}#${g}` })));
}

/** Where a step's trees come from instead of the local engine (a broker's workers): the same trees, rng advanced. */
export type RolloutSource = (expanded: RolloutItem[], rng: Rng) => Promise<Tree[]>;

export async function grpoStep(
  model: GPT,
  opt: AdamW,
  decoder: RowDecoder,
  items: RolloutItem[],
  reward: RolloutRewardFn,
  cfg: GrpoConfig,
  rollout: RolloutConfig,
  p: ProtocolTokens,
  rng: Rng,
  lr: number,
  /** frozen reference policy for the KL term (loss.klCoef); its weights are never updated */
  ref?: GPT,
  /** the trees from elsewhere (rollout workers) instead of the local engine */
  source?: RolloutSource,
): Promise<{ trees: Tree[]; metrics: GrpoMetrics }> {
  const G = cfg.groupSize;
  let t = performance.now();
  const expanded = expandGroups(items, G);
  const trees = source ? await source(expanded, rng) : await runTrees(expanded, new ModelPolicy(model, decoder, rollout, rng), rollout, p);
  if (trees.length !== expanded.length || trees.some((tr, i) => tr.itemId !== expanded[i].itemId)) throw new Error(`grpoStep: the rollout source returned ${trees.length} trees, not one per expanded item in order`);
  const ms_rollout = performance.now() - t;

  t = performance.now();
  const rewards = trees.map((tr, i) => reward(items[Math.floor(i / G)], tr));
  const ms_reward = performance.now() - t;

  t = performance.now();
  const rows: Row[] = [];
  let zero = 0;
  let clones = 0;
  let gatedClones = 0;
  for (let k = 0; k < items.length; k++) {
    const group = trees.slice(k * G, (k + 1) * G);
    const ga = groupAdvantages(group, rewards.slice(k * G, (k + 1) * G), cfg.advantage);
    const { advantages } = ga;
    if (ga.zeroVariance) zero++;
    clones += ga.clones;
    gatedClones += ga.gatedClones;
    group.forEach((tr, g) =>
      tr.contexts.forEach((c, ci) => {
        const mask = c.lossMask.slice(1);
        if (!mask.some((m) => m === 1)) return;
        rows.push({ ids: c.ids.slice(0, -1), targets: c.ids.slice(1), mask, old: c.logprobs.slice(1), adv: advantages[g][ci], forbid: forbiddenTokens(p, rollout, c.depth) });
      }),
    );
  }
  const ms_advantage = performance.now() - t;

  t = performance.now();
  const V = model.config.vocabSize;
  const per = cfg.minibatchRows > 0 ? cfg.minibatchRows : rows.length;
  // the no-grad pass in chunks of the learner's micro-batch size (the same memory bound)
  const chunk = cfg.microbatchRows > 0 ? Math.min(cfg.microbatchRows, per) : per;
  let gapSum = 0;
  let gapCount = 0;
  let outsideSum = 0;
  let outsideCount = 0;
  const scaledLogits = async (m: GPT, ids: tf.Tensor2D) => {
    const x = tf.tidy(() => tf.div(m.forward(ids), rollout.temperature));
    const d = (await x.data()) as Float32Array;
    x.dispose();
    return d;
  };
  for (let s = 0; s < rows.length; s += chunk) {
    const part = rows.slice(s, s + chunk);
    const mb = padded(part);
    const ids = tf.tensor2d(mb.ids, [mb.B, mb.T], 'int32');
    const sup = supportOf(part, await scaledLogits(model, ids), mb.T, V, rollout.topK);
    outsideSum += sup.outside;
    outsideCount += sup.n;
    const refLp = ref ? supportedLogprobs(part, await scaledLogits(ref, ids), mb.T, V) : null;
    ids.dispose();
    part.forEach((r, b) => {
      for (let k = 0; k < r.ids.length; k++) {
        if (!r.mask[k]) continue;
        gapSum += Math.abs(sup.lp[b][k] - r.old[k]);
        gapCount++;
      }
      if (refLp) r.ref = refLp[b];
    });
  }
  const gap = gapSum / Math.max(1, gapCount);
  const ms_logprob = performance.now() - t;

  t = performance.now();
  const vars = [...model.params.values()];
  const ourName = new Map([...model.params].map(([name, v]) => [v.name, name]));
  const acc = { kl: 0, clip: 0, ent: 0, norm: 0, n: 0, skipped: 0 };
  // a micro-batch's share of its minibatch's loss: the aggregation's denominator (masked tokens, or rows with any)
  const weight = (rs: readonly Row[]) =>
    cfg.loss.aggregation === 'token-mean' ? rs.reduce((n, r) => n + r.mask.reduce((a: number, b: number) => a + b, 0), 0) : rs.filter((r) => r.mask.some((m: number) => m > 0)).length;
  for (let e = 0; e < cfg.epochs; e++) {
    for (let s = 0; s < rows.length; s += per) {
      const part = rows.slice(s, s + per);
      const micro = cfg.microbatchRows > 0 ? cfg.microbatchRows : part.length;
      const total = weight(part);
      let sum: Record<string, tf.Tensor> | null = null;
      const stats = [0, 0, 0, 0]; // kl, clip fraction, entropy, loss: weighted like the loss
      for (let m = 0; m < part.length; m += micro) {
        const slice = part.slice(m, m + micro);
        const w = micro >= part.length ? 1 : total > 0 ? weight(slice) / total : 0;
        if (w === 0) continue; // nothing trained in this slice
        const mb = padded(slice);
        const { grads, kept } = tf.tidy(() => {
          const ids = tf.tensor2d(mb.ids, [mb.B, mb.T], 'int32');
          const targets = tf.tensor2d(mb.targets, [mb.B, mb.T], 'int32');
          const mask = tf.tensor2d(mb.mask, [mb.B, mb.T]);
          const old = tf.tensor2d(mb.old, [mb.B, mb.T]);
          const adv = tf.tensor2d(mb.adv, [mb.B, mb.T]);
          const refLogprobs = ref ? tf.tensor2d(mb.ref, [mb.B, mb.T]) : undefined;
          // the sampled support (forbidden tokens, top-k) as an additive logit mask, so that the learner's log-probs
          // and entropy are those of the distribution sampled from
          const support = tf.tensor3d(supportMask(slice, mb.T, V), [mb.B, mb.T, V]);
          let kept: tf.Tensor[] = [];
          const { grads } = tf.variableGrads(() => {
            const st = tokenStats(tf.add(model.forward(ids), support) as tf.Tensor3D, targets, rollout.temperature);
            const d = policyLoss({ logprobs: st.logprobs, oldLogprobs: old, advantages: adv, mask, entropy: st.entropy, refLogprobs }, cfg.loss);
            kept = [d.kl, d.clipFrac, d.entropy, d.loss].map((x) => tf.keep(tf.clone(x))); // variableGrads disposes the rest
            return w === 1 ? d.loss : tf.mul(d.loss, w);
          }, vars);
          return { grads, kept };
        });
        const vals = await Promise.all(kept.map((x) => x.data()));
        tf.dispose(kept);
        vals.forEach((v, k) => (stats[k] += w * v[0]));
        if (!sum) sum = grads;
        else {
          const prev: Record<string, tf.Tensor> = sum;
          sum = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.add(prev[k], g)]));
          tf.dispose([...Object.values(prev), ...Object.values(grads)]);
        }
      }
      if (!sum) continue;
      const grads = new Map(Object.entries(sum as Record<string, tf.Tensor>).map(([k, g]) => [ourName.get(k)!, g]));
      const norm = gradNorm(grads);
      const nv = (await norm.data())[0];
      // a non-finite loss or gradient norm would write NaN into the weights and the moments: skip this update
      if (!Number.isFinite(stats[3]) || !Number.isFinite(nv)) {
        acc.skipped++;
        tf.dispose([norm, ...grads.values()]);
        continue;
      }
      tf.tidy(() => opt.apply(model.params, grads, lr, norm)).dispose();
      tf.dispose([norm, ...grads.values()]);
      acc.kl += stats[0];
      acc.clip += stats[1];
      acc.ent += stats[2];
      acc.norm += nv;
      acc.n++;
    }
  }
  const ms_update = performance.now() - t;

  const R = rewards.map((r) => r.root);
  const mean = R.reduce((a, b) => a + b, 0) / R.length;
  const correct = rewards.map((r) => r.components?.correct).filter((x): x is number => x !== undefined);
  const sampled = trees.reduce((a, tr) => a + tr.cost.rootGenerated + tr.cost.cloneGenerated, 0);
  const n = trees.length;
  const sum = (f: (tr: Tree) => number) => trees.reduce((a, tr) => a + f(tr), 0);
  return {
    trees,
    metrics: {
      reward_mean: mean,
      reward_std: Math.sqrt(R.reduce((a, r) => a + (r - mean) ** 2, 0) / R.length),
      acc: correct.length ? correct.reduce((a, b) => a + b, 0) / correct.length : NaN,
      clones_per_tree: sum((tr) => tr.cost.clones) / n,
      calls_per_tree: sum((tr) => tr.cost.calls) / n,
      malformed_rate: sum((tr) => tr.cost.malformed) / Math.max(1, sum((tr) => tr.cost.calls)),
      tokens_total: sum((tr) => tr.cost.processedTokens) / n,
      tokens_critical: sum((tr) => tr.cost.criticalPathTokens) / n,
      zero_std_frac: zero / items.length,
      gated_frac: clones ? gatedClones / clones : 0,
      logprob_gap: gap,
      kl: acc.kl / acc.n,
      clip_frac: acc.clip / acc.n,
      entropy: acc.ent / acc.n,
      grad_norm: acc.norm / acc.n,
      lr,
      rows: rows.length,
      updates: acc.n,
      skipped: acc.skipped,
      masked_mass: outsideSum / Math.max(1, outsideCount),
      tok_per_s: sampled / Math.max(ms_rollout / 1000, 1e-9),
      phase_ms: { rollout: ms_rollout, reward: ms_reward, advantage: ms_advantage, logprob: ms_logprob, update: ms_update },
    },
  };
}
