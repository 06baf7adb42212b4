/**
 * The tree-GRPO run loop: per step, P fresh task items → grpoStep (G trees each) → one metrics line → periodic
 * crash-safe checkpoint. Resumable bit for bit (same backend): a checkpoint holds the weights, the optimizer
 * moments, the item Rng and the sampling Rng.
 *
 * A run starts from `init` (e.g. an SFT checkpoint; its model config must match) or from fresh weights.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { findLatest, lockRun, readCheckpointState, resolveCheckpointDir } from '../checkpoint/store.ts';
import { ModelConfigSchema } from '../model/config.ts';
import { GPT } from '../model/decoder.ts';
import { checkpointModelConfig, loadPolicy, readPolicyState, resolvePolicyDir } from '../model/io.ts';
import { LocalDecoder } from '../model/row-decoder.ts';
import type { RolloutItem } from '../rollout/engine.ts';
import type { Tree } from '../rollout/tree.ts';
import { protocolTokens, RolloutConfigSchema, type RolloutConfig } from '../rollout/protocol.ts';
import type { TaskItem } from '../tasks/types.ts';
import { makeReward, RewardConfigSchema, rolloutReward } from '../tasks/reward.ts';
import { rolloutItem } from '../tasks/views.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import { validate } from '../util/config-file.ts';
import { writeFileAtomic } from '../util/jsonl.ts';
import { SelfcestError } from '../util/errors.ts';
import { logToStderr, Progress } from '../util/progress.ts';
import { Rng } from '../util/rng.ts';
import { provenance } from '../util/provenance.ts';
import { activeBackend } from '../backend/select.ts';
import { BrokerStateSchema, peerVersion, type BrokerState } from '../distributed/messages.ts';
import type { RemoteRollouts } from '../distributed/remote.ts';
import { randomBytes } from 'node:crypto';
import { GrpoConfigSchema, grpoStep } from './grpo.ts';
import { AdamW, OptimConfigSchema } from './optim.ts';
import { appendMetrics, resetMetrics, syncMetrics, truncateMetrics } from './metrics.ts';
import { TaskSourceSchema, taskItems } from './task-source.ts';
import { learningRate } from './schedule.ts';
import { BadSteps, cleanLeftovers, DeadRun, restoreTraining, resumedConfig, RngStateSchema, runTokenizer, saveTraining } from './training-state.ts';

/** config keys a resumed GRPO run takes from the command line instead of the checkpoint */
const RESUME_MAY_CHANGE = ['train.steps', 'train.saveEvery', 'train.logEvery', 'grpo.microbatchRows'];

export const RlConfigSchema = z
  .object({
    mode: z.literal('grpo'),
    /** checkpoint to start from (its model config is used); omitted: fresh weights from `model` */
    init: z.string().optional(),
    model: ModelConfigSchema.prefault({}),
    optim: OptimConfigSchema.prefault({ lr: 1e-4 }),
    rollout: RolloutConfigSchema.prefault({}),
    grpo: GrpoConfigSchema.prefault({}),
    reward: RewardConfigSchema.prefault({}),
    /** the task whose train split feeds the rollouts */
    task: TaskSourceSchema.prefault({}),
    train: z
      .strictObject({
        steps: z.number().int().min(1).default(100),
        warmupSteps: z.number().int().min(0).default(5),
        minLrRatio: z.number().min(0).max(1).default(0.1),
        /** learning rate after warm-up: cosine decay to minLrRatio, or constant (the reference) */
        schedule: z.enum(['cosine', 'constant']).default('cosine'),
        seed: z.number().int().default(1),
        saveEvery: z.number().int().min(0).default(20),
        keep: z.number().int().min(0).default(3),
        logEvery: z.number().int().min(1).default(1),
        /** a step with an update skipped for a non-finite loss or gradient norm is bad; this many in a row stop the run */
        maxBadSteps: z.number().int().min(1).default(3),
      })
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    // the learner needs the distribution the rollouts were sampled from; greedy decoding has none
    if (c.rollout.temperature <= 0) ctx.addIssue({ code: 'custom', path: ['rollout', 'temperature'], message: 'must be greater than 0 in a GRPO run (greedy rollouts have no sampling distribution to train on)' });
    if (c.grpo.jobsPerStep > c.grpo.prompts) ctx.addIssue({ code: 'custom', path: ['grpo', 'jobsPerStep'], message: `must be at most grpo.prompts (${c.grpo.prompts}): a job holds whole groups` });
  });
export type RlConfig = z.infer<typeof RlConfigSchema>;

