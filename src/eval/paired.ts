/**
 * The report's headline: SELFCEST − monolithic accuracy, paired by item. A series evaluated with clones is paired
 * with the series of the same name with `clones`/`selfcest` read as `mono` (clones ↔ mono, sft-clones ↔ sft-mono,
 * selfcest ↔ mono), on each split and budget point both hold, over the seeds both hold. Per seed, the difference
 * column is correct(clones) − correct(mono) of the same items; the CI is the two-level percentile bootstrap over
 * seeds and items (pool.ts), so it carries the seed spread; with one seed it is the paired item bootstrap. It is
 * widened to cover the Newcombe score interval of all pooled pairs (stats.ts newcombePaired), so it never
 * collapses to [0, 0] when no item is discordant (as pooled accuracy covers its Wilson interval). Pure TS.
 */
import { Rng } from '../util/rng.ts';
import { SelfcestError } from '../util/errors.ts';
import type { EvalIndex } from './evaluate.ts';
import { hierarchicalBootstrap, readRecords, seedOfLabel } from './pool.ts';
import { newcombePaired, type BootstrapOptions, type Estimate, type PairedTable } from './stats.ts';

export interface PairedDifference {
  split: string;
  point: string;
  /** the clones series and the monolithic series (seed tags removed) */
  a: string;
  b: string;
  seeds: number;
  /** items per seed */
  items: number;
  /** mean over seeds of the per-item accuracy difference a − b, with its CI */
  diff: Estimate;
}

/** An accuracy difference in signed percentage points with its CI, e.g. `+23.7 [+12.3, +37.3]`. */
export function formatPoints(d: Estimate): string {
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;
  return `${signed(d.mean)} [${signed(d.lo)}, ${signed(d.hi)}]`;
}

const monoName = (series: string) => series.replace(/clones|selfcest/, 'mono');

export function pairedDifferences(evals: readonly EvalIndex[], dirs: readonly string[], opts: BootstrapOptions & { seed?: string | number } = {}): PairedDifference[] {
  const key = (e: EvalIndex) => ({ ...seedOfLabel(e.label), split: e.splitName });
  // the clones evals of each series and split (one per seed), in the order given
  const groups = new Map<string, number[]>();
  evals.forEach((e, i) => {
    const k = key(e);
    if (e.mode !== 'clones' || monoName(k.series) === k.series) return;
    const g = `${k.series}\u0000${k.split}`;
    groups.set(g, [...(groups.get(g) ?? []), i]);
  });
  const out: PairedDifference[] = [];
  for (const clones of groups.values()) {
    const ka = key(evals[clones[0]]);
    const partnerName = monoName(ka.series);
    // each seed's clones eval with the mono eval of the same seed and split
    const members = clones
      .map((a) => ({ a, b: evals.findIndex((y) => y.mode === 'mono' && key(y).series === partnerName && key(y).split === ka.split && key(y).seed === key(evals[a]).seed) }))
      .filter((m) => m.b >= 0);
    if (members.length === 0) continue;
    for (const pa of evals[clones[0]].points) {
      const seeds: { diff: number[] }[] = [];
      const table: PairedTable = { both: 0, onlyA: 0, onlyB: 0, neither: 0 };
      let binary = true; // correct is 0/1 for task rewards; a fractional score has no 2x2 table
      let items = 0;
      for (const m of members) {
        const pA = evals[m.a].points.find((p) => p.name === pa.name);
        const pB = evals[m.b].points.find((p) => p.name === pa.name);
        if (!pA || !pB) continue;
        const ra = readRecords(dirs[m.a], pA);
        const rb = new Map(readRecords(dirs[m.b], pB).map((r) => [r.id, r.correct]));
        const diff = ra.filter((r) => rb.has(r.id)).map((r) => r.correct - rb.get(r.id)!);
        if (diff.length !== ra.length || diff.length !== rb.size) throw new SelfcestError(`paired difference: ${dirs[m.a]} and ${dirs[m.b]} (point ${pa.name}) do not hold the same items`);
        seeds.push({ diff });
        for (const r of ra) {
          const y = rb.get(r.id)!;
          if ((r.correct !== 0 && r.correct !== 1) || (y !== 0 && y !== 1)) binary = false;
          table[r.correct === 1 && y === 1 ? 'both' : r.correct === 1 ? 'onlyA' : y === 1 ? 'onlyB' : 'neither']++;
        }
        items = diff.length;
      }
      if (seeds.length === 0) continue;
      const boot = hierarchicalBootstrap(seeds, Rng.fromSeed(`${opts.seed ?? 1}:paired:${ka.series}:${ka.split}:${pa.name}`), opts).diff;
      const nc = binary ? newcombePaired(table, opts.level) : null;
      const diff = nc ? { mean: boot.mean, lo: Math.min(boot.lo, nc.lo), hi: Math.max(boot.hi, nc.hi) } : boot;
      out.push({ split: ka.split, point: pa.name, a: ka.series, b: partnerName, seeds: seeds.length, items, diff });
    }
  }
  return out;
}
