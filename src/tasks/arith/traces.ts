/**
 * Arithmetic's demonstration traces for the SFT warm start, in the exact protocol of the rollout engine (built by
 * src/tasks/trace-builder.ts; README.md here):
 *   mono      the root solves alone: one step `a op b=c;` per operation, then `<answer> A <eos>`
 *   delegate  the root splits its top level (the terms of the sum, or the factors of a single product) into
 *             contiguous groups; every group with an operation goes to a clone whose objective is exactly
 *             that slice of the prompt, with a budget from <b16>/<b32>/<b64>; a clone solves its slice like
 *             a mono root; the root then folds the returned values (and any bare-number groups it kept) with
 *             `+` (sum) or `*` (product) steps and answers.
 *   delegate, split style (TraceOptions.arithStyle 'split'): the root writes the length-free split call
 *             `<spawn> BUDGET </spawn>`; the task halves its question (arithSplitter) into two clones whose prompts
 *             are questions too; a clone with more than leafTerms terms calls again while its depth allows, else
 *             solves alone; every caller adds its two returns in one step and answers.
 * Pure TS: no tfjs.
 */
import { protocolTokens, returnSegment, type ProtocolTokens, type RolloutConfig, type Splitter } from '../../rollout/protocol.ts';
import type { CallRecord, Context } from '../../rollout/tree.ts';
import { encodeChecked, type TextTokenizer } from '../../tokenizer/index.ts';
import type { Rng } from '../../util/rng.ts';
import { writeInt } from '../numbers.ts';
import type { TraceOptions, TraceResult } from '../task.ts';
import { budgetedSpecs, budgetTokens, DEFAULT_TRACE_BUDGETS, delegate, grantedBudget, shuffled, spawnRefusal, TreeBuilder, type DelegationEnv } from '../trace-builder.ts';
import { rootPromptIds, type TaskItem } from '../types.ts';
import { applyOp, ArithMetaSchema, parseExpr, renderTerms, solve, stepText, type ArithOp, type Expr, type Term } from './arith.ts';

/** What a context samples to solve an expression alone: the steps, then <answer> A <eos>. */
function solutionTokens(e: Expr, reversed: boolean, tok: TextTokenizer, p: ProtocolTokens): { tokens: number[]; answer: number[] } {
  const { value, steps } = solve(e);
  const answer = encodeChecked(tok, writeInt(value, reversed));
  return { tokens: [...encodeChecked(tok, steps.map((s) => stepText(s, reversed)).join('')), p.answer, ...answer, p.eos], answer };
}

function arithSetup(item: TaskItem): { expr: Expr; reversed: boolean } {
  const meta = ArithMetaSchema.parse(item.meta);
  return { expr: parseExpr(item.prompt, meta.knobs.reversed), reversed: meta.knobs.reversed };
}

/**
 * Arithmetic's split of an objective (the split call): the terms of its top-level sum in two contiguous halves,
 * the first ceil(n/2) terms, then the rest, each written exactly as a prompt is, so a clone can split again.
 * null with fewer than 2 terms or when the objective is not an expression. The objective is task text (a root's
 * question or an earlier split), never model output.
 */
export function arithSplitter(tok: TextTokenizer, reversed: boolean): Splitter {
  return (objective) => {
    let e: Expr;
    try {
      e = parseExpr(tok.decode([...objective]), reversed);
    } catch {
      return null;
    }
    if (e.terms.length < 2) return null;
    return halves(e.terms).map((ts) => encodeChecked(tok, renderTerms(ts, reversed)));
  };
}

function halves<T>(xs: readonly T[]): T[][] {
  const h = Math.ceil(xs.length / 2);
  return [xs.slice(0, h), xs.slice(h)];
}

/** The monolithic trace: the root solves step by step and answers. */
export function arithMonoTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig): TraceResult {
  const setup = arithSetup(item);
  const p = protocolTokens(tok);
  const b = new TreeBuilder();
  const root = b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget);
  const sol = solutionTokens(setup.expr, setup.reversed, tok, p);
  b.sample(root, sol.tokens);
  root.finish = 'answer';
  root.answer = sol.answer;
  return b.result('mono', item.id, cfg);
}

/** A contiguous group of the top level: its slice of the prompt as an expression, and whether it is a bare number. */
interface Group {
  expr: Expr;
  trivial: boolean;
}

/** The top level of an expression as items to group: the terms of a sum, or the factors of one product. */
function topLevel(e: Expr): { op: ArithOp; groupsOf: (cuts: number[]) => Group[]; n: number } | null {
  const bare = (t: Term) => t.factors.length === 1 && t.factors[0].kind === 'num';
  if (e.terms.length >= 2) {
    return {
      op: '+',
      n: e.terms.length,
      groupsOf: (cuts) => slices(e.terms, cuts).map((ts) => ({ expr: { terms: ts }, trivial: ts.length === 1 && bare(ts[0]) })),
    };
  }
  const t = e.terms[0];
  if (t.sign === '+' && t.factors.length >= 2) {
    return {
      op: '*',
      n: t.factors.length,
      groupsOf: (cuts) => slices(t.factors, cuts).map((fs) => ({ expr: { terms: [{ sign: '+', factors: fs }] }, trivial: fs.length === 1 && fs[0].kind === 'num' })),
    };
  }
  return null;
}

