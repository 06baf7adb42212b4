import { commandMeta } from './commands.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { BACKEND_CHOICES, type BackendChoice } from '../backend/select.ts';
import { demoHeadline, DEMO_POLICIES, planDemo } from '../experiment/demo.ts';
import { runStages } from '../experiment/run.ts';
import { SelfcestError } from '../util/errors.ts';
import { formatDuration } from '../util/progress.ts';

interface Args {
  out: string;
  n: number;
  seeds: number[];
  train: boolean;
  backend?: BackendChoice;
}

export const demoCommand: CommandModule<object, Args> = {
  ...commandMeta('demo'),
  builder: (y) =>
    y
      .option('out', { type: 'string', default: 'runs/demo', describe: 'directory for the evals, the report and the short run' })
      .option('n', { type: 'number', default: 100, describe: 'items per split (the committed test sets hold 200)' })
      .option('seeds', { type: 'number', array: true, default: [1, 2, 3], describe: 'which of the three shipped seeds to evaluate' })
      .option('train', { type: 'boolean', default: true, describe: 'also train the short run (reversed addition, about a minute); --no-train skips it' })
      .option('backend', { choices: BACKEND_CHOICES, describe: 'compute backend for every stage (default: their own, auto)' })
      .example('$0 demo', 'the shipped result in a few minutes on 2 cores; a rerun skips what is done')
      .example('$0 experiment --full --config configs/experiments/arith-split-gated-sharp.json', 'the whole recipe behind these policies (hours)') as never,
  handler: async (a) => {
    if (!Number.isInteger(a.n) || a.n < 1) throw new SelfcestError(`--n ${a.n}: expected an integer >= 1`);
    for (const s of a.seeds) {
      if (![1, 2, 3].includes(s)) throw new SelfcestError(`--seeds ${s}: the shipped policies are seeds 1, 2 and 3`);
      if (!fs.existsSync(path.join(DEMO_POLICIES, `seed-${s}`, 'clones', 'model.safetensors'))) throw new SelfcestError(`${DEMO_POLICIES}/seed-${s}: the shipped policies are missing (run from the repository root)`);
    }
    const stages = planDemo({ dir: a.out, n: a.n, seeds: a.seeds, train: a.train });
    console.log(`selfcest demo: ${stages.length} stages -> ${a.out} (a rerun skips finished stages)`);
    const t0 = performance.now();
    await runStages(stages, { dir: a.out, extraArgs: a.backend ? ['--backend', a.backend] : [] });
    console.log(`\nThe shipped arithmetic policies (${DEMO_POLICIES}, ${a.seeds.length} seed${a.seeds.length > 1 ? 's' : ''} pooled), ${a.n} items per test split, greedy:`);
    for (const l of demoHeadline(stages)) console.log(l);
    console.log(`\nselfcest: the policy that may spawn clones; mono: the same recipe with spawning masked; mono-sc: majority vote over mono samples.`);
    console.log('These policies were trained before train/test partitions existed (docs/experiments.md); for these arithmetic item spaces an overlap of test items with their training stream is unlikely but not excluded.');
    console.log(`done in ${formatDuration((performance.now() - t0) / 1000)}; report: ${path.join(a.out, 'report', 'index.html')}`);
  },
};
