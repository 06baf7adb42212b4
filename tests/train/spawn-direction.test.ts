import { describe, it, expect } from 'vitest';
import { selectBackend } from '../../src/backend/select.ts';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { LocalDecoder } from '../../src/model/row-decoder.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import type { Tree } from '../../src/rollout/tree.ts';
import { arithKnobs, generateArith } from '../../src/tasks/arith/arith.ts';
import { makeReward, rolloutReward } from '../../src/tasks/reward.ts';
import { delegationTrace, monolithicTrace } from '../../src/tasks/traces.ts';
import { rolloutItem } from '../../src/tasks/views.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { GrpoConfigSchema, grpoStep, type RolloutRewardFn } from '../../src/train/grpo.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { rowBatches, treeRows } from '../../src/train/sft.ts';
import { trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/rng.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const rollout = RolloutConfigSchema.parse({ rootBudget: 64, defaultCloneBudget: 32, temperature: 1 });
const knobs = arithKnobs('tiny', 'id');

/** A policy after brief SFT on a mix of monolithic and delegation traces (two delegations per monolithic one). */
async function sftPolicy(): Promise<GPT> {
  const items = generateArith({ split: 'train', n: 80, seed: 5, knobs });
  const rng = Rng.fromSeed(5);
  const trees = items.flatMap((it) => {
    const d1 = delegationTrace(it, tok, rollout, rng);
    const d2 = delegationTrace(it, tok, rollout, rng);
    const m = monolithicTrace(it, tok, rollout);
    return d1.ok && d2.ok && m.ok ? [d1.trace.tree, d2.trace.tree, m.trace.tree] : [];
  });
  const model = GPT.init(modelConfig({ vocabSize: tok.vocabSize, ctx: 128, dModel: 64, nLayers: 2, nHeads: 4 }), Rng.fromSeed(6));
  const opt = new AdamW(OptimConfigSchema.parse({ lr: 3e-3 }), model.params);
  const batches = rowBatches(treeRows(trees), 16);
  for (let epoch = 0; epoch < 6; epoch++) for (const b of batches) await trainStep(model, opt, b, 3e-3);
  opt.dispose();
  return model;
}

const spawnRate = (trees: Tree[]) => trees.filter((t) => t.contexts[0].calls.length > 0).length / trees.length;

async function rlSpawnRates(reward: (items: ReturnType<typeof generateArith>) => RolloutRewardFn, steps: number): Promise<number[]> {
  const model = await sftPolicy();
  const opt = new AdamW(OptimConfigSchema.parse({ lr: 3e-3 }), model.params);
  const dec = new LocalDecoder(model);
  const cfg = GrpoConfigSchema.parse({ prompts: 4, groupSize: 6, advantage: { assigner: 'broadcast', normalize: 'mean-std' } });
  const rng = Rng.fromSeed(7);
  const rates: number[] = [];
  for (let s = 0; s < steps; s++) {
    const items = generateArith({ split: 'train', n: cfg.prompts, seed: 100 + s, knobs });
    const { trees } = await grpoStep(model, opt, dec, items.map((it) => rolloutItem(it, tok)), reward(items), cfg, rollout, p, rng, 3e-3);
    rates.push(spawnRate(trees));
  }
  await dec.close();
  opt.dispose();
  model.dispose();
  return rates;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('tree GRPO after SFT on mixed traces', () => {
  it('raises the spawn rate when delegating pays and lowers it under a spawn penalty', async () => {
    await selectBackend('wasm');
    // pays: a reward for every tree whose root made a call; penalised: the task reward's spawn penalty (no free calls)
    const pays = () => ((_: unknown, tree: Tree) => ({ root: tree.contexts[0].calls.length > 0 ? 1 : 0 })) as RolloutRewardFn;
    const penalised = (items: ReturnType<typeof generateArith>) => rolloutReward(items, tok, makeReward({ spawns: { coef: 1, free: 0 } })) as RolloutRewardFn;
    const up = await rlSpawnRates(pays, 12);
    const down = await rlSpawnRates(penalised, 12);
    console.log(`spawn rate, delegation pays:   ${up.map((r) => r.toFixed(2)).join(' ')}`);
    console.log(`spawn rate, spawns penalised: ${down.map((r) => r.toFixed(2)).join(' ')}`);
    // both start from the same SFT policy: a mix of spawning and not
    expect(up[0]).toBeGreaterThan(0.05);
    expect(up[0]).toBeLessThan(0.95);
    expect(mean(up.slice(-3))).toBeGreaterThan(mean(up.slice(0, 3)) + 0.3);
    expect(mean(down.slice(-3))).toBeLessThan(mean(down.slice(0, 3)));
    expect(mean(down.slice(-3))).toBeLessThanOrEqual(0.05);
  }, 300_000);
});
