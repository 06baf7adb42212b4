import { commandMeta } from './commands.ts';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { activeBackend, type BackendChoice } from '../backend/select.ts';
import { bestController, runEval } from '../eval/evaluate.ts';
import { checkpointTask, EVAL_MODES, loadEvalItems, splitName, type EvalMode } from '../eval/items.ts';
import { isTaskModuleSpec, loadTaskModule, preloadTaskModules } from '../tasks/registry.ts';
import { LEGACY_ITEM_FORMAT } from '../tasks/types.ts';
import { parseSweep } from '../eval/sweep.ts';
import { loadPolicy, policyTokenizer, readPolicyState, resolvePolicyDir } from '../model/io.ts';
import { LocalDecoder } from '../model/row-decoder.ts';
import { ShardedDecoder } from '../model/sharded-decoder.ts';
import { ControllerPolicy, controllerName, parseController } from '../rollout/controller.ts';
import { ModelPolicy } from '../rollout/engine.ts';
import { protocolTokens } from '../rollout/protocol.ts';
import { makeReward, RewardConfigSchema } from '../tasks/reward.ts';
import { validate } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import { formatDuration, logToStderr, Progress } from '../util/progress.ts';
import { initBackend, withBackend } from './common.ts';

interface Args {
  checkpoint: string;
  task?: string;
  split: string;
  mode: EvalMode;
  controller?: string;
  'controller-from'?: string;
  samples: number;
  temperature?: number;
  'top-k'?: number;
  seed: number;
  n?: number;
  sweep: string[];
  set: string[];
  out?: string;
  label?: string;
  chunk: number;
  threads: number;
  traces: number;
  bootstrap: number;
  overwrite: boolean;
  backend: BackendChoice;
}

const int = (flag: string, v: number | undefined, min: number) => {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new SelfcestError(`${flag} ${v}: expected an integer >= ${min}`);
};

/** A text progress bar: [#####.....] */
const bar = (done: number, total: number, width = 20) => {
  const k = Math.round((width * done) / Math.max(1, total));
  return `[${'#'.repeat(k)}${'.'.repeat(width - k)}]`;
};

