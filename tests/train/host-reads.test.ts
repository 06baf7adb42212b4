// What a supervised train step reads back to the host: the loss and the gradient norm (the skip decision), nothing
// else: no gradient, weight or moment goes through the host, with or without clipping, on every backend here
// (issue 22: host round-trips inside a step). Counted at the engine, where every Tensor.data()/dataSync() goes.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend, type BackendChoice } from '../../src/backend/select.ts';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { LocalDecoder } from '../../src/model/row-decoder.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/rng.ts';
import { webgpuUnavailable } from '../helpers.ts';

/** Count the engine's reads (async and sync) while fn runs. */
async function reads(fn: () => Promise<unknown>): Promise<number> {
  const engine = tf.engine() as unknown as { read: (...a: unknown[]) => unknown; readSync: (...a: unknown[]) => unknown };
  const [read, readSync] = [engine.read, engine.readSync];
  let n = 0;
  engine.read = function (this: unknown, ...a: unknown[]) {
    n++;
    return read.apply(this, a);
  };
  engine.readSync = function (this: unknown, ...a: unknown[]) {
    n++;
    return readSync.apply(this, a);
  };
  try {
    await fn();
  } finally {
    [engine.read, engine.readSync] = [read, readSync];
  }
  return n;
}

const webgpuSkip = await webgpuUnavailable();
const BACKENDS: { backend: BackendChoice; skip: string }[] = [
  { backend: 'cpu', skip: '' },
  { backend: 'wasm', skip: '' },
  { backend: 'webgpu', skip: webgpuSkip },
];

describe.each(BACKENDS)('host reads of a train step ($backend)', ({ backend, skip }) => {
  it.skipIf(skip !== '')(`reads the loss and the gradient norm, nothing else (clipped or not, rope or learned)${skip ? ` — skipped: ${skip}` : ''}`, async () => {
    await selectBackend(backend);
    for (const [positions, gradClip] of [['learned', 1], ['rope', 0]] as const) {
      const m = GPT.init(modelConfig({ vocabSize: 32, ctx: 16, dModel: 16, nLayers: 2, nHeads: 2, positions }), Rng.fromSeed(1));
      const opt = new AdamW(OptimConfigSchema.parse({ gradClip }), m.params);
      const [B, T] = [2, 8];
      const batch = { ids: Int32Array.from({ length: B * T }, (_, i) => i % 32), targets: Int32Array.from({ length: B * T }, (_, i) => (i + 1) % 32), mask: new Float32Array(B * T).fill(1), B, T };
      await trainStep(m, opt, batch, 1e-3); // the first step may set things up
      expect(await reads(() => trainStep(m, opt, batch, 1e-3)), `${positions}, gradClip ${gradClip}`).toBe(2);
      opt.dispose();
      m.dispose();
    }
  });
});

// A decode step on the device KV cache (the GPU backends' default; SELFCEST_KV_CACHE=tensor elsewhere) reads back only
// the logits the sampler needs: one read per step, however many rows and layers (issue 22: host round-trips)
describe.each(BACKENDS)('host reads of a decode step ($backend, KV cache on the device)', ({ backend, skip }) => {
  it.skipIf(skip !== '')(`reads the step's logits once, for 1 row and for 5, and once per join${skip ? ` — skipped: ${skip}` : ''}`, async () => {
    await selectBackend(backend);
    const m = GPT.init(modelConfig({ vocabSize: 32, ctx: 32, dModel: 16, nLayers: 3, nHeads: 2 }), Rng.fromSeed(2));
    for (const rows of [1, 5]) {
      const dec = new LocalDecoder(m, 'tensor');
      const prompts = Array.from({ length: rows }, (_, r) => [1, 2, 3 + r]);
      expect(await reads(() => dec.join(prompts))).toBe(1);
      await dec.step(prompts.map(() => 4)); // the first step may set things up
      expect(await reads(() => dec.step(prompts.map(() => 5))), `${rows} rows`).toBe(1);
      await dec.close();
    }
    if (backend !== 'webgpu') {
      // the counter sees per-layer reads: the host KV cache (wasm's and cpu's default) reads q, k, v back every layer
      const host = new LocalDecoder(m, 'host');
      await host.join([[1, 2, 3]]);
      await host.step([4]);
      expect(await reads(() => host.step([5]))).toBeGreaterThanOrEqual(3);
      await host.close();
    }
    m.dispose();
  });
});
