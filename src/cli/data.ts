import { commandMeta } from './commands.ts';
import type { CommandModule } from 'yargs';
import { checkItem, isTaskModuleSpec, loadTaskModule, taskDef, TASKS } from '../tasks/registry.ts';
import { readItemsJsonl, SPLITS, writeItemsJsonl, type Split } from '../tasks/types.ts';
import { SelfcestError } from '../util/errors.ts';

interface GenArgs {
  task: string;
  split: Split;
  n: number;
  seed: number;
  out: string;
  preset?: string;
  set: string[];
}

interface ValidateArgs {
  file: string;
  /** modules of tasks of the user's whose items the file holds */
  task?: string[];
}

/** A --task value as a registered task's name: a module path is loaded (and its task registered) first. */
async function taskName(spec: string): Promise<string> {
  return isTaskModuleSpec(spec) ? (await loadTaskModule(spec)).name : spec;
}

/** Generate a split of a task as JSONL; returns the line it prints. */
export function dataGen(a: GenArgs): string {
  for (const k of ['task', 'split', 'n', 'seed', 'out', 'preset'] as const) {
    if (Array.isArray(a[k])) throw new SelfcestError(`--${k} given more than once (${(a[k] as unknown[]).join(', ')})`);
  }
  if (!Number.isInteger(a.n) || a.n < 1) throw new SelfcestError(`--n ${a.n}: expected an integer >= 1`);
  if (!Number.isSafeInteger(a.seed)) throw new SelfcestError(`--seed ${a.seed}: expected an integer`);
  const task = taskDef(a.task);
  const items = task.generate({ split: a.split, n: a.n, seed: a.seed, preset: a.preset, set: a.set });
  writeItemsJsonl(a.out, items, checkItem);
  return `wrote ${items.length} ${task.name} items (split ${a.split}, seed ${a.seed}) to ${a.out}`;
}

/** Validate a JSONL file of task items; returns the OK line (throws a one-line SelfcestError otherwise). */
export function dataValidate(a: ValidateArgs): string {
  const items = readItemsJsonl(a.file, checkItem);
  const byTask = new Map<string, number>();
  for (const it of items) byTask.set(`${it.task}/${it.split}`, (byTask.get(`${it.task}/${it.split}`) ?? 0) + 1);
  const parts = [...byTask].map(([k, n]) => `${k} ${n}`).join(', ');
  return `OK ${a.file}: ${items.length} item${items.length === 1 ? '' : 's'}${parts ? ` (${parts})` : ''}`;
}

const genCommand: CommandModule<object, GenArgs> = {
  command: 'gen',
  describe: 'Generate task items from a seed as JSONL (docs/tasks.md)',
  builder: (y) =>
    y
      .option('task', { type: 'string', demandOption: true, describe: `which task: ${Object.keys(TASKS).join(', ')}, or the path of a module that defines one (./my-task.ts, docs/tasks.md "Writing a task")` })
      .option('split', { type: 'string', demandOption: true, choices: SPLITS, describe: 'train, dev and id share the ID knobs, ood uses the OOD knobs; each draws from its own partition of the items (train; dev; test for id and ood: docs/tasks.md)' })
      .option('n', { type: 'number', demandOption: true, describe: 'how many items' })
      .option('seed', { type: 'number', demandOption: true, describe: 'item i is drawn from the seed "<task>:<split>:<seed>:<i>"' })
      .option('out', { type: 'string', demandOption: true, describe: 'JSONL file to write (replaced)' })
      .option('preset', { type: 'string', describe: "the task's named knob setting (arith: tiny | reference; default: the first)" })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'knob overrides, e.g. --set maxOps=6 --set weights.mul=0' }) as never,
  handler: async (a) => {
    console.log(dataGen({ ...a, task: await taskName(a.task) }));
  },
};

const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <file>',
  describe: 'Check every record of a task JSONL file; one line naming file:line:field on the first problem',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'a JSONL file of task items' })
      .option('task', { type: 'string', array: true, describe: 'the module of a task of your own whose items the file holds (repeatable; built-in tasks need none)' }) as never,
  handler: async (a) => {
    for (const t of a.task ?? []) await taskName(t);
    console.log(dataValidate(a));
  },
};

export const dataCommand: CommandModule = {
  ...commandMeta('data'),
  builder: (y) => y.command(genCommand).command(validateCommand).demandCommand(1, 'name a data command: gen or validate'),
  handler: () => {},
};
