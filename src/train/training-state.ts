/**
 * Saving and restoring a training run's full state (weights, optimizer moments and step, Rng states, config),
 * shared by the supervised/SFT loop and the GRPO loop. Restoring validates every tensor and that the
 * optimizer's step count matches state.json.
 */
import { activeBackend } from '../backend/select.ts';
import { provenance } from '../util/provenance.ts';
import { isDefaultTokenizer, type TextTokenizer } from '../tokenizer/index.ts';
import { CHECKPOINT_FORMAT, cleanRunDir, loadCheckpoint, saveCheckpoint, type CheckpointData } from '../checkpoint/store.ts';
import type { ModelConfig } from '../model/config.ts';
import { GPT } from '../model/decoder.ts';
import { expectedModelTensors, loadPolicyTokenizer, modelTensors } from '../model/io.ts';
import { SelfcestError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { AdamW, type OptimConfig } from './optim.ts';

export { RngStateSchema } from '../util/rng-state.ts';

/** Dotted keys whose values differ between two configs (leaves only). */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedKeys((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k));
  }
  return a === b ? [] : [prefix];
}

/**
 * The config a resumed run continues with: the checkpoint's (the run's identity), except the dotted keys in
 * `mayChange`, which take the asked-for values. Any other change is refused in one line naming the keys: a resume
 * must not quietly continue another run's config. Both configs are compared resolved (defaults filled in).
 */
export function resumedConfig<C extends object>(saved: C, asked: C, mayChange: readonly string[]): C {
  const refused = changedKeys(saved, asked).filter((k) => !mayChange.includes(k));
  if (refused.length) {
    throw new SelfcestError(
      `resume: the config differs from the checkpoint's in ${refused.join(', ')} (only ${mayChange.join(', ')} may change on resume): resume with the run's own config (config.json in the run directory), or train into another --out`,
    );
  }
  const out = structuredClone(saved);
  for (const key of mayChange) {
    const path = key.split('.');
    const last = path.pop()!;
    const parentOf = (o: object) => path.reduce((n, k) => (n as Record<string, object>)[k], o) as Record<string, unknown>;
    parentOf(out)[last] = parentOf(asked)[last];
  }
  return out;
}

/** Clean the leftovers of interrupted saves in a run directory when the run starts, with one log line. */
export function cleanLeftovers(runDir: string, log: (line: string) => void): void {
  const removed = cleanRunDir(runDir);
  if (removed.length) log(`removed ${removed.length} leftover${removed.length > 1 ? 's' : ''} of an interrupted save in ${runDir}: ${removed.join(', ')}`);
}

/**
 * Consecutive bad steps (an update skipped for a non-finite loss or gradient norm), shared by both trainers: each
 * bad step is logged, a good one resets the count, and `max` in a row stop the run.
 */
export class BadSteps {
  private run = 0;

  constructor(
    private readonly max: number,
    private readonly log: (line: string) => void,
  ) {}

  /** after step `step` (1-based): `why` says what went wrong, null for a good step */
  check(step: number, why: string | null): void {
    if (why === null) {
      this.run = 0;
      return;
    }
    this.run++;
    this.log(`step ${step}: ${why} (${this.run} bad steps in a row)`);
    if (this.run >= this.max) throw new SelfcestError(`non-finite loss or gradient norm at ${this.run} steps in a row (steps ${step + 1 - this.run}..${step}): stopping (the last checkpoint is intact)`);
  }
}

export interface RestoredTraining {
  model: GPT;
  opt: AdamW;
  data: CheckpointData;
}

