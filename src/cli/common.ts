/** Options and helpers shared by the CLI commands (kept thin: the work lives in train/, model/, eval/). */
import type { Argv } from 'yargs';
import { BACKEND_CHOICES, selectBackend, type BackendChoice } from '../backend/select.ts';
import { checkpointTask } from '../eval/items.ts';
import type { AdditionConfig } from '../tasks/addition/addition.ts';
import { preloadTaskModules, taskDef } from '../tasks/registry.ts';
import type { TaskItem } from '../tasks/types.ts';
import { runConfig, type RunConfig } from '../train/config.ts';
import { RlConfigSchema, type RlConfig } from '../train/rl.ts';
import { applyOverrides, readJsonFile, validate } from '../util/config-file.ts';
import { taskItems } from '../train/task-source.ts';

export function withBackend<T>(y: Argv<T>) {
  return y.option('backend', {
    choices: BACKEND_CHOICES,
    default: 'auto' as BackendChoice,
    describe: 'compute backend: auto picks cuda (tfjs-node-gpu with a GPU really in use), else webgpu (a real GPU adapter), else wasm, else cpu',
  });
}

/** Select the backend and print the one line that says which and why (to stderr, so stdout stays data). */
export async function initBackend(choice: BackendChoice): Promise<void> {
  const info = await selectBackend(choice);
  process.stderr.write(info.reason + '\n');
}

/**
 * What a checkpoint's saved config says it was trained on: a task (a GRPO run's `task`, an SFT run's `sft`
 * source) and that task's dev items (held out from training, never the test sets), or the built-in addition task.
 */
export async function checkpointWork(config: unknown, where: string, n: number, seed: number): Promise<{ kind: string; items: TaskItem[] } | { kind: string; addition: AdditionConfig }> {
  await preloadTaskModules(config); // a task of the user's: its module
  const task = checkpointTask(config);
  const kind = runKind(config);
  if (task) return { kind, items: taskItems({ name: task.name, preset: task.preset ?? taskDef(task.name).presets[0] }, 'dev', n, seed) };
  return { kind, addition: runConfig(config, where).addition };
}

/** A saved run config in words: `grpo on arith (sums-long)`, `sft on countdown (search)`, `sft on addition` (a task from a module: load it first, preloadTaskModules). */
export function runKind(config: unknown): string {
  const mode = (config as { mode?: unknown } | null)?.mode === 'grpo' ? 'grpo' : 'sft';
  const task = checkpointTask(config);
  return task ? `${mode} on ${task.name} (${task.preset ?? taskDef(task.name).presets[0]})` : `${mode} on addition`;
}

/**
 * A train config file with --set overrides, validated by its own schema: a GRPO config ("mode": "grpo") or a run
 * config (SFT, the addition warm-up); the defaults when no file is given.
 */
export async function loadTrainConfig(file: string | undefined, set: readonly string[]): Promise<{ rl: RlConfig; run: null } | { rl: null; run: RunConfig }> {
  const raw = file ? readJsonFile(file) : {};
  // a task source may name the module of a task of the user's: it is loaded (and registered) before validation
  const value = applyOverrides(raw, set);
  await preloadTaskModules(value);
  const source = `${file ?? 'defaults'}${set.length ? ' (with --set)' : ''}`;
  if ((raw as { mode?: unknown } | null)?.mode === 'grpo') return { rl: validate(RlConfigSchema, value, source), run: null };
  return { rl: null, run: runConfig(value, source) };
}
