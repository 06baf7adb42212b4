/**
 * Pooling evals of several training seeds into one series (selfcest compare --pool-seeds). Evals whose labels
 * differ only in a trailing seed tag (`clones s1`, `clones s2`, …) on the same split form one series named by
 * the rest of the label plus the seed count (`clones (3 seeds)`). Each pooled point's accuracy and token means
 * are the mean over seeds of the per-seed means, with a two-level percentile bootstrap CI: every resample draws
 * seeds with replacement, then items with replacement within each drawn seed, so the interval carries the
 * seed-to-seed spread as well as the item sampling (with one seed it is the plain item bootstrap); for accuracy
 * and pass@n the interval is widened to include the Wilson interval of all pooled items, since a percentile
 * bootstrap collapses to a point at 0 % or 100 %. The other
 * per-item means are averaged over seeds. Pure TS: reads eval dirs, no tfjs.
 */
import * as path from 'node:path';
import { Rng } from '../util/rng.ts';
import { readJsonl } from '../util/jsonl.ts';
import { SelfcestError } from '../util/errors.ts';
import type { EvalIndex, EvalPointEntry } from './evaluate.ts';
import type { ExampleRecord } from './run.ts';
import { costOfPass, mean, proportionInterval, quantile, type BootstrapOptions, type Estimate } from './stats.ts';
import type { PointSummary } from './summary.ts';

/** `clones s2` → series `clones`, seed `2`; a label without the tag is its own series (seed null). */
export function seedOfLabel(label: string): { series: string; seed: string | null } {
  const m = /^(.*\S)\s+s(\d+)$/.exec(label);
  return m ? { series: m[1], seed: m[2] } : { series: label, seed: null };
}

/**
 * Two-level percentile bootstrap of the mean over groups (seeds) of per-group means: each resample draws
 * groups with replacement, then within each drawn group its items with replacement (the same item draws for
 * every column, so paired metrics stay paired). `groups[g][k]` is column k of group g.
 */
export function hierarchicalBootstrap<K extends string>(groups: readonly Record<K, readonly number[]>[], rng: Rng, opts: BootstrapOptions = {}): Record<K, Estimate> {
  const B = opts.resamples ?? 1000;
  const level = opts.level ?? 0.95;
  if (groups.length === 0) throw new Error('hierarchicalBootstrap: no groups');
  const keys = Object.keys(groups[0]) as K[];
  const sizes = groups.map((g, i) => {
    const n = keys.length ? g[keys[0]].length : 0;
    for (const k of keys) if (g[k].length !== n) throw new Error(`hierarchicalBootstrap: group ${i} column ${k} has ${g[k].length} values, expected ${n}`);
    if (n === 0) throw new Error(`hierarchicalBootstrap: group ${i} has no items`);
    return n;
  });
  const G = groups.length;
  const draws = Object.fromEntries(keys.map((k) => [k, new Array<number>(B)])) as Record<K, number[]>;
  const acc = new Map<K, number>();
  const inner = new Map<K, number>();
  for (let b = 0; b < B; b++) {
    for (const k of keys) acc.set(k, 0);
    for (let s = 0; s < G; s++) {
      const g = Math.floor(rng.next() * G);
      const n = sizes[g];
      for (const k of keys) inner.set(k, 0);
      for (let i = 0; i < n; i++) {
        const j = Math.floor(rng.next() * n);
        for (const k of keys) inner.set(k, inner.get(k)! + groups[g][k][j]);
      }
      for (const k of keys) acc.set(k, acc.get(k)! + inner.get(k)! / n);
    }
    for (const k of keys) draws[k][b] = acc.get(k)! / G;
  }
  const a = (1 - level) / 2;
  return Object.fromEntries(
    keys.map((k) => {
      const s = draws[k].sort((x, y) => x - y);
      return [k, { mean: mean(groups.map((g) => mean(g[k]))), lo: quantile(s, a), hi: quantile(s, 1 - a) }];
    }),
  ) as Record<K, Estimate>;
}

/** One pooled series on one split: its members (indices into the evals given) and the pooled index. */
export interface PooledEval {
  members: number[];
  index: EvalIndex;
}

export function readRecords(dir: string, p: EvalPointEntry): ExampleRecord[] {
  const file = path.join(dir, p.dir, 'examples.jsonl');
  return readJsonl(file, (o, where) => {
    const r = o as ExampleRecord;
    if (typeof r?.correct !== 'number' || typeof r?.tokens?.total !== 'number' || typeof r?.tokens?.critical !== 'number')
      throw new SelfcestError(`${where}: not an eval example record (expected correct and tokens.total/critical numbers)`);
    return r;
  });
}

