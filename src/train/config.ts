/**
 * A training run's configuration: typed data with defaults, validated on load (unknown or ill-typed keys are
 * one-line errors), saved next to every checkpoint.
 */
import { z } from 'zod';
import { ModelConfigSchema } from '../model/config.ts';
import { AdditionConfigSchema } from '../tasks/addition/addition.ts';
import { applyOverrides, readJsonFile, validate } from '../util/config-file.ts';
import { OptimConfigSchema } from './optim.ts';
import { SftSourceSchema } from './task-source.ts';

export const TrainLoopSchema = z
  .object({
    /**
     * what the supervised loop trains on: `addition` (the built-in warm-up task) or `sft` (SFT warm start on
     * demonstration trees of the task named in `sft`: monolithic and delegation traces in the clone protocol)
     */
    task: z.enum(['addition', 'sft']).default('addition'),
    steps: z.number().int().min(1).default(600),
    batchSize: z.number().int().min(1).default(32),
    warmupSteps: z.number().int().min(0).default(30),
    /** final learning rate as a fraction of optim.lr (cosine decay) */
    minLrRatio: z.number().min(0).max(1).default(0.1),
    seed: z.number().int().default(1),
    /**
     * threads computing gradients (data parallel over batch rows; 1 = this thread only). Part of the run's
     * identity: the same seed gives the same weights only with the same number of workers.
     */
    workers: z.number().int().min(1).max(64).default(1),
    /** save a checkpoint every N steps (and always at the end); 0: only at the end */
    saveEvery: z.number().int().min(0).default(200),
    /** keep the newest K checkpoints (0: all) */
    keep: z.number().int().min(0).default(3),
    /** print a progress line every N steps */
    logEvery: z.number().int().min(1).default(20),
    /** greedy accuracy on this many held-out items at the end (0: skip); also the size of the held-out loss batch */
    evalItems: z.number().int().min(0).default(64),
    /** masked loss on a fixed held-out batch every N steps, logged as heldout_loss (0: never) */
    heldOutEvery: z.number().int().min(0).default(50),
    /**
     * Train past `steps` until the skill is there: when > 0, training goes on at the floor learning rate
     * (optim.lr · minLrRatio) until the held-out loss, measured at `steps` and every heldOutEvery steps after,
     * is at most this value, or `maxSteps` is reached. 0: train exactly `steps`.
     */
    untilHeldOutLoss: z.number().min(0).default(0),
    /** the last step of that extension (must exceed `steps` when untilHeldOutLoss > 0) */
    maxSteps: z.number().int().min(0).default(0),
    /** a step whose loss or gradient norm is not finite is skipped (no update); this many in a row stop the run */
    maxBadSteps: z.number().int().min(1).default(3),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.untilHeldOutLoss <= 0) return;
    const need = (ok: boolean, path: string, message: string) => ok || ctx.addIssue({ code: 'custom', path: [path], message });
    need(t.maxSteps > t.steps, 'maxSteps', `must exceed steps (${t.steps}) when untilHeldOutLoss is set`);
    need(t.heldOutEvery > 0, 'heldOutEvery', 'must be > 0 when untilHeldOutLoss is set (the held-out loss decides when to stop)');
    need(t.evalItems > 0, 'evalItems', 'must be > 0 when untilHeldOutLoss is set (it is the size of the held-out batch)');
  });

/** The last step a run may reach: `steps`, or `maxSteps` when it trains on until a held-out loss. */
export function finalStepLimit(t: { steps: number; untilHeldOutLoss: number; maxSteps: number }): number {
  return t.untilHeldOutLoss > 0 ? t.maxSteps : t.steps;
}

export const RunConfigSchema = z
  .object({
    /**
     * start from these weights instead of fresh ones: a checkpoint (step or run directory) or a Hugging Face
     * directory (gpt2, gpt_neox or llama layout with selfcest's tokenizer, docs/checkpoints.md); the model config is
     * then the init's. Absent: fresh weights from train.seed
     */
    init: z.string().min(1).optional(),
    model: ModelConfigSchema.prefault({}),
    optim: OptimConfigSchema.prefault({ lr: 3e-3 }),
    train: TrainLoopSchema.prefault({}),
    addition: AdditionConfigSchema.prefault({}),
    /** sft: the task and preset of the items, and the share of delegation traces (the rest are monolithic) */
    sft: SftSourceSchema.prefault({}),
  })
  .strict();

export type RunConfig = z.infer<typeof RunConfigSchema>;

export function runConfig(value: unknown = {}, source = 'config'): RunConfig {
  return validate(RunConfigSchema, value, source);
}

/** Load a config file (or defaults when file is undefined) and apply `--set` overrides. */
export function loadRunConfig(file: string | undefined, overrides: readonly string[] = []): RunConfig {
  const raw = file ? readJsonFile(file) : {};
  const source = file ?? 'defaults';
  return runConfig(applyOverrides(raw, overrides), overrides.length ? `${source} (with --set)` : source);
}
