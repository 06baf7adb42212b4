/**
 * Rewards: plain functions (item, finished tree, tokenizer) → {reward, components}. The root's answer is
 * `tree.contexts[0].answer` (the token ids between its last <answer> and <eos>; null when it never answered).
 *
 *   reward = accuracy − rootLength − clonePath − spawns − malformed        (no floor: it can be negative)
 *
 * accuracy: the item's task scores the answer (Task.score): arithmetic 1 for a correct integer, a wrong one the
 * reference's partial credit (src/tasks/scoring.ts; `partialCredit: false` turns it off), Countdown 1 for a valid
 * expression reaching the target, multi-hop QA and tasks without their own rule exact match after normalisation.
 * Cost terms, each off by default (coef 0), as in the reference reward with its sizes scaled to our windows:
 *   rootLength  pen(root's generated tokens)
 *   clonePath   max over calls of pen(generated tokens of the call's longest clone)   (critical path)
 *   spawns      coef × max(0, calls (or clones) − free)
 *   malformed   coef × malformed calls
 * with the saturating pen(t) = coef × (1 − exp(−(t − free)/scale)) for t > free, else 0 (coef when scale = 0).
 * Clone-local rewards (`clones: "checked"`, the default): where the task can check a clone's answer on its own
 * (Task.cloneScores; arithmetic, whose clone objectives are expressions) each clone gets its score, for the credit assigners that use
 * them (src/train/advantage.ts: selfcest's ratio, loo's sibling baseline); `none` leaves every clone the root's.
 * docs/tasks.md. Pure TS: no tfjs.
 */
import { z } from 'zod';
import type { TextTokenizer } from '../tokenizer/index.ts';
import { findTask } from './registry.ts';
import { exactScore } from './scoring.ts';
import type { RewardTree, Score } from './task.ts';
import type { TaskItem } from './types.ts';

const SaturatingSchema = (free: number, scale: number) =>
  z.strictObject({
    /** the most the term can take off (0 = off) */
    coef: z.number().min(0).default(0),
    /** tokens that cost nothing */
    free: z.int().min(0).default(free),
    /** tokens past `free` at which the penalty reaches 63 % of coef (0: all of coef at once) */
    scale: z.number().min(0).default(scale),
  });

export const RewardConfigSchema = z.strictObject({
  rootLength: SaturatingSchema(64, 32).prefault({}),
  clonePath: SaturatingSchema(32, 32).prefault({}),
  spawns: z
    .strictObject({
      /** penalty per call (or clone) beyond `free` */
      coef: z.number().min(0).default(0),
      free: z.int().min(0).default(2),
      /** what is counted: spawn calls (as the reference counts tool calls) or clone contexts */
      count: z.enum(['calls', 'clones']).default('calls'),
    })
    .prefault({}),
  malformed: z.strictObject({ coef: z.number().min(0).default(0) }).prefault({}),
  clones: z.enum(['checked', 'none']).default('checked'),
  /**
   * the reference's partial credit for a wrong arithmetic integer (root and clone-local rewards); false: a wrong
   * answer earns 0, so the reward's accuracy term is correctness alone
   */
  partialCredit: z.boolean().default(true),
});
export type RewardConfig = z.infer<typeof RewardConfigSchema>;
export type RewardConfigInput = z.input<typeof RewardConfigSchema>;

export interface RewardComponents {
  /** 1 when the answer is right, else 0 */
  correct: number;
  /** correctness with partial credit (what enters the reward) */
  accuracy: number;
  /** the cost terms, as positive numbers that are subtracted */
  rootLength: number;
  clonePath: number;
  spawns: number;
  malformed: number;
}

export interface Reward {
  reward: number;
  components: RewardComponents;
  /** clone-local rewards by context id, where the task can check a clone's answer */
  perContext?: Map<number, number>;
}

export type { RewardTree };
/** The reward of a finished tree: the one reward type SFT's evaluation, GRPO and eval use. */
export type RewardFn = (item: TaskItem, tree: RewardTree, tok: TextTokenizer) => Reward;

