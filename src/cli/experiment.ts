import { commandMeta } from './commands.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { BACKEND_CHOICES } from '../backend/select.ts';
import { loadExperiment } from '../experiment/config.ts';
import { preloadTaskModules } from '../tasks/registry.ts';
import { readJsonFile } from '../util/config-file.ts';
import { commandLine, planExperiment } from '../experiment/plan.ts';
import { publishExperiment } from '../experiment/publish.ts';
import { runStages } from '../experiment/run.ts';
import { SelfcestError } from '../util/errors.ts';
import { formatDuration } from '../util/progress.ts';

interface Args {
  config: string;
  full: boolean;
  out?: string;
  report?: string;
  set: string[];
  'dry-run': boolean;
  publish: boolean;
  backend?: string;
}

export const experimentCommand: CommandModule<object, Args> = {
  ...commandMeta('experiment'),
  builder: (y) =>
    y
      .option('config', { type: 'string', default: 'configs/experiments/arith-headline.json', describe: 'experiment config JSON (configs/experiments/*.json)' })
      .option('full', { type: 'boolean', default: false, describe: "run the full recipe (every seed, full lengths); without it the config's quick overrides give a small version that takes minutes" })
      .option('out', { type: 'string', describe: 'experiment directory [default: runs/experiments/<name>-quick, or <name> with --full]' })
      .option('report', { type: 'string', describe: 'report directory [default: <out>/report]' })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'override an experiment config key, e.g. --set seeds=[1] (repeatable)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the stage commands and exit' })
      .option('publish', {
        type: 'boolean',
        default: false,
        describe: 'afterwards copy the report and run records to docs/results/<name> and every run\'s final weights (no optimizer) to checkpoints/results/<name>, to commit',
      })
      .option('backend', { choices: BACKEND_CHOICES, describe: 'compute backend passed to every train and eval stage (default: their own, auto)' })
      .example('$0 experiment', 'the quick version (minutes on 2 cores); prints where the report is')
      .example('$0 experiment --full --config configs/experiments/arith-headline.json', 'the full recipe (hours); rerun the same command to continue after an interruption') as never,
  handler: async (a) => {
    if (!fs.existsSync(a.config)) throw new SelfcestError(`--config ${a.config}: no such file`);
    await preloadTaskModules(readJsonFile(a.config)); // tasks of the user's: their modules
    const cfg = loadExperiment(a.config, { full: a.full, set: a.set });
    const dir = a.out ?? path.join('runs', 'experiments', a.full ? cfg.name : `${cfg.name}-quick`);
    const report = a.report ?? path.join(dir, 'report');
    const stages = planExperiment(cfg, { dir, report, source: a.config });
    if (a['dry-run']) {
      for (const s of stages) console.log(commandLine(s));
      return;
    }
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'experiment.json'), JSON.stringify({ source: a.config, full: a.full, config: cfg }, null, 2) + '\n');
    console.log(`experiment ${cfg.name} (${a.full ? 'full recipe' : 'quick version'}): ${stages.length} stages, seeds ${cfg.seeds.join(', ')}, arms ${cfg.arms.map((x) => x.name).join(', ')} -> ${dir}`);
    const t0 = performance.now();
    const recs = await runStages(stages, { dir, extraArgs: a.backend ? ['--backend', a.backend] : [] });
    const cpu = recs.reduce((s, r) => s + (r.cpu_s ?? 0), 0);
    console.log(`experiment ${cfg.name} done in ${formatDuration((performance.now() - t0) / 1000)} (${cpu.toFixed(0)} CPU s in the stages run now); stage times in ${path.join(dir, 'stages.jsonl')}`);
    if (a.publish) {
      const name = path.basename(dir);
      const written = await publishExperiment(stages, { dir, report, results: path.join('docs', 'results', name), checkpoints: path.join('checkpoints', 'results', name) });
      console.log(`published: ${written.join(', ')}`);
    }
    console.log(`report: ${path.join(report, 'index.html')} (markdown: ${path.join(report, 'report.md')})`);
  },
};
