/**
 * Issue "Tree GRPO made correct": one test per defect, each of which failed on 7cecfb1.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../../src/backend/select.ts';
import { findLatest } from '../../src/checkpoint/store.ts';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { loadPolicy } from '../../src/model/io.ts';
import { LocalDecoder } from '../../src/model/row-decoder.ts';
import { sampleRows } from '../../src/model/sampling.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import type { Context, Finish, Tree } from '../../src/rollout/tree.ts';
import { treeCost } from '../../src/rollout/tree.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { AdvantageConfigSchema, groupAdvantages } from '../../src/train/advantage.ts';
import { runConfig } from '../../src/train/config.ts';
import { GradPool } from '../../src/train/grad-pool.ts';
import { GrpoConfigSchema, grpoStep } from '../../src/train/grpo.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { RlConfigSchema, trainRl } from '../../src/train/rl.ts';
import { trainStep, type TokenBatch } from '../../src/train/step.ts';
import { trainSupervised } from '../../src/train/supervised.ts';
import { validate } from '../../src/util/config-file.ts';
import { Rng } from '../../src/util/rng.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-grpo-'));
const quiet = () => {};

// ---- hand-built trees
function ctx(id: number, parent: number | null, finish: Finish, answer: number[] | null): Context {
  return {
    id, parent, depth: parent === null ? 0 : 1, role: parent === null ? 'root' : 'clone', callIndex: parent === null ? null : 0,
    budget: 16, promptLength: 1, ids: [1, 2], lossMask: [0, 1], logprobs: [0, -1], finish, answer, calls: [],
  };
}
/** a root with two answering clones of one call */
function tree(): Tree {
  const contexts = [ctx(0, null, 'answer', [5]), ctx(1, 0, 'answer', [7]), ctx(2, 0, 'answer', [8])];
  contexts[0].calls = [{ index: 0, start: 1, end: 2, clones: [1, 2], malformed: null, injected: 0 }];
  return { itemId: 'x', contexts, cost: treeCost(contexts, 0) };
}

const ASSIGNERS = [
  { assigner: 'broadcast' },
  { assigner: 'selfcest' },
  { assigner: 'loo' },
  { assigner: 'loo', looScope: 'subtree' },
  { assigner: 'local' },
];

describe('defect 1: clone credit', () => {
  // clone 1 is correct (local reward 1), clone 2 wrong (0); tree 0 is the one under test, tree 1 the group partner
  const adv = (a: object, rRoot: number, partner: number) =>
    groupAdvantages([tree(), tree()], [{ root: rRoot, perContext: new Map([[1, 1], [2, 0]]) }, { root: partner, perContext: new Map([[1, 1], [2, 0]]) }], AdvantageConfigSchema.parse(a)).advantages[0];

  for (const a of ASSIGNERS) {
    it(`${JSON.stringify(a)}: a correct clone's advantage >= a wrong clone's, for a succeeded and a failed root`, () => {
      for (const [rRoot, partner] of [[1, 0], [0, 1], [-0.3, 0.5], [0.001, 1], [-0.001, 1]]) {
        const [, right, wrong] = adv(a, rRoot, partner);
        expect(right, `R_root ${rRoot}`).toBeGreaterThanOrEqual(wrong - 1e-12);
      }
    });

    it(`${JSON.stringify(a)}: advantages are continuous in R_root around 0`, () => {
      const lo = adv(a, -1e-6, 1);
      const mid = adv(a, 0, 1);
      const hi = adv(a, 1e-6, 1);
      for (let k = 0; k < 3; k++) {
        expect(Math.abs(lo[k] - mid[k]), `context ${k}`).toBeLessThan(1e-3);
        expect(Math.abs(hi[k] - mid[k]), `context ${k}`).toBeLessThan(1e-3);
      }
    });
  }

  it('selfcest: a well-formed clone gets its root advantage (the reference ratio R_clone/R_root = 1), also when R_root = 0', () => {
    const { advantages } = groupAdvantages([tree(), tree()], [{ root: 1 }, { root: 0 }], AdvantageConfigSchema.parse({ assigner: 'selfcest', normalize: 'mean' }));
    expect(advantages).toEqual([[0.5, 0.5, 0.5], [-0.5, -0.5, -0.5]]);
  });

  it('local: A_root + beta * (r_c - mean of siblings) / (std of siblings + eps), normalised per call', () => {
    const a = AdvantageConfigSchema.parse({ assigner: 'local', normalize: 'mean', localWeight: 0.5 });
    const { advantages } = groupAdvantages([tree(), tree()], [{ root: 1, perContext: new Map([[1, 1], [2, 0]]) }, { root: 0 }], a);
    // siblings 1 and 0: mean 0.5, unbiased std sqrt(0.5) = 0.70711
    expect(advantages[0][0]).toBeCloseTo(0.5, 6);
    expect(advantages[0][1]).toBeCloseTo(0.5 + 0.5 * (0.5 / (Math.SQRT1_2 + 1e-6)), 5);
    expect(advantages[0][2]).toBeCloseTo(0.5 - 0.5 * (0.5 / (Math.SQRT1_2 + 1e-6)), 5);
    expect(advantages[1]).toEqual([-0.5, -0.5, -0.5]); // no clone-local rewards: the root's advantage
  });
});

