/**
 * The stages of an experiment, in order, as `selfcest` command lines (so every stage can be rerun by hand and
 * docs can quote them). Pure: nothing runs here. Layout under the experiment directory:
 *
 *   configs/seed-<s>-sft.json, configs/seed-<s>-<arm>.json   the resolved stage configs
 *   seed-<s>/sft, seed-<s>/<arm>                              run directories (checkpoints, metrics.jsonl)
 *   configs/seed-<s>-sft-<arm>.json, seed-<s>/sft-<arm>         an arm's own warm start (arm.sft)
 *   eval/<arm>-s<s>-<split>, eval/<arm>-sc-s<s>-<split>        eval directories (selfcest eval)
 *   report/                                                   selfcest compare's HTML + markdown (or --report)
 *   stages.jsonl                                              one line per finished stage: CPU and wall seconds
 *   commands.sh                                               every stage's command line
 */
import * as path from 'node:path';
import { splitName } from '../eval/items.ts';
import { finalStepLimit } from '../train/config.ts';
import { SelfcestError } from '../util/errors.ts';
import { experimentTask, seedConfigs, type ExperimentConfig } from './config.ts';

export type StageKind = 'train' | 'eval' | 'compare';

export interface Stage {
  /** unique, e.g. sft-s1, grpo-clones-s1, eval-mono-s1-ood */
  name: string;
  kind: StageKind;
  /** selfcest arguments */
  args: string[];
  /** run or eval directory the stage writes (the report dir for compare) */
  out: string;
  /** a config file the stage reads, with its content (written before the stage runs) */
  config?: { file: string; value: unknown };
  /** train stages: the step the run must reach to count as done */
  steps?: number;
  /**
   * an SFT run of another experiment (sftFrom): never trained here; the stage checks that it is complete and was
   * made from the same config (`config` names that experiment's config file and this experiment's value)
   */
  reused?: boolean;
  /** compare: what the report is built from (publish rebuilds it with links to the shipped weights) */
  report?: { dirs: string[]; poolSeeds: boolean; resamples: number };
}

export interface PlanOptions {
  dir: string;
  report: string;
  /** the experiment config file (for error messages) */
  source: string;
}

