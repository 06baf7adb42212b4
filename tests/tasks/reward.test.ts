import { describe, it, expect } from 'vitest';
import { loadTokenizer, type SpecialToken } from '../../src/tokenizer/index.ts';
import type { CallRecord, Context } from '../../src/rollout/tree.ts';
import { arithItemFromExpr, arithKnobs, parseExpr } from '../../src/tasks/arith/arith.ts';
import { readInt, writeInt } from '../../src/tasks/numbers.ts';
import { accuracyOf, costTerms, makeReward, RewardConfigSchema, rolloutReward, saturating, taskReward } from '../../src/tasks/reward.ts';
import { partialCredit } from '../../src/tasks/scoring.ts';
import type { RolloutRewardFn as GrpoRewardFn } from '../../src/train/grpo.ts';
import type { TaskItem } from '../../src/tasks/types.ts';

const tok = loadTokenizer();
const T = (...parts: string[]): number[] => parts.flatMap((x) => (/^<[^>]+>$/.test(x) ? [tok.id(x as SpecialToken)] : tok.encode(x)));

// 12*34+5 = 413: prompt `21*43+5`, answer `314` (reversed digits)
const item = arithItemFromExpr(parseExpr('12*34+5', false), arithKnobs('tiny', 'id'), 'id', 'x');
const normal = arithItemFromExpr(parseExpr('12*34+5', false), arithKnobs('tiny', 'id', { reversed: false }), 'id', 'y');
const qa: TaskItem = { format: 1, task: 'qa', split: 'id', id: 'q', prompt: 'capital of France?', answer: 'Paris', meta: {} };

/** A context with `gen` sampled tokens (after a 5-token prompt) and the given answer and calls. */
function ctx(id: number, parent: number | null, gen: number, answer: string | null = null, calls: CallRecord[] = []): Context {
  const n = 5 + gen;
  return {
    id,
    parent,
    depth: parent === null ? 0 : 1,
    role: parent === null ? 'root' : 'clone',
    callIndex: parent === null ? null : 0,
    budget: 96,
    promptLength: 5,
    ids: new Array(n).fill(34),
    lossMask: [...new Array(5).fill(0), ...new Array(gen).fill(1)],
    logprobs: new Array(n).fill(0),
    finish: answer === null ? 'budget' : 'answer',
    answer: answer === null ? null : T(answer),
    calls,
  };
}
const call = (index: number, clones: number[], malformed: CallRecord['malformed'] = null): CallRecord => ({ index, start: 0, end: 1, clones, malformed, injected: 1 });

describe('arithmetic correctness', () => {
  it.each([
    // truth B, answer A, reward (hand-computed: 0.2 / log2(2 + |A-B| / sqrt(|2 + max(|A|,|B|)|)))
    [1_000_000n, 1_000_000n, 1],
    [1_000_000n, 1_000_001n, 0.199856], // 0.2 / log2(2 + 1/1000.0015)
    [1_000_000n, 1_000_100n, 0.186849], // 0.2 / log2(2 + 100/1000.051)
    [1_000_000n, 2_000_000n, 0.02112], // 0.2 / log2(2 + 1e6/1414.214)
    [10n ** 12n, 1n, 0.010034], // 0.2 / log2(2 + (1e12-1)/1e6)
    [-13n, 13n, 0.064037], // 0.2 / log2(2 + 26/sqrt(15))
    [0n, 1n, 0.146425], // 0.2 / log2(2 + 1/sqrt(3))
  ])('truth %s, answer %s: %s', (b, a, want) => {
    expect(partialCredit(a, b)).toBeCloseTo(want, 5);
  });

  it('stays finite and exact for integers too large for a double (the reference formula, evaluated in log space)', () => {
    // 10^400 vs 1: |A-B| / sqrt(2 + 10^400) ≈ 10^200, so the credit is 0.2 / log2(10^200) = 0.2 / (200 log2 10)
    expect(partialCredit(10n ** 400n, 1n)).toBeCloseTo(0.2 / (200 * Math.log2(10)), 12);
    expect(partialCredit(10n ** 400n + 1n, 10n ** 400n)).toBeCloseTo(0.2 / Math.log2(2 + 10 ** -200), 12); // one off a huge truth: ~0.2
    expect(partialCredit(-(10n ** 309n), 10n ** 309n)).toBeCloseTo(0.2 / Math.log2(2 + 2 * Math.sqrt(10) * 1e154), 12); // 2·10^309 / sqrt(10^309)
    for (const digits of [300, 308, 309, 310, 400, 2000]) {
      const truth = 7n * 10n ** BigInt(digits);
      const further = [truth + 1n, truth * 2n, truth * 10n ** 50n, -truth].map((a) => partialCredit(a, truth));
      for (const c of further) expect(c > 0 && c <= 0.2, `${digits} digits: ${c}`).toBe(true); // one off rounds to 0.2 itself
      // further from the truth: less credit
      expect(further[0]).toBeGreaterThan(further[1]);
      expect(further[1]).toBeGreaterThan(further[2]);
    }
  });

  it.each([
    // answer text (item: 12*34+5 = 413, reversed), correct, accuracy
    ['314', 1, 1],
    [' 314 ', 1, 1], // white space is ignored
    ['3140', 1, 1], // a redundant zero (0413) is the same number
    ['304', 0, 0.1519], // 403: 0.2 / log2(2 + 10/sqrt(415))
    ['-314', 0, 0.036962], // -413: 0.2 / log2(2 + 826/sqrt(415))
    ['413', 0, 0.07199], // read reversed: 314, |A-B| = 99, 0.2 / log2(2 + 99/sqrt(415)) = 0.2 / log2(6.8598)
    ['abc', 0, 0],
    ['3 1 4x', 0, 0],
    ['<err>', 0, 0],
    ['', 0, 0],
  ])('answer %j: correct %i, accuracy %f', (answer, correct, accuracy) => {
    const r = accuracyOf(item, answer);
    expect(r.correct).toBe(correct);
    expect(r.accuracy).toBeCloseTo(accuracy, 5);
  });

  it('reads answers in the digit order of the item; no answer scores 0', () => {
    expect(accuracyOf(normal, '413')).toEqual({ correct: 1, accuracy: 1 });
    expect(accuracyOf(normal, '314').correct).toBe(0);
    expect(accuracyOf(item, null)).toEqual({ correct: 0, accuracy: 0 });
  });

  it('other tasks: exact match after trimming, lower-casing and collapsing white space', () => {
    expect(accuracyOf(qa, '  paris ')).toEqual({ correct: 1, accuracy: 1 });
    expect(accuracyOf(qa, 'Lyon')).toEqual({ correct: 0, accuracy: 0 });
    expect(accuracyOf({ ...qa, answer: 'New  York' }, 'new york')).toEqual({ correct: 1, accuracy: 1 });
  });
});

