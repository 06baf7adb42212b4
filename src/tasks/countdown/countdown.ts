/**
 * Countdown (the APR benchmark): reach a target from 4–6 numbers with + − × ÷, each number used at most once,
 * every intermediate result a non-negative integer, division only when exact. Seeded generator with knobs and
 * presets (ID: 4 numbers; OOD: 5–6; `search`: 3 and 4), an exact solver (depth-first search over pairs, failures
 * memoised) that verifies solvability and gives one canonical solution, the canonical move order of written-out
 * searches (cdSearchMoves), and an exact checker of answer expressions. README.md here.
 *
 * Text format (what the model sees): numbers written as the arithmetic task writes them (least-significant
 * digit first by default, writeInt/readInt), no spaces.
 *
 *   target 42, numbers 3 5 7 12   prompt `24:3,5,7,21`   answer e.g. `(3+21)*7/4`... any valid expression
 *
 * Pure TypeScript: no tfjs.
 */
import { z } from 'zod';
import { Rng } from '../../util/rng.ts';
import { generatePartitioned } from '../splits.ts';
import { SelfcestError } from '../../util/errors.ts';
import { readInt, writeInt } from '../numbers.ts';
import { ITEM_FORMAT, schemaIssue, type Issue, type Split, type TaskItem } from '../types.ts';

// ---------------------------------------------------------------------------------------------------- knobs

export const CountdownKnobsSchema = z
  .strictObject({
    /** how many numbers an item gives, uniform in [minNumbers, maxNumbers] */
    minNumbers: z.int().min(2).default(4),
    maxNumbers: z.int().min(2).max(7).default(6),
    /** each number uniform in [minValue, maxValue] (repeats allowed) */
    minValue: z.int().min(1).default(1),
    maxValue: z.int().min(1).max(100).default(100),
    /** the target, in [minTarget, maxTarget]; never one of the numbers */
    minTarget: z.int().min(1).default(1),
    maxTarget: z.int().min(1).max(100_000).default(999),
    /** the generating expression combines at least this many of the numbers (a random subset) */
    minUsed: z.int().min(2).default(2),
    /** reject items whose shortest solution has fewer operations (the solver finds the shortest) */
    minSteps: z.int().min(1).default(1),
    /** write numbers least-significant digit first */
    reversed: z.boolean().default(true),
    /** draws per item before a clear error */
    attempts: z.int().min(1).default(2000),
  })
  .refine((k) => k.minNumbers <= k.maxNumbers, { message: 'minNumbers must be <= maxNumbers', path: ['minNumbers'] })
  .refine((k) => k.minValue <= k.maxValue, { message: 'minValue must be <= maxValue', path: ['minValue'] })
  .refine((k) => k.minTarget <= k.maxTarget, { message: 'minTarget must be <= maxTarget', path: ['minTarget'] })
  .refine((k) => k.minUsed <= k.minNumbers, { message: 'minUsed must be <= minNumbers', path: ['minUsed'] })
  .refine((k) => k.minSteps < k.maxNumbers, { message: 'minSteps must be < maxNumbers', path: ['minSteps'] });
export type CountdownKnobs = z.infer<typeof CountdownKnobsSchema>;
export type CountdownKnobsInput = z.input<typeof CountdownKnobsSchema>;

/**
 * Named knob settings per split (train uses the id knobs). ID: 4 numbers, OOD: 5–6 (the issue's cut), except `search`.
 * `tiny`: numbers 1–20, targets 1–100, built from at least 3 numbers, so one step is a small sum or product;
 * the shortest solution takes ≥ 2 operations in ID and ≥ 3 in OOD (more numbers, a longer search).
 * `reference`: Countdown-sized numbers 1–100 and targets up to 999.
 * `search`: sized for written-out exhaustive searches (the search-style traces, src/tasks/countdown/README.md "Countdown search
 * traces"): ID exactly 3 numbers, OOD exactly 4, all 1–10 (so results stay at most 4 digits), targets 1–100,
 * and every number needed: the shortest solution takes 2 operations in ID and 3 in OOD (minUsed = count,
 * minSteps = count − 1), so a search that stops at the first hit always goes to the full depth.
 */
