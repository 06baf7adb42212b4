/**
 * Arithmetic expressions, as the reference generator makes them (arith_dataset_gen.py): integer operands,
 * operators + − × drawn with weights 4 : 3 : 6, parentheses around `+`/`−` pairs next to a `×` (and now and
 * then one wider span), rejection until the value is short enough. Seeded (every draw takes an Rng), exact
 * (BigInt), with the knobs exposed so that small settings exist for a tiny model. README.md here.
 *
 * Text format (what the model sees): no spaces; `+ - * ( )`; numbers sign first, then the digits, by default
 * least-significant digit first ("reversed"): 1234 → `4321`, −1234 → `-4321`; 120 → `021`.
 *
 *   expression 12*34+5   prompt `21*43+5`   value 413   answer `314`
 *
 * Pure TypeScript: no tfjs.
 */
import { z } from 'zod';
import { Rng } from '../../util/rng.ts';
import { generatePartitioned } from '../splits.ts';
import { SelfcestError } from '../../util/errors.ts';
import { digitCount, INT_PATTERN, readInt, writeInt } from '../numbers.ts';
import { ITEM_FORMAT, schemaIssue, type Issue, type Split, type TaskItem } from '../types.ts';

// ---------------------------------------------------------------------------------------------------- knobs

export const ArithKnobsSchema = z
  .strictObject({
    /** operations (binary + − ×) per expression, uniform in [minOps, maxOps] */
    minOps: z.int().min(1).default(3),
    maxOps: z.int().min(1).max(64).default(10),
    /** digits per operand, uniform in [minDigits, maxDigits]; the leading digit is never 0 */
    minDigits: z.int().min(1).default(3),
    maxDigits: z.int().min(1).max(30).default(7),
    /** reject expressions whose value has more digits */
    maxResultDigits: z.int().min(1).default(16),
    /** reject expressions with an intermediate value (of the step-by-step solution) longer than this; 0 = off */
    maxStepDigits: z.int().min(0).default(0),
    /** parentheses: pairs around `x±y` next to a `*`, each with parenProb; then one wider span of 3–5 operands */
    maxParens: z.int().min(0).default(2),
    parenProb: z.number().min(0).max(1).default(0.55),
    wideParenProb: z.number().min(0).max(1).default(0.22),
    /** operator weights */
    weights: z
      .strictObject({
        add: z.number().min(0).default(4),
        sub: z.number().min(0).default(3),
        mul: z.number().min(0).default(6),
      })
      .prefault({}),
    /** write numbers least-significant digit first */
    reversed: z.boolean().default(true),
    /** draws per item before giving up (rejection on maxResultDigits / maxStepDigits) */
    attempts: z.int().min(1).default(2000),
  })
  .refine((k) => k.minOps <= k.maxOps, { message: 'minOps must be <= maxOps', path: ['minOps'] })
  .refine((k) => k.minDigits <= k.maxDigits, { message: 'minDigits must be <= maxDigits', path: ['minDigits'] })
  .refine((k) => k.weights.add + k.weights.sub + k.weights.mul > 0, { message: 'at least one weight must be > 0', path: ['weights'] });
export type ArithKnobs = z.infer<typeof ArithKnobsSchema>;
export type ArithKnobsInput = z.input<typeof ArithKnobsSchema>;

/**
 * Named knob settings per split (train uses the id knobs), both with the issue's ID/OOD cut: ID ≤ 6
 * operations, OOD 8–10. `tiny`: 1–2-digit operands and values of at most 6 digits (every intermediate too),
 * so that one step is learnable by a from-scratch model of ~1 M parameters; a monolithic solution fits the
 * default 128-token window up to ~7 operations and mostly not at 8–10, where a delegation still fits
 * (README.md here). ID starts at 2 operations and reaches 6 because a 3-clone split needs ≥ 5. `reference`:
 * the reference generator's operands (3–7 digits, values ≤ 16 digits). `sums`: signed sums of 1–2-digit operands
 * (no ×, no parentheses; every value ≤ 3 digits), ID 2–7 operations, OOD 10–14: the calibration run's task
 * (../shared/notes/tiny-scale-calibration.md), whose per-step skill a tiny model learns; a monolithic OOD
 * solution passes the 128-token window while a delegation still fits. `sums-long`: the same sums with ID 2–11
 * operations and OOD 12–14, so that the hardest ID items do not fit one 128-token context (a monolithic trace
 * fits 98 % at 8 operations, 80 % at 9, 38 % at 10, 4 % at 11) while a one-call delegation fits up to 13 (88 % at
 * 14): delegation pays off inside the training distribution, not only out of it.
 */
