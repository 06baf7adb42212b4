import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend/select.ts';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { LocalDecoder } from '../../src/model/row-decoder.ts';
import { forbiddenTokens, ModelPolicy, runTrees, type RolloutItem } from '../../src/rollout/engine.ts';
import { docStore, protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import type { Tree } from '../../src/rollout/tree.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/rng.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const mcfg = modelConfig({ vocabSize: tok.vocabSize, ctx: 64, dModel: 32, nLayers: 2, nHeads: 4 });
const rcfg = RolloutConfigSchema.parse({ rootWindow: 64, cloneWindow: 48, rootBudget: 40, defaultCloneBudget: 16, maxTreeTokens: 400, temperature: 1 });
const docs = docStore([{ key: tok.encode('K1'), doc: tok.encode('K1: a fact') }]);
const items = (n: number): RolloutItem[] => Array.from({ length: n }, (_, i) => ({ itemId: `q${i}`, prompt: tok.encode(`${i}+${i}=`), docs }));

/** A model that spawns a lot: a few steps of supervised training on a spawn-heavy sequence. */
async function spawnHappyModel(): Promise<GPT> {
  const m = GPT.init(mcfg, Rng.fromSeed(1));
  const opt = new AdamW(OptimConfigSchema.parse({ lr: 1e-2 }), m.params);
  const seq = [...tok.encode('1+1='), p.spawn, p.obj, ...tok.encode('1'), p.endSpawn, p.answer, ...tok.encode('2'), p.eos];
  const T = seq.length - 1;
  for (let i = 0; i < 30; i++) {
    await trainStep(m, opt, { ids: Int32Array.from(seq.slice(0, T)), targets: Int32Array.from(seq.slice(1)), mask: new Float32Array(T).fill(1), B: 1, T }, 1e-2);
  }
  opt.dispose();
  return m;
}

async function roll(m: GPT, n: number, seed: number): Promise<Tree[]> {
  const dec = new LocalDecoder(m);
  try {
    return await runTrees(items(n), new ModelPolicy(m, dec, rcfg, Rng.fromSeed(seed)), rcfg, p);
  } finally {
    await dec.close();
  }
}

/**
 * Recorded sampler log-probs vs the training forward's log-probs of the same tokens under the sampled support
 * (the context's forbidden tokens removed, as the sampler did), for every context.
 */
function maxLogprobGap(m: GPT, trees: Tree[]): number {
  let gap = 0;
  const V = m.config.vocabSize;
  for (const t of trees) {
    for (const c of t.contexts) {
      const T = c.ids.length - 1;
      if (T < 1) continue;
      const logits = tf.tidy(() => tf.div(m.forward(tf.tensor2d([c.ids.slice(0, T)], [1, T], 'int32')), rcfg.temperature).dataSync());
      const forbid = new Set(forbiddenTokens(p, rcfg, c.depth));
      for (let i = 1; i < c.ids.length; i++) {
        if (!c.lossMask[i]) continue;
        const row = logits.subarray((i - 1) * V, i * V);
        let mx = -Infinity;
        for (let v = 0; v < V; v++) if (!forbid.has(v) && row[v] > mx) mx = row[v];
        let sum = 0;
        for (let v = 0; v < V; v++) if (!forbid.has(v)) sum += Math.exp(row[v] - mx);
        gap = Math.max(gap, Math.abs(row[c.ids[i]] - mx - Math.log(sum) - c.logprobs[i]));
      }
    }
  }
  return gap;
}

describe('rollout engine with the model', () => {
  it('runs 64 trees with random weights and with a briefly trained spawning model; sampler log-probs match the training forward', async () => {
    await selectBackend('wasm');
    for (const m of [GPT.init(mcfg, Rng.fromSeed(2)), await spawnHappyModel()]) {
      const trees = await roll(m, 64, 3);
      expect(trees).toHaveLength(64);
      for (const t of trees) {
        expect(t.contexts[0].finish).not.toBeNull();
        for (const c of t.contexts) {
          expect(c.ids.length).toBe(c.lossMask.length);
          expect(c.ids.length).toBe(c.logprobs.length);
        }
      }
      expect(maxLogprobGap(m, trees)).toBeLessThan(1e-4);
      m.dispose();
    }
  }, 180_000);

  it('spawns clones when the model asks, is deterministic for a seed, and keeps numTensors flat over 100 rollout batches', async () => {
    await selectBackend('wasm');
    const m = await spawnHappyModel();
    const a = await roll(m, 8, 11);
    const b = await roll(m, 8, 11);
    expect(a.map((t) => t.contexts.map((c) => c.ids))).toEqual(b.map((t) => t.contexts.map((c) => c.ids)));
    expect(a.reduce((n, t) => n + t.cost.clones, 0)).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await roll(m, 2, i);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  }, 180_000);
});
