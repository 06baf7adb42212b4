/**
 * Where a training run draws its task items from: a registered task (src/tasks/registry.ts) and one of its
 * knob presets. Validated against the registry when a config is loaded, so a typo is a one-line error that
 * names the field and lists what exists.
 */
import { z } from 'zod';
import * as path from 'node:path';
import { taskDef, TASKS, taskModuleOf } from '../tasks/registry.ts';
import type { Split, TaskItem } from '../tasks/types.ts';
import { Rng } from '../util/rng.ts';

const fields = {
  /** registered task name (`selfcest data gen --help` lists them) */
  name: z.string().default('arith'),
  /** the task's knob preset (ID knobs for train and id items, OOD knobs for ood items) */
  preset: z.string().default('tiny'),
  /**
   * a task of your own: the module that defines it (a path from the working directory; docs/tasks.md "Writing a
   * task"), loaded before the config is validated; `name` must be its task's name
   */
  module: z.string().min(1).optional(),
};

function checkTask(t: { name: string; preset: string; module?: string }, ctx: z.RefinementCtx): void {
  const def = TASKS[t.name];
  if (t.module !== undefined) {
    const from = taskModuleOf(t.name);
    if (from === path.resolve(t.module)) {
      if (!def.presets.includes(t.preset)) ctx.addIssue({ code: 'custom', path: ['preset'], message: `task ${t.name} has no preset "${t.preset}" (known: ${def.presets.join(', ')})` });
    } else {
      const defined = [...Object.values(TASKS)].find((d) => taskModuleOf(d.name) === path.resolve(t.module!));
      ctx.addIssue({ code: 'custom', path: ['name'], message: defined ? `the task module ${t.module} defines task "${defined.name}", not "${t.name}": set name to "${defined.name}"` : `task module ${t.module} is not loaded (a config that names one is read through preloadTaskModules)` });
    }
    return;
  }
  if (!def) ctx.addIssue({ code: 'custom', path: ['name'], message: `unknown task "${t.name}" (known: ${Object.keys(TASKS).join(', ')})` });
  else if (!def.presets.includes(t.preset)) ctx.addIssue({ code: 'custom', path: ['preset'], message: `task ${t.name} has no preset "${t.preset}" (known: ${def.presets.join(', ')})` });
}

export const TaskSourceSchema = z.strictObject(fields).superRefine(checkTask);
export type TaskSource = z.infer<typeof TaskSourceSchema>;

/**
 * The SFT data source: a task plus the share of delegation traces (the rest are monolithic traces), the form of
 * arithmetic delegations (`copy`: objectives copy slices of the prompt; `split`: the length-free split call,
 * recursing while the depth allows), the style of Countdown traces, monolithic and delegation (`guess`: the
 * solver's solution path; `search`: the exhaustive search in the canonical move order, src/tasks/countdown/README.md) and the
 * deepest clone a demonstration may have (`maxDepth`, also the rollout depth of the held-out tree evaluation),
 * and for multi-hop QA the share of lookup drills (`drills`: the one-hop skill, densely; src/tasks/multihop/README.md).
 */
export const SftSourceSchema = z
  .strictObject({
    ...fields,
    delegation: z.number().min(0).max(1).default(0.5),
    delegationStyle: z.enum(['copy', 'split']).default('copy'),
    /** absent means `guess`: no default, so configs resolved before this key existed stay byte-identical (sftFrom compares them) */
    countdownStyle: z.enum(['guess', 'search']).optional(),
    /** tasks with drill traces (multihop's lookup drills): the share of items shown as a drill instead; absent means none */
    drills: z.number().min(0).max(1).optional(),
    maxDepth: z.int().min(1).max(8).default(1),
    /**
     * the monolithic-only warm start (the second monolithic baseline): no delegation trace at all, not even for items
     * whose monolithic trace does not fit (they are left out); needs delegation 0. Absent means false.
     */
    monolithicOnly: z.boolean().optional(),
  })
  .superRefine((s, ctx) => {
    checkTask(s, ctx);
    if (s.monolithicOnly && s.delegation !== 0) ctx.addIssue({ code: 'custom', path: ['monolithicOnly'], message: `needs sft.delegation 0 (it is ${s.delegation})` });
    if (s.drills && !TASKS[s.name]?.drillTrace) ctx.addIssue({ code: 'custom', path: ['drills'], message: `task ${s.name} has no drill traces (multihop has lookup drills)` });
  });
export type SftSource = z.infer<typeof SftSourceSchema>;

/** n items of a split, seeded by a number or a string (strings are hashed through the project Rng). */
export function taskItems(src: TaskSource, split: Split, n: number, seed: number | string): TaskItem[] {
  const s = typeof seed === 'number' ? seed : Rng.fromSeed(seed).int(0, 2 ** 31 - 1);
  return taskDef(src.name).generate({ split, n, seed: s, preset: src.preset });
}
