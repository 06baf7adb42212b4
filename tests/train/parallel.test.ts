import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend/select.ts';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { GradPool } from '../../src/train/grad-pool.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { splitRows, trainStep, type TokenBatch } from '../../src/train/step.ts';
import { Rng } from '../../src/util/rng.ts';
import { maxRelErr } from '../helpers.ts';

const cfg = modelConfig({ vocabSize: 32, ctx: 16, dModel: 32, nLayers: 2, nHeads: 4 });

function batch(seed: number): TokenBatch {
  const rng = Rng.fromSeed(seed);
  const B = 5;
  const T = 10;
  const ids = Int32Array.from({ length: B * T }, () => rng.int(0, 31));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(0, 31));
  const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T < T - (Math.floor(i / T) % 3) ? 1 : 0));
  return { ids, targets, mask, B, T };
}

async function train(workers: number, steps: number): Promise<{ losses: number[]; weights: number[][] }> {
  const m = GPT.init(cfg, Rng.fromSeed(4));
  const opt = new AdamW(OptimConfigSchema.parse({}), m.params);
  const pool = workers > 1 ? await GradPool.start(workers - 1, cfg, 'wasm') : undefined;
  const losses = [];
  try {
    for (let i = 0; i < steps; i++) losses.push((await trainStep(m, opt, batch(i), 1e-3, pool)).loss);
  } finally {
    await pool?.close();
  }
  const weights = (await m.toArrays()).map((a) => Array.from(a.data));
  opt.dispose();
  m.dispose();
  return { losses, weights };
}

describe('data-parallel gradients (GradPool)', () => {
  it('splits rows into contiguous shards covering the batch', () => {
    const b = batch(1);
    const parts = splitRows(b, 2);
    expect(parts.map((p) => p.B)).toEqual([3, 2]);
    expect(Array.from(parts[0].ids).concat(Array.from(parts[1].ids))).toEqual(Array.from(b.ids));
    expect(splitRows(b, 8).map((p) => p.B)).toEqual([1, 1, 1, 1, 1]);
  });

  it('builds the model and a train step inside worker threads and matches the single-thread step', async () => {
    await selectBackend('wasm');
    const before = tf.memory().numTensors;
    const one = await train(1, 3);
    const two = await train(2, 3);
    const three = await train(3, 3);
    for (const other of [two, three]) {
      other.losses.forEach((l, i) => expect(Math.abs(l - one.losses[i])).toBeLessThan(1e-5));
      other.weights.forEach((w, i) => expect(maxRelErr(w, one.weights[i])).toBeLessThan(1e-5));
    }
    expect(await train(2, 3)).toEqual(two); // deterministic for a given number of workers
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});
