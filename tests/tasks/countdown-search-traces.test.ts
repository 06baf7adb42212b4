import { taskDocs } from '../task-docs.ts';
import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { runTrees, ScriptedPolicy } from '../../src/rollout/engine.ts';
import type { Context, Tree } from '../../src/rollout/tree.ts';
import { Rng } from '../../src/util/rng.ts';
import { checkCdAnswer, checkCountdownItem, type CountdownItem, countdownKnobs, countdownPrompt, generateCountdown, parseCountdownPrompt, solveCountdown } from '../../src/tasks/countdown/countdown.ts';
import { taskReward } from '../../src/tasks/reward.ts';
import { readItemsJsonl } from '../../src/tasks/types.ts';
import { CD_NO_SOLUTION } from '../../src/tasks/countdown/traces.ts';
import { delegationTrace, monolithicTrace, replayInputs, type Trace, traceText } from '../../src/tasks/traces.ts';
import { SftSourceSchema } from '../../src/train/task-source.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const ROOT = path.resolve(import.meta.dirname, '../..');
// the windows of the issue (128, 4 clones per call); the root may write up to its window, so a refused
// monolithic trace is refused by the window; depth 2 for OOD; calls and tree tokens unlimited in effect
const cfg = RolloutConfigSchema.parse({ rootBudget: 128, maxDepth: 2, maxCallsPerTree: 64, maxTreeTokens: 100_000 });
const search = { countdownStyle: 'search' } as const;

const sets: [string, CountdownItem[]][] = [
  // the format-1 ID set (data/eval/v1): the hand-written traces below are of its items
  ['search id', readItemsJsonl(path.join(ROOT, 'data/eval/v1/countdown-search-id.jsonl'), checkCountdownItem) as CountdownItem[]],
  ['search ood', generateCountdown({ split: 'ood', n: 200, seed: 1, knobs: countdownKnobs('search', 'ood') })],
  ['search id, normal digit order', generateCountdown({ split: 'train', n: 60, seed: 2, knobs: countdownKnobs('search', 'id', { reversed: false }) })],
];

// ---- the canonical search, written out again here without src/: the test's own reference

interface RefMove {
  a: number;
  op: string;
  b: number;
  c: number;
  rest: number[];
}

/** Pairs i < j in list order, the larger number first, + - * /; no invalid move, no a-a, no *1 or /1. */
function refMoves(list: readonly number[]): RefMove[] {
  const out: RefMove[] = [];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const [a, b] = [Math.max(list[i], list[j]), Math.min(list[i], list[j])];
      const others = list.filter((_, k) => k !== i && k !== j);
      for (const op of ['+', '-', '*', '/']) {
        if ((op === '*' || op === '/') && b === 1) continue;
        const c = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a % b === 0 ? a / b : null;
        if (c === null || (op === '-' && c === 0)) continue;
        out.push({ a, op, b, c, rest: [...others, c] });
      }
    }
  }
  return out;
}

const digits = (rev: boolean) => (n: number) => (rev ? [...String(n)].reverse().join('') : String(n));
const stepOf = (m: RefMove, rev: boolean) => `${digits(rev)(m.a)}${m.op}${digits(rev)(m.b)}=${digits(rev)(m.c)}`;

/** The monolithic search text: each try `a op b=c` then `;` (hit or last level) or `[` (its list's tries, then `]` if they failed). */
function refSearch(list: readonly number[], target: number, rev: boolean): { text: string; found: boolean } {
  if (list.includes(target)) return { text: '', found: true };
  let text = '';
  for (const m of refMoves(list)) {
    if (m.c === target) return { text: `${text}${stepOf(m, rev)};`, found: true };
    if (m.rest.length === 1) {
      text += `${stepOf(m, rev)};`;
      continue;
    }
    const inner = refSearch(m.rest, target, rev);
    text += `${stepOf(m, rev)}[${inner.text}`;
    if (inner.found) return { text, found: true };
    text += ']';
  }
  return { text, found: false };
}