describe('defect 8: the reference gate is the default for selfcest', () => {
  const withClone2 = (finish: Finish, answer: number[] | null) => {
    const t = tree();
    t.contexts[2] = ctx(2, 0, finish, answer);
    return t;
  };
  it('zeroes clones that end with <eos> and no answer, and clones cut by the tree limit', () => {
    const c = AdvantageConfigSchema.parse({ assigner: 'selfcest', normalize: 'mean' });
    for (const [finish, answer] of [['answer', null], ['tree-limit', null], ['budget', null], ['window', null], ['malformed', null]] as const) {
      const { advantages } = groupAdvantages([withClone2(finish, answer), tree()], [{ root: 1 }, { root: 0 }], c);
      expect(advantages[0], `${finish}`).toEqual([0.5, 0.5, 0]);
    }
  });
  it('can be switched off', () => {
    const c = AdvantageConfigSchema.parse({ assigner: 'selfcest', normalize: 'mean', gating: false });
    const { advantages } = groupAdvantages([withClone2('answer', null), tree()], [{ root: 1 }, { root: 0 }], c);
    expect(advantages[0]).toEqual([0.5, 0.5, 0.5]);
  });
});

// a tiny GRPO run on the arithmetic task from fresh weights
function rlConfig(o: { grpo?: object; train?: object; rollout?: object; loss?: object } = {}) {
  return RlConfigSchema.parse({
    mode: 'grpo',
    model: { vocabSize: tok.vocabSize, ctx: 64, dModel: 16, nLayers: 1, nHeads: 2 },
    optim: { lr: 0.01 },
    rollout: { rootWindow: 64, cloneWindow: 64, rootBudget: 16, defaultCloneBudget: 8, maxTreeTokens: 300, ...o.rollout },
    grpo: { prompts: 2, groupSize: 3, ...o.grpo, loss: { ...o.loss } },
    reward: { malformed: { coef: 0.5 } },
    train: { steps: 4, saveEvery: 0, warmupSteps: 1, ...o.train },
  });
}
const metricLines = (dir: string) =>
  fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { phase_ms, tok_per_s, ...rest } = JSON.parse(l);
    void phase_ms;
    void tok_per_s;
    return rest;
  });
const files = (dir: string) => ['model.safetensors', 'optimizer.safetensors'].map((f) => fs.readFileSync(path.join(dir, f)));