export const COUNTDOWN_PRESETS = {
  tiny: {
    id: { minNumbers: 4, maxNumbers: 4, minValue: 1, maxValue: 20, minTarget: 1, maxTarget: 100, minUsed: 3, minSteps: 2 },
    ood: { minNumbers: 5, maxNumbers: 6, minValue: 1, maxValue: 20, minTarget: 1, maxTarget: 100, minUsed: 3, minSteps: 3 },
  },
  reference: {
    id: { minNumbers: 4, maxNumbers: 4, minUsed: 3, minSteps: 2 },
    ood: { minNumbers: 5, maxNumbers: 6, minUsed: 3, minSteps: 3 },
  },
  search: {
    id: { minNumbers: 3, maxNumbers: 3, minValue: 1, maxValue: 10, minTarget: 1, maxTarget: 100, minUsed: 3, minSteps: 2 },
    ood: { minNumbers: 4, maxNumbers: 4, minValue: 1, maxValue: 10, minTarget: 1, maxTarget: 100, minUsed: 4, minSteps: 3 },
  },
} as const satisfies Record<string, { id: CountdownKnobsInput; ood: CountdownKnobsInput }>;
export type CountdownPreset = keyof typeof COUNTDOWN_PRESETS;

export function countdownKnobs(preset: CountdownPreset, split: Split, overrides: Record<string, unknown> = {}): CountdownKnobs {
  return CountdownKnobsSchema.parse({ ...COUNTDOWN_PRESETS[preset][split === 'ood' ? 'ood' : 'id'], ...overrides });
}

// ---------------------------------------------------------------------------------------------------- numbers

const wr = (v: number, reversed: boolean) => writeInt(BigInt(v), reversed);

/** The prompt: `TARGET:N1,N2,...` with every number in the item's digit order. */
export function countdownPrompt(target: number, numbers: readonly number[], reversed: boolean): string {
  return `${wr(target, reversed)}:${numbers.map((n) => wr(n, reversed)).join(',')}`;
}

/** Inverse of countdownPrompt; null when the text is not of that shape. */
export function parseCountdownPrompt(text: string, reversed: boolean): { target: number; numbers: number[] } | null {
  const m = /^(\d+):(\d+(?:,\d+)*)$/.exec(text);
  if (!m) return null;
  return { target: Number(readInt(m[1], reversed)), numbers: m[2].split(',').map((s) => Number(readInt(s, reversed))) };
}

// ---------------------------------------------------------------------------------------------------- expressions

export type CdOp = '+' | '-' | '*' | '/';
export type CdExpr = { kind: 'num'; value: number } | { kind: 'bin'; op: CdOp; left: CdExpr; right: CdExpr };

/** One operation of a solution: `a op b=c`. */
export interface CdStep {
  a: number;
  op: CdOp;
  b: number;
  c: number;
}

/** `a op b=c;` in the item's digit order. */
export function cdStepText(s: CdStep, reversed: boolean): string {
  return `${wr(s.a, reversed)}${s.op}${wr(s.b, reversed)}=${wr(s.c, reversed)};`;
}

const prec = (op: CdOp) => (op === '+' || op === '-' ? 1 : 2);

/**
 * Text of an expression with the fewest parentheses under the usual precedence (left-associative): a right
 * operand is wrapped when its precedence is lower, or equal under `-` or `/`. The re-parsed tree may
 * re-associate `a+(b-c)` as `(a+b)-c` or `a*(b/c)` as `(a*b)/c`, which keeps every intermediate valid.
 */
export function renderCd(e: CdExpr, reversed: boolean): string {
  if (e.kind === 'num') return wr(e.value, reversed);
  const p = prec(e.op);
  const side = (x: CdExpr, right: boolean) => {
    const s = renderCd(x, reversed);
    if (x.kind === 'num') return s;
    const q = prec(x.op);
    return q < p || (right && q === p && (e.op === '-' || e.op === '/')) ? `(${s})` : s;
  };
  return `${side(e.left, false)}${e.op}${side(e.right, true)}`;
}

/** Parse an answer expression (numbers in the given digit order; no unary minus, no spaces); throws with the index. */
export function parseCd(text: string, reversed: boolean): CdExpr {
  let i = 0;
  const fail = (what: string): never => {
    throw new SelfcestError(`countdown: cannot parse ${JSON.stringify(text)}: expected ${what} at index ${i}`);
  };
  const atom = (): CdExpr => {
    if (text[i] === '(') {
      i++;
      const e = sum();
      if (text[i] !== ')') fail('")"');
      i++;
      return e;
    }
    const start = i;
    while (i < text.length && text[i] >= '0' && text[i] <= '9') i++;
    if (i === start) fail('a number or "("');
    if (i - start > 12) fail('a number of at most 12 digits');
    return { kind: 'num', value: Number(readInt(text.slice(start, i), reversed)) };
  };
  const product = (): CdExpr => {
    let e = atom();
    while (text[i] === '*' || text[i] === '/') {
      const op = text[i++] as CdOp;
      e = { kind: 'bin', op, left: e, right: atom() };
    }
    return e;
  };
  const sum = (): CdExpr => {
    let e = product();
    while (text[i] === '+' || text[i] === '-') {
      const op = text[i++] as CdOp;
      e = { kind: 'bin', op, left: e, right: product() };
    }
    return e;
  };
  const e = sum();
  if (i !== text.length) fail('an operator or the end');
  return e;
}

