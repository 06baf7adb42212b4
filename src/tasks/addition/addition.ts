/**
 * The built-in warm-up task: addition with digits written least-significant first ("reversed"), which makes
 * the per-digit step learnable for a tiny model (../shared/notes/tiny-scale-calibration.md, variant 2).
 *
 *   prompt "473+910="  (374 + 19, padded to 3 digits)   answer "3930"  (0393 reversed)
 *
 * Pure TypeScript: no tfjs.
 */
import { z } from 'zod';
import type { Rng } from '../../util/rng.ts';

export const AdditionConfigSchema = z
  .object({
    minDigits: z.number().int().min(1).default(1),
    maxDigits: z.number().int().min(1).max(15).default(3),
    /** write every number least-significant digit first */
    reversed: z.boolean().default(true),
    /** zero-pad operands to maxDigits and the sum to maxDigits+1, so digit i sits at a fixed offset */
    pad: z.boolean().default(true),
  })
  .strict()
  .refine((c) => c.minDigits <= c.maxDigits, { message: 'minDigits must be <= maxDigits', path: ['minDigits'] });
export type AdditionConfig = z.infer<typeof AdditionConfigSchema>;

export interface AdditionItem {
  a: number;
  b: number;
  prompt: string;
  answer: string;
}

function randomNumber(rng: Rng, digits: number): number {
  if (digits === 1) return rng.int(0, 9);
  return rng.int(10 ** (digits - 1), 10 ** digits - 1);
}

export function writeNumber(n: number, reversed: boolean, width = 0): string {
  const s = String(n).padStart(width, '0');
  return reversed ? [...s].reverse().join('') : s;
}

export function additionItem(rng: Rng, c: AdditionConfig): AdditionItem {
  const a = randomNumber(rng, rng.int(c.minDigits, c.maxDigits));
  const b = randomNumber(rng, rng.int(c.minDigits, c.maxDigits));
  const w = c.pad ? c.maxDigits : 0;
  return {
    a,
    b,
    prompt: `${writeNumber(a, c.reversed, w)}+${writeNumber(b, c.reversed, w)}=`,
    answer: writeNumber(a + b, c.reversed, c.pad ? c.maxDigits + 1 : 0),
  };
}

/** Exact-match check of a completion (text after the prompt, up to the end token). */
export function additionCorrect(item: AdditionItem, completion: string): boolean {
  return completion.trim() === item.answer;
}