const RlStateSchema = z.looseObject({
  step: z.number().int().min(0),
  /** the span of the learning-rate schedule, fixed at the run's start (absent in older checkpoints: train.steps) */
  scheduleSteps: z.number().int().min(1).optional(),
  /** the resolved init checkpoint (the KL reference) */
  initDir: z.string().optional(),
  backend: z.string(),
  rng: z.object({ items: RngStateSchema, sampling: RngStateSchema }),
  /** a run with --broker: its results stream and the jobs submitted ahead of the checkpoint */
  broker: BrokerStateSchema.optional(),
});

export interface RlOptions {
  out: string;
  resume?: 'auto' | string;
  stopAfter?: number;
  log?: (line: string) => void;
  /** hand the rollouts to workers at this broker (src/distributed, docs/distributed.md); absent: local */
  broker?: string;
}

/**
 * The engine inputs of a step's items. With spawning masked the root cannot hand documents to clones, so a
 * document task's root sees its paragraphs inlined (as far as they fit the root window): the monolithic view.
 */
export function rlRolloutItems(items: readonly TaskItem[], tok: TextTokenizer, rollout: RolloutConfig): RolloutItem[] {
  return items.map((it) => rolloutItem(it, tok, rollout.allowSpawn ? {} : { view: 'inline', window: rollout.rootWindow }));
}

/** The broker's counters (cumulative over the process) and the worker's rollout time of the step's trees. */
function brokerMetrics(r: RemoteRollouts) {
  const s = r.stats;
  return { broker_duplicates: s.duplicates, broker_stale: s.stale, broker_reversioned: s.reversioned, broker_refused: s.refused, broker_malformed: s.malformed, broker_worker_ms: Math.round(r.lastWorkerMs) };
}

/** One trainer per run directory (a `.lock` with its pid): see lockRun. */
export async function trainRl(cfgIn: RlConfig, tok: TextTokenizer, opts: RlOptions): Promise<{ step: number; checkpoint: string }> {
  const release = lockRun(opts.out, opts.log ?? logToStderr);
  try {
    return await trainRlLocked(cfgIn, tok, opts);
  } finally {
    release();
  }
}

