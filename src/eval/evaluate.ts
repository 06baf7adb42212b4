/**
 * An evaluation directory: every sweep point of one checkpoint × task × split × mode, run through the engine
 * and written as files (docs/eval.md):
 *
 *   <out>/eval.json                    the index: what was evaluated, the resolved settings, every point's summary
 *   <out>/points/<name>/config.json    the point's resolved rollout config and eval settings
 *   <out>/points/<name>/examples.jsonl one record per item (src/eval/run.ts ExampleRecord)
 *   <out>/points/<name>/summary.json   means with bootstrap 95 % CIs, cost-of-pass, speed (summary.ts)
 *   <out>/points/<name>/trees.jsonl    the trees of the first few right and wrong items, with their outcomes (selfcest trace; compare renders them)
 *
 * eval.json is rewritten after every point, with `complete` false until the last one is written.
 */
import * as fs from 'node:fs';
import { filesSha256, provenance, type Provenance } from '../util/provenance.ts';
import * as path from 'node:path';
import { z } from 'zod';
import { parseController, type ControllerRule } from '../rollout/controller.ts';
import type { Policy } from '../rollout/engine.ts';
import { RolloutConfigSchema, type RolloutConfig } from '../rollout/protocol.ts';
import { writeTreesJsonl } from '../rollout/trace-io.ts';
import type { RewardFn } from '../tasks/reward.ts';
import type { TaskItem } from '../tasks/types.ts';
import { isDefaultTokenizer, loadTokenizer, TOKENIZER_FILES, type TextTokenizer } from '../tokenizer/index.ts';
import { readJsonFile, validate } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonl } from '../util/jsonl.ts';
import { Rng } from '../util/rng.ts';
import { EVAL_MODES, type EvalMode } from './items.ts';
import { evalPoint } from './run.ts';
import type { PointSummary } from './summary.ts';
import { summarize } from './summary.ts';
import { sweepPoints, resolveRollout, type RolloutBase, type SweepAxis, type SweepValue } from './sweep.ts';

export const EVAL_FORMAT = 1;
export const INDEX_FILE = 'eval.json';

export interface EvalPointEntry {
  name: string;
  /** relative to the eval dir */
  dir: string;
  overrides: Record<string, SweepValue>;
  samples: number;
  rollout: RolloutConfig;
  summary: PointSummary;
}

export interface EvalIndex {
  format: typeof EVAL_FORMAT;
  /** the series name in reports */
  label: string;
  checkpoint: string;
  task: string;
  /** as given (id, ood or a file) and as shown in reports */
  split: string;
  splitName: string;
  itemsFile: string;
  items: number;
  mode: EvalMode;
  /** the fixed delegation controller the policy ran under (src/rollout/controller.ts), absent without one */
  controller?: string;
  seed: number;
  sweep: SweepAxis[];
  backend: string;
  complete: boolean;
  createdAt: string;
  /** selfcest version, git commit, tokenizer and items-file sha256 (src/util/provenance.ts); absent in older indexes */
  provenance?: Provenance & { tokenizer: string | null; itemsSha256: string | null };
  points: EvalPointEntry[];
}

const EstimateSchema = z.object({ mean: z.number().nullable(), lo: z.number().nullable(), hi: z.number().nullable() });
/** What compare reads of an index (summaries are checked for the fields reports use). */
export const EvalIndexSchema = z.looseObject({
  format: z.literal(EVAL_FORMAT),
  label: z.string().min(1),
  checkpoint: z.string(),
  task: z.string(),
  split: z.string(),
  splitName: z.string(),
  itemsFile: z.string(),
  items: z.int().min(0),
  mode: z.enum(EVAL_MODES),
  seed: z.number(),
  sweep: z.array(z.object({ key: z.string(), values: z.array(z.union([z.number(), z.boolean(), z.string()])) })),
  backend: z.string(),
  complete: z.boolean(),
  createdAt: z.string(),
  points: z.array(
    z.looseObject({
      name: z.string(),
      dir: z.string(),
      overrides: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])),
      samples: z.int().min(1),
      rollout: RolloutConfigSchema,
      summary: z.looseObject({
        items: z.int(),
        samples: z.int(),
        accuracy: EstimateSchema,
        passAtN: EstimateSchema,
        reward: EstimateSchema,
        tokens: z.looseObject({ total: EstimateSchema, critical: EstimateSchema, root: z.number().nullable(), clone: z.number().nullable() }),
        calls: z.number().nullable(),
        clones: z.number().nullable(),
        malformedRate: z.number(),
        costOfPass: z.number().nullable(),
        criticalCostOfPass: z.number().nullable(),
        wallSeconds: z.number(),
        itemsPerSecond: z.number(),
      }),
    }),
  ),
});