/** Split xs before each index in cuts (ascending, in 1..n-1). */
function slices<T>(xs: T[], cuts: number[]): T[][] {
  const out: T[][] = [];
  let from = 0;
  for (const c of [...cuts, xs.length]) {
    out.push(xs.slice(from, c));
    from = c;
  }
  return out;
}

/** Every way to cut n items into contiguous groups (all 2^(n-1) for n ≤ 13, else 4096 random ones). */
function allCuts(n: number, rng: Rng): number[][] {
  const maskToCuts = (m: number) => Array.from({ length: n - 1 }, (_, i) => i + 1).filter((c) => (m >> (c - 1)) & 1);
  if (n <= 13) return Array.from({ length: 2 ** (n - 1) }, (_, m) => maskToCuts(m));
  return Array.from({ length: 4096 }, () => Array.from({ length: n - 1 }, (_, i) => i + 1).filter(() => rng.next() < 0.5));
}

/**
 * Arithmetic's delegation trace (opts.arithStyle 'split': arithSplitTrace): one call of 2–3 clones (opts), each solving one slice of the prompt, then the root
 * combines. The split, the clone count and each clone's budget are drawn with `rng` among the choices that
 * fit `cfg`; refused when the item has no such split (too few operations, or nothing fits the windows).
 */
export function arithDelegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: TraceOptions = {}): TraceResult {
  const setup = arithSetup(item);
  if (opts.arithStyle === 'split') return arithSplitTrace(item, setup.expr.terms, setup.reversed, tok, cfg, rng, opts);
  const p = protocolTokens(tok);
  const minClones = opts.minClones ?? 2;
  const maxClones = Math.min(opts.maxClones ?? 3, cfg.maxClonesPerCall);
  const budgets = opts.budgets ?? DEFAULT_TRACE_BUDGETS;
  const budgetToken = budgetTokens(p, budgets);
  const noSpawn = spawnRefusal(cfg);
  if (noSpawn) return noSpawn;

  const top = topLevel(setup.expr);
  if (!top) return { ok: false, reason: 'the prompt has no top level to split' };
  const byCount = new Map<number, Group[][]>();
  for (const cuts of allCuts(top.n, rng)) {
    const groups = top.groupsOf(cuts);
    const k = groups.filter((g) => !g.trivial).length;
    if (k >= minClones && k <= maxClones) byCount.set(k, [...(byCount.get(k) ?? []), groups]);
  }
  if (byCount.size === 0) return { ok: false, reason: `no split gives ${minClones}-${maxClones} groups with an operation` };

  let reason = '';
  for (const k of shuffled(rng, [...byCount.keys()].sort())) {
    for (const groups of shuffled(rng, byCount.get(k)!)) {
      const r = buildDelegation(item, groups, top.op, setup.reversed, { tok, p, cfg, rng, budgets, budgetToken });
      if (r.ok) return r;
      reason = r.reason;
    }
  }
  return { ok: false, reason: `no split fits: ${reason}` };
}

function buildDelegation(
  item: TaskItem,
  groups: Group[],
  op: ArithOp,
  reversed: boolean,
  env: DelegationEnv,
): TraceResult {
  const { tok, p, cfg, rng, budgets, budgetToken } = env;
  const b = new TreeBuilder();
  const root = b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget);
  // the call: one spec per group with an operation, the objective being exactly its slice of the prompt
  const works = groups
    .filter((g) => !g.trivial)
    .map((g) => ({ objective: encodeChecked(tok, renderTerms(g.expr.terms, reversed)), ...solutionTokens(g.expr, reversed, tok, p) }));
  const planned = budgetedSpecs(works, budgets, cfg, rng);
  if (!planned.ok) return planned;
  // the clones solve alone; the engine injects their returns into the root
  delegate(b, root, planned.specs, budgetToken, p, cfg);
  // (a clone's return is the text of its group's value, so the root copies it into its first combine step)
  const values = groups.map((g) => solve(g.expr).value);
  let acc = values[0];
  let steps = '';
  for (const v of values.slice(1)) {
    const c = applyOp(acc, op, v);
    steps += stepText({ a: acc, op, b: v, c }, reversed);
    acc = c;
  }
  const answer = encodeChecked(tok, writeInt(acc, reversed));
  b.sample(root, [...encodeChecked(tok, steps), p.answer, ...answer, p.eos]);
  root.finish = 'answer';
  root.answer = answer;
  return b.result('delegate', item.id, cfg);
}