export const evalCommand: CommandModule<object, Args> = {
  ...commandMeta('eval'),
  builder: (y) =>
    withBackend(y)
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'a step directory, or a run directory (uses its latest)' })
      .option('task', { type: 'string', describe: "task name (arith, countdown, ...) or the path of a task module (./my-task.ts): the items must be of this task [default: the checkpoint's; another task is refused]" })
      .option('split', { type: 'string', demandOption: true, describe: "id or ood (the test sets: publish these) or dev (for choosing configs): the committed set of the checkpoint's task and preset (data/eval/<task>[-<preset>]-<split>.jsonl, docs/tasks.md); or the path of a JSONL file of task items" })
      .option('mode', {
        choices: EVAL_MODES,
        default: 'clones' as EvalMode,
        describe: 'clones: spawning allowed; mono: spawning masked (the monolithic policy); sc: --samples monolithic samples per item, majority vote (also pass@n)',
      })
      .option('controller', { type: 'string', describe: 'a fixed delegation controller over the policy (--mode clones): never | always | above:K (delegate iff the prompt has more than K tokens), then optionally +budget=N (the one clone budget calls may name) and +where=all (the rule in clones too; default: the root only); or sweep rules with --sweep controller=never,always,above:24+budget=32. The baselines a learned controller must beat (src/rollout/controller.ts)' })
      .option('controller-from', { type: 'string', describe: 'use the controller rule an earlier eval of a --sweep controller=... found best (highest accuracy, then fewest tokens), e.g. on the dev split, then evaluated here on a test split' })
      .option('samples', { type: 'number', default: 8, describe: '--mode sc: samples per item (cost = their sum, critical path = the longest)' })
      .option('temperature', { type: 'number', describe: 'sampling temperature, 0 = greedy (default: 0 for clones/mono, the checkpoint\'s rollout temperature (1 unless set) for sc)' })
      .option('top-k', { type: 'number', describe: 'sample among the k most likely tokens (0 = all; default: the checkpoint\'s rollout setting)' })
      .option('seed', { type: 'number', default: 1, describe: 'seed of the sampling and of the bootstrap; every sweep point uses the same seed' })
      .option('n', { type: 'number', describe: 'evaluate only the first N items of the split' })
      .option('sweep', {
        alias: 'budget',
        type: 'string',
        array: true,
        default: [] as string[],
        describe:
          'budget sweep axis key=v1,v2,... (repeatable; one eval point per combination): maxTreeTokens (total-token budget per tree), rootWindow/cloneWindow (context windows), ' +
          'maxClonesPerCall, cloneBudgetCap (clone budget cap), rootBudget, maxCallsPerTree, ... any rollout key (docs/protocol.md), or samples (sc)',
      })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'rollout config override key=value for every point, e.g. --set maxDepth=2 (allowSpawn is set by --mode)' })
      .option('out', { type: 'string', describe: 'eval directory to write (default: runs/eval/<label>-<task>-<split>)' })
      .option('label', { type: 'string', describe: 'series name in reports (default: <run dir name>-<mode>)' })
      .option('chunk', { type: 'number', default: 512, describe: 'most trees per engine call (all of them decode as one continuous batch)' })
      .option('threads', { type: 'number', default: 1, describe: 'decoder threads (rows spread over worker threads)' })
      .option('traces', { type: 'number', default: 4, describe: 'write the trees of the first N right and the first N wrong items of each point to trees.jsonl, with gold answer, answer and reward (compare renders them, successes and failures apart)' })
      .option('bootstrap', { type: 'number', default: 1000, describe: 'bootstrap resamples for the 95% confidence intervals' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing evaluation in --out' })
      .example('$0 eval --checkpoint checkpoints/arith-grpo --task arith --split id', 'greedy, spawning allowed')
      .example('$0 eval --checkpoint checkpoints/arith-grpo --task arith --split ood --mode mono --sweep rootBudget=32,64,96', 'monolithic baseline over a budget sweep')
      .example('$0 eval --checkpoint checkpoints/arith-grpo --task arith --split id --mode sc --sweep samples=1,4,8 --temperature 0.8', 'self-consistency')
      .example('$0 eval --checkpoint checkpoints/arith-grpo --task arith --split id --sweep maxTreeTokens=64,128,256 --sweep maxClonesPerCall=1,2,3', 'nine points')
      .example('$0 eval --checkpoint checkpoints/arith-grpo --split dev --controller above:24+budget=32 --label fixed-above24', 'a fixed controller: delegate iff the prompt is longer than 24 tokens') as never,
  handler: async (a) => {
    int('--samples', a.samples, 1);
    int('--n', a.n, 1);
    int('--chunk', a.chunk, 1);
    int('--threads', a.threads, 1);
    int('--traces', a.traces, 0);
    int('--bootstrap', a.bootstrap, 1);
    int('--top-k', a['top-k'], 0);
    if (a.temperature !== undefined && !(a.temperature >= 0)) throw new SelfcestError(`--temperature ${a.temperature}: expected a number >= 0`);
    const sweep = parseSweep(a.sweep);
    if (a.controller !== undefined && a['controller-from'] !== undefined) throw new SelfcestError('--controller and --controller-from: give one');
    if (a['controller-from'] !== undefined) {
      const best = bestController(a['controller-from']);
      process.stderr.write(`controller ${best.rule}: the best of ${best.of} rules on ${best.split} (${(100 * best.accuracy).toFixed(1)} %, ${best.tokens.toFixed(1)} tokens per item; ${a['controller-from']})\n`);
      a.controller = best.rule;
    }
    if (a.controller !== undefined) parseController(a.controller); // a bad rule: one line, before anything loads
    // the task and preset the checkpoint was trained on pick the committed id/ood set; another --task is refused
    const ckDir = resolvePolicyDir(a.checkpoint);
    const saved = readPolicyState(ckDir).config;
    await preloadTaskModules(saved); // a checkpoint of a task of the user's loads that task's module
    const trained = checkpointTask(saved);
    if (a.task && isTaskModuleSpec(a.task)) a.task = (await loadTaskModule(a.task)).name;
    if (a.task && trained && a.task !== trained.name) throw new SelfcestError(`--task ${a.task}, but ${a.checkpoint} was trained on ${trained.name}: evaluate it on ${trained.name} items`);
    const task = a.task ?? trained?.name;
    if (!task) throw new SelfcestError(`--task: ${a.checkpoint} does not say which task it was trained on; pass --task`);
    const { file, items } = loadEvalItems(task, a.split, { limit: a.n, preset: trained?.preset });
    process.stderr.write(`items: ${file} (${items.length}${trained?.preset ? `; task ${task}, preset ${trained.preset}, from the checkpoint` : ''})\n`);
    const legacy = items.filter((it) => it.format === LEGACY_ITEM_FORMAT).length;
    if (legacy) process.stderr.write(`note: ${legacy} of ${items.length} items are format ${LEGACY_ITEM_FORMAT} (before disjoint splits): they may also be training items; regenerate with selfcest data gen (docs/tasks.md)\n`);
    await initBackend(a.backend);
    const { dir, model, data } = loadPolicy(ckDir);
    const tok = policyTokenizer({ dir, data }); // an imported model's own, else selfcest's
    const runConfig = data.state.config;
    const reward = makeReward(validate(RewardConfigSchema, (runConfig as { reward?: unknown } | null)?.reward ?? {}, `${dir}/state.json: config.reward`));
    const runName = path.basename(path.dirname(path.resolve(dir)));
    const label = a.label ?? `${runName}-${a.mode}`;
    const out = a.out ?? path.join('runs', 'eval', `${label}-${task}-${splitName(a.split)}`);
    // greedy unless asked otherwise (--temperature or --set temperature=...); sc keeps the checkpoint's temperature
    const temperature = a.temperature ?? (a.mode === 'sc' || a.set.some((s) => s.startsWith('temperature=')) ? undefined : 0);
    const log = logToStderr;
    let progress: Progress | null = null;
    let last = 0;
    const dec = a.threads > 1 ? await ShardedDecoder.start(model, a.threads - 1, a.backend) : new LocalDecoder(model);
    try {
      const t0 = performance.now();
      const index = await runEval(tok, {
        out,
        label,
        checkpoint: dir,
        runConfig,
        ctx: model.config.ctx,
        task,
        split: a.split,
        splitName: splitName(a.split),
        itemsFile: file,
        items,
        mode: a.mode,
        samples: a.samples,
        seed: a.seed,
        temperature,
        topK: a['top-k'],
        set: a.set,
        sweep,
        chunk: a.chunk,
        traces: a.traces,
        resamples: a.bootstrap,
        reward,
        backend: activeBackend(),
        ...(a.controller !== undefined ? { controller: controllerName(parseController(a.controller)) } : {}),
        makePolicy: (cfg, rng, rule) => (rule ? new ControllerPolicy(new ModelPolicy(model, dec, cfg, rng), rule, protocolTokens(tok), model.config.vocabSize) : new ModelPolicy(model, dec, cfg, rng)),
        onTree: (point, points, done, total, tokens) => {
          if (done === 0) {
            progress = new Progress(total, 0, log, 'tree');
            return;
          }
          const now = performance.now();
          const print = done === total || now - last > 2000;
          if (print) last = now;
          progress!.tick(done, tokens, `${bar(done, total)} point ${point + 1}/${points}`, print);
        },
        log,
        overwrite: a.overwrite,
      });
      log(`${index.points.length} point${index.points.length > 1 ? 's' : ''} in ${formatDuration((performance.now() - t0) / 1000)}`);
      console.log(out);
    } finally {
      await dec.close();
      model.dispose();
    }
  },
};