describe('defect 3: resume with several optimizer updates per step', () => {
  for (const grpo of [{ epochs: 2 }, { minibatchRows: 2 }]) {
    it(`N straight = N/2, exit, resume, N/2, bitwise (${JSON.stringify(grpo)})`, async () => {
      await selectBackend('wasm');
      const cfg = rlConfig({ grpo });
      const a = tmp();
      const b = tmp();
      await trainRl(cfg, tok, { out: a, log: quiet });
      await trainRl(cfg, tok, { out: b, stopAfter: 2, log: quiet });
      await trainRl(cfg, tok, { out: b, resume: 'auto', log: quiet });
      const [fa, fb] = [files(path.join(a, 'step-000004')), files(path.join(b, 'step-000004'))];
      expect(fa[0].equals(fb[0])).toBe(true);
      expect(fa[1].equals(fb[1])).toBe(true);
      expect(metricLines(b)).toEqual(metricLines(a));
      expect(metricLines(a).some((m) => m.updates > 1)).toBe(true);
    }, 240_000);
  }
});

describe('defect 7: a resume with another train.steps keeps the learning-rate schedule', () => {
  it('the lr of step k is the same as in the uninterrupted run, and the change is reported', async () => {
    await selectBackend('wasm');
    const cfg = rlConfig({ train: { steps: 6 } });
    const a = tmp();
    const b = tmp();
    await trainRl(cfg, tok, { out: a, log: quiet });
    await trainRl(cfg, tok, { out: b, stopAfter: 4, log: quiet });
    const logs: string[] = [];
    await trainRl(rlConfig({ train: { steps: 8 } }), tok, { out: b, resume: 'auto', log: (l) => logs.push(l) });
    const la = metricLines(a).map((m) => m.lr);
    const lb = metricLines(b).map((m) => m.lr);
    expect(lb.slice(0, 6)).toEqual(la);
    lb.slice(6).forEach((lr) => expect(lr).toBeCloseTo(0.01 * 0.1, 12)); // past the original span: the floor
    expect(logs.join('\n')).toMatch(/learning-rate schedule keeps its span of 6 steps/);
  }, 240_000);
});

describe('defect 2: the KL penalty to the init policy', () => {
  it('klCoef > 0 builds a frozen reference from the init weights and logs a growing kl', async () => {
    await selectBackend('wasm');
    const init = tmp();
    // an init checkpoint: a zero-step supervised run saves its initial weights
    const sft = runConfig({ model: { vocabSize: tok.vocabSize, ctx: 64, dModel: 16, nLayers: 1, nHeads: 2 }, train: { steps: 1, batchSize: 2, evalItems: 0 } });
    await trainSupervised(sft, tok, { out: init, log: quiet });
    const out = tmp();
    const cfg = { ...rlConfig({ loss: { klCoef: 0.1 }, train: { steps: 3 } }), init };
    await trainRl(cfg, tok, { out, log: quiet });
    const kl = metricLines(out).map((m) => m.kl);
    expect(kl[0]).toBeCloseTo(0, 6); // the first minibatch is the reference itself
    expect(kl[2]).toBeGreaterThan(0);
    // the reference is the init checkpoint's weights, never updated: resume rebuilds it from there
    const b = tmp();
    await trainRl(cfg, tok, { out: b, stopAfter: 1, log: quiet });
    await trainRl(cfg, tok, { out: b, resume: 'auto', log: quiet });
    expect(metricLines(b)).toEqual(metricLines(out));
    expect(loadPolicy(init).model.config.dModel).toBe(16);
  }, 240_000);
});