/** Pool one point over seeds: per-seed summaries averaged, accuracy/tokens with the two-level bootstrap. */
export function poolPoint(summaries: readonly PointSummary[], records: readonly (readonly ExampleRecord[])[], rng: Rng, opts: BootstrapOptions = {}): PointSummary {
  const groups = records.map((rs) => ({
    accuracy: rs.map((r) => r.correct),
    passAtN: rs.map((r) => r.passAtN),
    reward: rs.map((r) => r.reward),
    total: rs.map((r) => r.tokens.total),
    critical: rs.map((r) => r.tokens.critical),
  }));
  const ci = hierarchicalBootstrap(groups, rng, opts);
  // a proportion's interval is at least the Wilson interval of all pooled items: the bootstrap collapses at 0 and 1
  for (const k of ['accuracy', 'passAtN'] as const) {
    const w = proportionInterval(groups.flatMap((g) => g[k]), opts.level);
    if (w === null) continue;
    ci[k] = { mean: ci[k].mean, lo: Math.min(ci[k].lo, w.lo), hi: Math.max(ci[k].hi, w.hi) };
  }
  const avg = (f: (s: PointSummary) => number) => mean(summaries.map(f));
  const sum = (f: (s: PointSummary) => number) => summaries.reduce((a, s) => a + f(s), 0);
  const calls = sum((s) => s.calls * s.items);
  const malformed = sum((s) => s.malformed * s.items);
  const items = sum((s) => s.items);
  const wall = sum((s) => s.wallSeconds);
  const tokens = sum((s) => s.tokensPerSecond * s.wallSeconds);
  return {
    items,
    samples: summaries[0].samples,
    accuracy: ci.accuracy,
    passAtN: ci.passAtN,
    reward: ci.reward,
    tokens: { total: ci.total, critical: ci.critical, root: avg((s) => s.tokens.root), clone: avg((s) => s.tokens.clone) },
    generated: { root: avg((s) => s.generated?.root ?? NaN), clone: avg((s) => s.generated?.clone ?? NaN) },
    calls: avg((s) => s.calls),
    clones: avg((s) => s.clones),
    malformed: avg((s) => s.malformed),
    malformedRate: calls > 0 ? malformed / calls : 0,
    costOfPass: costOfPass(ci.total.mean, ci.accuracy.mean),
    criticalCostOfPass: costOfPass(ci.critical.mean, ci.accuracy.mean),
    msPerItem: avg((s) => s.msPerItem),
    wallSeconds: wall,
    itemsPerSecond: wall > 0 ? items / wall : 0,
    tokensPerSecond: wall > 0 ? tokens / wall : 0,
  };
}

/**
 * Group evals by (series, task, split, mode) and pool each group's points. Every member must hold the same
 * point names (a sweep run over every seed); otherwise the error names the eval and the point.
 */
export function poolSeeds(evals: readonly EvalIndex[], dirs: readonly string[], opts: BootstrapOptions & { seed?: string | number } = {}): PooledEval[] {
  const groups = new Map<string, number[]>();
  evals.forEach((e, i) => {
    const key = [seedOfLabel(e.label).series, e.task, e.splitName, e.mode].join('\u0000');
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const out: PooledEval[] = [];
  for (const members of groups.values()) {
    const first = evals[members[0]];
    const { series } = seedOfLabel(first.label);
    const seeds = members.map((i) => seedOfLabel(evals[i].label).seed ?? evals[i].label);
    const dup = seeds.find((s, k) => seeds.indexOf(s) !== k);
    if (dup !== undefined) throw new SelfcestError(`--pool-seeds: two evals of series "${series}" on split ${first.splitName} have seed ${dup}: ${members.map((i) => dirs[i]).join(', ')}`);
    const names = first.points.map((p) => p.name);
    for (const i of members) {
      const mine = evals[i].points.map((p) => p.name);
      const missing = names.find((n) => !mine.includes(n)) ?? mine.find((n) => !names.includes(n));
      if (missing !== undefined) throw new SelfcestError(`--pool-seeds: ${dirs[i]} and ${dirs[members[0]]} (series "${series}", split ${first.splitName}) do not have the same sweep points (${missing}); pool evals of the same sweep`);
    }
    const points = names.map((name) => {
      const entries = members.map((i) => evals[i].points.find((p) => p.name === name)!);
      const records = members.map((i, k) => readRecords(dirs[i], entries[k]));
      const rng = Rng.fromSeed(`${opts.seed ?? 1}:pool:${series}:${first.splitName}:${name}`);
      return { ...entries[0], summary: poolPoint(entries.map((p) => p.summary), records, rng, opts) };
    });
    const label = members.length > 1 ? `${series} (${members.length} seeds)` : first.label;
    out.push({ members, index: { ...first, label, checkpoint: members.map((i) => evals[i].checkpoint).join(', '), complete: members.every((i) => evals[i].complete), points } });
  }
  return out;
}