describe('cost terms', () => {
  it.each([
    // t, coef, free, scale, penalty (reference values: root 512/256/0.3, clone 512/512/0.2)
    [512, 0.3, 512, 256, 0],
    [768, 0.3, 512, 256, 0.189636], // 0.3 (1 - e^-1)
    [1024, 0.3, 512, 256, 0.259399], // 0.3 (1 - e^-2)
    [2048, 0.3, 512, 256, 0.299256], // 0.3 (1 - e^-6)
    [768, 0.2, 512, 512, 0.078694], // 0.2 (1 - e^-0.5)
    [1024, 0.2, 512, 512, 0.126424], // 0.2 (1 - e^-1)
    [13, 0.5, 12, 0, 0.5], // scale 0: all at once
    [1000, 0, 12, 10, 0], // coef 0: off
  ])('saturating(%i; coef %f, free %i, scale %f) = %f', (t, coef, free, scale, want) => {
    expect(saturating(t, { coef, free, scale })).toBeCloseTo(want, 5);
  });

  // root: 40 generated; call 0 → clones 1 (20) and 2 (50); call 1 malformed; call 2 → clone 3 (70); answer 304 (= 403)
  const tree = {
    contexts: [ctx(0, null, 40, '304', [call(0, [1, 2]), call(1, [], 'parse'), call(2, [3])]), ctx(1, 0, 20, '1'), ctx(2, 0, 50, '2'), ctx(3, 0, 70, null)],
  };
  const on = { rootLength: { coef: 0.3, free: 32, scale: 16 }, clonePath: { coef: 0.2, free: 30, scale: 20 }, spawns: { coef: 0.1, free: 1 }, malformed: { coef: 0.05 } };

  it('are all off by default', () => {
    expect(costTerms(tree, RewardConfigSchema.parse({}))).toEqual({ rootLength: 0, clonePath: 0, spawns: 0, malformed: 0 });
    const r = taskReward(item, tree, tok);
    expect(r.reward).toBeCloseTo(0.1519, 5);
    expect(r.components).toMatchObject({ correct: 0, rootLength: 0, clonePath: 0, spawns: 0, malformed: 0 });
  });

  it('each term, hand-computed', () => {
    const c = costTerms(tree, RewardConfigSchema.parse(on));
    expect(c.rootLength).toBeCloseTo(0.118041, 5); // 0.3 (1 - e^(-(40-32)/16))
    expect(c.clonePath).toBeCloseTo(0.172933, 5); // max over calls: call 0 longest 50 → 0.126424, call 2 longest 70 → 0.2 (1 - e^-2)
    expect(c.spawns).toBeCloseTo(0.2, 10); // 3 calls (the malformed one too) - 1 free = 2 × 0.1
    expect(c.malformed).toBeCloseTo(0.05, 10); // 1 malformed call
    const clones = costTerms(tree, RewardConfigSchema.parse({ spawns: { coef: 0.1, free: 2, count: 'clones' } }));
    expect(clones.spawns).toBeCloseTo(0.1, 10); // 3 clones - 2 free
  });

  it('reward = accuracy minus the cost terms, without a floor', () => {
    const r = makeReward(on)(item, tree, tok);
    expect(r.components.accuracy).toBeCloseTo(0.1519, 5);
    expect(r.reward).toBeCloseTo(0.1519 - 0.118041 - 0.172933 - 0.2 - 0.05, 5); // -0.389074
    expect(r.reward).toBeLessThan(0);
    // a correct monolithic tree: only its own length costs
    const mono = { contexts: [ctx(0, null, 48, '314')] };
    const m = makeReward(on)(item, mono, tok);
    expect(m.components).toEqual({ correct: 1, accuracy: 1, rootLength: expect.closeTo(0.3 * (1 - Math.exp(-1)), 6), clonePath: 0, spawns: 0, malformed: 0 });
    // a root that never answered
    expect(makeReward()(item, { contexts: [ctx(0, null, 96, null)] }, tok).reward).toBe(0);
  });

  it('rejects unknown config keys and negative coefficients', () => {
    expect(RewardConfigSchema.safeParse({ rootLength: { coeff: 1 } }).success).toBe(false);
    expect(RewardConfigSchema.safeParse({ malformed: { coef: -1 } }).success).toBe(false);
  });
});

