/**
 * The demo: what the shipped policies do, in minutes. Evaluates the published headline policies
 * (checkpoints/results/arith-split-gated-sharp: SELFCEST with clones, the monolithic arm, self-consistency on it)
 * on the committed test sets (ID and OOD, format 2) over a budget sweep, builds the report, then trains a short
 * run that visibly learns (reversed addition, configs/tiny.json). Stages run through the experiment runner, so
 * a rerun skips what is done. Pure: nothing runs here.
 */
import * as path from 'node:path';
import { poolSeeds } from '../eval/pool.ts';
import { readEvalIndex } from '../eval/evaluate.ts';
import { formatPoints, pairedDifferences } from '../eval/paired.ts';
import type { Stage } from './plan.ts';

export const DEMO_POLICIES = 'checkpoints/results/arith-split-gated-sharp';

export interface DemoOptions {
  dir: string;
  /** items per split (the committed sets hold 200) */
  n: number;
  seeds: number[];
  /** also train the short addition run */
  train: boolean;
}

export function planDemo(o: DemoOptions): Stage[] {
  const stages: Stage[] = [];
  const evalDirs: string[] = [];
  const arms = [
    { series: 'selfcest', arm: 'clones', mode: 'clones', extra: ['--sweep', 'maxTreeTokens=128,256,512'] },
    { series: 'mono', arm: 'mono', mode: 'mono', extra: ['--sweep', 'maxTreeTokens=128,256,512'] },
    { series: 'mono-sc', arm: 'mono', mode: 'sc', extra: ['--temperature', '0.7', '--sweep', 'samples=2,4'] },
  ];
  for (const seed of o.seeds) {
    for (const a of arms) {
      for (const split of ['id', 'ood']) {
        const out = path.join(o.dir, 'eval', `${a.series}-s${seed}-${split}`);
        evalDirs.push(out);
        stages.push({
          name: `eval-${a.series}-s${seed}-${split}`, kind: 'eval', out,
          args: ['eval', '--checkpoint', path.join(DEMO_POLICIES, `seed-${seed}`, a.arm), '--split', split, '--n', String(o.n), '--mode', a.mode,
            ...(a.mode === 'sc' ? [] : ['--temperature', '0']), '--seed', '1', '--bootstrap', '1000', '--traces', '2', '--label', `${a.series} s${seed}`, '--out', out, ...a.extra],
        });
      }
    }
  }
  const report = path.join(o.dir, 'report');
  stages.push({ name: 'compare', kind: 'compare', out: report, args: ['compare', ...evalDirs, ...(o.seeds.length > 1 ? ['--pool-seeds'] : []), '--title', 'selfcest demo: the shipped arithmetic policies', '--out', report] });
  if (o.train) {
    const run = path.join(o.dir, 'addition');
    stages.push({ name: 'train-addition', kind: 'train', out: run, steps: 600, args: ['train', '--config', 'configs/tiny.json', '--set', 'train.logEvery=100', '--out', run, '--resume', 'auto', '--sample', '4'] });
  }
  return stages;
}

/** The headline as terminal lines: per split and series (pooled over seeds), accuracy [95 % CI] and tokens per budget. */
export function demoHeadline(stages: readonly Stage[]): string[] {
  const dirs = stages.filter((s) => s.kind === 'eval').map((s) => s.out);
  const evals = dirs.map((d) => readEvalIndex(d));
  const pooled = poolSeeds(evals, dirs);
  const pct = (x: number) => (100 * x).toFixed(1);
  const lines: string[] = [];
  for (const split of ['id', 'ood']) {
    lines.push('', `${split === 'id' ? 'in distribution (2-11 operations)' : 'out of distribution (12-14 operations)'}: accuracy % [95 % CI], mean tokens per item (critical path)`);
    for (const p of pooled.filter((x) => x.index.splitName === split)) {
      const cells = p.index.points.map((pt) => `${pt.name.replace('maxTreeTokens-', '≤').replace('samples-', 'x')}: ${pct(pt.summary.accuracy.mean)} [${pct(pt.summary.accuracy.lo)}, ${pct(pt.summary.accuracy.hi)}] ${pt.summary.tokens.total.mean.toFixed(0)} (${pt.summary.tokens.critical.mean.toFixed(0)})`);
      lines.push(`  ${p.index.label.padEnd(22)} ${cells.join('   ')}`);
    }
    const diffs = pairedDifferences(evals, dirs).filter((d) => d.split === split);
    if (diffs.length) lines.push(`  ${`${diffs[0].a} − ${diffs[0].b}`.padEnd(22)} ${diffs.map((d) => `${d.point.replace('maxTreeTokens-', '≤')}: ${formatPoints(d.diff)} points, paired by item`).join('   ')}`);
  }
  return lines;
}