// ---- replay

async function replay(pairs: { item: CountdownItem; trace: Trace }[]): Promise<Tree[]> {
  const { items, scripts } = replayInputs(pairs, tok);
  return runTrees(items, new ScriptedPolicy(scripts), cfg, p);
}

const generated = (c: Context) => tok.decode(c.ids.slice(c.promptLength).filter((_, k) => c.lossMask[c.promptLength + k] === 1));
/** A context's list: the item's numbers for the root, its objective's numbers for a clone. */
const listOf = (c: Context, item: CountdownItem) => {
  const rev = item.meta.knobs.reversed;
  if (c.parent === null) return item.meta.numbers;
  return parseCountdownPrompt(tok.decode(c.ids.slice(1, c.promptLength - 1)), rev)!.numbers;
};

describe('the search preset', () => {
  it('gives 3 numbers in distribution and 4 out of it, 1-10, every number needed', () => {
    for (const [split, count] of [['id', 3], ['ood', 4]] as const) {
      for (const it of generateCountdown({ split, n: 50, seed: 9, knobs: countdownKnobs('search', split) })) {
        expect(it.meta.numbers).toHaveLength(count);
        expect(it.meta.numbers.every((v) => v >= 1 && v <= 10)).toBe(true);
        expect(it.meta.target).toBeGreaterThanOrEqual(1);
        expect(it.meta.target).toBeLessThanOrEqual(100);
        expect(it.meta.steps).toBe(count - 1);
      }
    }
  });

  it('is chosen for SFT with sft.countdownStyle, absent (guess) by default', () => {
    // no default value: a resolved config without the key is what older code wrote (sftFrom compares them)
    expect('countdownStyle' in SftSourceSchema.parse({ name: 'countdown', preset: 'search' })).toBe(false);
    expect(SftSourceSchema.parse({ name: 'countdown', preset: 'search', countdownStyle: 'search' }).countdownStyle).toBe('search');
    expect(() => SftSourceSchema.parse({ name: 'countdown', countdownStyle: 'exhaustive' })).toThrow();
  });
});

