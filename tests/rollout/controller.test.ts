// Fixed delegation controllers: what each rule masks, on a recording policy, and end to end through the engine
// with an untrained model on the arithmetic split call (the controller decides, the model writes the rest).
import { describe, expect, it } from 'vitest';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { LocalDecoder } from '../../src/model/row-decoder.ts';
import { ControllerPolicy, controllerName, parseController } from '../../src/rollout/controller.ts';
import { ModelPolicy, runTrees, type Policy, type TokenRequest } from '../../src/rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { arithKnobs, generateArith } from '../../src/tasks/arith/arith.ts';
import { rolloutItem } from '../../src/tasks/views.ts';
import { planPoints } from '../../src/eval/evaluate.ts';
import { parseSweep } from '../../src/eval/sweep.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const V = tok.vocabSize;
const b32 = [...p.budgets].find(([, n]) => n === 32)![0];

/** Answers every request with token 5 and keeps what it was asked. */
class Recorder implements Policy {
  readonly seen: TokenRequest[] = [];
  async next(reqs: TokenRequest[]) {
    this.seen.push(...reqs);
    return reqs.map(() => ({ token: 5, logprob: 0 }));
  }
  async release() {}
}
const req = (key: number, ids: number[], forbid: number[] = []): TokenRequest => ({ key, tree: 0, context: key, ids, forbid });
const root = (n: number) => Array.from({ length: n }, () => 7);
const clone = (n: number) => [p.clone, ...root(n - 1)];
const onlySpawn = (f: readonly number[]) => f.length === V - 1 && !f.includes(p.spawn);

