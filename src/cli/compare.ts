import { commandMeta } from './commands.ts';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { writeReport } from '../eval/report.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { SelfcestError } from '../util/errors.ts';
import { logToStderr } from '../util/progress.ts';

interface Args {
  dirs: string[];
  out: string;
  title?: string;
  traces: number;
  poolSeeds: boolean;
  bootstrap: number;
}

export const compareCommand: CommandModule<object, Args> = {
  ...commandMeta('compare'),
  builder: (y) =>
    y
      .positional('dirs', { type: 'string', array: true, demandOption: true, describe: 'eval directories written by selfcest eval (one series each: its --label; ID and OOD evals side by side)' })
      .option('out', { type: 'string', demandOption: true, describe: 'report directory, e.g. reports/arith (index.html, report.md, the plots as SVG, traces/)' })
      .option('title', { type: 'string', describe: 'page title (default: names the tasks)' })
      .option('traces', { type: 'number', default: 2, describe: 'trace pages per eval point (from the trees each eval wrote)' })
      .option('pool-seeds', {
        type: 'boolean',
        default: false,
        describe: 'pool evals whose labels differ only in a seed tag ("clones s1", "clones s2") into one series per split: mean over seeds, two-level bootstrap CI (seeds, then items); per-seed tables follow',
      })
      .option('bootstrap', { type: 'number', default: 1000, describe: 'bootstrap resamples of pooled points (--pool-seeds)' })
      .example('$0 compare runs/exp/eval/*-s1-* runs/exp/eval/*-s2-* runs/exp/eval/*-s3-* --pool-seeds --out reports/arith', 'three training seeds per arm, pooled')
      .example('$0 compare runs/eval/grpo-clones-arith-id runs/eval/grpo-clones-arith-ood runs/eval/grpo-mono-arith-id runs/eval/grpo-mono-arith-ood --out reports/arith', 'clones vs monolithic, ID and OOD') as never,
  handler: async (a) => {
    if (!Number.isInteger(a.traces) || a.traces < 0) throw new SelfcestError(`--traces ${a.traces}: expected an integer >= 0`);
    if (!Number.isInteger(a.bootstrap) || a.bootstrap < 1) throw new SelfcestError(`--bootstrap ${a.bootstrap}: expected an integer >= 1`);
    const log = logToStderr;
    const r = await writeReport(a.dirs, a.out, loadTokenizer(), { title: a.title, traces: a.traces, poolSeeds: a.poolSeeds, resamples: a.bootstrap, log });
    log(`${r.rows.length} eval points, ${r.plots.length} plots, ${r.traces.length} trace pages`);
    console.log(path.join(a.out, 'index.html'));
  },
};
