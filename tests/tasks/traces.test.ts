import * as fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { protocolTokens, RolloutConfigSchema, type RolloutConfig } from '../../src/rollout/protocol.ts';
import { runTrees, ScriptedPolicy } from '../../src/rollout/engine.ts';
import type { Tree } from '../../src/rollout/tree.ts';
import { Rng } from '../../src/util/rng.ts';
import { type ArithItem, arithItemFromExpr, type ArithKnobs, arithKnobs, ArithKnobsSchema, generateArith, parseExpr, solve } from '../../src/tasks/arith/arith.ts';
import { readInt, writeInt } from '../../src/tasks/numbers.ts';
import { taskReward } from '../../src/tasks/reward.ts';
import { delegationTrace, monolithicTrace, replayInputs, type Trace, type TraceResult } from '../../src/tasks/traces.ts';
import { rolloutItem } from '../../src/tasks/views.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const DEFAULTS = RolloutConfigSchema.parse({});
const dec = (ids: readonly number[]) => tok.decode(ids);
const budgetOf = new Map([...p.budgets].map(([id, n]) => [id, n]));
/** tokens a model policy may never sample (the engine forbids them; as in runTrees) */
const engineOnly = new Set([...p.special].filter((t) => ![p.spawn, p.endSpawn, p.obj, p.ctx, p.answer, p.eos, p.think, ...p.budgets.keys()].includes(t)));

/** Every `a op b=c;` step in a text is right (numbers in the item's digit order). */
function checkSteps(text: string, reversed: boolean) {
  const steps = text.split(';').filter(Boolean);
  for (const s of steps) {
    const m = /^(-?\d+)([+\-*])(-?\d+)=(-?\d+)$/.exec(s);
    expect(m, `step ${JSON.stringify(s)}`).not.toBeNull();
    const [a, b, c] = [m![1], m![3], m![4]].map((x) => readInt(x, reversed)!);
    expect(m![2] === '+' ? a + b : m![2] === '-' ? a - b : a * b, `step ${s}`).toBe(c);
  }
  return steps.length;
}

/** The text a context generated (after its prompt), split at the answer marker. */
function generatedText(ids: number[], promptLength: number, lossMask: number[]) {
  const gen = ids.slice(promptLength).filter((_, i) => lossMask[promptLength + i] === 1);
  return dec(gen);
}

interface Setting {
  name: string;
  knobs: ArithKnobs;
  split: 'id' | 'ood';
  n: number;
  cfg: RolloutConfig;
  budgets?: number[];
  /** least share of items with a monolithic / a delegation trace that fits */
  mono: number;
  delegate: number;
}

const BIG = RolloutConfigSchema.parse({ rootWindow: 512, cloneWindow: 512, rootBudget: 448, cloneBudgetCap: 128, returnTokens: 20, maxTreeTokens: 8192 });
const SETTINGS: Setting[] = [
  { name: 'tiny ID, default windows', knobs: arithKnobs('tiny', 'id'), split: 'id', n: 150, cfg: DEFAULTS, mono: 1, delegate: 0.5 },
  // OOD: the monolithic solution mostly overflows the 128-token window, a delegation mostly fits
  { name: 'tiny OOD, default windows', knobs: arithKnobs('tiny', 'ood'), split: 'ood', n: 100, cfg: DEFAULTS, mono: 0.1, delegate: 0.75 },
  { name: 'tiny ID, normal digit order', knobs: arithKnobs('tiny', 'id', { reversed: false }), split: 'id', n: 120, cfg: DEFAULTS, mono: 1, delegate: 0.5 },
  { name: 'reference ID, 512-token windows', knobs: arithKnobs('reference', 'id'), split: 'id', n: 60, cfg: BIG, budgets: [32, 64, 128], mono: 1, delegate: 0.5 },
];

