import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../src/backend/select.ts';
import { expect } from 'vitest';
import type { ModelConfig } from '../src/model/config.ts';
import { GPT } from '../src/model/decoder.ts';
import type { TokenBatch } from '../src/train/step.ts';
import { Rng } from '../src/util/rng.ts';

/** Run fn on a backend and return plain arrays (so results can be compared across backends). */
export async function onBackend<T>(name: BackendChoice, fn: () => T | Promise<T>): Promise<T> {
  await selectBackend(name);
  return fn();
}

/**
 * Why webgpu cannot be used here (the selectBackend error), or '' where an adapter is found. Tests opt in to software
 * adapters (Mesa's lavapipe, which .ci/run installs: scripts/ci/install-lavapipe.sh), so the webgpu path is tested
 * on CPU machines too; real work never takes one (src/backend/select.ts). Leaves wasm selected.
 */
export async function webgpuUnavailable(): Promise<string> {
  process.env.SELFCEST_WEBGPU_ALLOW_SOFTWARE = '1';
  process.env.XDG_RUNTIME_DIR ??= os.tmpdir(); // else the Vulkan loader complains on every start
  let why = '';
  try {
    await selectBackend('webgpu');
  } catch (e) {
    why = (e as Error).message;
  }
  await selectBackend('wasm');
  return why;
}

/**
 * The GPU backends the model tests run on as well: ['webgpu'] where an adapter is found (a GPU box, or lavapipe), [] elsewhere
 * (tests/backend/webgpu.test.ts prints why). Leaves wasm selected.
 */
export async function gpuBackends(): Promise<BackendChoice[]> {
  return (await webgpuUnavailable()) ? [] : ['webgpu'];
}

/** max |a-b| / max(1, |b|) over all entries */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

export function numTensors(): number {
  return tf.memory().numTensors;
}

export function randomBatch(B: number, T: number, V: number, seed: number): TokenBatch {
  const rng = Rng.fromSeed(seed);
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = T - (b % 3); // ragged rows, right-padded with 0
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = t < len ? rng.int(1, V - 1) : 0;
      targets[b * T + t] = t < len ? rng.int(1, V - 1) : 0;
      mask[b * T + t] = t < len ? 1 : 0;
    }
  }
  return { ids, targets, mask, B, T };
}

/**
 * Loss, logits and every parameter's gradient as plain arrays, computed on the current backend. Read asynchronously:
 * webgpu in Node has no synchronous read-back.
 */
export async function lossAndGrads(model: GPT, batch: TokenBatch) {
  const out = tf.tidy(() => {
    const ids = tf.tensor2d(batch.ids, [batch.B, batch.T], 'int32');
    const targets = tf.tensor2d(batch.targets, [batch.B, batch.T], 'int32');
    const mask = tf.tensor2d(batch.mask, [batch.B, batch.T]);
    const logits = model.forward(ids);
    const vars = [...model.params.values()];
    const { value, grads } = tf.variableGrads(() => model.loss(ids, targets, mask), vars);
    const byName: Record<string, tf.Tensor> = {};
    for (const [name, v] of model.params) byName[name] = grads[v.name];
    return { loss: value, logits, grads: byName };
  });
  const read = async (t: tf.Tensor) => {
    const d = Array.from(await t.data());
    t.dispose();
    return d;
  };
  const grads: Record<string, number[]> = {};
  for (const name of Object.keys(out.grads)) grads[name] = await read(out.grads[name]);
  return { loss: (await read(out.loss))[0], logits: await read(out.logits), grads };
}

/** The logits of one sequence's full forward pass, [T][V], read asynchronously. */
export async function fullLogits(model: GPT, seq: number[]): Promise<number[][]> {
  const t = tf.tidy(() => model.forward(tf.tensor2d([seq], [1, seq.length], 'int32')));
  const rows = ((await t.array()) as number[][][])[0];
  t.dispose();
  return rows;
}

/** A [B, V] logits tensor as rows, read asynchronously; the tensor is disposed. */
export async function logitRows(t: tf.Tensor): Promise<number[][]> {
  const rows = (await t.array()) as number[][];
  t.dispose();
  return rows;
}

/**
 * The same model (seeded init) and batch on `backend` and on the cpu reference: loss, logits and every gradient
 * must agree within tol (relative where large; each gradient relative to its own scale).
 */
export async function expectAgreesWithCpu(backend: BackendChoice, cfg: ModelConfig, tol: number): Promise<void> {
  const batch = randomBatch(3, 12, cfg.vocabSize, 7);
  const run = async () => {
    const m = GPT.init(cfg, Rng.fromSeed(11));
    const r = await lossAndGrads(m, batch);
    m.dispose();
    return r;
  };
  const a = await onBackend(backend, run);
  const b = await onBackend('cpu', run);
  expect(Math.abs(a.loss - b.loss), 'loss').toBeLessThan(tol);
  expect(maxRelErr(a.logits, b.logits), 'logits').toBeLessThan(tol);
  for (const name of Object.keys(b.grads)) {
    const scale = Math.max(1e-3, ...b.grads[name].map(Math.abs));
    expect(maxRelErr(a.grads[name], b.grads[name]) / Math.min(1, scale), name).toBeLessThan(tol);
  }
}