describe('defect 4: data parallel on the cpu backend', () => {
  it('2 gradient threads give the same weights as 1 (float tolerance)', async () => {
    await selectBackend('cpu');
    const mc = modelConfig({ vocabSize: 32, ctx: 16, dModel: 16, nLayers: 1, nHeads: 2 });
    const rng = Rng.fromSeed(3);
    const B = 4;
    const T = 8;
    const batch: TokenBatch = {
      ids: Int32Array.from({ length: B * T }, () => rng.int(0, 31)),
      targets: Int32Array.from({ length: B * T }, () => rng.int(0, 31)),
      mask: new Float32Array(B * T).fill(1),
      B,
      T,
    };
    const run = async (workers: number) => {
      const m = GPT.init(mc, Rng.fromSeed(4));
      const opt = new AdamW(OptimConfigSchema.parse({}), m.params);
      const pool = workers > 1 ? await GradPool.start(workers - 1, mc, 'cpu') : undefined;
      try {
        for (let i = 0; i < 3; i++) await trainStep(m, opt, batch, 1e-2, pool);
      } finally {
        await pool?.close();
      }
      const w = (await m.toArrays()).map((a) => Array.from(a.data));
      opt.dispose();
      m.dispose();
      return w;
    };
    const one = await run(1);
    const two = await run(2);
    let err = 0;
    one.forEach((xs, i) => xs.forEach((x, j) => (err = Math.max(err, Math.abs(x - two[i][j])))));
    expect(err).toBeLessThan(1e-5);
  }, 120_000);
});

describe('defect 5: temperature 0 and non-finite steps', () => {
  it('a GRPO config with rollout.temperature 0 is refused in one line', () => {
    const raw = { mode: 'grpo', rollout: { temperature: 0 } };
    expect(() => validate(RlConfigSchema, raw, 'rl.json')).toThrow(/rl\.json: rollout\.temperature: .*greater than 0/);
  });

  it('GRPO: a non-finite loss skips the update and is logged; weights stay finite', async () => {
    await selectBackend('cpu');
    const model = GPT.init(modelConfig({ vocabSize: tok.vocabSize, ctx: 16, dModel: 16, nLayers: 1, nHeads: 2 }), Rng.fromSeed(1));
    const opt = new AdamW(OptimConfigSchema.parse({ lr: 0.01 }), model.params);
    const dec = new LocalDecoder(model);
    const rollout = RolloutConfigSchema.parse({ allowSpawn: false, rootBudget: 2, rootWindow: 16 });
    const items = ['a=', 'b='].map((q, i) => ({ itemId: `q${i}`, prompt: tok.encode(q) }));
    let k = 0;
    const reward = () => ({ root: k++ % 2 === 0 ? NaN : 1 });
    const before = (await model.toArrays()).map((a) => Array.from(a.data));
    const { metrics } = await grpoStep(model, opt, dec, items, reward, GrpoConfigSchema.parse({ prompts: 2, groupSize: 2 }), rollout, p, Rng.fromSeed(2), 0.01);
    expect(metrics.skipped).toBe(1);
    expect(opt.t).toBe(0);
    const after = (await model.toArrays()).map((a) => Array.from(a.data));
    expect(after).toEqual(before);
    await dec.close();
  }, 60_000);

  it('SFT: lr 1e6 gives non-finite steps that are skipped, logged, and stop the run after train.maxBadSteps; nothing non-finite is saved', async () => {
    await selectBackend('cpu');
    const out = tmp();
    const cfg = runConfig({
      model: { vocabSize: tok.vocabSize, ctx: 16, dModel: 16, nLayers: 1, nHeads: 2 },
      optim: { lr: 1e6, gradClip: 0 },
      train: { steps: 30, batchSize: 4, evalItems: 0, saveEvery: 1, maxBadSteps: 2, warmupSteps: 0 },
      addition: { maxDigits: 2 },
    });
    const logs: string[] = [];
    await expect(trainSupervised(cfg, tok, { out, log: (l) => logs.push(l) })).rejects.toThrow(/non-finite .* 2 steps in a row/);
    expect(logs.join('\n')).toMatch(/step \d+: non-finite (loss|gradient norm).*skipped/);
    const latest = findLatest(out);
    if (latest) {
      const w = loadPolicy(latest).model;
      for (const a of await w.toArrays()) expect(a.data.every((x) => Number.isFinite(x))).toBe(true);
    }
  }, 120_000);
});