describe('controller rules', () => {
  it('parse and name: never, always, above:K with budget and where; a bad spec is one line naming what is expected', () => {
    expect(parseController('above:24+budget=32')).toEqual({ delegate: { above: 24 }, budget: 32 });
    expect(controllerName(parseController('always+where=all+budget=64'))).toBe('always+budget=64+where=all');
    expect(parseController('never')).toEqual({ delegate: 'never' });
    expect(() => parseController('sometimes')).toThrow(/controller sometimes: "sometimes" is no rule \(expected never, always or above:K/);
    expect(() => parseController('always+budget=x')).toThrow(/"budget=x" is no option/);
    expect(() => new ControllerPolicy(new Recorder(), { delegate: 'always', budget: 48 }, p, V)).toThrow(/no budget token grants 48/);
  });

  it('always: the root\'s first token is forced to <spawn> once (not again after its clones return); clones choose freely', async () => {
    const inner = new Recorder();
    const c = new ControllerPolicy(inner, { delegate: 'always' }, p, V);
    await c.next([req(1, root(10)), req(2, clone(6))]);
    await c.release([1]); // waiting on its clones
    await c.next([req(1, root(14)), req(2, clone(7))]);
    expect(onlySpawn(inner.seen[0].forbid)).toBe(true);
    expect(inner.seen.slice(1).map((r) => r.forbid)).toEqual([[], [], []]);
  });

  it('never masks <spawn> everywhere; above:K delegates iff the prompt is longer than K; the engine\'s own mask wins', async () => {
    const never = new Recorder();
    await new ControllerPolicy(never, { delegate: 'never' }, p, V).next([req(1, root(30)), req(2, clone(30))]);
    expect(never.seen.map((r) => r.forbid)).toEqual([[p.spawn], [p.spawn]]);
    const above = new Recorder();
    const c = new ControllerPolicy(above, { delegate: { above: 12 } }, p, V);
    await c.next([req(1, root(13)), req(2, root(12)), req(3, root(20), [p.spawn])]);
    await c.next([req(1, root(14)), req(2, root(13)), req(3, root(21), [p.spawn])]);
    const by = (k: number) => above.seen.filter((r) => r.key === k).map((r) => r.forbid);
    expect(onlySpawn(by(1)[0])).toBe(true);
    expect(by(1)[1]).toEqual([]);
    expect(by(2)).toEqual([[p.spawn], [p.spawn]]); // 12 tokens: never delegates, also later
    expect(by(3)).toEqual([[p.spawn], [p.spawn]]); // at the depth limit: nothing is forced
  });

  it('budget masks every other budget token; where=all applies the rule in clones too', async () => {
    const inner = new Recorder();
    await new ControllerPolicy(inner, { delegate: { above: 5 }, budget: 32, where: 'all' }, p, V).next([req(1, root(4)), req(2, clone(9))]);
    const others = [...p.budgets.keys()].filter((id) => id !== b32);
    expect(inner.seen[0].forbid).toEqual([...others, p.spawn]);
    expect(onlySpawn(inner.seen[1].forbid)).toBe(true);
  });
});

describe('a controller sweep', () => {
  it('--sweep controller=... lists rules (checked at once), one point each, never sent to the rollout config; clones mode only, and not with --controller', () => {
    const axes = parseSweep(['controller=never,always+budget=32,above:20']);
    expect(axes).toEqual([{ key: 'controller', values: ['never', 'always+budget=32', 'above:20'] }]);
    expect(() => parseSweep(['controller=never,sometimes'])).toThrow(/controller sometimes: "sometimes" is no rule/);
    const base = { runConfig: { model: {} }, ctx: 128, set: [], mode: 'clones' as const, samples: 1, sweep: axes };
    const pts = planPoints(base);
    expect(pts.map((p) => [p.name, p.controller])).toEqual([
      ['controller-never', { delegate: 'never' }],
      ['controller-always_budget_32', { delegate: 'always', budget: 32 }],
      ['controller-above_20', { delegate: { above: 20 } }],
    ]);
    expect(pts.every((p) => !('controller' in p.rollout))).toBe(true);
    expect(pts[1].overrides).toEqual({ controller: 'always+budget=32' });
    expect(() => planPoints({ ...base, mode: 'mono' })).toThrow(/needs --mode clones \(not mono\)/);
    expect(() => planPoints({ ...base, controller: 'never' })).toThrow(/give the rule once/);
    expect(planPoints({ ...base, sweep: [], controller: 'above:3' })[0].controller).toEqual({ delegate: { above: 3 } });
  });
});

describe('controllers through the engine', () => {
  it('an untrained model on the split call: always -> every root calls first; never -> no call; above:K splits by prompt length; budget fixed', async () => {
    const model = GPT.init(modelConfig({ vocabSize: V, ctx: 96, dModel: 16, nLayers: 1, nHeads: 2 }), Rng.fromSeed(3));
    const items = generateArith({ split: 'dev', n: 12, seed: 1, knobs: arithKnobs('sums-long', 'id') }).map((it) => rolloutItem(it, tok));
    const cfg = RolloutConfigSchema.parse({ rootWindow: 96, cloneWindow: 96, rootBudget: 24, defaultCloneBudget: 16, maxDepth: 1, temperature: 1 });
    const run = async (spec: string) => {
      const dec = new LocalDecoder(model);
      try {
        return await runTrees(items, new ControllerPolicy(new ModelPolicy(model, dec, cfg, Rng.fromSeed(9)), parseController(spec), p, V), cfg, p);
      } finally {
        await dec.close();
      }
    };
    const firstToken = (t: Awaited<ReturnType<typeof run>>[number]) => t.contexts[0].ids[t.contexts[0].promptLength];
    const always = await run('always+budget=32');
    expect(always.map(firstToken)).toEqual(items.map(() => p.spawn));
    // a call names the fixed budget or none (then the default, 16): no clone gets 64 or 128
    const budgets = new Set(always.flatMap((t) => t.contexts.slice(1).map((c) => c.budget)));
    expect([...budgets].every((b) => b === 32 || b === cfg.defaultCloneBudget), [...budgets].join(',')).toBe(true);
    const never = await run('never');
    expect(never.every((t) => t.contexts.length === 1 && t.contexts[0].calls.length === 0)).toBe(true);
    const lengths = items.map((it) => it.prompt.length).sort((a, b) => a - b);
    const K = lengths[Math.floor(lengths.length / 2)];
    const above = await run(`above:${K}`);
    above.forEach((t, i) => {
      if (items[i].prompt.length > K) expect(firstToken(t)).toBe(p.spawn);
      else expect(t.contexts).toHaveLength(1);
    });
  });
});