export function planExperiment(cfg: ExperimentConfig, o: PlanOptions): Stage[] {
  const task = experimentTask(cfg);
  const stages: Stage[] = [];
  const evalDirs: string[] = [];
  const ev = cfg.eval;
  const common = (split: string) => [
    '--task', task, '--split', split, '--seed', '1', '--threads', String(ev.threads), '--bootstrap', String(ev.bootstrap), '--traces', String(ev.traces),
    ...(ev.n !== undefined ? ['--n', String(ev.n)] : []),
    ...(ev.chunk !== undefined ? ['--chunk', String(ev.chunk)] : []),
  ];
  /** One eval stage of a series (e.g. `clones`, `mono-sc`, `sft-clones`) for one seed and split; its dir goes to the report. */
  const evalStage = (series: string, seed: number, split: string, checkpoint: string, mode: string, temperature: number, extra: string[]) => {
    const tag = `${series}-s${seed}-${splitName(split)}`;
    const out = path.join(o.dir, 'eval', tag);
    evalDirs.push(out);
    stages.push({
      name: `eval-${tag}`, kind: 'eval', out,
      args: ['eval', '--checkpoint', checkpoint, ...common(split), '--mode', mode, '--temperature', String(temperature), '--label', `${series} s${seed}`, '--out', out, ...extra],
    });
  };
  const sweep = ev.sweep.flatMap((s) => ['--sweep', s]);
  for (const seed of cfg.seeds) {
    const { sft, arms, armSft } = seedConfigs(cfg, seed, o.source);
    const home = cfg.sftFrom ?? o.dir;
    const sftDir = path.join(home, `seed-${seed}`, 'sft');
    const sftFile = path.join(home, 'configs', `seed-${seed}-sft.json`);
    stages.push({
      name: `sft-s${seed}`, kind: 'train', out: sftDir, config: { file: sftFile, value: sft },
      args: ['train', '--config', sftFile, '--out', sftDir, '--resume', 'auto'],
      steps: finalStepLimit(sft.train),
      ...(cfg.sftFrom ? { reused: true } : {}),
    });
    /** an arm's rollout settings as eval --set flags (the warm start evaluated the way its arms run) */
    const rolloutSet = (rl: (typeof arms)[string]) =>
      Object.entries(rl.rollout)
        .filter(([k]) => k !== 'allowSpawn' && k !== 'temperature')
        .flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`]);
    if (ev.sft) {
      // the warm start itself, once per eval mode, under the rollout settings its arms train and evaluate with
      const modes = new Map<string, (typeof arms)[string]>();
      for (const arm of cfg.arms) if (!modes.has(arm.eval)) modes.set(arm.eval, arms[arm.name]);
      for (const [mode, rl] of modes) for (const split of ev.splits) evalStage(`sft-${mode}`, seed, split, sftDir, mode, 0, [...rolloutSet(rl), ...sweep]);
    }
    if (ev.controllers) {
      // fixed controllers over the warm start: the rules compared on dev (not in the report), the best on every split
      const clonesArm = cfg.arms.find((a) => a.eval === 'clones');
      if (!clonesArm) throw new SelfcestError(`${o.source}: eval.controllers needs an arm evaluated with clones (its rollout settings)`);
      const set = rolloutSet(arms[clonesArm.name]);
      const devOut = path.join(o.dir, 'eval', `fixed-rules-s${seed}-${splitName(ev.controllers.dev)}`);
      stages.push({
        name: `eval-fixed-rules-s${seed}`, kind: 'eval', out: devOut,
        args: ['eval', '--checkpoint', sftDir, ...common(ev.controllers.dev), '--mode', 'clones', '--temperature', '0', '--label', `fixed rules s${seed}`, '--out', devOut, ...set, '--sweep', `controller=${ev.controllers.rules.join(',')}`],
      });
      for (const split of ev.splits) evalStage('fixed', seed, split, sftDir, 'clones', 0, [...set, '--controller-from', devOut, ...sweep]);
    }
    for (const arm of cfg.arms) {
      // an arm with its own warm start (arm.sft) trains it here, right before its GRPO run
      const own = armSft[arm.name];
      const initDir = own ? path.join(o.dir, `seed-${seed}`, `sft-${arm.name}`) : sftDir;
      if (own) {
        const ownFile = path.join(o.dir, 'configs', `seed-${seed}-sft-${arm.name}.json`);
        stages.push({
          name: `sft-${arm.name}-s${seed}`, kind: 'train', out: initDir, config: { file: ownFile, value: own },
          args: ['train', '--config', ownFile, '--out', initDir, '--resume', 'auto'],
          steps: finalStepLimit(own.train),
        });
      }
      const runDir = path.join(o.dir, `seed-${seed}`, arm.name);
      const file = path.join(o.dir, 'configs', `seed-${seed}-${arm.name}.json`);
      const value = { ...arms[arm.name], init: initDir };
      stages.push({
        name: `grpo-${arm.name}-s${seed}`, kind: 'train', out: runDir, config: { file, value },
        args: ['train', '--config', file, '--out', runDir, '--resume', 'auto'],
        steps: value.train.steps,
      });
      for (const split of ev.splits) {
        evalStage(arm.name, seed, split, runDir, arm.eval, 0, sweep);
        if (arm.sc) evalStage(`${arm.name}-sc`, seed, split, runDir, 'sc', ev.scTemperature, ['--sweep', `samples=${ev.scSamples.join(',')}`]);
      }
    }
  }
  const poolSeeds = cfg.seeds.length > 1;
  stages.push({
    name: 'compare', kind: 'compare', out: o.report,
    args: ['compare', ...evalDirs, ...(poolSeeds ? ['--pool-seeds', '--bootstrap', String(ev.bootstrap)] : []), '--out', o.report],
    report: { dirs: evalDirs, poolSeeds, resamples: ev.bootstrap },
  });
  return stages;
}

/** A stage's command line as a shell would take it. */
export function commandLine(s: Stage): string {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['npm run -s selfcest --', ...s.args.map(q)].join(' ');
}
