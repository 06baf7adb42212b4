/**
 * One supervised update: masked next-token NLL → gradients → clip → AdamW.
 *
 * With a GradPool the batch is split by rows: this thread computes the gradients of the first shard while
 * the pool's workers (one wasm instance each, another core) compute the others; the shards' gradients are
 * added in a fixed order, so a step is deterministic for a given number of workers.
 */
import * as tf from '@tensorflow/tfjs';
import type { GPT } from '../model/decoder.ts';
import { gradNorm, type AdamW } from './optim.ts';
import type { GradPool } from './grad-pool.ts';

/** A right-padded batch: inputs [B,T], targets [B,T], mask [B,T] (1 = a target the loss counts). */
export interface TokenBatch {
  ids: Int32Array;
  targets: Int32Array;
  mask: Float32Array;
  B: number;
  T: number;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  /** the loss or the gradient norm was not finite: no update was applied */
  skipped: boolean;
}

export function maskCount(b: TokenBatch): number {
  let n = 0;
  for (let i = 0; i < b.mask.length; i++) n += b.mask[i];
  return Math.max(n, 1);
}

/** Split rows into `parts` contiguous shards (earlier shards one row larger when B does not divide). */
export function splitRows(b: TokenBatch, parts: number): TokenBatch[] {
  const out: TokenBatch[] = [];
  let start = 0;
  for (let k = 0; k < parts; k++) {
    const rows = Math.floor(b.B / parts) + (k < b.B % parts ? 1 : 0);
    if (rows === 0) continue;
    const [s, e] = [start * b.T, (start + rows) * b.T];
    out.push({ ids: b.ids.slice(s, e), targets: b.targets.slice(s, e), mask: b.mask.slice(s, e), B: rows, T: b.T });
    start += rows;
  }
  return out;
}

/**
 * Loss (already divided by denom) and gradients by parameter name for one batch. Tensors are returned to
 * the caller's scope: call inside tf.tidy.
 */
export function batchGrads(model: GPT, batch: TokenBatch, denom: number): { loss: tf.Scalar; grads: Map<string, tf.Tensor> } {
  const vars = [...model.params.values()];
  const ourName = new Map([...model.params].map(([name, v]) => [v.name, name]));
  const ids = tf.tensor2d(batch.ids, [batch.B, batch.T], 'int32');
  const targets = tf.tensor2d(batch.targets, [batch.B, batch.T], 'int32');
  const mask = tf.tensor2d(batch.mask, [batch.B, batch.T], 'float32');
  const { value, grads } = tf.variableGrads(() => model.loss(ids, targets, mask, denom), vars);
  return { loss: value, grads: new Map(Object.entries(grads).map(([k, g]) => [ourName.get(k)!, g])) };
}

export async function trainStep(model: GPT, opt: AdamW, batch: TokenBatch, lr: number, pool?: GradPool): Promise<StepResult> {
  const denom = maskCount(batch);
  const shards = pool ? splitRows(batch, pool.size + 1) : [batch];
  // workers start on their shards before this thread starts on its own
  const remote = pool && shards.length > 1 ? pool.grads(model, shards.slice(1), denom) : null;
  const local = tf.tidy(() => {
    const { loss, grads } = batchGrads(model, shards[0], denom);
    return { loss, grads: Object.fromEntries(grads) };
  });
  let others: Awaited<ReturnType<GradPool['grads']>> = [];
  try {
    others = remote ? await remote : [];
  } catch (e) {
    tf.dispose([local.loss, ...Object.values(local.grads)]);
    throw e;
  }
  const grads = new Map<string, tf.Tensor>();
  for (const [name, g] of Object.entries(local.grads)) {
    grads.set(name, tf.tidy(() => others.reduce((sum: tf.Tensor, o) => tf.add(sum, tf.tensor(o.grads.get(name)!, g.shape, 'float32')), tf.clone(g))));
  }
  const loss = tf.tidy(() => others.reduce((total: tf.Tensor, o) => tf.add(total, o.loss), tf.clone(local.loss)));
  const norm = gradNorm(grads);
  tf.dispose([local.loss, ...Object.values(local.grads)]);
  const [l, g] = await Promise.all([loss.data(), norm.data()]);
  // a non-finite loss or gradient norm would write NaN into the weights and the moments: skip the update
  const skipped = !Number.isFinite(l[0]) || !Number.isFinite(g[0]);
  if (!skipped) tf.tidy(() => opt.apply(model.params, grads, lr, norm)).dispose();
  tf.dispose([loss, norm, ...grads.values()]);
  return { loss: l[0], gradNorm: g[0], skipped };
}
