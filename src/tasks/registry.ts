/**
 * The tasks by name: how to generate a split from a seed (with named presets and `--set` knob overrides) and
 * how to check a record. Multi-hop QA registers here when it arrives. Pure TS: no tfjs.
 */
import { applyOverrides, validate } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import { ARITH_PRESETS, ArithKnobsSchema, checkArithItem, generateArith } from './arith.ts';
import { COUNTDOWN_PRESETS, CountdownKnobsSchema, checkCountdownItem, generateCountdown } from './countdown.ts';
import type { ItemCheck, Split, TaskItem } from './types.ts';

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

function pickPreset(task: string, presets: readonly string[], preset: string | undefined): string {
  const p = preset ?? presets[0];
  if (!presets.includes(p)) throw new SelfcestError(`--preset ${p}: task ${task} has no such preset (known: ${presets.join(', ')})`);
  return p;
}

const arith: TaskDef = {
  name: 'arith',
  describe: 'arithmetic expressions over + - * with parentheses (src/tasks/arith.ts)',
  presets: Object.keys(ARITH_PRESETS),
  generate(o) {
    const preset = pickPreset('arith', this.presets, o.preset) as keyof typeof ARITH_PRESETS;
    const base = ARITH_PRESETS[preset][o.split === 'ood' ? 'ood' : 'id'];
    const knobs = validate(ArithKnobsSchema, applyOverrides(base, o.set ?? []), `arith knobs (preset ${preset}, split ${o.split})`);
    return generateArith({ split: o.split, n: o.n, seed: o.seed, knobs });
  },
  check: checkArithItem,
};

const countdown: TaskDef = {
  name: 'countdown',
  describe: 'Countdown: reach a target from 4-6 numbers with + - * / (src/tasks/countdown.ts)',
  presets: Object.keys(COUNTDOWN_PRESETS),
  generate(o) {
    const preset = pickPreset('countdown', this.presets, o.preset) as keyof typeof COUNTDOWN_PRESETS;
    const base = COUNTDOWN_PRESETS[preset][o.split === 'ood' ? 'ood' : 'id'];
    const knobs = validate(CountdownKnobsSchema, applyOverrides(base, o.set ?? []), `countdown knobs (preset ${preset}, split ${o.split})`);
    return generateCountdown({ split: o.split, n: o.n, seed: o.seed, knobs });
  },
  check: checkCountdownItem,
};

export const TASKS: Readonly<Record<string, TaskDef>> = { arith, countdown };

export function taskDef(name: string): TaskDef {
  const t = TASKS[name];
  if (!t) throw new SelfcestError(`unknown task "${name}" (known: ${Object.keys(TASKS).join(', ')})`);
  return t;
}

/** The task-level check of any record (dispatch on item.task). */
export const checkItem: ItemCheck = (item) => {
  const t = TASKS[item.task];
  if (!t) return { path: ['task'], message: `unknown task "${item.task}" (known: ${Object.keys(TASKS).join(', ')})` };
  return t.check(item);
};