/** Saturating length penalty: 0 up to `free` tokens, then coef × (1 − exp(−(t − free)/scale)). */
export function saturating(t: number, p: { coef: number; free: number; scale: number }): number {
  if (p.coef === 0 || t <= p.free) return 0;
  if (p.scale <= 0) return p.coef;
  return p.coef * (1 - Math.exp(-(t - p.free) / p.scale));
}

/** Correctness of an answer text (null: no answer) for an item: its task's score (exact match for a task the registry does not hold). */
export function accuracyOf(item: TaskItem, answer: string | null): Score {
  const task = findTask(item.task);
  return task ? task.score(item, answer) : exactScore(item, answer);
}

const generated = (c: { lossMask: number[] }) => c.lossMask.reduce((a, b) => a + b, 0);

/** The cost terms of a tree (all 0 with the default config). */
export function costTerms(tree: RewardTree, cfg: RewardConfig): Omit<RewardComponents, 'correct' | 'accuracy'> {
  const root = tree.contexts[0];
  const calls = tree.contexts.flatMap((c) => c.calls);
  let clonePath = 0;
  for (const call of calls) {
    if (!call.clones.length) continue;
    const longest = Math.max(...call.clones.map((id) => generated(tree.contexts[id])));
    clonePath = Math.max(clonePath, saturating(longest, cfg.clonePath));
  }
  const counted = cfg.spawns.count === 'calls' ? calls.length : tree.contexts.length - 1;
  return {
    rootLength: saturating(generated(root), cfg.rootLength),
    clonePath,
    spawns: cfg.spawns.coef * Math.max(0, counted - cfg.spawns.free),
    malformed: cfg.malformed.coef * calls.filter((c) => c.malformed !== null).length,
  };
}

/** A reward function for any task (correctness by item.task) with the given cost terms. */
export function makeReward(config: RewardConfigInput = {}): RewardFn {
  const cfg = RewardConfigSchema.parse(config);
  return (item, tree, tok) => {
    const ids = tree.contexts[0].answer;
    const answer = ids === null ? null : tok.decode(ids);
    const found = accuracyOf(item, answer);
    const acc = cfg.partialCredit ? found : { ...found, accuracy: found.correct };
    const costs = costTerms(tree, cfg);
    const reward = acc.accuracy - costs.rootLength - costs.clonePath - costs.spawns - costs.malformed;
    const perContext = cfg.clones === 'checked' ? cloneRewards(item, tree, tok, cfg.partialCredit) : undefined;
    return { reward, components: { ...acc, ...costs }, ...(perContext?.size ? { perContext } : {}) };
  };
}

/**
 * Clone-local rewards of a tree, by context id, where the item's task can check a clone's answer on its own
 * (its cloneScores; arithmetic: clones whose objective is an expression), with partial credit unless `partial` is
 * false. Other tasks: none (empty map).
 */
export function cloneRewards(item: TaskItem, tree: RewardTree, tok: TextTokenizer, partial = true): Map<number, number> {
  return findTask(item.task)?.cloneScores?.(item, tree, tok, partial) ?? new Map();
}

/** Correctness only (every cost term off): the default reward. */
export const taskReward: RewardFn = makeReward();

/**
 * The reward as the tree-GRPO step calls it (src/train/grpo.ts RewardFn: rollout item → {root}): looks the
 * task item up by the rollout item's id. Structural, so tasks do not import the trainer.
 */
export function rolloutReward(items: readonly TaskItem[], tok: TextTokenizer, fn: RewardFn = taskReward): (rollout: { itemId: string }, tree: RewardTree) => { root: number; components: RewardComponents; perContext?: Map<number, number> } {
  const byId = new Map(items.map((it) => [it.id, it]));
  return (rollout, tree) => {
    const item = byId.get(rollout.itemId);
    if (!item) throw new Error(`rolloutReward: no task item with id ${JSON.stringify(rollout.itemId)}`);
    const r = fn(item, tree, tok);
    return { root: r.reward, components: r.components, ...(r.perContext ? { perContext: r.perContext } : {}) };
  };
}