/** Replay traces in one runTrees call and check each replayed tree against its trace and its item. */
async function replayAndCheck(pairs: { item: ArithItem; trace: Trace }[], cfg: RolloutConfig): Promise<Tree[]> {
  const { items, scripts } = replayInputs(pairs, tok);
  const trees = await runTrees(items, new ScriptedPolicy(scripts), cfg, p);
  trees.forEach((tree, t) => {
    const { item, trace } = pairs[t];
    const rev = item.meta.knobs.reversed;
    expect(tree.itemId).toBe(item.id);
    // the engine built exactly the tree the trace promises (ids, masks, calls, budgets, answers)
    expect(tree.contexts).toEqual(trace.tree.contexts);
    expect({ ...tree.cost, ms: 0 }).toEqual(trace.tree.cost);
    // the root answers the item's answer; nothing malformed; every context ended with an answer
    expect(dec(tree.contexts[0].answer!)).toBe(item.answer);
    expect(taskReward(item, tree, tok).components.correct).toBe(1);
    expect(tree.cost.malformed).toBe(0);
    for (const c of tree.contexts) {
      // what the policy samples is sampleable: no engine-only token, no spawn at the depth limit
      const sampled = trace.scripts.get(`0:${c.id}`)!;
      expect(sampled.filter((x) => engineOnly.has(x) || (c.depth >= cfg.maxDepth && x === p.spawn))).toEqual([]);
      expect(c.finish).toBe('answer');
      expect(c.calls.every((k) => k.malformed === null)).toBe(true);
      expect(c.ids.length).toBeLessThanOrEqual(c.parent === null ? cfg.rootWindow : cfg.cloneWindow);
      expect(c.lossMask.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(c.budget);
    }
    const root = tree.contexts[0];
    if (trace.kind === 'mono') {
      expect(tree.contexts).toHaveLength(1);
      const text = generatedText(root.ids, root.promptLength, root.lossMask);
      const [steps, answer] = text.split('<answer>');
      expect(checkSteps(steps, rev)).toBe(item.meta.ops);
      expect(answer).toBe(`${item.answer}<eos>`);
      return;
    }
    // delegation: one call of 2-3 clones; each objective is exactly a slice of the prompt and its clone
    // answers that slice's value; the root folds the returns (and kept numbers) into the answer
    expect(root.calls).toHaveLength(1);
    const call = root.calls[0];
    expect(call.clones.length).toBeGreaterThanOrEqual(2);
    expect(call.clones.length).toBeLessThanOrEqual(3);
    // the call body is `<obj> OBJECTIVE BUDGET` per clone, and each clone's prompt is `<clone> OBJECTIVE <think>`
    const body = root.ids.slice(call.start + 1, call.end - 1);
    const specs: number[][] = [];
    for (const t of body) {
      if (t === p.obj) specs.push([]);
      else specs[specs.length - 1].push(t);
    }
    expect(specs).toHaveLength(call.clones.length);
    const returned: string[] = [];
    call.clones.forEach((id, i) => {
      const c = tree.contexts[id];
      const objective = specs[i].slice(0, -1);
      const budget = specs[i][specs[i].length - 1];
      expect(c.ids.slice(0, c.promptLength)).toEqual([p.clone, ...objective, p.think]);
      expect(c.budget).toBe(Math.min(budgetOf.get(budget)!, cfg.cloneBudgetCap));
      // faithful: the objective is exactly a slice of the prompt, and the clone answers its value
      expect(item.prompt).toContain(dec(objective));
      const value = solve(parseExpr(dec(objective), rev)).value;
      expect(dec(c.answer!)).toBe(writeInt(value, rev));
      checkSteps(generatedText(c.ids, c.promptLength, c.lossMask).split('<answer>')[0], rev);
      returned.push(dec(c.answer!));
    });
    // after the returns, the root's steps are right and use every returned value, then it answers
    const after = dec(root.ids.slice(call.end + call.injected));
    const [steps, answer] = after.split('<answer>');
    checkSteps(steps, rev);
    expect(answer).toBe(`${item.answer}<eos>`);
    const operands = steps.split(';').filter(Boolean).flatMap((s) => /^(-?\d+)[+\-*](-?\d+)=/.exec(s)!.slice(1, 3));
    for (const r of returned) expect(operands).toContain(r);
  });
  return trees;
}

describe('arithmetic demonstration traces replay through the rollout engine', () => {
  for (const s of SETTINGS) {
    it(`${s.name}: ${s.n} items, monolithic and delegation traces`, async () => {
      const items = generateArith({ split: s.split, n: s.n, seed: 17, knobs: s.knobs });
      const rng = Rng.fromSeed(`traces:${s.name}`);
      const pairs: { item: ArithItem; trace: Trace }[] = [];
      const refused: string[] = [];
      for (const item of items) {
        for (const r of [monolithicTrace(item, tok, s.cfg), delegationTrace(item, tok, s.cfg, rng, { budgets: s.budgets })] as TraceResult[]) {
          if (r.ok) pairs.push({ item, trace: r.trace });
          else refused.push(r.reason);
        }
      }
      const mono = pairs.filter((x) => x.trace.kind === 'mono').length;
      const del = pairs.filter((x) => x.trace.kind === 'delegate');
      expect(mono).toBeGreaterThanOrEqual(s.mono * s.n);
      expect(del.length).toBeGreaterThanOrEqual(s.delegate * s.n);
      if (s.split === 'ood') expect(mono).toBeLessThan(0.5 * s.n);
      for (const r of refused) expect(r).toMatch(/budget is|window is|no split gives|no split fits/);
      await replayAndCheck(pairs, s.cfg);
      // variety: 2 and 3 clones, every budget
      const clones = new Set(del.map((x) => x.trace.tree.contexts.length - 1));
      expect(clones).toEqual(new Set([2, 3]));
      const budgets = new Set(del.flatMap((x) => x.trace.tree.contexts.slice(1).map((c) => c.budget)));
      expect(budgets).toEqual(new Set(s.budgets ?? [16, 32, 64]));
    });
  }

  it('splits sums into signed slices, products into factor slices, and keeps bare numbers in the root', () => {
    const k = arithKnobs('tiny', 'id');
    const cases: [string, RegExp][] = [
      ['2*3+4*5-6*7', /<spawn><obj>(2\*3(\+4\*5)?<b\d+><obj>(4\*5-6\*7|-6\*7)|2\*3<b\d+><obj>4\*5<b\d+><obj>-6\*7)<b\d+><\/spawn>/],
      ['2*3*4*5', /<spawn><obj>(2\*3<b\d+><obj>4\*5|2\*3\*4<b\d+><obj>5|2<b\d+>.*)/],
    ];
    const seen = new Set<string>();
    for (const [expr] of cases) {
      const item = arithItemFromExpr(parseExpr(expr, false), k, 'id', expr);
      for (let s = 0; s < 40; s++) {
        const r = delegationTrace(item, tok, DEFAULTS, Rng.fromSeed(s));
        expect(r.ok).toBe(true);
        if (!r.ok) continue;
        const root = r.trace.tree.contexts[0];
        seen.add(dec(root.ids.slice(root.calls[0].start, root.calls[0].end)).replace(/<b\d+>/g, '<b>'));
      }
    }
    // 2*3+4*5-6*7: the three signed terms, or two groups; the minus stays with its term
    expect(seen).toEqual(
      new Set([
        '<spawn><obj>2*3<b><obj>4*5<b><obj>-6*7<b></spawn>',
        '<spawn><obj>2*3+4*5<b><obj>-6*7<b></spawn>',
        '<spawn><obj>2*3<b><obj>4*5-6*7<b></spawn>',
        // 2*3*4*5: factor slices with an operation each (a lone factor would be a bare number)
        '<spawn><obj>2*3<b><obj>4*5<b></spawn>',
      ]),
    );
    // a bare number between delegated groups stays in the root: 2*3+7+4*5 → clones 2*3 and 4*5, root adds 7
    const item = arithItemFromExpr(parseExpr('2*3+7+4*5', false), k, 'id', 'kept');
    const splits = new Map<string, string>();
    for (let s = 0; s < 40; s++) {
      const r = delegationTrace(item, tok, DEFAULTS, Rng.fromSeed(s));
      if (!r.ok) throw new Error(r.reason);
      const root = r.trace.tree.contexts[0];
      const callText = dec(root.ids.slice(root.calls[0].start, root.calls[0].end)).replace(/<b\d+>/g, '<b>');
      splits.set(callText, dec(root.ids.slice(root.calls[0].end + root.calls[0].injected)));
    }
    // reversed digits: 6 + 7 = 13 → `31`, 13 + 20 = 33 → `33`
    expect(Object.fromEntries(splits)).toEqual({
      '<spawn><obj>2*3<b><obj>4*5<b></spawn>': '6+7=31;31+02=33;<answer>33<eos>',
      '<spawn><obj>2*3+7<b><obj>4*5<b></spawn>': '31+02=33;<answer>33<eos>',
      '<spawn><obj>2*3<b><obj>7+4*5<b></spawn>': '6+72=33;<answer>33<eos>',
    });
  });

  it('is deterministic for a seed', () => {
    const [item] = generateArith({ split: 'ood', n: 1, seed: 3, knobs: arithKnobs('tiny', 'ood') });
    const a = delegationTrace(item, tok, DEFAULTS, Rng.fromSeed(9));
    const b = delegationTrace(item, tok, DEFAULTS, Rng.fromSeed(9));
    expect(a).toEqual(b);
  });

  it('refuses items it cannot demonstrate, with the reason', () => {
    const k = arithKnobs('tiny', 'id');
    const small = arithItemFromExpr(parseExpr('2+3*4', false), k, 'id', 'small');
    expect(delegationTrace(small, tok, DEFAULTS, Rng.fromSeed(1))).toEqual({ ok: false, reason: 'no split gives 2-3 groups with an operation' });
    expect(delegationTrace(small, tok, DEFAULTS, Rng.fromSeed(1), { minClones: 1 }).ok).toBe(true);
    const big = arithItemFromExpr(parseExpr('12*34+56*78-90*12+34*56', false), k, 'id', 'big');
    expect(monolithicTrace(big, tok, RolloutConfigSchema.parse({ rootWindow: 40 }))).toEqual({ ok: false, reason: expect.stringMatching(/^context 0 holds \d+ tokens, its window is 40$/) });
    expect(monolithicTrace(big, tok, RolloutConfigSchema.parse({ rootBudget: 20 }))).toEqual({ ok: false, reason: expect.stringMatching(/^context 0 generates \d+ tokens, its budget is 20$/) });
    expect(delegationTrace(big, tok, RolloutConfigSchema.parse({ allowSpawn: false }), Rng.fromSeed(1))).toEqual({ ok: false, reason: 'the rollout config allows no spawn call' });
    expect(delegationTrace(big, tok, RolloutConfigSchema.parse({ returnTokens: 2 }), Rng.fromSeed(1))).toEqual({ ok: false, reason: expect.stringMatching(/returnTokens is 2$/) });
    expect(delegationTrace(big, tok, RolloutConfigSchema.parse({ cloneBudgetCap: 8 }), Rng.fromSeed(1))).toEqual({ ok: false, reason: expect.stringMatching(/no budget of 16\/32\/64 fits \(cap 8/) });
    const qa = { format: 1 as const, task: 'qa', split: 'id' as const, id: 'q', prompt: 'q', answer: 'a', meta: {} };
    expect(monolithicTrace(qa, tok, DEFAULTS)).toEqual({ ok: false, reason: 'no demonstration traces for task "qa" yet' });
    expect(() => delegationTrace(big, tok, DEFAULTS, Rng.fromSeed(1), { budgets: [20] })).toThrow(/no budget token grants 20/);
  });

  it('reference knobs do not fit the default 128-token windows, as intended', () => {
    const items = generateArith({ split: 'ood', n: 20, seed: 1, knobs: ArithKnobsSchema.parse({ minOps: 8, maxOps: 10 }) });
    expect(items.filter((x) => monolithicTrace(x, tok, DEFAULTS).ok)).toHaveLength(0);
  });
});

describe('split-call delegation traces (arithmetic, length-free calls)', () => {
  const cfg = RolloutConfigSchema.parse({ maxDepth: 2 });
  const split = (it: ArithItem) => rolloutItem(it, tok).split!;

  it('the splitter halves the top-level terms, in prompt format, and refuses what it cannot split', () => {
    const [item] = generateArith({ split: 'id', n: 1, seed: 2, knobs: arithKnobs('sums-long', 'id', { minOps: 6, maxOps: 6 }) });
    const s = split(item);
    const parts = s(tok.encode(item.prompt))!;
    expect(parts.map(dec).join('+').replace(/\+-/g, '-')).toBe(item.prompt.replace(/^\+/, ''));
    expect(parts.map((x) => parseExpr(dec(x), true).terms.length)).toEqual([4, 3]); // 7 terms: ceil(7/2), rest
    expect(s(tok.encode('12'))).toBeNull();
    expect(s(tok.encode('1+'))).toBeNull();
  });

  it('replays through the engine into exactly the promised tree: recursion to depth 2, every answer right', async () => {
    const items = loadSet('data/eval/arith-sums-long-ood.jsonl').slice(0, 40);
    const rng = Rng.fromSeed(3);
    const pairs: { item: ArithItem; trace: Trace }[] = [];
    for (const item of items) {
      const r = delegationTrace(item, tok, cfg, rng, { arithStyle: 'split' });
      if (r.ok) pairs.push({ item, trace: r.trace });
    }
    expect(pairs.length).toBeGreaterThanOrEqual(36); // 12-14 operations: a few need more than the 128-token windows
    const { items: inputs, scripts } = replayInputs(pairs, tok);
    const trees = await runTrees(inputs, new ScriptedPolicy(scripts), cfg, p);
    trees.forEach((tree, t) => {
      const { item, trace } = pairs[t];
      expect(tree.contexts).toEqual(trace.tree.contexts);
      expect(taskReward(item, tree, tok).components.correct).toBe(1);
      expect(tree.cost.malformed).toBe(0);
      // the root's call names nothing but a budget; 13+ terms: both halves (> 4 terms) call again
      const root = tree.contexts[0];
      expect(root.ids.slice(root.calls[0].start, root.calls[0].end).map((x) => (budgetOf.has(x) ? 'B' : x))).toEqual([p.spawn, 'B', p.endSpawn]);
      expect(Math.max(...tree.contexts.map((c) => c.depth))).toBe(2);
      expect(Math.max(...tree.contexts.map((c) => c.ids.length))).toBeLessThanOrEqual(128);
    });
    // with depth 1 the halves solve alone, and long halves no longer fit a clone's budget or window
    const flat = delegationTrace(pairs[0].item, tok, RolloutConfigSchema.parse({}), Rng.fromSeed(1), { arithStyle: 'split' });
    if (flat.ok) expect(Math.max(...flat.trace.tree.contexts.map((c) => c.depth))).toBe(1);
  });

  it('an empty call without a splitter, or on an unsplittable objective, is malformed and the context goes on', async () => {
    const [item] = generateArith({ split: 'id', n: 1, seed: 4, knobs: arithKnobs('sums-long', 'id', { minOps: 1, maxOps: 1 }) });
    const input = rolloutItem(item, tok);
    const call = [p.spawn, p.endSpawn];
    // the root splits its 2 terms into 2 clones of 1 term; a clone's empty call cannot split 1 term
    const answer = [p.answer, ...tok.encode('0'), p.eos];
    const scripts = new Map([
      ['0:0', [...call, ...answer]],
      ['0:1', [...call, ...answer]],
      ['0:2', answer],
    ]);
    const [tree] = await runTrees([input], new ScriptedPolicy(scripts), cfg, p);
    expect(tree.contexts.map((c) => c.depth)).toEqual([0, 1, 1]);
    expect(tree.contexts[1].calls[0].malformed).toBe('unsplittable');
    expect(tree.contexts[0].calls[0].malformed).toBeNull();
    const [plain] = await runTrees([{ itemId: 'x', prompt: input.prompt }], new ScriptedPolicy(new Map([['0:0', [...call, ...answer]]])), cfg, p);
    expect(plain.contexts[0].calls[0].malformed).toBe('parse');
  });
});

function loadSet(file: string): ArithItem[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ArithItem);
}
