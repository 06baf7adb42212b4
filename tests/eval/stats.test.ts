import { describe, expect, it } from 'vitest';
import { paretoFrontier } from '../../src/eval/pareto.ts';
import { bootstrapMean, bootstrapMeans, costOfPass, majorityVote, passAtK, quantile, wilson } from '../../src/eval/stats.ts';
import { summarize } from '../../src/eval/summary.ts';
import { poolPoint } from '../../src/eval/pool.ts';
import type { ExampleRecord } from '../../src/eval/run.ts';
import { Rng } from '../../src/util/rng.ts';

describe('bootstrap confidence intervals', () => {
  it('matches the normal approximation on a known Bernoulli sample and is seeded', () => {
    const xs = Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 1 : 0)); // mean 0.25, se = sqrt(.25*.75/400) = 0.0217
    const e = bootstrapMean(xs, Rng.fromSeed(1), { resamples: 2000 });
    expect(e.mean).toBe(0.25);
    expect(e.lo).toBeGreaterThan(0.25 - 1.96 * 0.0217 - 0.01);
    expect(e.lo).toBeLessThan(0.25 - 1.96 * 0.0217 + 0.01);
    expect(e.hi).toBeGreaterThan(0.25 + 1.96 * 0.0217 - 0.01);
    expect(e.hi).toBeLessThan(0.25 + 1.96 * 0.0217 + 0.01);
    expect(bootstrapMean(xs, Rng.fromSeed(1), { resamples: 2000 })).toEqual(e);
    const ys = Array.from({ length: 50 }, (_, i) => Math.sin(i) * 10);
    expect(bootstrapMean(ys, Rng.fromSeed(2))).not.toEqual(bootstrapMean(ys, Rng.fromSeed(3)));
  });

  it('is a point for constant data, NaN without data, and narrower at a lower level', () => {
    expect(bootstrapMean([3, 3, 3], Rng.fromSeed(1))).toEqual({ mean: 3, lo: 3, hi: 3 });
    const none = bootstrapMean([], Rng.fromSeed(1));
    expect([none.mean, none.lo, none.hi].every(Number.isNaN)).toBe(true);
    const xs = [1, 5, 2, 8, 3, 9, 4, 7];
    const w95 = bootstrapMean(xs, Rng.fromSeed(4), { level: 0.95 });
    const w50 = bootstrapMean(xs, Rng.fromSeed(4), { level: 0.5 });
    expect(w50.hi - w50.lo).toBeLessThan(w95.hi - w95.lo);
  });

  it('resamples columns together (paired): equal columns get equal intervals, shifted columns shifted ones', () => {
    const a = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1];
    const r = bootstrapMeans({ a, b: [...a], c: a.map((x) => x + 10) }, Rng.fromSeed(9), { resamples: 300 });
    expect(r.b).toEqual(r.a);
    expect(r.c.lo).toBeCloseTo(r.a.lo + 10, 10);
    expect(r.c.hi).toBeCloseTo(r.a.hi + 10, 10);
    expect(() => bootstrapMeans({ a, b: [1] }, Rng.fromSeed(1))).toThrow(/column b/);
  });

  it('quantile interpolates between order statistics', () => {
    expect(quantile([1, 2, 3, 4], 0)).toBe(1);
    expect(quantile([1, 2, 3, 4], 1)).toBe(4);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10, 20], 0.25)).toBe(12.5);
  });
});

describe('majority vote', () => {
  it('picks the most frequent answer; ties go to the earliest first occurrence; null never wins', () => {
    expect(majorityVote(['3', '5', '5', '3', '5'])).toEqual({ index: 1, votes: 3 });
    expect(majorityVote(['7', '4', '4', '7'])).toEqual({ index: 0, votes: 2 }); // tie 2-2: '7' came first
    expect(majorityVote(['4', '7', '7', '4'])).toEqual({ index: 0, votes: 2 });
    expect(majorityVote([null, null, '2'])).toEqual({ index: 2, votes: 1 });
    expect(majorityVote([null, '1', null, '2', '2'])).toEqual({ index: 3, votes: 2 });
    expect(majorityVote([null, null])).toEqual({ index: -1, votes: 0 });
    expect(majorityVote([])).toEqual({ index: -1, votes: 0 });
  });
});

