/**
 * The supervised training loop on the built-in task (the foundation's main job): build a batch → one AdamW
 * step → metrics line → periodic crash-safe checkpoint. Resumable: the checkpoint holds the weights, the
 * optimizer moments, the data Rng state and the step, so a resumed run follows the same trajectory bit for bit
 * (same backend).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { activeBackend, type BackendChoice } from '../backend/select.ts';
import { findLatest, lockRun, readCheckpointState, resolveCheckpointDir } from '../checkpoint/store.ts';
import { GPT } from '../model/decoder.ts';
import { checkpointModelConfig, loadPolicy, readPolicyState, resolvePolicyDir } from '../model/io.ts';
import { generate } from '../model/generate.ts';
import { LocalDecoder } from '../model/row-decoder.ts';
import { ModelPolicy, runTrees } from '../rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../rollout/protocol.ts';
import { additionCorrect, type AdditionItem, additionItem } from '../tasks/addition/addition.ts';
import type { Tree } from '../rollout/tree.ts';
import { rolloutReward } from '../tasks/reward.ts';
import { delegationTrace, monolithicTrace } from '../tasks/traces.ts';
import { findTask } from '../tasks/registry.ts';
import { rolloutItem } from '../tasks/views.ts';
import type { TaskItem } from '../tasks/types.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import { validate } from '../util/config-file.ts';
import { writeFileAtomic } from '../util/jsonl.ts';
import { SelfcestError } from '../util/errors.ts';
import { logToStderr, Progress } from '../util/progress.ts';
import { Rng } from '../util/rng.ts';
import { finalStepLimit, runConfig, type RunConfig } from './config.ts';
import { taskItems } from './task-source.ts';
import { GradPool } from './grad-pool.ts';
import { appendMetrics, resetMetrics, syncMetrics, truncateMetrics } from './metrics.ts';
import { AdamW } from './optim.ts';
import { learningRate } from './schedule.ts';
import { rowBatches, treeRows } from './sft.ts';
import { trainStep, type TokenBatch } from './step.ts';
import { BadSteps, cleanLeftovers, restoreTraining, resumedConfig, RngStateSchema, runTokenizer, saveTraining } from './training-state.ts';

export interface SupervisedOptions {
  /** run directory: step-NNNNNN checkpoint dirs, latest, metrics.jsonl, config.json */
  out: string;
  /** 'auto' resumes from out's latest checkpoint when there is one; a path resumes from that checkpoint */
  resume?: 'auto' | string;
  /** stop (with a checkpoint) after this step, as if interrupted; the schedule still spans train.steps */
  stopAfter?: number;
  log?: (line: string) => void;
}

export interface SupervisedResult {
  /** the run's config (the checkpoint's, when resumed) */
  config: RunConfig;
  step: number;
  loss: number;
  evalAccuracy: number | null;
  checkpoint: string;
  model: GPT;
}

interface DataCursor {
  items: number;
}

/** Encode items as right-padded next-token batches; the loss counts the answer and the end token. */
export function additionBatch(items: AdditionItem[], tok: TextTokenizer, ctx: number): TokenBatch {
  const eos = tok.id('<eos>');
  const seqs = items.map((it) => {
    const p = tok.encode(it.prompt);
    const a = tok.encode(it.answer);
    return { ids: [...p, ...a, eos], firstTarget: p.length - 1 };
  });
  const T = Math.max(...seqs.map((s) => s.ids.length - 1));
  if (T > ctx) throw new SelfcestError(`a training sequence needs ${T + 1} tokens but the context window is ${ctx}: raise model.ctx or lower addition.maxDigits`);
  const B = items.length;
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  seqs.forEach((s, b) => {
    for (let t = 0; t < s.ids.length - 1; t++) {
      ids[b * T + t] = s.ids[t];
      targets[b * T + t] = s.ids[t + 1];
      mask[b * T + t] = t >= s.firstTarget ? 1 : 0;
    }
  });
  return { ids, targets, mask, B, T };
}