export const ARITH_PRESETS = {
  tiny: {
    id: { minOps: 2, maxOps: 6, minDigits: 1, maxDigits: 2, maxResultDigits: 6, maxStepDigits: 6 },
    ood: { minOps: 8, maxOps: 10, minDigits: 1, maxDigits: 2, maxResultDigits: 6, maxStepDigits: 6 },
  },
  sums: {
    id: { minOps: 2, maxOps: 7, minDigits: 1, maxDigits: 2, maxResultDigits: 3, maxStepDigits: 3, maxParens: 0, weights: { add: 1, sub: 1, mul: 0 } },
    ood: { minOps: 10, maxOps: 14, minDigits: 1, maxDigits: 2, maxResultDigits: 3, maxStepDigits: 3, maxParens: 0, weights: { add: 1, sub: 1, mul: 0 } },
  },
  'sums-long': {
    id: { minOps: 2, maxOps: 11, minDigits: 1, maxDigits: 2, maxResultDigits: 3, maxStepDigits: 3, maxParens: 0, weights: { add: 1, sub: 1, mul: 0 } },
    ood: { minOps: 12, maxOps: 14, minDigits: 1, maxDigits: 2, maxResultDigits: 3, maxStepDigits: 3, maxParens: 0, weights: { add: 1, sub: 1, mul: 0 } },
  },
  reference: {
    id: { minOps: 3, maxOps: 6 },
    ood: { minOps: 8, maxOps: 10 },
  },
} as const satisfies Record<string, { id: ArithKnobsInput; ood: ArithKnobsInput }>;
export type ArithPreset = keyof typeof ARITH_PRESETS;

export function arithKnobs(preset: ArithPreset, split: Split, overrides: Record<string, unknown> = {}): ArithKnobs {
  const base = ARITH_PRESETS[preset][split === 'ood' ? 'ood' : 'id'];
  return ArithKnobsSchema.parse({ ...base, ...overrides });
}

// ---------------------------------------------------------------------------------------------------- expressions

export type ArithOp = '+' | '-' | '*';
/** A factor: a non-negative integer literal or a parenthesised expression. */
export type Factor = { kind: 'num'; value: bigint } | { kind: 'paren'; expr: Expr };
/** A product of factors with the sign it is added with (the first term's sign is '-' only for a leading minus). */
export interface Term {
  sign: '+' | '-';
  factors: Factor[];
}
/** A sum of signed terms. */
export interface Expr {
  terms: Term[];
}

/** Parse expression text (numbers in the given digit order). A leading '-' negates the first term. */
export function parseExpr(text: string, reversed: boolean): Expr {
  let i = 0;
  const fail = (what: string): never => {
    throw new SelfcestError(`arith: cannot parse ${JSON.stringify(text)}: expected ${what} at index ${i}`);
  };
  const factor = (): Factor => {
    if (text[i] === '(') {
      i++;
      const expr = sum();
      if (text[i] !== ')') fail('")"');
      i++;
      return { kind: 'paren', expr };
    }
    const start = i;
    while (i < text.length && text[i] >= '0' && text[i] <= '9') i++;
    if (i === start) fail('a number or "("');
    return { kind: 'num', value: readInt(text.slice(start, i), reversed)! };
  };
  const term = (sign: '+' | '-'): Term => {
    const factors = [factor()];
    while (text[i] === '*') {
      i++;
      factors.push(factor());
    }
    return { sign, factors };
  };
  const sum = (): Expr => {
    let sign: '+' | '-' = '+';
    if (text[i] === '-') {
      sign = '-';
      i++;
    }
    const terms = [term(sign)];
    while (text[i] === '+' || text[i] === '-') terms.push(term(text[i++] as '+' | '-'));
    return { terms };
  };
  const e = sum();
  if (i !== text.length) fail('an operator or the end');
  return e;
}

export function renderTerms(terms: readonly Term[], reversed: boolean): string {
  return terms
    .map((t, k) => {
      const sign = k === 0 ? (t.sign === '-' ? '-' : '') : t.sign;
      return sign + t.factors.map((f) => (f.kind === 'num' ? writeInt(f.value, reversed) : `(${renderExpr(f.expr, reversed)})`)).join('*');
    })
    .join('');
}

export function renderExpr(e: Expr, reversed: boolean): string {
  return renderTerms(e.terms, reversed);
}

/** One binary operation of a step-by-step solution: `a op b = c`. */
export interface Step {
  a: bigint;
  op: ArithOp;
  b: bigint;
  c: bigint;
}

/** `a op b=c;` with every number in the item's format (e.g. `21*43=804;`). */
export function stepText(s: Step, reversed: boolean): string {
  return `${writeInt(s.a, reversed)}${s.op}${writeInt(s.b, reversed)}=${writeInt(s.c, reversed)};`;
}