describe('pass@k and cost-of-pass', () => {
  it('pass@k is the unbiased estimator', () => {
    expect(passAtK(5, 0, 3)).toBe(0);
    expect(passAtK(5, 5, 1)).toBe(1);
    expect(passAtK(10, 3, 1)).toBeCloseTo(0.3, 12);
    expect(passAtK(4, 1, 2)).toBeCloseTo(0.5, 12); // 1 - C(3,2)/C(4,2)
    expect(passAtK(4, 2, 4)).toBe(1);
    expect(passAtK(6, 2, 3)).toBeCloseTo(1 - 4 / 20, 12); // 1 - C(4,3)/C(6,3)
    expect(() => passAtK(3, 1, 4)).toThrow();
  });

  it('cost-of-pass is tokens per correct answer', () => {
    expect(costOfPass(120, 0.5)).toBe(240);
    expect(costOfPass(120, 1)).toBe(120);
    expect(costOfPass(120, 0)).toBeNull();
  });
});

describe('Pareto frontier', () => {
  it('keeps the points no other point dominates', () => {
    const pts = [
      { cost: 100, accuracy: 0.5 }, // 0 frontier
      { cost: 200, accuracy: 0.4 }, // 1 dominated by 0
      { cost: 50, accuracy: 0.2 }, // 2 frontier (cheapest)
      { cost: 300, accuracy: 0.8 }, // 3 frontier (most accurate)
      { cost: 150, accuracy: 0.5 }, // 4 dominated by 0 (same accuracy, dearer)
      { cost: 100, accuracy: 0.3 }, // 5 dominated by 0 (same cost, less accurate)
      { cost: 250, accuracy: 0.7 }, // 6 frontier
      { cost: 400, accuracy: 0.8 }, // 7 dominated by 3
    ];
    expect(paretoFrontier(pts)).toEqual([2, 0, 6, 3]);
  });

  it('keeps equal points together and skips non-finite ones', () => {
    expect(paretoFrontier([{ cost: 10, accuracy: 0.5 }, { cost: 10, accuracy: 0.5 }, { cost: 20, accuracy: 0.4 }])).toEqual([0, 1]);
    expect(paretoFrontier([{ cost: NaN, accuracy: 1 }, { cost: 10, accuracy: NaN }, { cost: 30, accuracy: 0.1 }])).toEqual([2]);
    expect(paretoFrontier([])).toEqual([]);
    // a costlier point with equal accuracy is dominated even when listed first
    expect(paretoFrontier([{ cost: 30, accuracy: 0.6 }, { cost: 20, accuracy: 0.6 }])).toEqual([1]);
  });
});