describe('countdown search-style monolithic traces', () => {
  it.each(sets)('%s: the root writes the canonical search and answers the path; refused exactly when it passes the window', async (_, items) => {
    const pairs: { item: CountdownItem; trace: Trace }[] = [];
    for (const item of items) {
      const rev = item.meta.knobs.reversed;
      const ref = refSearch(item.meta.numbers, item.meta.target, rev);
      expect(ref.found).toBe(true);
      const r = monolithicTrace(item, tok, cfg, search);
      // prompt + <think>, the search, <answer> EXPR <eos>: the answer is what the trace answers
      const answer = r.ok ? tok.decode(r.trace.tree.contexts[0].answer!) : '';
      const length = tok.encode(item.prompt).length + 1 + tok.encode(ref.text).length + 2;
      if (!r.ok) {
        expect(r.reason, item.id).toMatch(/rootWindow is 128/);
        expect(Number(/holds (\d+) tokens/.exec(r.reason)![1])).toBeGreaterThan(cfg.rootWindow);
        continue;
      }
      expect(length + tok.encode(answer).length).toBeLessThanOrEqual(cfg.rootWindow);
      pairs.push({ item, trace: r.trace });
    }
    // both kinds occur in distribution: short searches fit, long ones do not
    if (items[0].split !== 'ood') expect(pairs.length).toBeGreaterThan(items.length / 2);
    expect(pairs.length).toBeLessThan(items.length);
    const trees = await replay(pairs);
    trees.forEach((tree, t) => {
      const { item, trace } = pairs[t];
      const rev = item.meta.knobs.reversed;
      const { numbers, target } = item.meta;
      expect(tree.contexts).toEqual(trace.tree.contexts);
      expect(tree.contexts).toHaveLength(1);
      expect(tree.cost.malformed).toBe(0);
      const root = tree.contexts[0];
      expect(root.finish).toBe('answer');
      const [text, answer] = generated(root).split('<answer>');
      expect(text, item.id).toBe(refSearch(numbers, target, rev).text);
      expect(answer).toMatch(/<eos>$/);
      expect(checkCdAnswer(answer.slice(0, -5), numbers, target, rev).ok).toBe(true);
      expect(taskReward(item, tree, tok).components.correct).toBe(1);
      // the path found: the steps still open (their `[` unclosed) and the last try, one per operation
      const path: string[] = [];
      for (const m of text.matchAll(/(\d+[+\-*/]\d+=\d+)([[;])|\]/g)) {
        if (m[0] === ']') path.pop();
        else if (m[2] === '[') path.push(m[1]);
      }
      expect(path.length + 1).toBe(numbers.length - 1);
      expect(text.endsWith(`=${digits(rev)(target)};`)).toBe(true);
      expect(root.ids.length).toBeLessThanOrEqual(cfg.rootWindow);
    });
  });

  it('reads as hand-written for two items', () => {
    const [items] = [sets[0][1]];
    // 17 from 4 3 10 (reversed digits): 4+3=7, then 10+7=17 is the first try
    expect(items[0].prompt).toBe('71:4,3,01');
    const a = monolithicTrace(items[0], tok, cfg, search);
    expect(a.ok && tok.decode(a.trace.tree.contexts[0].ids)).toBe('71:4,3,01<think>4+3=7[01+7=71;<answer>01+4+3<eos>');
    // 4 from 9 9 3: 9+9=18 and 9*9=81 fail on all four tries with 3; 9-9 is pruned; 9/9=1 then 3+1=4
    expect(items[3].prompt).toBe('4:9,9,3');
    const b = monolithicTrace(items[3], tok, cfg, search);
    expect(b.ok && tok.decode(b.trace.tree.contexts[0].ids)).toBe(
      '4:9,9,3<think>9+9=81[81+3=12;81-3=51;81*3=45;81/3=6;]9*9=18[18+3=48;18-3=87;18*3=342;18/3=72;]9/9=1[3+1=4;<answer>3+9/9<eos>',
    );
    // the guess style stays the default
    const guess = monolithicTrace(items[3], tok, cfg);
    expect(guess.ok && tok.decode(guess.trace.tree.contexts[0].ids)).toBe('4:9,9,3<think>9/9=1;3+1=4;<answer>3+9/9<eos>');
  });
});