describe('rolloutReward', () => {
  it('fits the tree-GRPO reward signature and looks the item up by id', () => {
    const fn: GrpoRewardFn = rolloutReward([item, normal], tok);
    const tree = { itemId: 'x', contexts: [ctx(0, null, 10, '314')], cost: {} as never };
    expect(fn({ itemId: 'x', prompt: [] }, tree)).toMatchObject({ root: 1 });
    expect(fn({ itemId: 'y', prompt: [] }, tree)).toMatchObject({ root: expect.closeTo(0.07199, 5) }); // '314' read in normal order
    expect(() => fn({ itemId: 'z', prompt: [] }, tree)).toThrow(/no task item with id "z"/);
  });
});

describe('clone-local rewards (arithmetic clones are checked against their objectives)', () => {
  it('every clone of a replayed split trace is right; a wrong clone answer earns partial credit; none without the option', async () => {
    const { delegationTrace } = await import('../../src/tasks/traces.ts');
    const { RolloutConfigSchema } = await import('../../src/rollout/protocol.ts');
    const { Rng } = await import('../../src/util/rng.ts');
    const { cloneRewards } = await import('../../src/tasks/reward.ts');
    const item = arithItemFromExpr(parseExpr('21+43-7+5-63+8-9+11-4+2+6', true), arithKnobs('sums-long', 'id'), 'id', 'c1');
    const r = delegationTrace(item, tok, RolloutConfigSchema.parse({ maxDepth: 2 }), Rng.fromSeed(1), { arithStyle: 'split' });
    expect(r.ok).toBe(true);
    const tree = r.ok ? r.trace.tree : null!;
    const clones = tree.contexts.filter((c) => c.parent !== null).map((c) => c.id);
    expect(clones.length).toBeGreaterThanOrEqual(4); // 11 terms: 6 + 5, then 3 + 3 and 3 + 2
    const right = cloneRewards(item, tree, tok);
    expect([...right.keys()]).toEqual(clones);
    expect([...right.values()].every((v) => v === 1)).toBe(true);
    // the last clone answers 1 too much: partial credit below 0.2, the others stay 1
    const last = tree.contexts[clones.at(-1)!];
    const plusOne = writeInt(readInt(tok.decode(last.answer!), true)! + 1n, true);
    const wrong = { contexts: tree.contexts.map((c) => (c === last ? { ...c, answer: tok.encode(plusOne) } : c)) };
    const got = cloneRewards(item, wrong, tok);
    expect(got.get(last.id)).toBeGreaterThan(0);
    expect(got.get(last.id)).toBeLessThan(0.2);
    expect(makeReward()(item, tree, tok).perContext).toEqual(right);
    expect(makeReward({ clones: 'none' })(item, tree, tok).perContext).toBeUndefined();
    expect(rolloutReward([item], tok)({ itemId: 'c1' }, tree).perContext).toEqual(right);
    // without partial credit the wrong clone earns 0, the right ones still 1
    const strict = makeReward({ partialCredit: false })(item, wrong, tok).perContext!;
    expect(strict.get(last.id)).toBe(0);
    expect([...strict.entries()].filter(([id]) => id !== last.id).every(([, v]) => v === 1)).toBe(true);
  });

  it('partialCredit: false makes a wrong root answer earn 0', () => {
    const tree = { contexts: [ctx(0, null, 10, '414')] }; // 414: one off the truth 413 (written least-significant digit first as 314)
    const partial = makeReward()(item, tree, tok);
    expect(partial.components.correct).toBe(0);
    expect(partial.reward).toBeGreaterThan(0);
    expect(partial.reward).toBeLessThan(0.2);
    const strict = makeReward({ partialCredit: false })(item, tree, tok);
    expect(strict.reward).toBe(0);
    expect(strict.components.accuracy).toBe(0);
    expect(makeReward({ partialCredit: false })(item, { contexts: [ctx(0, null, 10, '314')] }, tok).reward).toBe(1);
  });
});