/** Model and optimizer from a checkpoint directory, for the given (the run's) configs. */
export function restoreTraining(dir: string, model: ModelConfig, optim: OptimConfig): RestoredTraining {
  const m = GPT.init(model, Rng.fromSeed(0)); // shapes only: every weight is replaced below
  const opt = new AdamW(optim, m.params);
  const data = loadCheckpoint(dir, {
    model: expectedModelTensors(model),
    optimizer: opt.expectedArrays().map((e) => ({ ...e, dtype: 'F32' as const })),
  });
  const arrays = (ts: typeof data.model) => new Map(ts.map((t) => [t.name, { shape: t.shape, data: t.data as Float32Array }]));
  m.load(arrays(data.model), `${dir}/model.safetensors`);
  opt.load(arrays(data.optimizer), `${dir}/optimizer.safetensors`);
  // a GRPO step may apply several updates (epochs, minibatches) and a skipped step none: state.json records their count
  const key = typeof data.state.optimizerSteps === 'number' ? 'optimizerSteps' : 'step';
  const updates = data.state[key];
  if (opt.t !== updates) throw new SelfcestError(`${dir}/optimizer.safetensors: ${opt.t} updates do not match state.json's ${key} ${updates}`);
  return { model: m, opt, data };
}

/**
 * The tokenizer a run trains with: the one its resume or init checkpoint carries (an imported model's), else the
 * caller's. A caller's tokenizer of its own that differs from the checkpoint's is refused.
 */
export function runTokenizer(dir: string | null | undefined, tok: TextTokenizer): TextTokenizer {
  if (!dir) return tok;
  const own = loadPolicyTokenizer(dir);
  if (isDefaultTokenizer(own)) return tok;
  if (!isDefaultTokenizer(tok) && tok.sha256 !== own.sha256) {
    throw new SelfcestError(`${dir} carries its own tokenizer (sha256 ${own.sha256?.slice(0, 12)}), not the one the run was given (${tok.sha256?.slice(0, 12)})`);
  }
  return own;
}

/** Save a complete training checkpoint (crash-safe, keep the newest `keep`); returns the step directory. */
export async function saveTraining(
  runDir: string,
  model: GPT,
  opt: AdamW,
  s: { step: number; config: unknown; rng: Record<string, unknown>; dataCursor: unknown; metrics: Record<string, number>; complete?: boolean; scheduleSteps?: number; initDir?: string },
  keep: number,
  tok?: Pick<TextTokenizer, 'sha256' | 'files'>,
): Promise<string> {
  // a policy with a tokenizer of its own (an imported model's) carries it in every checkpoint
  const files = tok?.files && !isDefaultTokenizer(tok) ? tok.files : undefined;
  const tensors = await modelTensors(model);
  for (const t of tensors) {
    const bad = (t.data as Float32Array).findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new SelfcestError(`weights are not finite at step ${s.step} (${t.name}[${bad}] = ${(t.data as Float32Array)[bad]}): checkpoint not saved; the last one in ${runDir} is intact`);
  }
  return saveCheckpoint(
    runDir,
    {
      model: tensors,
      optimizer: (await opt.toArrays()).map((a) => ({ ...a, dtype: 'F32' as const })),
      state: {
        format: CHECKPOINT_FORMAT, ...s, optimizerSteps: opt.t, backend: activeBackend(), createdAt: new Date().toISOString(),
        provenance: { ...provenance(), tokenizer: tok?.sha256 ?? null },
      },
      ...(files ? { files } : {}),
    },
    { keep },
  );
}

/**
 * Warns once when a run learns nothing: DeadRun.STEPS steps in a row with reward 0 and gradient norm 0 (every group's
 * trees scored alike, so every advantage is 0) look healthy in the console but change no weight.
 */
export class DeadRun {
  static readonly STEPS = 8;
  private run = 0;
  private warned = false;

  constructor(private readonly log: (line: string) => void) {}

  check(step: number, dead: boolean): void {
    this.run = dead ? this.run + 1 : 0;
    if (this.warned || this.run < DeadRun.STEPS) return;
    this.warned = true;
    this.log(
      `warning: steps ${step + 1 - this.run}..${step}: reward 0 and gradient norm 0 in every step (every group's trees scored alike): nothing is being learned; ` +
        'check that the warm start solves some training items (its SFT eval), or raise grpo.groupSize or rollout.temperature',
    );
  }
}