/** a op b when it is a valid Countdown step (non-negative, exact division), else null. */
export function applyCd(a: number, op: CdOp, b: number): number | null {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a >= b ? a - b : null;
    case '*':
      return a * b;
    case '/':
      return b !== 0 && a % b === 0 ? a / b : null;
  }
}

export type CdCheck = { ok: true; value: number; steps: CdStep[]; used: number[] } | { ok: false; reason: string };

/**
 * Check an answer expression against an item's numbers and target: it parses, uses each given number at
 * most once (as a multiset), every operation is valid (intermediate results non-negative integers, division
 * exact and not by 0), and the value is the target. `steps` lists the operations in evaluation order.
 */
export function checkCdAnswer(text: string, numbers: readonly number[], target: number, reversed: boolean): CdCheck {
  let e: CdExpr;
  try {
    e = parseCd(text, reversed);
  } catch (err) {
    return { ok: false, reason: (err as Error).message.replace(/^countdown: /, '') };
  }
  const steps: CdStep[] = [];
  const used: number[] = [];
  let bad: string | null = null;
  const ev = (x: CdExpr): number => {
    if (x.kind === 'num') {
      used.push(x.value);
      return x.value;
    }
    const a = ev(x.left);
    const b = ev(x.right);
    const c = applyCd(a, x.op, b);
    if (c === null) {
      bad ??= `${a}${x.op}${b} is not allowed (${x.op === '-' ? 'negative result' : b === 0 ? 'division by 0' : 'inexact division'})`;
      return 0;
    }
    steps.push({ a, op: x.op, b, c });
    return c;
  };
  const value = ev(e);
  if (bad) return { ok: false, reason: bad };
  const left = [...numbers];
  for (const u of used) {
    const k = left.indexOf(u);
    if (k < 0) return { ok: false, reason: `uses ${u} ${numbers.includes(u) ? 'more often than given' : 'which is not among the numbers'}` };
    left.splice(k, 1);
  }
  if (value !== target) return { ok: false, reason: `evaluates to ${value}, not the target ${target}` };
  return { ok: true, value, steps, used };
}

// ---------------------------------------------------------------------------------------------------- solver

interface Node {
  value: number;
  expr: CdExpr;
}

/**
 * Exact solver: depth-first search over pairs of the available numbers (the given ones and the results so
 * far), iteratively deepened (so the canonical solution has the fewest operations), in a fixed order (pairs by position in the value-descending list, then + − × ÷ with the larger
 * number first), remembering the multisets that failed. Steps that cannot help are skipped (×1, ÷1, and
 * a−a = 0: the target is ≥ 1). Returns the first solution found (the canonical one) or null. A target equal to
 * one of the numbers is solved by that number alone (no steps).
 */
export function solveCountdown(numbers: readonly number[], target: number): { expr: CdExpr; steps: CdStep[] } | null {
  const failed = new Set<string>();
  const dfs = (nodes: Node[], depth: number): Node | null => {
    const hit = nodes.find((n) => n.value === target);
    if (hit) return hit;
    if (nodes.length < 2 || depth === 0) return null;
    const key = `${depth}|${nodes.map((n) => n.value).join(',')}`;
    if (failed.has(key)) return null;
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const [x, y] = [nodes[i], nodes[j]]; // x.value >= y.value (sorted)
        const rest = nodes.filter((_, k) => k !== i && k !== j);
        for (const op of ['+', '-', '*', '/'] as const) {
          if ((op === '*' || op === '/') && y.value === 1) continue;
          if (op === '-' && x.value === y.value) continue;
          const c = applyCd(x.value, op, y.value);
          if (c === null) continue;
          const next = [...rest, { value: c, expr: { kind: 'bin', op, left: x.expr, right: y.expr } as CdExpr }];
          next.sort((p, q) => q.value - p.value);
          const r = dfs(next, depth - 1);
          if (r) return r;
        }
      }
    }
    failed.add(key);
    return null;
  };
  const start = numbers.map((v) => ({ value: v, expr: { kind: 'num', value: v } as CdExpr })).sort((p, q) => q.value - p.value);
  let found: Node | null = null;
  for (let depth = 0; depth < numbers.length && !found; depth++) found = dfs(start, depth);
  if (!found) return null;
  const steps: CdStep[] = [];
  const walk = (x: CdExpr): number => {
    if (x.kind === 'num') return x.value;
    const a = walk(x.left);
    const b = walk(x.right);
    const c = applyCd(a, x.op, b)!;
    steps.push({ a, op: x.op, b, c });
    return c;
  };
  walk(found.expr);
  return { expr: found.expr, steps };
}

