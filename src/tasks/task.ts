/**
 * The Task interface: the whole contract of a task, as one value (docs/tasks.md "Writing a task"). The trainers
 * (SFT, GRPO), eval and `data gen` know tasks only through it; the registry (src/tasks/registry.ts) holds the
 * built-in ones (a folder each under src/tasks/) and the ones loaded from a user's module (`--task ./my-task.ts`).
 *
 * What a task gives:
 *   generate / check      items of a split from a seed and knobs (presets, `--set`), and its own check of a record
 *   score                 the correctness of a root's answer text (the reward's accuracy term, reward.ts adds
 *                         the cost terms: one reward for SFT's evaluation, GRPO and eval)
 *   cloneScores           optional: clone-local scores, where a clone's answer can be checked on its own
 *   monolithicView        optional, for items with documents: the root's prompt with the documents inlined
 *   splitter              optional: the length-free split call's split of an objective
 *   monolithicTrace, delegationTrace, drillTrace
 *                         optional: the demonstrations of the SFT warm start, built with src/tasks/trace-builder.ts
 *
 * Tasks see a tree as data (src/rollout/tree.ts, src/rollout/protocol.ts), never the engine. Pure TS: no tfjs.
 */
import type { z } from 'zod';
import type { RolloutConfig, Splitter } from '../rollout/protocol.ts';
import type { Tree } from '../rollout/tree.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import { applyOverrides, validate } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';
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

/** Correctness of an answer: `correct` 1 or 0, `accuracy` the reward's term (with the task's partial credit, if any). */
export interface Score {
  correct: number;
  accuracy: number;
}

/** The part of a tree a reward reads. */
export type RewardTree = Pick<Tree, 'contexts'>;

export type TraceKind = 'mono' | 'delegate';

export interface Trace {
  kind: TraceKind;
  itemId: string;
  /** tokens the policy samples, per context, keyed `0:<contextId>` (as ScriptedPolicy expects for tree 0) */
  scripts: Map<string, number[]>;
  /** the tree the engine builds when it replays the scripts (cost.ms = 0) */
  tree: Tree;
}

export type TraceResult = { ok: true; trace: Trace } | { ok: false; reason: string };

/**
 * Options of the demonstration traces; each task reads the keys it knows and ignores the others (the SFT config's
 * `sft.delegationStyle`, `sft.countdownStyle` land here).
 */
export interface TraceOptions {
  /** clones per call, uniform over the feasible counts in [minClones, maxClones] (also ≤ cfg.maxClonesPerCall) */
  minClones?: number;
  maxClones?: number;
  /** budgets a clone spec may name, in tokens (each must be a budget token: 16, 32, 64, 128) */
  budgets?: number[];
  /**
   * multi-hop QA: the plans to draw from (default all): `chain` (one call per hop, one paragraph each), `whole`
   * (one clone gets the question and every paragraph), `chain-rest` (one call per hop for the first hops, then
   * one clone gets the rest of the path and every paragraph)
   */
  multihopPlans?: ('chain' | 'whole' | 'chain-rest')[];
  /**
   * arithmetic: `copy` (default) writes each clone's slice of the prompt as its objective; `split` uses the
   * length-free split call `<spawn> BUDGET </spawn>` (the task halves the caller's question, its splitter),
   * recursively while a context holds more than `leafTerms` terms (default 4) and its depth allows a call
   */
  arithStyle?: 'copy' | 'split';
  leafTerms?: number;
  /**
   * Countdown: `guess` (default) writes the solver's solution path (delegation: one call of 2–3 first moves, at
   * least one of them solving); `search` the exhaustive search in the canonical move order (delegation: every
   * first move, `maxClones` (default cfg.maxClonesPerCall) per call, calls until one solves; ignores minClones
   * and budgets)
   */
  countdownStyle?: 'guess' | 'search';
  /** multi-hop QA's monolithic trace: tokens the monolithic view leaves free for the root to write */
  reserve?: number;
}

/** Tokens a monolithic view leaves free for the root to write by default: a 4-hop tiny chain (4 steps `B.p=K;` of 6 tokens, then `<answer> NAME <eos>`). */
export const MONO_VIEW_RESERVE = 28;

/** The monolithic view's window: the root window it must fit and the tokens it leaves the root to write. */
export interface ViewWindow {
  window: number;
  reserve: number;
}

export interface Task {
  /** the name items carry in their `task` field */
  readonly name: string;
  /** one line for `data gen --help` */
  readonly describe: string;
  /** named knob settings, the first is the default */
  readonly presets: readonly string[];
  generate(opts: GenerateOptions): TaskItem[];
  /** the task's own check of a record (meta fields, answer = solver(prompt), ...); null when fine */
  check: ItemCheck;
  /** the correctness of the root's answer text (null: it never answered) */
  score(item: TaskItem, answer: string | null): Score;
  /** clone-local scores by context id (accuracy, or correctness alone when `partial` is false); none when absent */
  cloneScores?(item: TaskItem, tree: RewardTree, tok: TextTokenizer, partial: boolean): Map<number, number>;
  /** items with documents: the root's prompt ids with documents inlined as far as they fit, and how many did */
  monolithicView?(item: TaskItem, tok: TextTokenizer, w: ViewWindow): { ids: number[]; included: number };
  /** the split call's input for an item: the root's question and the splitter; null when the item has none */
  splitter?(item: TaskItem, tok: TextTokenizer): { question: number[]; split: Splitter } | null;
  monolithicTrace?(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, opts: TraceOptions): TraceResult;
  delegationTrace?(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: TraceOptions): TraceResult;
  /** an extra drill trace for SFT (`sft.drills`): multi-hop's lookup drill */
  drillTrace?(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng): TraceResult;
}

/**
 * `presets` and `generate` of a task whose knobs come from named presets (per split: the id knobs for train, dev
 * and id, the ood knobs for ood) plus `--set` overrides, validated by the task's knob schema.
 */
export function presetGenerator<K>(def: {
  name: string;
  presets: Record<string, { id: unknown; ood: unknown }>;
  schema: z.ZodType<K>;
  generate: (o: { split: Split; n: number; seed: number; knobs: K }) => TaskItem[];
}): Pick<Task, 'presets' | 'generate'> {
  const names = Object.keys(def.presets);
  return {
    presets: names,
    generate(o) {
      const preset = o.preset ?? names[0];
      if (!names.includes(preset)) throw new SelfcestError(`--preset ${preset}: task ${def.name} has no such preset (known: ${names.join(', ')})`);
      const base = def.presets[preset][o.split === 'ood' ? 'ood' : 'id'];
      const knobs = validate(def.schema, applyOverrides(base, o.set ?? []), `${def.name} knobs (preset ${preset}, split ${o.split})`);
      return def.generate({ split: o.split, n: o.n, seed: o.seed, knobs });
    },
  };
}