export function applyOp(a: bigint, op: ArithOp, b: bigint): bigint {
  return op === '+' ? a + b : op === '-' ? a - b : a * b;
}

/**
 * The canonical step-by-step solution: terms left to right; inside a term, factors left to right (a
 * parenthesised factor is solved where it stands); every binary operation is one step, so there are exactly
 * as many steps as operations. A running sum starts at the first term's value (negated for a leading minus).
 */
export function solve(e: Expr): { value: bigint; steps: Step[] } {
  const steps: Step[] = [];
  const push = (a: bigint, op: ArithOp, b: bigint): bigint => {
    const c = applyOp(a, op, b);
    steps.push({ a, op, b, c });
    return c;
  };
  const factor = (f: Factor): bigint => (f.kind === 'num' ? f.value : sum(f.expr));
  const term = (t: Term, negate: boolean): bigint => {
    let p = factor(t.factors[0]);
    if (negate) p = -p;
    for (const f of t.factors.slice(1)) p = push(p, '*', factor(f));
    return p;
  };
  const sum = (x: Expr): bigint => {
    let acc = term(x.terms[0], x.terms[0].sign === '-');
    for (const t of x.terms.slice(1)) acc = push(acc, t.sign, term(t, false));
    return acc;
  };
  const value = sum(e);
  return { value, steps };
}

export function evaluate(e: Expr): bigint {
  return solve(e).value;
}

/** Facts of an expression: binary operations, parenthesis pairs, the longest operand. */
export function exprStats(e: Expr): { ops: number; digits: number; parens: number } {
  let ops = 0;
  let parens = 0;
  let digits = 0;
  const walk = (x: Expr) => {
    ops += x.terms.length - 1;
    for (const t of x.terms) {
      ops += t.factors.length - 1;
      for (const f of t.factors) {
        if (f.kind === 'num') digits = Math.max(digits, digitCount(f.value));
        else {
          parens++;
          walk(f.expr);
        }
      }
    }
  };
  walk(e);
  return { ops, digits, parens };
}

// ---------------------------------------------------------------------------------------------------- generator

function operand(rng: Rng, digits: number): bigint {
  let s = String(rng.int(1, 9));
  for (let k = 1; k < digits; k++) s += String(rng.int(0, 9));
  return BigInt(s);
}

function pickOp(rng: Rng, w: ArithKnobs['weights']): ArithOp {
  const r = rng.next() * (w.add + w.sub + w.mul);
  return r < w.add ? '+' : r < w.add + w.sub ? '-' : '*';
}

function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/**
 * One draw (no rejection), in normal digit order: operands and operators, then parentheses. Candidates for a
 * pair are the `+`/`-` operators next to a `*`, shuffled; each is wrapped `(x±y)` with parenProb unless it
 * overlaps a pair already placed, up to maxParens pairs. Then, if pairs remain, with wideParenProb one wider
 * span of 3–5 operands holding both a `*` and a `+`/`-` (never the whole expression, never overlapping).
 */
export function drawExprText(rng: Rng, k: ArithKnobs): string {
  const nOps = rng.int(k.minOps, k.maxOps);
  const nums = Array.from({ length: nOps + 1 }, () => operand(rng, rng.int(k.minDigits, k.maxDigits)));
  const ops = Array.from({ length: nOps }, () => pickOp(rng, k.weights));
  const spans: [number, number][] = [];
  const free = (a: number, b: number) => spans.every(([c, d]) => b < c || a > d);
  const cands = shuffle(
    rng,
    ops.flatMap((o, j) => (o !== '*' && (ops[j - 1] === '*' || ops[j + 1] === '*') ? [j] : [])),
  );
  for (const j of cands) {
    if (spans.length >= k.maxParens) break;
    if (rng.next() < k.parenProb && free(j, j + 1)) spans.push([j, j + 1]);
  }
  if (spans.length < k.maxParens && rng.next() < k.wideParenProb) {
    const wide: [number, number][] = [];
    for (let len = 3; len <= 5; len++) {
      for (let a = 0; a + len - 1 <= nOps; a++) {
        const b = a + len - 1;
        if (a === 0 && b === nOps) continue;
        const inner = ops.slice(a, b);
        if (inner.includes('*') && inner.some((o) => o !== '*') && free(a, b)) wide.push([a, b]);
      }
    }
    if (wide.length) spans.push(rng.pick(wide));
  }
  let s = '';
  for (let t = 0; t <= nOps; t++) {
    if (spans.some(([a]) => a === t)) s += '(';
    s += nums[t].toString();
    if (spans.some(([, b]) => b === t)) s += ')';
    if (t < nOps) s += ops[t];
  }
  return s;
}