/** One move of the canonical search order: the pair at positions (i, j) of the current list, `a op b=c`. */
export interface CdSearchMove {
  /** positions of the left operand a (the larger; the earlier on a tie) and of the right operand b */
  left: number;
  right: number;
  step: CdStep;
  /** the list after the move: the other numbers in their order, then c */
  rest: number[];
}

/**
 * The moves of a list in the canonical search order (the search-style traces, README.md here): pairs (i, j), i < j,
 * by position in the current list; the larger number is the left operand a (a ≥ b); then + − × ÷. Skipped: invalid
 * moves (negative or inexact), a−b = 0, ×1 and ÷1 — the pruning of solveCountdown and cdFirstMoves, none of which
 * loses a solution (targets are ≥ 1). Moves that leave the same list (2+2 and 2*2) are all kept, so the next move
 * depends only on the current list and the last move tried.
 */
export function cdSearchMoves(numbers: readonly number[]): CdSearchMove[] {
  const out: CdSearchMove[] = [];
  for (let i = 0; i < numbers.length; i++) {
    for (let j = i + 1; j < numbers.length; j++) {
      const [left, right] = numbers[i] >= numbers[j] ? [i, j] : [j, i];
      const [a, b] = [numbers[left], numbers[right]];
      const rest = numbers.filter((_, k) => k !== i && k !== j);
      for (const op of ['+', '-', '*', '/'] as const) {
        if ((op === '*' || op === '/') && b === 1) continue;
        if (op === '-' && a === b) continue;
        const c = applyCd(a, op, b);
        if (c !== null) out.push({ left, right, step: { a, op, b, c }, rest: [...rest, c] });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- generator

export const CountdownMetaSchema = z.strictObject({
  target: z.int().min(0),
  /** the numbers in prompt order, plain integers */
  numbers: z.array(z.int().min(0)).min(1),
  /** the canonical solution in normal digit order, for people */
  solution: z.string().min(1),
  /** operations of the canonical solution */
  steps: z.int().min(0),
  knobs: CountdownKnobsSchema,
});
export type CountdownMeta = z.infer<typeof CountdownMetaSchema>;
export type CountdownItem = TaskItem<CountdownMeta>;

export function countdownItemFrom(target: number, numbers: number[], k: CountdownKnobs, split: Split, id: string): CountdownItem {
  const sol = solveCountdown(numbers, target);
  if (!sol) throw new SelfcestError(`countdown: ${target} cannot be reached from ${numbers.join(',')}`);
  return {
    format: ITEM_FORMAT,
    task: 'countdown',
    split,
    id,
    prompt: countdownPrompt(target, numbers, k.reversed),
    answer: renderCd(sol.expr, k.reversed),
    meta: { target, numbers, solution: renderCd(sol.expr, false), steps: sol.steps.length, knobs: k },
  };
}

/**
 * One draw (before the minSteps check): the numbers, then a random expression over a random subset of at least minUsed of them (pairs
 * combined in random order with a random valid operation); its value is the target. null when the target
 * falls outside [minTarget, maxTarget] or equals one of the numbers.
 */
export function drawCountdown(rng: Rng, k: CountdownKnobs): { target: number; numbers: number[] } | null {
  const count = rng.int(k.minNumbers, k.maxNumbers);
  const numbers = Array.from({ length: count }, () => rng.int(k.minValue, k.maxValue));
  const used = rng.int(k.minUsed, count);
  const idx = numbers.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const pool = idx.slice(0, used).map((i) => numbers[i]);
  while (pool.length > 1) {
    const i = rng.int(0, pool.length - 1);
    const a = pool.splice(i, 1)[0];
    const j = rng.int(0, pool.length - 1);
    const b = pool.splice(j, 1)[0];
    const [x, y] = a >= b ? [a, b] : [b, a];
    const ops = (['+', '-', '*', '/'] as const).filter((op) => !((op === '*' || op === '/') && y === 1) && !(op === '-' && x === y) && applyCd(x, op, y) !== null);
    pool.push(applyCd(x, rng.pick(ops), y)!); // '+' is always there
  }
  const target = pool[0];
  if (target < k.minTarget || target > k.maxTarget || numbers.includes(target)) return null;
  return { target, numbers };
}

/**
 * One item: draws until the target is within the knobs and its shortest solution takes at least minSteps
 * operations (at most k.attempts draws); the solver verifies solvability and gives the answer.
 */
export function countdownItem(rng: Rng, k: CountdownKnobs, split: Split, id: string): CountdownItem {
  for (let a = 0; a < k.attempts; a++) {
    const d = drawCountdown(rng, k);
    if (!d) continue;
    const item = countdownItemFrom(d.target, d.numbers, k, split, id);
    if (item.meta.steps >= k.minSteps) return item;
  }
  throw new SelfcestError(
    `countdown: no target in [${k.minTarget}, ${k.maxTarget}] needing >= ${k.minSteps} operations in ${k.attempts} draws (numbers ${k.minNumbers}-${k.maxNumbers} of ${k.minValue}-${k.maxValue}): widen the target range`,
  );
}

/** `n` items of a split, from its partition and without repeats (src/tasks/splits.ts): item i draws from `Rng.fromSeed("countdown:<split>:<seed>:<i>")`, redrawn while it falls outside. */
export function generateCountdown(opts: { split: Split; n: number; seed: number | string; knobs: CountdownKnobs }): CountdownItem[] {
  const { split, n, seed, knobs } = opts;
  return generatePartitioned('countdown', { split, n, seed }, (rng, sp, id) => countdownItem(rng, knobs, sp, id));
}

// ---------------------------------------------------------------------------------------------------- checks

/** Task-level check of a record: meta fields, canonical prompt, the answer is a valid solution, meta agrees. */
export function checkCountdownItem(item: TaskItem): Issue | null {
  const metaIssue = schemaIssue(CountdownMetaSchema, item.meta, ['meta']);
  if (metaIssue) return metaIssue;
  if (item.docs !== undefined) return { path: ['docs'], message: 'countdown items have no documents' };
  const meta = CountdownMetaSchema.parse(item.meta);
  const k = meta.knobs;
  const rev = k.reversed;
  const prompt = countdownPrompt(meta.target, meta.numbers, rev);
  if (item.prompt !== prompt) return { path: ['prompt'], message: `is ${JSON.stringify(item.prompt)}, expected ${JSON.stringify(prompt)} (meta.target and meta.numbers written ${rev ? 'reversed' : 'in normal order'})` };
  if (meta.numbers.length < k.minNumbers || meta.numbers.length > k.maxNumbers) return { path: ['meta', 'numbers'], message: `has ${meta.numbers.length} numbers, knobs allow ${k.minNumbers}-${k.maxNumbers}` };
  const out = meta.numbers.find((v) => v < k.minValue || v > k.maxValue);
  if (out !== undefined) return { path: ['meta', 'numbers'], message: `${out} is outside [${k.minValue}, ${k.maxValue}]` };
  if (meta.target < k.minTarget || meta.target > k.maxTarget) return { path: ['meta', 'target'], message: `${meta.target} is outside [${k.minTarget}, ${k.maxTarget}]` };
  const r = checkCdAnswer(item.answer, meta.numbers, meta.target, rev);
  if (!r.ok) return { path: ['answer'], message: `is not a solution: ${r.reason}` };
  const canonical = renderCd(parseCd(item.answer, rev), rev);
  if (item.answer !== canonical) return { path: ['answer'], message: `not in canonical form (expected ${JSON.stringify(canonical)})` };
  const solution = renderCd(parseCd(item.answer, rev), false);
  if (meta.solution !== solution) return { path: ['meta', 'solution'], message: `is ${JSON.stringify(meta.solution)}, expected ${JSON.stringify(solution)} (the answer in normal digit order)` };
  if (meta.steps !== r.steps.length) return { path: ['meta', 'steps'], message: `is ${meta.steps}, but the answer has ${r.steps.length} operations` };
  return null;
}
