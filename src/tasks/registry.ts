/**
 * The tasks by name: the built-in ones (a folder each: src/tasks/arith/, countdown/, multihop/) and the ones
 * loaded from a user's module (`--task ./my-task.ts`, `"module"` in a config's task source), each a Task
 * (src/tasks/task.ts). Nothing outside this file switches on task names. Pure TS: no tfjs.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SelfcestError } from '../util/errors.ts';
import { arithTask } from './arith/index.ts';
import { countdownTask } from './countdown/index.ts';
import { multihopTask } from './multihop/index.ts';
import { itemKey, partitionOf, splitPartition } from './splits.ts';
import type { Task } from './task.ts';
import { ITEM_FORMAT, type ItemCheck } from './types.ts';

export type { GenerateOptions, Task } from './task.ts';

const tasks: Record<string, Task> = { arith: arithTask, countdown: countdownTask, multihop: multihopTask };
const BUILT_IN = new Set(Object.keys(tasks));
/** the task each loaded module defines, by the module's absolute path */
const modules = new Map<string, Task>();

/** Every registered task by name (the built-in ones, then those loaded from modules). */
export const TASKS: Readonly<Record<string, Task>> = tasks;

/** The registered task of that name, or undefined. */
export function findTask(name: string): Task | undefined {
  return Object.hasOwn(tasks, name) ? tasks[name] : undefined;
}

export function taskDef(name: string): Task {
  const t = findTask(name);
  if (!t) throw new SelfcestError(`unknown task "${name}" (known: ${Object.keys(tasks).join(', ')}; a task of your own: --task ./my-task.ts, docs/tasks.md)`);
  return t;
}

/** Whether a --task value names a module file rather than a registered task: a path (./, ../, /) or a .ts/.mts/.js/.mjs file. */
export function isTaskModuleSpec(spec: string): boolean {
  return /^\.{0,2}\//.test(spec) || /\.(m?ts|m?js)$/.test(spec);
}

const FUNCTIONS = ['generate', 'check', 'score'] as const;
const OPTIONAL = ['cloneScores', 'monolithicView', 'splitter', 'monolithicTrace', 'delegationTrace', 'drillTrace'] as const;

/** What is wrong with a module's task value (the Task contract, src/tasks/task.ts); null when it is one. */
function taskShapeIssue(t: unknown): string | null {
  if (typeof t !== 'object' || t === null) return 'exports no task (expected `export default` or `export const task` of a Task, src/tasks/task.ts)';
  const o = t as Record<string, unknown>;
  if (typeof o.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(o.name)) return `its task's name must be lower-case letters, digits and dashes (got ${JSON.stringify(o.name)})`;
  if (typeof o.describe !== 'string') return `task ${o.name}: describe must be a string`;
  if (!Array.isArray(o.presets) || o.presets.length === 0 || !o.presets.every((p) => typeof p === 'string')) return `task ${o.name}: presets must be a non-empty list of names`;
  for (const f of FUNCTIONS) if (typeof o[f] !== 'function') return `task ${o.name}: ${f} must be a function`;
  for (const f of OPTIONAL) if (o[f] !== undefined && typeof o[f] !== 'function') return `task ${o.name}: ${f} must be a function when given`;
  return null;
}

/**
 * Load the task a module defines (its default export, or its export `task`) and register it under its name; a
 * relative path is taken from the working directory. Loading the same file again returns the same task; a task
 * whose name is already taken by another is refused.
 */
export async function loadTaskModule(spec: string): Promise<Task> {
  const file = path.resolve(spec);
  const known = modules.get(file);
  if (known) return known;
  let mod: Record<string, unknown>;
  if (/\.m?ts$/.test(file)) await typeScriptLoader();
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(file)) throw new SelfcestError(`task module ${spec}: no such file (${file})`);
    throw new SelfcestError(`task module ${spec}: it failed to load: ${err.message.split('\n')[0]}`);
  }
  const t = mod.default ?? mod.task;
  const issue = taskShapeIssue(t);
  if (issue) throw new SelfcestError(`task module ${spec}: ${issue}`);
  const task = t as Task;
  if (findTask(task.name)) {
    throw new SelfcestError(`task module ${spec}: its task's name "${task.name}" is already taken by ${BUILT_IN.has(task.name) ? 'a built-in task' : 'another module'}: rename it`);
  }
  tasks[task.name] = task;
  modules.set(file, task);
  return task;
}

let tsLoader: Promise<void> | null = null;
/** The compiled package (dist/) has no TypeScript loader of its own: a task module written in TypeScript gets tsx's. */
function typeScriptLoader(): Promise<void> {
  if (!import.meta.url.endsWith('.js')) return Promise.resolve(); // running from the sources: tsx is already there
  tsLoader ??= import('tsx/esm/api').then(({ register }) => void register());
  return tsLoader;
}

/** The task a --task value names: a registered task, or the one a module file defines (loaded and registered). */
export async function resolveTask(spec: string): Promise<Task> {
  return isTaskModuleSpec(spec) ? loadTaskModule(spec) : taskDef(spec);
}

/** The module a task was loaded from (as given to loadTaskModule, made absolute), or undefined for a built-in task. */
export function taskModuleOf(name: string): string | undefined {
  for (const [file, t] of modules) if (t.name === name) return file;
  return undefined;
}

/**
 * Load the task modules a raw config names before it is validated: a task source (`sft`, `task`) with a `module`
 * key, looked for in run configs, GRPO configs and an experiment's `sft`/`grpo` sections. The source's `name` must
 * be the module's task's name (the config check says so otherwise).
 */
export async function preloadTaskModules(raw: unknown, depth = 0): Promise<void> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || depth > 2) return;
  for (const key of ['sft', 'task', 'grpo']) {
    const src = (raw as Record<string, unknown>)[key] as { module?: unknown } | undefined;
    if (typeof src !== 'object' || src === null || Array.isArray(src)) continue;
    if (typeof src.module === 'string') await loadTaskModule(src.module);
    else await preloadTaskModules(src, depth + 1);
  }
}

/**
 * The task-level check of any record (dispatch on item.task); a format-2 item must also belong to its split's
 * partition (src/tasks/splits.ts), else it could be a training item.
 */
export const checkItem: ItemCheck = (item) => {
  const t = findTask(item.task);
  if (!t) return { path: ['task'], message: `unknown task "${item.task}" (known: ${Object.keys(tasks).join(', ')})` };
  const issue = t.check(item);
  if (issue || item.format !== ITEM_FORMAT) return issue;
  const has = partitionOf(item.task, itemKey(item));
  const want = splitPartition(item.split);
  if (has !== want) return { path: ['split'], message: `is ${item.split}, but the item belongs to the ${has} partition of ${item.task}, not to the ${want} partition split ${item.split} draws from (docs/tasks.md, disjoint splits)` };
  return null;
};
