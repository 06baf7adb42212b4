/**
 * Statistics of an evaluation: means with seeded percentile-bootstrap confidence intervals (resampling
 * examples with replacement), majority vote, pass@n and cost-of-pass. Pure TS: no tfjs.
 */
import { Rng } from '../util/rng.ts';

/** A mean and its bootstrap confidence interval (lo, hi at the chosen level, 95 % by default). */
export interface Estimate {
  mean: number;
  lo: number;
  hi: number;
}

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** The q-quantile (0..1) of sorted values, linear interpolation between order statistics. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export interface BootstrapOptions {
  /** resamples (default 1000) */
  resamples?: number;
  /** confidence level (default 0.95) */
  level?: number;
}

/**
 * Percentile bootstrap of the mean of several per-example columns at once: each resample draws n example
 * indices with replacement (the same indices for every column, so paired metrics stay paired) from `rng`.
 * With no examples every field is NaN.
 */
export function bootstrapMeans<K extends string>(columns: Record<K, readonly number[]>, rng: Rng, opts: BootstrapOptions = {}): Record<K, Estimate> {
  const B = opts.resamples ?? 1000;
  const level = opts.level ?? 0.95;
  const keys = Object.keys(columns) as K[];
  const n = keys.length ? columns[keys[0]].length : 0;
  for (const k of keys) if (columns[k].length !== n) throw new Error(`bootstrapMeans: column ${k} has ${columns[k].length} values, expected ${n}`);
  const draws = Object.fromEntries(keys.map((k) => [k, new Array<number>(B)])) as Record<K, number[]>;
  const sums = new Map<K, number>();
  for (let b = 0; b < B && n > 0; b++) {
    for (const k of keys) sums.set(k, 0);
    for (let i = 0; i < n; i++) {
      const j = Math.floor(rng.next() * n);
      for (const k of keys) sums.set(k, sums.get(k)! + columns[k][j]);
    }
    for (const k of keys) draws[k][b] = sums.get(k)! / n;
  }
  const a = (1 - level) / 2;
  return Object.fromEntries(
    keys.map((k) => {
      if (n === 0) return [k, { mean: NaN, lo: NaN, hi: NaN }];
      const s = draws[k].sort((x, y) => x - y);
      return [k, { mean: mean(columns[k]), lo: quantile(s, a), hi: quantile(s, 1 - a) }];
    }),
  ) as Record<K, Estimate>;
}

/** Bootstrap CI of one column's mean. */
export function bootstrapMean(xs: readonly number[], rng: Rng, opts: BootstrapOptions = {}): Estimate {
  return bootstrapMeans({ x: xs }, rng, opts).x;
}

/**
 * Majority vote over sample answers (null = no answer, never a candidate; answers are compared as given, so
 * normalise them first). Ties go to the answer whose first occurrence is earliest (sample order is the
 * seeded sampling order, so the rule is deterministic). Returns the winner's index among the samples, or
 * -1 when no sample answered.
 */
export function majorityVote(answers: readonly (string | null)[]): { index: number; votes: number } {
  const count = new Map<string, { first: number; votes: number }>();
  answers.forEach((a, i) => {
    if (a === null) return;
    const c = count.get(a);
    if (c) c.votes++;
    else count.set(a, { first: i, votes: 1 });
  });
  let best = { index: -1, votes: 0 };
  for (const c of count.values()) if (c.votes > best.votes || (c.votes === best.votes && c.first < best.index)) best = { index: c.first, votes: c.votes };
  return best;
}

/** Unbiased pass@k from n samples of which c are correct (Chen et al. 2021): 1 − C(n−c, k) / C(n, k). */
export function passAtK(n: number, c: number, k: number): number {
  if (k > n || k < 1 || c < 0 || c > n) throw new Error(`passAtK: need 1 <= k <= n and 0 <= c <= n (n ${n}, c ${c}, k ${k})`);
  if (n - c < k) return 1;
  let p = 1;
  for (let i = n - c + 1; i <= n; i++) p *= 1 - k / i;
  return 1 - p;
}

/** Expected tokens spent per correct answer: mean tokens / accuracy (null when nothing was correct). */
export function costOfPass(meanTokens: number, accuracy: number): number | null {
  return accuracy > 0 ? meanTokens / accuracy : null;
}
