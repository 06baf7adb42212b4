/**
 * Evaluation items: which file a split names, reading and checking it, and the rollout item each mode gives
 * the engine. Pure TS: no tfjs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RolloutItem } from '../rollout/engine.ts';
import { checkItem, taskDef } from '../tasks/registry.ts';
import { rolloutItem } from '../tasks/views.ts';
import { readItemsJsonl, type TaskItem } from '../tasks/types.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import { SelfcestError } from '../util/errors.ts';

/** clones: spawning allowed; mono: spawning masked (one context); sc: n monolithic samples, majority vote */
export const EVAL_MODES = ['clones', 'mono', 'sc'] as const;
export type EvalMode = (typeof EVAL_MODES)[number];

/** The committed evaluation sets live here as <task>-<split>.jsonl (the task's first preset) or <task>-<preset>-<split>.jsonl. */
export const EVAL_DATA_DIR = 'data/eval';

/** data/eval of this package, as a path relative to the working directory when that is the package root (else absolute). */
function committedDir(): string {
  const abs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..', EVAL_DATA_DIR);
  const rel = path.relative(process.cwd(), abs);
  return rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel;
}

/** Split names that resolve to a committed set: the test sets id and ood, and dev (for choosing configs). */
const COMMITTED = ['id', 'ood', 'dev'];

/**
 * `id`, `ood` (the test sets) and `dev` name the committed set of the task (and preset: the first preset's set has
 * no preset in its name); anything else is a JSONL file path.
 */
export function splitFile(task: string, split: string, dataDir?: string, preset?: string): string {
  if (!COMMITTED.includes(split)) return split;
  const named = preset !== undefined && preset !== taskDef(task).presets[0];
  return path.join(dataDir ?? committedDir(), named ? `${task}-${preset}-${split}.jsonl` : `${task}-${split}.jsonl`);
}

/**
 * The task (and preset) a checkpoint was trained on, from its resolved run config: a GRPO run's `task`, an SFT
 * run's `sft` source. Null when the config names no task (the built-in addition warm-up).
 */
export function checkpointTask(runConfig: unknown): { name: string; preset?: string } | null {
  const c = (runConfig ?? {}) as { mode?: string; task?: { name?: string; preset?: string }; train?: { task?: string }; sft?: { name?: string; preset?: string } };
  const src = c.mode === 'grpo' ? c.task : c.train?.task === 'sft' ? c.sft : undefined;
  if (!src?.name) return null;
  return src.preset === undefined ? { name: src.name } : { name: src.name, preset: src.preset };
}

/** A split's name in reports: `id`, `ood`, or the file's base name without .jsonl. */
export function splitName(split: string): string {
  return COMMITTED.includes(split) ? split : path.basename(split).replace(/\.jsonl$/, '');
}

/**
 * Read and check the items of a split; every item must belong to `task`. `preset` picks the committed set of
 * `id`/`ood` (pass the checkpoint's, checkpointTask). `limit` keeps the first N.
 */
export function loadEvalItems(task: string, split: string, opts: { limit?: number; dataDir?: string; preset?: string } = {}): { file: string; items: TaskItem[] } {
  taskDef(task); // unknown task: one-line error naming the known ones
  const file = splitFile(task, split, opts.dataDir, opts.preset);
  if (!fs.existsSync(file)) {
    const which = opts.preset === undefined ? `task ${task} has no committed ${split} set` : `task ${task}, preset ${opts.preset} has no committed ${split} set`;
    throw new SelfcestError(COMMITTED.includes(split) ? `--split ${split}: ${file} does not exist (${which}; write one with selfcest data gen, or pass a JSONL file)` : `--split ${split}: no such file (expected id, ood, dev or a JSONL file of task items)`);
  }
  let items = readItemsJsonl(file, checkItem);
  const other = items.find((it) => it.task !== task);
  if (other) throw new SelfcestError(`${file}: item ${other.id} is a ${other.task} item, not ${task} (--task ${task})`);
  if (opts.limit !== undefined) items = items.slice(0, opts.limit);
  return { file, items };
}

/**
 * The rollout item a mode gives the engine. With clones (`clones`) the root sees the task's prompt (for a
 * document task: the question and the paragraph keys; clones read paragraphs through `<ctx> KEY`). Without
 * clones (`mono`, `sc`) the root cannot hand documents to anyone, so it gets the monolithic view: the
 * paragraphs inlined into its prompt as far as they fit `rootWindow` (src/tasks/traces.ts rolloutItem,
 * view 'inline'). Items without documents look the same either way.
 */
export function evalRolloutItem(item: TaskItem, tok: TextTokenizer, mode: EvalMode, rootWindow: number): RolloutItem {
  return mode === 'clones' ? rolloutItem(item, tok) : rolloutItem(item, tok, { view: 'inline', window: rootWindow });
}