describe('report columns', () => {
  it('orders split columns id, ood, others; by task when several tasks share a report', async () => {
    const { orderSplits, splitColumn } = await import('../../src/eval/report.ts');
    expect(orderSplits(['hard', 'ood', 'id', 'easy', 'id'])).toEqual(['id', 'ood', 'easy', 'hard']);
    expect(orderSplits(['arith-sums-ood', 'hard', 'arith-sums-id'])).toEqual(['arith-sums-id', 'arith-sums-ood', 'hard']);
    expect(orderSplits(['countdown ood', 'arith ood', 'countdown id', 'arith id'])).toEqual(['arith id', 'arith ood', 'countdown id', 'countdown ood']);
    expect(splitColumn({ task: 'arith', splitName: 'ood' }, 1)).toBe('ood');
    expect(splitColumn({ task: 'arith', splitName: 'ood' }, 2)).toBe('arith ood');
  });

  it('refuses two evals with one label on one split, and marks frontiers per split', async () => {
    const { reportRows } = await import('../../src/eval/report.ts');
    const est = (m: number) => ({ mean: m, lo: m, hi: m });
    const point = (name: string, acc: number, total: number, critical: number) => ({ name, summary: { items: 1, accuracy: est(acc), tokens: { total: est(total), critical: est(critical) } } });
    const ev = (label: string, splitName: string, points: ReturnType<typeof point>[]) => ({ label, task: 'arith', splitName, mode: 'clones', points }) as never;
    expect(() => reportRows([ev('a', 'id', []), ev('a', 'id', [])])).toThrow(/both have label "a" on split id/);
    const rows = reportRows([
      ev('a', 'id', [point('p1', 0.5, 100, 40), point('p2', 0.6, 200, 90)]),
      ev('b', 'id', [point('q1', 0.6, 150, 150)]),
      ev('a', 'ood', [point('p1', 0.1, 300, 300)]),
    ]);
    expect(rows.map((r) => [r.series, r.split, r.point, r.frontierTotal, r.frontierCritical])).toEqual([
      ['a', 'id', 'p1', true, true],
      ['a', 'id', 'p2', false, true], // by total tokens, b's q1 is as accurate and cheaper
      ['b', 'id', 'q1', true, false], // by critical path, a's p2 is as accurate and shorter
      ['a', 'ood', 'p1', true, true],
    ]);
  });
});

describe('accuracy intervals at the boundary', () => {
  const rec = (correct: number) => ({ correct, passAtN: correct, reward: correct, samples: 1, tokens: { total: 10, critical: 10, root: 10, clone: 0 }, generated: { root: 5, clone: 0 }, calls: 0, clones: 0, malformed: 0, ms: 1 }) as unknown as ExampleRecord;
  it('Wilson score interval: 0/16 is [0, 19.4 %], not [0, 0]; 16/16 is [80.6 %, 100 %]; 8/16 is [28.0 %, 72.0 %]', () => {
    expect(wilson(0, 16)).toEqual({ mean: 0, lo: 0, hi: expect.closeTo(0.1936, 4) });
    expect(wilson(16, 16)).toEqual({ mean: 1, lo: expect.closeTo(0.8064, 4), hi: 1 });
    const half = wilson(8, 16);
    expect(half.lo).toBeCloseTo(0.28, 2);
    expect(half.hi).toBeCloseTo(0.72, 2);
    expect(wilson(0, 0)).toEqual({ mean: NaN, lo: NaN, hi: NaN });
  });

  it('an eval point\'s accuracy and pass@n use it (the bootstrap collapsed to [0, 0] at 0/16), pooled seeds too', () => {
    const none = Array.from({ length: 16 }, () => rec(0));
    const s = summarize(none, 1, 1, 200);
    expect(s.accuracy.hi).toBeCloseTo(0.1936, 4);
    expect(s.passAtN.hi).toBeCloseTo(0.1936, 4);
    // pooled over two seeds of 16 all-wrong items: at least the interval of the 32 items together
    const p = poolPoint([s, s], [none, none], Rng.fromSeed(1), { resamples: 200 });
    expect(p.accuracy.hi).toBeCloseTo(wilson(0, 32).hi, 4);
    // away from the boundary the pooled interval keeps the seed spread (the wider of bootstrap and Wilson)
    const half = Array.from({ length: 16 }, (_, i) => rec(i % 2));
    const all = Array.from({ length: 16 }, () => rec(1));
    const q = poolPoint([summarize(half, 1, 1, 200), summarize(all, 1, 1, 200)], [half, all], Rng.fromSeed(1), { resamples: 500 });
    expect(q.accuracy.hi - q.accuracy.lo).toBeGreaterThan(wilson(24, 32).hi - wilson(24, 32).lo);
  });
});
