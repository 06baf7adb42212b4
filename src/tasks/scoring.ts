/**
 * Scoring helpers a task's `score` can use: the reference's partial credit for a wrong integer, exact match of
 * normalised text. Pure TS.
 */
import { readInt } from './numbers.ts';
import type { Score } from './task.ts';
import type { TaskItem } from './types.ts';

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
export function intScore(answer: string | null, truth: bigint, reversed: boolean): Score {
  const a = answer === null ? null : readInt(answer.replace(/\s+/g, ''), reversed);
  if (a === null) return { correct: 0, accuracy: 0 };
  return { correct: a === truth ? 1 : 0, accuracy: partialCredit(a, truth) };
}

/** Exact match of the answer text and the item's answer after normalisation (normalizeText); no answer scores 0. */
export function exactScore(item: Pick<TaskItem, 'answer'>, answer: string | null): Score {
  const ok = answer !== null && normalizeText(answer) === normalizeText(item.answer);
  return { correct: ok ? 1 : 0, accuracy: ok ? 1 : 0 };
}