/** A context of a split-call trace: its terms, its children when it calls, what it samples before and after the returns. */
interface SplitNode {
  terms: Term[];
  kids: SplitNode[];
  /** sampled before the returns: the call `<spawn> BUDGET </spawn>`, or the whole solution of a leaf */
  before: number[];
  /** sampled after the returns: the combine step and the answer */
  after: number[];
  answer: number[];
  /** the budget the engine grants each child */
  budget: number;
}

/**
 * Split-call delegation for arithmetic: the root calls `<spawn> BUDGET </spawn>` (always, so the trace delegates);
 * the task halves its question (arithSplitter) and each half is a clone that calls again while it holds more than
 * `leafTerms` terms and its depth is below cfg.maxDepth, or solves alone; a caller adds the two returns in one
 * step and answers. Budgets are drawn among those covering the children's work. Contexts are created level by
 * level, as the engine creates them: every call is 3 tokens, so the calls of one level close at the same step.
 */
function arithSplitTrace(item: TaskItem, terms: Term[], reversed: boolean, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: TraceOptions): TraceResult {
  const p = protocolTokens(tok);
  const budgets = opts.budgets ?? [...DEFAULT_TRACE_BUDGETS, 128];
  const budgetToken = budgetTokens(p, budgets);
  const leaf = opts.leafTerms ?? 4;
  const noSpawn = spawnRefusal(cfg);
  if (noSpawn) return noSpawn;
  if (terms.length < 2) return { ok: false, reason: 'the prompt has fewer than 2 terms to split' };
  let refused = '';
  const plan = (ts: Term[], depth: number): SplitNode | null => {
    const e: Expr = { terms: ts };
    if (!(depth === 0 || (ts.length > leaf && depth < cfg.maxDepth))) {
      const sol = solutionTokens(e, reversed, tok, p);
      return { terms: ts, kids: [], before: sol.tokens, after: [], answer: sol.answer, budget: 0 };
    }
    const kids: SplitNode[] = [];
    for (const half of halves(ts)) {
      const k = plan(half, depth + 1);
      if (!k) return null;
      kids.push(k);
    }
    const need = Math.max(...kids.map((k) => k.before.length + k.after.length));
    const fits = budgets.filter((n) => grantedBudget(n, cfg) >= need);
    if (!fits.length) {
      refused = `a clone samples ${need} tokens; no budget of ${budgets.join('/')} grants that (cap ${cfg.cloneBudgetCap})`;
      return null;
    }
    const asked = rng.pick(fits);
    const [a, b] = kids.map((k) => solve({ terms: k.terms }).value);
    const c = applyOp(a, '+', b);
    const answer = encodeChecked(tok, writeInt(c, reversed));
    return {
      terms: ts,
      kids,
      before: [p.spawn, budgetToken.get(asked)!, p.endSpawn],
      after: [...encodeChecked(tok, stepText({ a, op: '+', b, c }, reversed)), p.answer, ...answer, p.eos],
      answer,
      budget: grantedBudget(asked, cfg),
    };
  };
  const root = plan(terms, 0);
  if (!root) return { ok: false, reason: refused };

  const b = new TreeBuilder();
  const made: [SplitNode, Context][] = [];
  let level: [SplitNode, Context][] = [[root, b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget)]];
  while (level.length) {
    const next: [SplitNode, Context][] = [];
    for (const [node, ctx] of level) {
      made.push([node, ctx]);
      b.sample(ctx, node.before);
      if (!node.kids.length) continue;
      const record: CallRecord = { index: ctx.calls.length, start: ctx.ids.length - node.before.length, end: ctx.ids.length, clones: [], malformed: null, injected: 0 };
      ctx.calls.push(record);
      for (const kid of node.kids) {
        const c = b.add(ctx, record.index, [p.clone, ...encodeChecked(tok, renderTerms(kid.terms, reversed)), p.think], node.budget);
        record.clones.push(c.id);
        next.push([kid, c]);
      }
    }
    level = next;
  }
  for (const [node, ctx] of made) {
    if (node.kids.length) {
      const returns = node.kids.flatMap((k) => returnSegment(k.answer, p, cfg));
      if (node.kids.some((k) => k.answer.length > cfg.returnTokens)) return { ok: false, reason: `a clone's answer is longer than returnTokens ${cfg.returnTokens}` };
      ctx.calls[0].injected = returns.length;
      b.inject(ctx, returns);
      b.sample(ctx, node.after);
    }
    ctx.finish = 'answer';
    ctx.answer = node.answer;
  }
  const calls = made.filter(([n]) => n.kids.length).length;
  if (calls > cfg.maxCallsPerTree) return { ok: false, reason: `the split tree makes ${calls} calls, maxCallsPerTree is ${cfg.maxCallsPerTree}` };
  return b.result('delegate', item.id, cfg);
}