describe('defect 6: log-probs of the distribution sampled from', () => {
  it('the sampler records log-probs under the mask and top-k it drew from', () => {
    const V = 5;
    const logits = Float32Array.from([2, 1, 0, -1, 3]);
    const s = sampleRows(logits, 1, V, { temperature: 1, topK: 1, forbid: [[4]] }, Rng.fromSeed(1));
    expect(s.tokens[0]).toBe(0); // token 4 is forbidden, top-1 of the rest is 0
    expect(s.logprobs[0]).toBeCloseTo(0, 9); // the only allowed token has probability 1
  });

  it('the learner applies the same mask and top-k: no gap to the sampler before the first update', async () => {
    await selectBackend('cpu');
    const model = GPT.init(modelConfig({ vocabSize: tok.vocabSize, ctx: 16, dModel: 16, nLayers: 1, nHeads: 2, initStd: 0.5 }), Rng.fromSeed(1));
    const opt = new AdamW(OptimConfigSchema.parse({ lr: 0.01 }), model.params);
    const dec = new LocalDecoder(model);
    const items = ['a=', 'b='].map((q, i) => ({ itemId: `q${i}`, prompt: tok.encode(q) }));
    let k = 0;
    const reward = () => ({ root: k++ % 2 });
    for (const rollout of [RolloutConfigSchema.parse({ allowSpawn: false, rootBudget: 4, rootWindow: 16, topK: 3 }), RolloutConfigSchema.parse({ allowSpawn: false, rootBudget: 4, rootWindow: 16, temperature: 0.7 })]) {
      const { metrics } = await grpoStep(model, opt, dec, items, reward, GrpoConfigSchema.parse({ prompts: 2, groupSize: 2 }), rollout, p, Rng.fromSeed(2), 0);
      expect(metrics.logprob_gap).toBeLessThan(1e-4);
      expect(metrics.masked_mass).toBeGreaterThan(0); // the masked tokens (engine-only, <spawn>) held mass in the full softmax
      expect(metrics.masked_mass).toBeLessThan(1);
    }
    await dec.close();
  }, 60_000);
});

describe('defect 9: configs/reference-grpo.json gives the reference implementation\'s values', () => {
  it('loads, and sets clip 0.2/0.2, a constant lr after warm-up, minibatches of 32, tail truncation, the first marker, depth 1, KL k3', async () => {
    const { readJsonFile } = await import('../../src/util/config-file.ts');
    const file = path.resolve(import.meta.dirname, '../../configs/reference-grpo.json');
    const c = validate(RlConfigSchema, readJsonFile(file), file);
    expect([c.grpo.loss.clipLow, c.grpo.loss.clipHigh]).toEqual([0.2, 0.2]);
    expect(c.train.schedule).toBe('constant');
    expect(c.grpo.minibatchRows).toBe(32);
    expect([c.rollout.returnTruncation, c.rollout.answerMarker, c.rollout.maxDepth]).toEqual(['tail', 'first', 1]);
    expect([c.grpo.loss.klCoef, c.grpo.loss.klEstimator]).toEqual([5e-4, 'k3']);
    expect(c.grpo.advantage.assigner).toBe('selfcest');
  });

  it('the reference options act: tail truncation, the first answer marker, a constant schedule', async () => {
    const { returnSegment, extractAnswer } = await import('../../src/rollout/protocol.ts');
    const { learningRate } = await import('../../src/train/schedule.ts');
    const r = RolloutConfigSchema.parse({ returnTokens: 2, returnTruncation: 'tail' });
    expect(returnSegment([1, 2, 3], p, r)).toEqual([p.ret, 2, 3, p.endRet]);
    expect(returnSegment([1, 2, 3], p, RolloutConfigSchema.parse({ returnTokens: 2 }))).toEqual([p.ret, 1, 2, p.endRet]);
    const gen = [p.answer, 5, p.answer, 6, p.eos];
    expect(extractAnswer(gen, p, 'first')).toEqual([5, p.answer, 6]);
    expect(extractAnswer(gen, p)).toEqual([6]);
    expect(learningRate(50, 1, 10, 100, 0.1, 'constant')).toBe(1);
    expect(learningRate(50, 1, 10, 100, 0.1)).toBeLessThan(1);
  });
});