/** Read and check an eval dir's index. */
export function readEvalIndex(dir: string): EvalIndex {
  const file = path.join(dir, INDEX_FILE);
  if (!fs.existsSync(file)) throw new SelfcestError(`${dir}: not an eval directory (no ${INDEX_FILE}; write one with selfcest eval)`);
  return validate(EvalIndexSchema, readJsonFile(file), file) as unknown as EvalIndex;
}

/**
 * The controller rule an eval of a `controller` sweep found best (e.g. on dev, to be evaluated on test): the point
 * with the highest accuracy, ties broken by fewer total tokens per item, then by the order of the sweep. Refused
 * for an eval that swept no controller or is not complete.
 */
export function bestController(dir: string): { rule: string; accuracy: number; tokens: number; of: number; split: string } {
  const index = readEvalIndex(dir);
  if (!index.complete) throw new SelfcestError(`${dir}: the evaluation is not complete (rerun it, or pass another directory)`);
  const pts = index.points.filter((p) => p.overrides.controller !== undefined);
  if (!pts.length) throw new SelfcestError(`${dir}: swept no controller (expected an eval run with --sweep controller=rule1,rule2,...)`);
  const score = (p: EvalPointEntry) => ({ acc: p.summary.accuracy.mean ?? 0, tok: p.summary.tokens.total.mean ?? Infinity });
  let best = pts[0];
  for (const p of pts.slice(1)) {
    const [a, b] = [score(p), score(best)];
    if (a.acc > b.acc || (a.acc === b.acc && a.tok < b.tok)) best = p;
  }
  return { rule: String(best.overrides.controller), accuracy: score(best).acc, tokens: score(best).tok, of: pts.length, split: index.splitName };
}

export interface EvalOptions {
  out: string;
  label: string;
  /** the checkpoint directory and its run config (rollout defaults) */
  checkpoint: string;
  runConfig: unknown;
  ctx: number;
  task: string;
  split: string;
  splitName: string;
  itemsFile: string;
  items: readonly TaskItem[];
  /** a fixed delegation controller for every point (src/rollout/controller.ts; recorded in the index) */
  controller?: string;
  mode: EvalMode;
  /** trees per item in sc mode (a `samples` sweep axis overrides it per point) */
  samples: number;
  seed: number;
  temperature?: number;
  topK?: number;
  set?: readonly string[];
  sweep: SweepAxis[];
  /** most trees per engine call */
  chunk: number;
  /** items whose trees are written to trees.jsonl */
  traces: number;
  resamples: number;
  reward: RewardFn;
  backend: string;
  /** a policy for one point (the rollout config's temperature/top-k; the point's sampling Rng) */
  /** the point's fixed controller rule (--controller, or a `controller` sweep value), null without one: wrap the policy in a ControllerPolicy */
  makePolicy: (cfg: RolloutConfig, rng: Rng, controller: ControllerRule | null) => Policy;
  /** a tree ended: (point index, points, trees done, trees of the point, the tree's tokens); done 0 when a point starts */
  onTree?: (point: number, points: number, done: number, total: number, tokens: number) => void;
  log?: (line: string) => void;
  overwrite?: boolean;
}

/** Check the settings of every point before running any (bad sweep values fail fast). */
export function planPoints(o: Pick<EvalOptions, 'runConfig' | 'ctx' | 'set' | 'temperature' | 'topK' | 'mode' | 'samples' | 'sweep' | 'controller'>) {
  const swept = o.sweep.some((a) => a.key === 'controller');
  if ((swept || o.controller) && o.mode !== 'clones') throw new SelfcestError(`controller ${o.controller ?? '(swept)'}: a controller decides when to delegate, so it needs --mode clones (not ${o.mode})`);
  if (swept && o.controller) throw new SelfcestError(`--controller ${o.controller} and --sweep controller=...: give the rule once`);
  const base: RolloutBase = { runConfig: o.runConfig, ctx: o.ctx, set: o.set, temperature: o.temperature, topK: o.topK };
  return sweepPoints(o.sweep).map((pt) => {
    const rollout = resolveRollout(base, o.mode, pt.overrides);
    const samples = o.mode === 'sc' ? Number(pt.overrides.samples ?? o.samples) : 1;
    if (o.mode !== 'sc' && pt.overrides.samples !== undefined) throw new SelfcestError(`--sweep samples=...: only --mode sc draws several samples per item`);
    if (o.mode === 'sc' && samples > 1 && rollout.temperature === 0) throw new SelfcestError(`--mode sc: ${samples} greedy samples would all be the same; use --temperature > 0`);
    const spec = pt.overrides.controller !== undefined ? String(pt.overrides.controller) : o.controller;
    return { ...pt, rollout, samples, controller: spec === undefined ? null : parseController(spec) };
  });
}

/** The first n right and the first n wrong of xs, in their order (which trees an eval keeps, which a report shows). */
export function firstRightAndWrong<T>(xs: readonly T[], isRight: (x: T) => boolean, n: number): T[] {
  let right = 0;
  let wrong = 0;
  return xs.filter((x) => (isRight(x) ? right++ < n : wrong++ < n));
}

