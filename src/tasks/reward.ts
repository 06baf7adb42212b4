/**
 * Rewards: plain functions (item, finished tree, tokenizer) → {reward, components}. The root's answer is
 * `tree.contexts[0].answer` (the token ids between its last <answer> and <eos>; null when it never answered).
 *
 *   reward = accuracy − rootLength − clonePath − spawns − malformed        (no floor: it can be negative)
 *
 * accuracy: 1 for a correct answer; for arithmetic a wrong integer earns the reference's partial credit
 * 0.2 / log2(2 + |A−B| / sqrt(|2 + max(|A|,|B|)|)) (< 0.2; `partialCredit: false` turns it off), an unparsable
 * answer 0. Countdown: 1 when the
 * answer (white space removed) is a valid expression over the item's numbers that reaches the target
 * (countdown.ts checkCdAnswer), else 0 — no partial credit. Other tasks: exact
 * match after normalisation (trim, lower case, runs of white space → one space).
 * Cost terms, each off by default (coef 0), as in the reference reward with its sizes scaled to our windows:
 *   rootLength  pen(root's generated tokens)
 *   clonePath   max over calls of pen(generated tokens of the call's longest clone)   (critical path)
 *   spawns      coef × max(0, calls (or clones) − free)
 *   malformed   coef × malformed calls
 * with the saturating pen(t) = coef × (1 − exp(−(t − free)/scale)) for t > free, else 0 (coef when scale = 0).
 * Clone-local rewards (`clones: "checked"`, the default): where the task can check a clone's answer on its own —
 * arithmetic, whose clone objectives are expressions (copied slices or split halves) — each clone gets the
 * accuracy (with partial credit) of its answer against its objective's value, for the credit assigners that use
 * them (src/train/advantage.ts: selfcest's ratio, loo's sibling baseline); `none` leaves every clone the root's.
 * docs/tasks.md. Pure TS: no tfjs.
 */
import { z } from 'zod';
import type { TextTokenizer } from '../tokenizer/index.ts';
import type { Tree } from '../rollout/tree.ts';
import { evaluate, parseExpr, readInt, ArithMetaSchema } from './arith.ts';
import { checkCdAnswer, CountdownMetaSchema } from './countdown.ts';
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

/** The part of a tree a reward reads. */
export type RewardTree = Pick<Tree, 'contexts'>;
export type RewardFn = (item: TaskItem, tree: RewardTree, tok: TextTokenizer) => Reward;

/** Saturating length penalty: 0 up to `free` tokens, then coef × (1 − exp(−(t − free)/scale)). */
export function saturating(t: number, p: { coef: number; free: number; scale: number }): number {
  if (p.coef === 0 || t <= p.free) return 0;
  if (p.scale <= 0) return p.coef;
  return p.coef * (1 - Math.exp(-(t - p.free) / p.scale));
}

const abs = (v: bigint) => (v < 0n ? -v : v);

/** log2 of a positive integer of any size (to double precision: its top 64 bits, shifted back). */
function log2Big(n: bigint): number {
  const shift = n.toString(2).length - 64;
  if (shift <= 0) return Math.log2(Number(n));
  return Math.log2(Number(n >> BigInt(shift))) + shift;
}

/**
 * The reference's partial credit for a wrong integer A against the truth B (1 when equal). In doubles while the
 * integers fit (below 2^1000); beyond, in log space so answers of any length stay finite (a double overflows at
 * 309 digits): log2(2 + r) with log2 r = log2|A−B| − log2(2 + max(|A|,|B|)) / 2.
 */
export function partialCredit(a: bigint, b: bigint): number {
  if (a === b) return 1;
  const big = abs(a) > abs(b) ? abs(a) : abs(b);
  const diff = abs(a - b);
  if (big < 2n ** 1000n && diff < 2n ** 1000n) return 0.2 / Math.log2(2 + Number(diff) / Math.sqrt(Math.abs(2 + Number(big)))); // doubles suffice
  const log2r = log2Big(diff) - log2Big(2n + big) / 2;
  const denom = log2r > 60 ? log2r + Math.log2(1 + 2 ** (1 - log2r)) : Math.log2(2 + 2 ** log2r);
  return 0.2 / denom;
}

/** Exact-match normalisation for text answers. */
export function normalizeText(s: string): string {
  return s.trim().toLowerCase().replace(/\s+/g, ' ');
}

/** An integer answer (white space removed, in the given digit order) against the truth, with partial credit. */
function intAccuracy(answer: string | null, truth: bigint, reversed: boolean): { correct: number; accuracy: number } {
  const a = answer === null ? null : readInt(answer.replace(/\s+/g, ''), reversed);
  if (a === null) return { correct: 0, accuracy: 0 };
  return { correct: a === truth ? 1 : 0, accuracy: partialCredit(a, truth) };
}

/** Correctness of an answer text (null: no answer) for an item. */
export function accuracyOf(item: TaskItem, answer: string | null): { correct: number; accuracy: number } {
  if (item.task === 'arith') {
    const meta = ArithMetaSchema.parse(item.meta);
    return intAccuracy(answer, BigInt(meta.value), meta.knobs.reversed);
  }
  if (answer === null) return { correct: 0, accuracy: 0 };
  if (item.task === 'countdown') {
    const meta = CountdownMetaSchema.parse(item.meta);
    const ok = checkCdAnswer(answer.replace(/\s+/g, ''), meta.numbers, meta.target, meta.knobs.reversed).ok;
    return { correct: ok ? 1 : 0, accuracy: ok ? 1 : 0 };
  }
  const ok = normalizeText(answer) === normalizeText(item.answer);
  return { correct: ok ? 1 : 0, accuracy: ok ? 1 : 0 };
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
 * Clone-local rewards of a tree: for arithmetic, every clone whose objective (its prompt between <clone> and
 * <think>) is an expression gets the accuracy of its answer against that expression's value, with partial
 * credit unless `partial` is false (0 without an answer). Other tasks: none (empty map).
 */
export function cloneRewards(item: TaskItem, tree: RewardTree, tok: TextTokenizer, partial = true): Map<number, number> {
  const out = new Map<number, number>();
  if (item.task !== 'arith') return out;
  const reversed = ArithMetaSchema.parse(item.meta).knobs.reversed;
  const think = tok.id('<think>');
  for (const c of tree.contexts) {
    if (c.parent === null) continue;
    const end = c.ids.indexOf(think);
    if (end < 1 || end > c.promptLength) continue;
    let value: bigint;
    try {
      value = evaluate(parseExpr(tok.decode(c.ids.slice(1, end)), reversed));
    } catch {
      continue; // not an expression (e.g. documents): no clone-local reward
    }
    const a = intAccuracy(c.answer === null ? null : tok.decode(c.answer), value, reversed);
    out.set(c.id, partial ? a.accuracy : a.correct);
  }
  return out;
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
