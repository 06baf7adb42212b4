/**
 * The tasks by name: how to generate a split from a seed (with named presets and `--set` knob overrides) and
 * how to check a record. Pure TS: no tfjs.
 */
import type { z } from 'zod';
import { applyOverrides, validate } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import { ARITH_PRESETS, ArithKnobsSchema, checkArithItem, generateArith } from './arith.ts';
import { COUNTDOWN_PRESETS, CountdownKnobsSchema, checkCountdownItem, generateCountdown } from './countdown.ts';
import { MULTIHOP_PRESETS, MultihopKnobsSchema, checkMultihopItem, generateMultihop } from './multihop.ts';
import { itemKey, partitionOf, splitPartition } from './splits.ts';
import { ITEM_FORMAT, type ItemCheck, type Split, type TaskItem } from './types.ts';

export interface GenerateOptions {
  split: Split;
  n: number;
  seed: number;
  /** a named knob setting of the task (its first preset when omitted) */
  preset?: string;
  /** knob overrides `key.path=value`, applied to the preset's knobs for the split */
  set?: readonly string[];
}

export interface TaskDef {
  name: string;
  describe: string;
  presets: readonly string[];
  generate(opts: GenerateOptions): TaskItem[];
  check: ItemCheck;
}

/** A task whose knobs come from named presets (per split: id settings for train/id, ood for ood) plus `--set`. */
function presetTask<K>(def: {
  name: string;
  describe: string;
  presets: Record<string, { id: unknown; ood: unknown }>;
  schema: z.ZodType<K>;
  generate: (o: { split: Split; n: number; seed: number; knobs: K }) => TaskItem[];
  check: ItemCheck;
}): TaskDef {
  const names = Object.keys(def.presets);
  return {
    name: def.name,
    describe: def.describe,
    presets: names,
    generate(o) {
      const preset = o.preset ?? names[0];
      if (!names.includes(preset)) throw new SelfcestError(`--preset ${preset}: task ${def.name} has no such preset (known: ${names.join(', ')})`);
      const base = def.presets[preset][o.split === 'ood' ? 'ood' : 'id'];
      const knobs = validate(def.schema, applyOverrides(base, o.set ?? []), `${def.name} knobs (preset ${preset}, split ${o.split})`);
      return def.generate({ split: o.split, n: o.n, seed: o.seed, knobs });
    },
    check: def.check,
  };
}

const arith = presetTask({
  name: 'arith',
  describe: 'arithmetic expressions over + - * with parentheses (src/tasks/arith.ts)',
  presets: ARITH_PRESETS,
  schema: ArithKnobsSchema,
  generate: generateArith,
  check: checkArithItem,
});

const countdown = presetTask({
  name: 'countdown',
  describe: 'Countdown: reach a target from 4-6 numbers with + - * / (src/tasks/countdown.ts)',
  presets: COUNTDOWN_PRESETS,
  schema: CountdownKnobsSchema,
  generate: generateCountdown,
  check: checkCountdownItem,
});

const multihop = presetTask({
  name: 'multihop',
  describe: 'multi-hop QA over keyed paragraphs of a generated world: 2-4 hops, distractors (src/tasks/multihop.ts)',
  presets: MULTIHOP_PRESETS,
  schema: MultihopKnobsSchema,
  generate: generateMultihop,
  check: checkMultihopItem,
});

export const TASKS: Readonly<Record<string, TaskDef>> = { arith, countdown, multihop };

export function taskDef(name: string): TaskDef {
  const t = TASKS[name];
  if (!t) throw new SelfcestError(`unknown task "${name}" (known: ${Object.keys(TASKS).join(', ')})`);
  return t;
}

/**
 * The task-level check of any record (dispatch on item.task); a format-2 item must also belong to its split's
 * partition (src/tasks/splits.ts), else it could be a training item.
 */
export const checkItem: ItemCheck = (item) => {
  const t = TASKS[item.task];
  if (!t) return { path: ['task'], message: `unknown task "${item.task}" (known: ${Object.keys(TASKS).join(', ')})` };
  const issue = t.check(item);
  if (issue || item.format !== ITEM_FORMAT) return issue;
  const has = partitionOf(item.task, itemKey(item));
  const want = splitPartition(item.split);
  if (has !== want) return { path: ['split'], message: `is ${item.split}, but the item belongs to the ${has} partition of ${item.task}, not to the ${want} partition split ${item.split} draws from (docs/tasks.md, disjoint splits)` };
  return null;
};