/** Does the expression pass the knobs' length limits? */
export function withinLimits(e: Expr, k: ArithKnobs): boolean {
  const { value, steps } = solve(e);
  if (digitCount(value) > k.maxResultDigits) return false;
  return k.maxStepDigits === 0 || steps.every((s) => digitCount(s.c) <= k.maxStepDigits);
}

export const ArithMetaSchema = z.strictObject({
  /** the value in plain decimal (normal digit order) */
  value: z.string().regex(INT_PATTERN, 'expected a decimal integer without leading zeros'),
  /** the expression in normal digit order, for people */
  expr: z.string().min(1),
  ops: z.int().min(1),
  /** digits of the longest operand */
  digits: z.int().min(1),
  parens: z.int().min(0),
  knobs: ArithKnobsSchema,
});
export type ArithMeta = z.infer<typeof ArithMetaSchema>;
export type ArithItem = TaskItem<ArithMeta>;

export function arithItemFromExpr(e: Expr, k: ArithKnobs, split: Split, id: string): ArithItem {
  const value = evaluate(e);
  return {
    format: ITEM_FORMAT,
    task: 'arith',
    split,
    id,
    prompt: renderExpr(e, k.reversed),
    answer: writeInt(value, k.reversed),
    meta: { value: value.toString(), expr: renderExpr(e, false), ...exprStats(e), knobs: k },
  };
}

/** One item: draws until the expression passes the limits (at most k.attempts draws). */
export function arithItem(rng: Rng, k: ArithKnobs, split: Split, id: string): ArithItem {
  for (let a = 0; a < k.attempts; a++) {
    const e = parseExpr(drawExprText(rng, k), false);
    if (withinLimits(e, k)) return arithItemFromExpr(e, k, split, id);
  }
  throw new SelfcestError(
    `arith: no expression within maxResultDigits=${k.maxResultDigits}, maxStepDigits=${k.maxStepDigits} in ${k.attempts} draws ` +
      `(ops ${k.minOps}-${k.maxOps}, digits ${k.minDigits}-${k.maxDigits}): raise the limits or lower ops/digits`,
  );
}

/**
 * `n` items of a split. Item i draws from its own generator, seeded `arith:<split>:<seed>:<i>` (redrawn while it
 * falls outside the split's partition or repeats, src/tasks/splits.ts), so the first m items of a longer set are
 * the m items of a shorter one, and train/dev/id/ood never share an item.
 */
export function generateArith(opts: { split: Split; n: number; seed: number | string; knobs: ArithKnobs }): ArithItem[] {
  const { split, n, seed, knobs } = opts;
  return generatePartitioned('arith', { split, n, seed }, (rng, sp, id) => arithItem(rng, knobs, sp, id));
}

// ---------------------------------------------------------------------------------------------------- checks

/** Task-level check of a record: meta fields, canonical prompt, value = evaluation, answer = value's text. */
export function checkArithItem(item: TaskItem): Issue | null {
  const metaIssue = schemaIssue(ArithMetaSchema, item.meta, ['meta']);
  if (metaIssue) return metaIssue;
  if (item.docs !== undefined) return { path: ['docs'], message: 'arith items have no documents' };
  const meta = ArithMetaSchema.parse(item.meta);
  const rev = meta.knobs.reversed;
  let e: Expr;
  try {
    e = parseExpr(item.prompt, rev);
  } catch (err) {
    return { path: ['prompt'], message: (err as Error).message.replace(/^arith: /, '') };
  }
  const canonical = renderExpr(e, rev);
  if (canonical !== item.prompt) return { path: ['prompt'], message: `not in canonical form (expected ${JSON.stringify(canonical)})` };
  const value = evaluate(e);
  if (meta.value !== value.toString()) return { path: ['meta', 'value'], message: `is ${meta.value}, but the prompt evaluates to ${value}` };
  const answer = writeInt(value, rev);
  if (item.answer !== answer) return { path: ['answer'], message: `is ${JSON.stringify(item.answer)}, expected ${JSON.stringify(answer)} (the value ${value} written ${rev ? 'reversed' : 'in normal order'})` };
  const expr = renderExpr(e, false);
  if (meta.expr !== expr) return { path: ['meta', 'expr'], message: `is ${JSON.stringify(meta.expr)}, expected ${JSON.stringify(expr)} (the prompt in normal digit order)` };
  const stats = exprStats(e);
  for (const f of ['ops', 'digits', 'parens'] as const) {
    if (meta[f] !== stats[f]) return { path: ['meta', f], message: `is ${meta[f]}, but the prompt has ${stats[f]}` };
  }
  return null;
}
