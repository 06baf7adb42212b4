/**
 * Task items on disk: one JSON object per line (JSONL), versioned, the same record for every task
 * (docs/tasks.md):
 *
 *   {format: 2, task, split: train|dev|id|ood, id, prompt, answer, docs?: [{key, text}], meta: {...}}
 *
 * Format 2 items belong to their split's partition (src/tasks/splits.ts: train, dev, or test for id/ood), so a
 * test item can never be a training item; format 1 (before 2026-12-03) had no partitions and is still read.
 *
 * `prompt` is the text the root sees (the root's prompt ids are its tokens followed by <think>, see
 * rootPromptIds), `answer` the canonical answer text the root should write after <answer>, `docs` the keyed
 * documents a task can hand to clones by reference (multi-hop QA), `meta` the task's own fields (knobs and
 * facts of the item), checked by the task (src/tasks/registry.ts). Every error names `file:LINE: field`.
 * Pure TS: no tfjs.
 */
import { z } from 'zod';
import { SelfcestError } from '../util/errors.ts';
import { readJsonl, writeJsonl } from '../util/jsonl.ts';
import { encodeChecked, type TextTokenizer } from '../tokenizer/index.ts';

export const ITEM_FORMAT = 2;
/** Items of the old format: no partitions (their id/ood items may also be training items); still read. */
export const LEGACY_ITEM_FORMAT = 1;
/** train, dev and id share the ID knobs; ood uses the OOD knobs; id and ood are the test splits */
export const SPLITS = ['train', 'dev', 'id', 'ood'] as const;
export type Split = (typeof SPLITS)[number];

export interface TaskDoc {
  key: string;
  text: string;
}

export interface TaskItem<M extends object = Record<string, unknown>> {
  format: typeof ITEM_FORMAT | typeof LEGACY_ITEM_FORMAT;
  task: string;
  split: Split;
  id: string;
  prompt: string;
  answer: string;
  docs?: TaskDoc[];
  meta: M;
}

export const DocSchema = z.strictObject({ key: z.string().min(1), text: z.string() });

/** The fields every task shares; `meta` is checked by the task itself. */
export const TaskItemSchema = z.strictObject({
  format: z.union([z.literal(ITEM_FORMAT), z.literal(LEGACY_ITEM_FORMAT)]),
  task: z.string().min(1),
  split: z.enum(SPLITS),
  id: z.string().min(1),
  prompt: z.string().min(1),
  answer: z.string().min(1),
  docs: z.array(DocSchema).optional(),
  meta: z.record(z.string(), z.unknown()),
});

/** One problem with a record: the field path (e.g. `meta.value`) and what is wrong. */
export interface Issue {
  path: (string | number)[];
  message: string;
}

/** A task's own check of an item (meta fields, answer = solver(prompt), ...); null when fine. */
export type ItemCheck = (item: TaskItem) => Issue | null;

/** The first zod issue of `value` as an Issue (paths prefixed by `prefix`), or null when it parses. */
export function schemaIssue(schema: z.ZodType, value: unknown, prefix: (string | number)[] = []): Issue | null {
  const r = schema.safeParse(value);
  if (r.success) return null;
  const issue = r.error.issues[0];
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return { path: [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))], message };
}

export function formatIssue(where: string, issue: Issue): string {
  return `${where}: ${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`;
}

/** Base schema, then the task's check; throws `where: field: message`. */
export function checkedItem(obj: unknown, where: string, check?: ItemCheck): TaskItem {
  const base = schemaIssue(TaskItemSchema, obj);
  if (base) throw new SelfcestError(formatIssue(where, base));
  const item = obj as TaskItem;
  const issue = check?.(item);
  if (issue) throw new SelfcestError(formatIssue(where, issue));
  return item;
}

/** The record as plain JSON, keys in the documented order (so files are byte-for-byte reproducible). */
export function itemToJson(item: TaskItem): object {
  return {
    format: item.format,
    task: item.task,
    split: item.split,
    id: item.id,
    prompt: item.prompt,
    answer: item.answer,
    ...(item.docs ? { docs: item.docs.map((d) => ({ key: d.key, text: d.text })) } : {}),
    meta: item.meta,
  };
}

/**
 * Write items as JSONL (one record per line, '\n' after each), validated first (errors name the item
 * index and id); atomically (util/jsonl.ts), so readers never see a half-written file.
 */
export function writeItemsJsonl(file: string, items: readonly TaskItem[], check?: ItemCheck): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const where = `${file}: item ${i}${typeof item?.id === 'string' ? ` (${item.id})` : ''}`;
    checkedItem(item, where, check);
    const prev = seen.get(item.id);
    if (prev !== undefined) throw new SelfcestError(formatIssue(where, { path: ['id'], message: `duplicate of item ${prev}` }));
    seen.set(item.id, i);
  });
  writeJsonl(file, items.map(itemToJson));
}

/**
 * Read every item of a JSONL file (blank lines are skipped; a file without items is an error). Errors are one line, `file:LINE: field: message`
 * (LINE is 1-based); ids must be unique within the file. `check` is the task-level check (registry.checkItem).
 */
export function readItemsJsonl(file: string, check?: ItemCheck): TaskItem[] {
  const seen = new Map<string, string>();
  const items = readJsonl(file, (obj, where) => {
    const item = checkedItem(obj, where, check);
    const prev = seen.get(item.id);
    if (prev !== undefined) throw new SelfcestError(formatIssue(where, { path: ['id'], message: `"${item.id}" duplicates the id on line ${prev}` }));
    seen.set(item.id, where.slice(where.lastIndexOf(':') + 1));
    return item;
  });
  if (items.length === 0) throw new SelfcestError(`${file}: holds no items (the file is empty or blank)`);
  return items;
}

/**
 * The root's prompt ids: the prompt text, then <think> — the same shape as a clone's `<clone> OBJECTIVE
 * <think>`, so a clone's prompt looks like a root's (recursion needs no new skill). Throws on characters
 * outside the vocabulary.
 */
export function rootPromptIds(item: Pick<TaskItem, 'prompt'>, tok: TextTokenizer): number[] {
  return [...encodeChecked(tok, item.prompt), tok.id('<think>')];
}