/** Masked next-token loss of a batch under the current weights (no update). */
export async function maskedLoss(model: GPT, b: TokenBatch, rowsPerPass = 32): Promise<number> {
  // in passes of at most rowsPerPass rows: a forward pass keeps every layer's activations until its tidy ends, and a
  // held-out batch of long trees (hundreds of rows) in one pass outgrew the 4 GiB wasm heap
  const denom = Math.max(1, b.mask.reduce((n, m) => n + m, 0));
  let total = 0;
  for (let r0 = 0; r0 < b.B; r0 += rowsPerPass) {
    const n = Math.min(rowsPerPass, b.B - r0);
    const rows = <A extends Int32Array | Float32Array>(a: A) => a.subarray(r0 * b.T, (r0 + n) * b.T) as A;
    const loss = tf.tidy(() => model.loss(tf.tensor2d(rows(b.ids), [n, b.T], 'int32'), tf.tensor2d(rows(b.targets), [n, b.T], 'int32'), tf.tensor2d(rows(b.mask), [n, b.T]), denom));
    total += (await loss.data())[0]; // asynchronous: webgpu in Node has no synchronous read
    loss.dispose();
  }
  return total;
}

/** The rollout windows SFT traces must fit: the model's context window for root and clones. */
export function traceRollout(cfg: RunConfig) {
  // a written-out Countdown search may use the whole window (other traces keep the default root budget)
  const rootBudget = cfg.sft.countdownStyle === 'search' ? { rootBudget: cfg.model.ctx } : {};
  return RolloutConfigSchema.parse({ rootWindow: cfg.model.ctx, cloneWindow: cfg.model.ctx, maxDepth: cfg.sft.maxDepth, maxCallsPerTree: Math.max(4, 2 ** cfg.sft.maxDepth - 1), ...rootBudget });
}

/**
 * The demonstration tree of one SFT item: a delegation trace with probability sft.delegation, else a monolithic
 * one (with sft.drills, first a coin for the task's drill trace: multi-hop's lookup drill); when the chosen kind does not fit, the other
 * kind (items too small to split are solved directly, items too long for one context are delegated); null when
 * neither fits (with sft.monolithicOnly: null when the monolithic trace does not fit). Draws from `rng` (the coins,
 * then the trace).
 */
export function sftTree(cfg: RunConfig, tok: TextTokenizer, item: TaskItem, rng: Rng, rollout = traceRollout(cfg)): Tree | null {
  // a lookup drill instead (multi-hop, sft.drills); no draw at all without drills, so older runs keep their stream
  if (cfg.sft.drills && rng.next() < cfg.sft.drills) {
    const d = findTask(item.task)?.drillTrace?.(item, tok, rollout, rng);
    if (d?.ok) return d.trace.tree;
  }
  const want = rng.next() < cfg.sft.delegation;
  const style = { arithStyle: cfg.sft.delegationStyle, countdownStyle: cfg.sft.countdownStyle };
  const r = want ? delegationTrace(item, tok, rollout, rng, style) : monolithicTrace(item, tok, rollout, style);
  // a monolithic-only warm start never falls back to a delegation
  const fallback = r.ok || cfg.sft.monolithicOnly ? r : want ? monolithicTrace(item, tok, rollout, style) : delegationTrace(item, tok, rollout, rng, style);
  return fallback.ok ? fallback.trace.tree : null;
}

/** One SFT batch: batchSize task items, each as a delegation (share sft.delegation) or monolithic trace. */
export function sftBatch(cfg: RunConfig, tok: TextTokenizer, rng: Rng, split: 'train' | 'dev'): TokenBatch {
  const items = taskItems(cfg.sft, split, cfg.train.batchSize, rng.int(0, 2 ** 31 - 1));
  const rollout = traceRollout(cfg);
  const trees = items.flatMap((it) => sftTree(cfg, tok, it, rng, rollout) ?? []);
  if (trees.length === 0) throw new SelfcestError(`no ${cfg.sft.name} trace fits a context window of ${cfg.model.ctx} tokens: raise model.ctx`);
  return rowBatches(treeRows(trees), Number.MAX_SAFE_INTEGER)[0];
}

