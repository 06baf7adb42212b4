/**
 * Statistics of an evaluation: means with seeded percentile-bootstrap confidence intervals (resampling
 * examples with replacement), Wilson intervals for proportions (accuracy, pass@n), majority vote, pass@n and
 * cost-of-pass. Pure TS: no tfjs.
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

/** The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Wilson score interval of a proportion k/n: unlike the percentile bootstrap it does not collapse at 0/n or n/n
 * (0/16 gives [0, 19.4 %] at 95 %, the bootstrap [0, 0]). NaN without items.
 */
export function wilson(k: number, n: number, level = 0.95): Estimate {
  if (n === 0) return { mean: NaN, lo: NaN, hi: NaN };
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { mean: p, lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half) };
}

/** A 2×2 table of paired 0/1 outcomes: both right, only A right, only B right, neither. */
export interface PairedTable {
  both: number;
  onlyA: number;
  onlyB: number;
  neither: number;
}

/**
 * The score interval for the difference of two proportions on paired data, A − B (Newcombe 1998, "Improved
 * confidence intervals for the difference between binomial proportions based on paired data", method 10): the
 * Wilson intervals of both margins, combined with the correlation phi of the pairs (0 when a margin is empty).
 * Unlike a bootstrap it does not collapse when no pair is discordant (16 of 16 both right: ±19.4 points).
 */
export function newcombePaired(t: PairedTable, level = 0.95): Estimate {
  const { both: a, onlyA: b, onlyB: c, neither: d } = t;
  const n = a + b + c + d;
  if (n === 0) return { mean: NaN, lo: NaN, hi: NaN };
  const w1 = wilson(a + b, n, level);
  const w2 = wilson(a + c, n, level);
  const p1 = w1.mean;
  const p2 = w2.mean;
  const denom = Math.sqrt((a + b) * (c + d) * (a + c) * (b + d));
  const phi = denom === 0 ? 0 : (a * d - b * c) / denom;
  const dl = Math.sqrt(Math.max(0, (p1 - w1.lo) ** 2 - 2 * phi * (p1 - w1.lo) * (w2.hi - p2) + (w2.hi - p2) ** 2));
  const du = Math.sqrt(Math.max(0, (w1.hi - p1) ** 2 - 2 * phi * (w1.hi - p1) * (p2 - w2.lo) + (p2 - w2.lo) ** 2));
  const diff = (b - c) / n;
  return { mean: diff, lo: Math.max(-1, diff - dl), hi: Math.min(1, diff + du) };
}

/** The Wilson interval of a column of 0/1 values (a proportion), or null when some value is neither. */
export function proportionInterval(xs: readonly number[], level = 0.95): Estimate | null {
  if (!xs.every((x) => x === 0 || x === 1)) return null;
  return wilson(xs.reduce((a: number, b: number) => a + b, 0), xs.length, level);
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