/** The tokenizer an eval directory's trees were written with: its own files when it has them, else `fallback`. */
export function evalTokenizer(dir: string, fallback: TextTokenizer): TextTokenizer {
  return fs.existsSync(path.join(dir, TOKENIZER_FILES[0])) ? loadTokenizer(dir) : fallback;
}

export async function runEval(tok: TextTokenizer, o: EvalOptions): Promise<EvalIndex> {
  const log = o.log ?? (() => {});
  const plan = planPoints(o);
  if (fs.existsSync(path.join(o.out, INDEX_FILE))) {
    if (!o.overwrite) throw new SelfcestError(`${o.out}: already holds an evaluation (${INDEX_FILE}); pass --overwrite or choose another --out`);
    fs.rmSync(path.join(o.out, 'points'), { recursive: true, force: true });
  }
  // trees hold token ids: an eval of an imported model's policy keeps its tokenizer beside them (for report, trace)
  for (const f of TOKENIZER_FILES) fs.rmSync(path.join(o.out, f), { force: true });
  if (tok.files && !isDefaultTokenizer(tok)) {
    fs.mkdirSync(o.out, { recursive: true });
    for (const f of TOKENIZER_FILES) writeFileAtomic(path.join(o.out, f), tok.files[f]);
  }
  const index: EvalIndex = {
    format: EVAL_FORMAT,
    label: o.label,
    checkpoint: o.checkpoint,
    task: o.task,
    split: o.split,
    splitName: o.splitName,
    itemsFile: o.itemsFile,
    items: o.items.length,
    mode: o.mode,
    ...(o.controller ? { controller: o.controller } : {}),
    seed: o.seed,
    sweep: o.sweep,
    backend: o.backend,
    complete: false,
    createdAt: new Date().toISOString(),
    provenance: { ...provenance(), tokenizer: tok.sha256 ?? null, itemsSha256: fs.existsSync(o.itemsFile) ? filesSha256(o.itemsFile) : null },
    points: [],
  };
  for (const [k, pt] of plan.entries()) {
    const dir = path.join('points', pt.name);
    const abs = path.join(o.out, dir);
    fs.mkdirSync(abs, { recursive: true });
    const settings = { mode: o.mode, samples: pt.samples, seed: o.seed, overrides: pt.overrides, rollout: pt.rollout, chunk: o.chunk };
    writeFileAtomic(path.join(abs, 'config.json'), JSON.stringify(settings, null, 2) + '\n');
    log(`point ${k + 1}/${plan.length} ${pt.name}: ${o.items.length} items x ${pt.samples} tree${pt.samples > 1 ? 's' : ''}, ${o.mode}, temperature ${pt.rollout.temperature}`);
    // every point samples from the same seed: common random numbers across the sweep
    const policy = o.makePolicy(pt.rollout, Rng.fromSeed(`${o.seed}:eval`), pt.controller);
    o.onTree?.(k, plan.length, 0, o.items.length * pt.samples, 0);
    const res = await evalPoint(o.items, tok, policy, { mode: o.mode, samples: pt.samples, rollout: pt.rollout, chunk: o.chunk, reward: o.reward }, (done, total, tokens) =>
      o.onTree?.(k, plan.length, done, total, tokens),
    );
    const summary = summarize(res.records, res.wallSeconds, o.seed, o.resamples);
    writeJsonl(path.join(abs, 'examples.jsonl'), res.records);
    writeFileAtomic(path.join(abs, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    // trees of the first o.traces right and the first o.traces wrong items (item order), each with its outcome
    const keep = firstRightAndWrong(res.records.map((r, i) => ({ r, i })), (x) => x.r.correct === 1, o.traces);
    const shown = keep.map(({ r, i }) => ({
      ...res.trees[i * pt.samples + r.sample],
      outcome: { gold: r.gold, answer: r.answer, correct: r.correct, reward: r.reward, components: r.components },
    }));
    writeTreesJsonl(path.join(abs, 'trees.jsonl'), shown);
    index.points.push({ name: pt.name, dir, overrides: pt.overrides, samples: pt.samples, rollout: pt.rollout, summary });
    index.complete = k === plan.length - 1;
    writeFileAtomic(path.join(o.out, INDEX_FILE), JSON.stringify(index, null, 2) + '\n');
    const a = summary.accuracy;
    log(
      `  accuracy ${pct(a.mean)} [${pct(a.lo)}, ${pct(a.hi)}]${pt.samples > 1 ? ` pass@${pt.samples} ${pct(summary.passAtN.mean)}` : ''}, ` +
        `${summary.tokens.total.mean.toFixed(1)} tokens (critical path ${summary.tokens.critical.mean.toFixed(1)}), ` +
        `${summary.clones.toFixed(2)} clones/item, ${summary.itemsPerSecond.toFixed(2)} items/s`,
    );
  }
  return index;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