/** Greedy accuracy of whole trees (the policy may delegate) on dev items of the SFT task (never training items), through the engine. */
export async function evalSftTrees(model: GPT, tok: TextTokenizer, cfg: RunConfig, n: number): Promise<{ accuracy: number }> {
  const items = taskItems(cfg.sft, 'dev', n, `${cfg.train.seed}:eval`);
  const rollout = RolloutConfigSchema.parse({ ...traceRollout(cfg), temperature: 0 });
  const dec = new LocalDecoder(model);
  try {
    const trees = await runTrees(items.map((it) => rolloutItem(it, tok)), new ModelPolicy(model, dec, rollout, Rng.fromSeed(0)), rollout, protocolTokens(tok));
    const reward = rolloutReward(items, tok);
    return { accuracy: trees.filter((t, i) => reward({ itemId: items[i].id }, t).root === 1).length / Math.max(1, n) };
  } finally {
    await dec.close();
  }
}

export async function evalAddition(model: GPT, tok: TextTokenizer, cfg: RunConfig, n: number): Promise<{ accuracy: number; examples: { prompt: string; completion: string; correct: boolean }[] }> {
  const rng = Rng.fromSeed(`${cfg.train.seed}:eval`);
  const items = Array.from({ length: n }, () => additionItem(rng, cfg.addition));
  const gens = await generate(
    model,
    items.map((it) => tok.encode(it.prompt)),
    { temperature: 0, maxNew: cfg.addition.maxDigits + 3, stopTokens: [tok.id('<eos>')] },
    rng,
  );
  const examples = items.map((it, i) => {
    const ids = gens[i].tokens.filter((t) => t !== tok.id('<eos>'));
    const completion = tok.decode(ids);
    return { prompt: it.prompt, completion, correct: gens[i].finish === 'stop' && additionCorrect(it, completion) };
  });
  return { accuracy: examples.filter((e) => e.correct).length / Math.max(1, n), examples };
}

/** One trainer per run directory (a `.lock` with its pid): see lockRun. */
export async function trainSupervised(cfgIn: RunConfig, tok: TextTokenizer, opts: SupervisedOptions): Promise<SupervisedResult> {
  const release = lockRun(opts.out, opts.log ?? logToStderr);
  try {
    return await trainSupervisedLocked(cfgIn, tok, opts);
  } finally {
    release();
  }
}