async function trainRlLocked(cfgIn: RlConfig, tokIn: TextTokenizer, opts: RlOptions): Promise<{ step: number; checkpoint: string }> {
  const log = opts.log ?? logToStderr;
  let cfg = cfgIn;
  fs.mkdirSync(opts.out, { recursive: true });
  const metricsFile = path.join(opts.out, 'metrics.jsonl');
  cleanLeftovers(opts.out, log);
  const resumeDir = opts.resume === 'auto' ? findLatest(opts.out) : opts.resume ? resolveCheckpointDir(opts.resume) : null;

  let model: GPT;
  let opt: AdamW;
  let itemRng: Rng;
  let sampleRng: Rng;
  let startStep = 0;
  let scheduleSteps = cfg.train.steps;
  let initDir: string | undefined;
  let brokerState: BrokerState | undefined;
  // the model config is the init's (as on a fresh start), also when a resume compares the configs
  if (cfg.init) {
    const initDir = resolvePolicyDir(cfg.init);
    cfg = { ...cfg, model: checkpointModelConfig({ state: readPolicyState(initDir) }, initDir) };
  }
  if (resumeDir) {
    const saved = validate(RlConfigSchema, readCheckpointState(resumeDir).config, `${resumeDir}/state.json: config`);
    // The run's identity comes from the checkpoint. Settings that do not change the updates may change on resume:
    // the run's length, checkpoint/log cadence, and the learner's micro-batch size (the memory bound; the same
    // update to float rounding), e.g. to resume a run whose learner ran out of wasm heap.
    cfg = resumedConfig(saved, cfg, RESUME_MAY_CHANGE);
    const restored = restoreTraining(resumeDir, cfg.model, cfg.optim);
    model = restored.model;
    opt = restored.opt;
    const state = validate(RlStateSchema, restored.data.state, `${resumeDir}/state.json`);
    itemRng = Rng.fromState(state.rng.items);
    sampleRng = Rng.fromState(state.rng.sampling);
    startStep = state.step;
    brokerState = state.broker;
    scheduleSteps = state.scheduleSteps ?? saved.train.steps;
    initDir = state.initDir ?? cfg.init;
    truncateMetrics(metricsFile, startStep);
    log(`resumed from ${resumeDir} at step ${startStep}`);
    if (cfg.train.steps !== scheduleSteps) {
      log(`note: train.steps is now ${cfg.train.steps}: the learning-rate schedule keeps its span of ${scheduleSteps} steps (steps past it run at the floor lr)`);
    }
  } else {
    if (opts.resume && opts.resume !== 'auto') throw new SelfcestError(`--resume ${opts.resume}: no checkpoint found`);
    if (cfg.init) {
      const init = loadPolicy(cfg.init);
      model = init.model;
      initDir = init.dir;
      cfg = { ...cfg, model: init.model.config };
      log(`initial weights: ${init.dir}`);
    } else model = GPT.init(cfg.model, Rng.fromSeed(cfg.train.seed));
    opt = new AdamW(cfg.optim, model.params);
    itemRng = Rng.fromSeed(`${cfg.train.seed}:items`);
    sampleRng = Rng.fromSeed(`${cfg.train.seed}:sampling`);
    resetMetrics(metricsFile);
  }
  const tok = runTokenizer(resumeDir ?? initDir, tokIn);
  if (tok !== tokIn) log(`tokenizer: ${resumeDir ?? initDir}'s own (${tok.vocabSize} tokens)`);
  if (cfg.model.vocabSize !== tok.vocabSize) throw new SelfcestError(`model.vocabSize is ${cfg.model.vocabSize} but the tokenizer has ${tok.vocabSize} tokens`);
  if (Math.max(cfg.rollout.rootWindow, cfg.rollout.cloneWindow) > cfg.model.ctx) {
    throw new SelfcestError(`rollout windows (${cfg.rollout.rootWindow}, ${cfg.rollout.cloneWindow}) exceed the model's context window ${cfg.model.ctx}`);
  }
  writeFileAtomic(path.join(opts.out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n'); // a kill leaves the old file or the new

  const k = cfg.grpo.staleness;
  if (k > 0 && !opts.broker) throw new SelfcestError(`grpo.staleness ${k}: the asynchronous mode overlaps rollouts on \`selfcest worker\` processes with the update; give --broker URL, or set grpo.staleness 0`);
  if (brokerState?.pending.length && !opts.broker) throw new SelfcestError(`${resumeDir}: this checkpoint has ${brokerState.pending.length} rollout jobs pending at a broker; resume with --broker URL`);
  const t = cfg.train;
  const lastStep = Math.min(t.steps, opts.stopAfter ?? t.steps);
  const p = protocolTokens(tok);
  const rewardFn = makeReward(cfg.reward);
  // the KL reference: the initial policy (init's weights, or the seed's fresh weights), frozen
  const ref = cfg.grpo.loss.klCoef > 0 ? (initDir ? loadPolicy(initDir).model : GPT.init(cfg.model, Rng.fromSeed(cfg.train.seed))) : undefined;
  if (ref) log(`KL penalty ${cfg.grpo.loss.klCoef} (${cfg.grpo.loss.klEstimator}) to the frozen initial policy${initDir ? ` ${initDir}` : ''}`);
  const bad = new BadSteps(t.maxBadSteps, log);
  const dead = new DeadRun(log);
  const dec = new LocalDecoder(model);
  const me = { id: `trainer-${os.hostname()}-${process.pid}`, selfcest: peerVersion(provenance()), backend: activeBackend() };
  // the broker client loads only when a broker is named
  // (a resumed run keeps its results stream: its predecessor's pending jobs report there)
  const run = brokerState?.run ?? `${path.basename(path.resolve(opts.out))}-${randomBytes(4).toString('hex')}`;
  const remote: RemoteRollouts | null = opts.broker
    ? await (await import('../distributed/remote.ts')).RemoteRollouts.start(opts.broker, me, run, { task: cfg.task, groupSize: cfg.grpo.groupSize, rollout: cfg.rollout, tok }, log, { staleness: k })
    : null;
  // the asynchronous mode and split steps: each job its own sampler stream (the trajectory does not depend on which
  // worker runs it)
  const J = cfg.grpo.jobsPerStep;
  if (J > 1 && !opts.broker) log(`note: grpo.jobsPerStep ${J} applies to --broker runs only; this run rolls out in process`);
  const jobRng = (step: number, part = 0) => Rng.fromSeed(`${cfg.train.seed}:sampling:${step}${part ? `.${part}` : ''}`).state();
  // a step's items as J jobs of whole groups (contiguous, sizes differing by at most one)
  const partsOf = (items: TaskItem[]) => Array.from({ length: J }, (_, j) => items.slice(Math.floor((j * items.length) / J), Math.floor(((j + 1) * items.length) / J)));
  const ahead = new Map<number, TaskItem[]>(); // items of the steps whose jobs are out
  let nextJob = startStep;
  if (remote && brokerState) {
    // what the predecessor's jobs left in the results stream is read first; its pending jobs go on
    const pending = brokerState.pending.map((j) => ({ ...j, items: j.items as unknown as TaskItem[] }));
    await remote.resume(pending, model, startStep, jobRng);
    // a step's items: its parts' in part order
    for (const j of [...pending].sort((a, b) => a.step - b.step || (a.part ?? 0) - (b.part ?? 0))) ahead.set(j.step, [...(ahead.get(j.step) ?? []), ...j.items]);
    if (pending.length) nextJob = Math.max(...pending.map((j) => j.step)) + 1;
  }
  const progress = new Progress(t.steps, startStep, log);
  let checkpoint = resumeDir ?? '';
  log(`tree GRPO: ${cfg.grpo.prompts} prompts x ${cfg.grpo.groupSize} trees per step, spawning ${cfg.rollout.allowSpawn ? 'allowed' : 'masked (monolithic baseline)'}; steps ${startStep + 1}..${lastStep} of ${t.steps}`);
  const save = async (step: number, metrics: Record<string, number>) => {
    syncMetrics(metricsFile);
    const broker = remote ? { broker: { run: remote.run, pending: remote.pendingJobs() } } : {};
    checkpoint = await saveTraining(opts.out, model, opt, { step, config: cfg, rng: { items: itemRng.state(), sampling: sampleRng.state() }, dataCursor: { step }, metrics, scheduleSteps, ...(initDir ? { initDir } : {}), ...broker }, t.keep, tok);
    await remote?.pin();
  };
  try {
    for (let step = startStep; step < lastStep; step++) {
      const draw = () => taskItems(cfg.task, 'train', cfg.grpo.prompts, itemRng.int(0, 2 ** 31 - 1));
      const lr = learningRate(step, cfg.optim.lr, t.warmupSteps, scheduleSteps, t.minLrRatio, t.schedule);
      let items: TaskItem[];
      let source: (() => Promise<Tree[]>) | undefined;
      const lag = { staleness: 0, submitMs: 0 };
      if (remote && k > 0) {
        // the jobs up to step+k go out now, with the weights of this step
        const t0 = performance.now();
        for (; nextJob <= Math.min(step + k, t.steps - 1); nextJob++) {
          const its = draw();
          ahead.set(nextJob, its);
          await remote.submit({ step: nextJob, policyStep: step, model, parts: partsOf(its).map((chunk, part) => ({ items: chunk, rng: jobRng(nextJob, part) })) });
        }
        lag.submitMs = performance.now() - t0;
        items = ahead.get(step)!;
        ahead.delete(step);
        source = async () => {
          const got = await remote.collect(step);
          lag.staleness = step - got.policyStep;
          return got.trees;
        };
      } else {
        items = draw();
        if (remote) source = J > 1 ? () => remote.rolloutParts({ step, model, parts: partsOf(items), rngOf: (part) => jobRng(step, part) }) : () => remote.rollout({ step, model, items, rng: sampleRng });
      }
      const { metrics } = await grpoStep(model, opt, dec, rlRolloutItems(items, tok, cfg.rollout), rolloutReward(items, tok, rewardFn), cfg.grpo, cfg.rollout, p, sampleRng, lr, ref, source);
      bad.check(step + 1, metrics.skipped > 0 ? `non-finite loss or gradient norm: ${metrics.skipped} of ${metrics.skipped + metrics.updates} updates skipped` : null);
      // the asynchronous mode's job submission (weights upload included) is a phase of its own: the phases sum to the step
      const phase_ms = remote && k > 0 ? { submit: lag.submitMs, ...metrics.phase_ms } : metrics.phase_ms;
      const { phase_ms: _phases, ...scalars } = metrics;
      const line = { step: step + 1, ...scalars, ...(remote ? { staleness: lag.staleness, ...brokerMetrics(remote) } : {}), phase_ms: Object.fromEntries(Object.entries(phase_ms).map(([k, v]) => [k, Math.round(v)])) };
      appendMetrics(metricsFile, line);
      const detail =
        `reward ${metrics.reward_mean.toFixed(3)} acc ${metrics.acc.toFixed(2)} clones/tree ${metrics.clones_per_tree.toFixed(2)} zero-var ${metrics.zero_std_frac.toFixed(2)} ` +
        `kl ${metrics.kl.toExponential(2)} ent ${metrics.entropy.toFixed(3)} clip ${metrics.clip_frac.toFixed(3)} |g| ${metrics.grad_norm.toExponential(2)}`;
      progress.tick(step + 1, Math.round(metrics.tokens_total * cfg.grpo.prompts * cfg.grpo.groupSize), detail, (step + 1) % t.logEvery === 0 || step + 1 === lastStep);
      dead.check(step + 1, metrics.reward_mean === 0 && metrics.grad_norm === 0);
      if (step + 1 === lastStep || (t.saveEvery > 0 && (step + 1) % t.saveEvery === 0)) await save(step + 1, { reward_mean: metrics.reward_mean });
    }
  } finally {
    await dec.close();
    await remote?.close();
    ref?.dispose();
  }
  opt.dispose();
  model.dispose();
  return { step: lastStep, checkpoint };
}
