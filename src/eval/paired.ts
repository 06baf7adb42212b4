/**
 * The report's headline: SELFCEST − monolithic accuracy, paired by item. A series evaluated with clones is paired
 * with the series of the same name with `clones`/`selfcest` read as `mono` (clones ↔ mono, sft-clones ↔ sft-mono,
 * selfcest ↔ mono), on each split and budget point both hold, over the seeds both hold. Per seed, the difference
 * column is correct(clones) − correct(mono) of the same items; the CI is the two-level percentile bootstrap over
 * seeds and items (pool.ts), so it carries the seed spread; with one seed it is the paired item bootstrap. Pure TS.
 */
import { Rng } from '../util/rng.ts';
import { SelfcestError } from '../util/errors.ts';
import type { EvalIndex } from './evaluate.ts';
import { hierarchicalBootstrap, readRecords, seedOfLabel } from './pool.ts';
import type { BootstrapOptions, Estimate } from './stats.ts';

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

const monoName = (series: string) => series.replace(/clones|selfcest/, 'mono');

export function pairedDifferences(evals: readonly EvalIndex[], dirs: readonly string[], opts: BootstrapOptions & { seed?: string | number } = {}): PairedDifference[] {
  const out: PairedDifference[] = [];
  const key = (e: EvalIndex) => ({ ...seedOfLabel(e.label), split: e.splitName });
  evals.forEach((a, i) => {
    if (a.mode !== 'clones') return;
    const ka = key(a);
    const partnerName = monoName(ka.series);
    if (partnerName === ka.series) return;
    // seeds of this clones series on this split, each with its mono partner
    if (evals.findIndex((x) => x.mode === 'clones' && key(x).series === ka.series && key(x).split === ka.split) !== i) return; // once per series and split
    const members = evals
      .map((x, j) => ({ x, j }))
      .filter(({ x }) => x.mode === 'clones' && key(x).series === ka.series && key(x).split === ka.split)
      .map(({ x, j }) => ({ a: j, b: evals.findIndex((y) => y.mode === 'mono' && key(y).series === partnerName && key(y).split === ka.split && key(y).seed === key(x).seed) }))
      .filter((m) => m.b >= 0);
    if (members.length === 0) return;
    for (const pa of a.points) {
      const groups: { diff: number[] }[] = [];
      let items = 0;
      for (const m of members) {
        const pA = evals[m.a].points.find((p) => p.name === pa.name);
        const pB = evals[m.b].points.find((p) => p.name === pa.name);
        if (!pA || !pB) continue;
        const ra = readRecords(dirs[m.a], pA);
        const rb = new Map(readRecords(dirs[m.b], pB).map((r) => [r.id, r.correct]));
        const diff = ra.filter((r) => rb.has(r.id)).map((r) => r.correct - rb.get(r.id)!);
        if (diff.length !== ra.length || diff.length !== rb.size) throw new SelfcestError(`paired difference: ${dirs[m.a]} and ${dirs[m.b]} (point ${pa.name}) do not hold the same items`);
        groups.push({ diff });
        items = diff.length;
      }
      if (groups.length === 0) continue;
      const ci = hierarchicalBootstrap(groups, Rng.fromSeed(`${opts.seed ?? 1}:paired:${ka.series}:${ka.split}:${pa.name}`), opts).diff;
      out.push({ split: ka.split, point: pa.name, a: ka.series, b: partnerName, seeds: groups.length, items, diff: ci });
    }
  });
  return out;
}