async function trainSupervisedLocked(cfgIn: RunConfig, tokIn: TextTokenizer, opts: SupervisedOptions): Promise<SupervisedResult> {
  const log = opts.log ?? logToStderr;
  let cfg = cfgIn;
  fs.mkdirSync(opts.out, { recursive: true });
  const metricsFile = path.join(opts.out, 'metrics.jsonl');

  // ---- start fresh or resume
  let model: GPT;
  let opt: AdamW;
  let dataRng: Rng;
  let cursor: DataCursor = { items: 0 };
  let startStep = 0;
  cleanLeftovers(opts.out, log);
  // initial weights (config.init): the model config is the init's, also when a resume compares configs
  const initDir = cfg.init ? resolvePolicyDir(cfg.init) : null;
  if (initDir) cfg = { ...cfg, model: checkpointModelConfig({ state: readPolicyState(initDir) }, initDir) };
  const resumeDir = opts.resume === 'auto' ? findLatest(opts.out) : opts.resume ? resolveCheckpointDir(opts.resume) : null;
  // an imported model's tokenizer, carried by its checkpoints; otherwise the caller's
  const tok = runTokenizer(resumeDir ?? initDir, tokIn);
  if (tok !== tokIn) log(`tokenizer: ${resumeDir ?? initDir}'s own (${tok.vocabSize} tokens)`);
  if (resumeDir) {
    const saved = runConfig(readCheckpointState(resumeDir).config, `${resumeDir}/state.json: config`);
    // The run's identity comes from the checkpoint; only the length of the run may change on resume.
    cfg = resumedConfig(saved, cfg, ['train.steps', 'train.untilHeldOutLoss', 'train.maxSteps']);
    const restored = restoreTraining(resumeDir, cfg.model, cfg.optim);
    model = restored.model;
    opt = restored.opt;
    const state = validate(ResumeStateSchema, restored.data.state, `${resumeDir}/state.json`);
    if (state.dataCursor.items !== state.step * cfg.train.batchSize) {
      throw new SelfcestError(`${resumeDir}/state.json: dataCursor.items is ${state.dataCursor.items}, expected step × train.batchSize = ${state.step * cfg.train.batchSize}`);
    }
    dataRng = Rng.fromState(state.rng.data);
    cursor = state.dataCursor;
    startStep = state.step;
    if (state.backend !== activeBackend()) {
      log(`note: checkpoint written on ${state.backend}, resuming on ${activeBackend()}: the trajectory will differ slightly`);
    }
    truncateMetrics(metricsFile, startStep);
    log(`resumed from ${resumeDir} at step ${startStep}`);
  } else {
    if (opts.resume && opts.resume !== 'auto') throw new SelfcestError(`--resume ${opts.resume}: no checkpoint found`);
    if (initDir) {
      model = loadPolicy(initDir).model;
      log(`initial weights: ${initDir} (${cfg.model.nLayers} layers, d ${cfg.model.dModel})`);
    } else model = GPT.init(cfg.model, Rng.fromSeed(cfg.train.seed));
    opt = new AdamW(cfg.optim, model.params);
    dataRng = Rng.fromSeed(`${cfg.train.seed}:data`);
    resetMetrics(metricsFile);
  }
  if (cfg.model.vocabSize !== tok.vocabSize) {
    model.dispose();
    throw new SelfcestError(`model.vocabSize is ${cfg.model.vocabSize} but the tokenizer has ${tok.vocabSize} tokens`);
  }
  writeFileAtomic(path.join(opts.out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n'); // a kill leaves the old file or the new

  const t = cfg.train;
  // with untilHeldOutLoss the run may go on past `steps` (at the floor learning rate) up to maxSteps
  const extend = t.untilHeldOutLoss > 0;
  const endStep = finalStepLimit(t);
  const lastStep = Math.min(endStep, opts.stopAfter ?? endStep);
  log(`model: ${model.numParams.toLocaleString('en-US')} parameters; training ${t.task} for steps ${startStep + 1}..${lastStep} of ${t.steps}`);
  if (extend) log(`then on at lr ${(cfg.optim.lr * t.minLrRatio).toExponential(2)} until the held-out loss is <= ${t.untilHeldOutLoss} (checked at step ${t.steps} and every ${t.heldOutEvery}), at most to step ${t.maxSteps}`);
  const progress = new Progress(endStep, startStep, log);
  // a fixed held-out batch of dev items (a partition no training item comes from), from its own Rng
  const heldOut =
    t.heldOutEvery > 0 && t.evalItems > 0
      ? t.task === 'addition'
        ? (() => {
            const r = Rng.fromSeed(`${t.seed}:heldout`);
            return additionBatch(Array.from({ length: t.evalItems }, () => additionItem(r, cfg.addition)), tok, cfg.model.ctx);
          })()
        : sftBatch({ ...cfg, train: { ...t, batchSize: t.evalItems } }, tok, Rng.fromSeed(`${t.seed}:heldout`), 'dev')
      : null;
  const pool = t.workers > 1 && startStep < lastStep ? await GradPool.start(t.workers - 1, cfg.model, activeBackend() as BackendChoice) : undefined;
  if (pool) log(`data parallel: ${t.workers} threads compute gradients`);
  let loss = NaN;
  let checkpoint = resumeDir ?? '';
  // the held-out loss decides the end of an extended run only at these steps (the same with or without a resume)
  const isCheck = (s: number) => heldOut !== null && (s % t.heldOutEvery === 0 || (extend && s === t.steps));
  const enough = (held: number | undefined, s: number) => extend && s >= t.steps && held !== undefined && held <= t.untilHeldOutLoss;
  let reached = false;
  let finalStep = startStep;
  const bad = new BadSteps(t.maxBadSteps, log);

  const save = async (step: number, complete: boolean) => {
    syncMetrics(metricsFile);
    checkpoint = await saveTraining(opts.out, model, opt, { step, config: cfg, rng: { data: dataRng.state() }, dataCursor: cursor, metrics: { loss }, complete }, t.keep, tok);
  };

  if (resumeDir && extend && startStep >= t.steps && startStep < endStep && isCheck(startStep)) {
    // a run that stopped at a check step (or reached `steps` before it was extended) may already be done
    const held = await maskedLoss(model, heldOut!);
    if (enough(held, startStep)) {
      reached = true;
      log(`held-out loss ${held.toFixed(4)} <= ${t.untilHeldOutLoss} at step ${startStep}: nothing left to train`);
      if (readCheckpointState(resumeDir).complete !== true) await save(startStep, true);
    }
  }

  try {
    for (let step = startStep; step < lastStep && !reached; step++) {
      const t0 = performance.now();
      cursor = { items: cursor.items + t.batchSize };
      const batch = t.task === 'addition' ? additionBatch(Array.from({ length: t.batchSize }, () => additionItem(dataRng, cfg.addition)), tok, cfg.model.ctx) : sftBatch(cfg, tok, dataRng, 'train');
      const lr = learningRate(step, cfg.optim.lr, t.warmupSteps, t.steps, t.minLrRatio);
      const r = await trainStep(model, opt, batch, lr, pool);
      bad.check(step + 1, r.skipped ? `non-finite ${Number.isFinite(r.loss) ? `gradient norm (${r.gradNorm})` : `loss (${r.loss})`}: update skipped` : null);
      loss = r.loss;
      const ms = performance.now() - t0;
      const tokens = batch.B * batch.T;
      const held = heldOut && isCheck(step + 1) ? await maskedLoss(model, heldOut) : undefined;
      const line = { step: step + 1, loss: r.loss, ...(r.skipped ? { skipped: 1 } : {}), ...(held !== undefined ? { heldout_loss: held } : {}), grad_norm: r.gradNorm, lr, tokens, ms: Math.round(ms * 10) / 10, tok_per_s: Math.round(tokens / (ms / 1000)) };
      appendMetrics(metricsFile, line);
      reached = enough(held, step + 1);
      finalStep = step + 1;
      progress.tick(step + 1, tokens, `loss ${r.loss.toFixed(4)}${held !== undefined ? ` held-out ${held.toFixed(4)}` : ''} lr ${lr.toExponential(2)}`, (step + 1) % t.logEvery === 0 || step + 1 === lastStep || reached);
      if (reached) log(`held-out loss ${held!.toFixed(4)} <= ${t.untilHeldOutLoss} at step ${step + 1}: done`);
      else if (extend && step + 1 === endStep) log(`note: held-out loss still above ${t.untilHeldOutLoss} at maxSteps ${endStep}: stopping there`);
      const done = step + 1 === lastStep || reached;
      if (done || (t.saveEvery > 0 && (step + 1) % t.saveEvery === 0)) await save(step + 1, reached || step + 1 === endStep);
    }
  } finally {
    await pool?.close();
  }
  if (startStep >= lastStep && !resumeDir) await save(startStep, startStep === endStep);
  const complete = reached || lastStep === endStep;

  let evalAccuracy: number | null = null;
  if (complete && t.evalItems > 0) {
    const ev = t.task === 'addition' ? await evalAddition(model, tok, cfg, t.evalItems) : await evalSftTrees(model, tok, cfg, t.evalItems);
    evalAccuracy = ev.accuracy;
    log(`eval: greedy exact-match accuracy ${(ev.accuracy * 100).toFixed(1)}% on ${t.evalItems} held-out ${t.task === 'sft' ? `${cfg.sft.name} (${cfg.sft.preset})` : t.task} items`);
  }
  opt.dispose();
  return { config: cfg, step: finalStep, loss, evalAccuracy, checkpoint, model };
}

const ResumeStateSchema = z.looseObject({
  step: z.number().int().min(0),
  backend: z.string(),
  rng: z.object({ data: RngStateSchema }),
  dataCursor: z.object({ items: z.number().int().min(0) }),
});