describe('countdown search-style delegation traces', () => {
  it.each(sets)('%s: every context hands its moves in canonical order to clones, 4 a call, until one solves', async (_, items) => {
    const pairs: { item: CountdownItem; trace: Trace }[] = [];
    for (const item of items) {
      const r = delegationTrace(item, tok, cfg, Rng.fromSeed(1), search);
      if (r.ok) pairs.push({ item, trace: r.trace });
      else expect(r.reason, item.id).toMatch(/window is 128|budget is 128/);
    }
    expect(pairs.length).toBeGreaterThan(0);
    const trees = await replay(pairs);
    trees.forEach((tree, t) => {
      const { item, trace } = pairs[t];
      const rev = item.meta.knobs.reversed;
      const { target, numbers } = item.meta;
      expect(trace.kind).toBe('delegate');
      expect(tree.contexts).toEqual(trace.tree.contexts);
      expect(tree.cost.malformed).toBe(0);
      expect(taskReward(item, tree, tok).components.correct).toBe(1);
      expect(checkCdAnswer(tok.decode(tree.contexts[0].answer!), numbers, target, rev).ok).toBe(true);
      // the shape: ID roots call clones of 2 numbers; OOD roots call clones of 3 that call clones of 2
      expect(Math.max(...tree.contexts.map((c) => c.depth))).toBe(numbers.length - 2);
      for (const c of tree.contexts) {
        const list = listOf(c, item);
        const answer = tok.decode(c.answer!);
        expect(c.finish).toBe('answer');
        expect(c.ids.length).toBeLessThanOrEqual(c.parent === null ? cfg.rootWindow : cfg.cloneWindow);
        if (c.parent !== null) expect(c.budget).toBe(list.length === 2 ? 64 : 128);
        // every answer is right for the context's own instance
        if (answer === CD_NO_SOLUTION) expect(solveCountdown(list, target), `${item.id} context ${c.id}`).toBeNull();
        else expect(checkCdAnswer(answer, list, target, rev).ok, `${item.id} context ${c.id}: ${answer}`).toBe(true);
        if (list.length < 3 || c.depth >= cfg.maxDepth) {
          // searching alone: the monolithic search of its list, then the path or none
          expect(c.calls).toHaveLength(0);
          const ref = refSearch(list, target, rev);
          expect(generated(c)).toBe(`${ref.text}<answer>${ref.found ? answer : CD_NO_SOLUTION}<eos>`);
          continue;
        }
        // delegating: the objectives over its calls are the reduced prompts of its moves, in order, 4 a call,
        // up to the end of the call holding the first clone that solved
        const moves = refMoves(list);
        const clones = c.calls.flatMap((k) => k.clones.map((id) => tree.contexts[id]));
        expect(c.calls.map((k) => k.clones.length)).toEqual(c.calls.map((_k, i) => Math.min(4, moves.length - 4 * i)));
        expect(clones.map((k) => tok.decode(k.ids.slice(1, k.promptLength - 1)))).toEqual(moves.slice(0, clones.length).map((m) => countdownPrompt(target, m.rest, rev)));
        const win = clones.findIndex((k) => tok.decode(k.answer!) !== CD_NO_SOLUTION);
        const after = tok.decode(c.ids.slice(c.calls.at(-1)!.end + c.calls.at(-1)!.injected));
        if (win < 0) {
          expect(clones).toHaveLength(moves.length);
          expect(after).toBe(`<answer>${CD_NO_SOLUTION}<eos>`);
        } else {
          expect(Math.floor(win / 4)).toBe(c.calls.length - 1);
          expect(after).toBe(`${stepOf(moves[win], rev)};<answer>${answer}<eos>`);
        }
      }
    });
  });

  it('refuses, naming why, when spawning is off or a call does not fit', () => {
    const item = sets[0][1][0];
    expect(delegationTrace(item, tok, RolloutConfigSchema.parse({ allowSpawn: false }), Rng.fromSeed(1), search)).toMatchObject({ ok: false, reason: expect.stringMatching(/spawn/) });
    expect(delegationTrace(item, tok, RolloutConfigSchema.parse({ rootWindow: 40 }), Rng.fromSeed(1), search)).toMatchObject({ ok: false, reason: expect.stringMatching(/window is 40/) });
    expect(delegationTrace(sets[1][1][1], tok, RolloutConfigSchema.parse({ maxDepth: 2, maxCallsPerTree: 2 }), Rng.fromSeed(1), search)).toMatchObject({ ok: false, reason: expect.stringMatching(/maxCallsPerTree is 2/) });
  });
});

describe('the search trace examples in docs/tasks.md', () => {
  it('are what the code produces', () => {
    const doc = taskDocs();
    const blocks = [...doc.matchAll(/<!-- search trace (id|ood) seed (\d+) item (\d+) (mono|delegate) -->\n```text\n([\s\S]*?)\n```/g)];
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const [, split, seed, index, kind, text] of blocks) {
      const item = generateCountdown({ split: split as 'id', n: Number(index) + 1, seed: Number(seed), knobs: countdownKnobs('search', split as 'id') })[Number(index)];
      const r = kind === 'mono' ? monolithicTrace(item, tok, cfg, search) : delegationTrace(item, tok, cfg, Rng.fromSeed(1), search);
      expect(r.ok).toBe(true);
      if (r.ok) expect(traceText(r.trace, tok)).toBe(text);
    }
  });
});
