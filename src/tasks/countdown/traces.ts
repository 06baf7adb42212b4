/**
 * Countdown's demonstration traces for the SFT warm start (built by src/tasks/trace-builder.ts; README.md here):
 *   mono      the root writes the operations of the item's canonical answer as `a op b=c;` steps (in the
 *             order the answer expression evaluates them), then `<answer> EXPR <eos>`
 *   delegate  the root spawns 2–3 clones, each trying a different first move `a op b=c` (at least one
 *             leads to a solution); a clone's objective is the reduced Countdown prompt (the other numbers
 *             in prompt order, then c); a clone solves it like a mono root, or answers `none` when the
 *             solver says it has no solution; the root writes the first move of the first clone that
 *             solved, then answers with that clone's expression with `(a op b)` put in place of c.
 *   search style (TraceOptions.countdownStyle 'search'): the exhaustive depth-first search in the canonical move
 *             order (cdSearchMoves), stopped at the first move that reaches the target.
 *     mono      the root writes every move it tries (cdSearchText: `a op b=c[` ... `]` around the tries of the
 *               list a move leaves, `;` after a try that leaves one number), then answers with the path found;
 *               refused when it does not fit the root window (the long searches: the point of the style)
 *     delegate  a context hands its moves, in order, to clones (up to maxClonesPerCall per call), each with the
 *               reduced prompt as objective; a clone of 3+ numbers delegates again while its depth allows, else
 *               searches alone like the mono root; after each call the first return that holds an expression
 *               wins (its move as a step, then the combined answer), else the next call; `none` when every
 *               move failed
 * Pure TS: no tfjs.
 */
import { protocolTokens, type ProtocolTokens, type RolloutConfig } from '../../rollout/protocol.ts';
import { encodeChecked, type TextTokenizer } from '../../tokenizer/index.ts';
import type { Rng } from '../../util/rng.ts';
import type { TraceOptions, TraceResult } from '../task.ts';
import { budgetedSpecs, budgetTokens, DEFAULT_TRACE_BUDGETS, delegate, grantedBudget, scheduleTree, shuffled, spawnRefusal, TreeBuilder, type DelegationEnv, treeFits, type PlannedContext } from '../trace-builder.ts';
import { rootPromptIds, type TaskItem } from '../types.ts';
import { applyCd, cdSearchMoves, cdStepText, checkCdAnswer, countdownPrompt, CountdownMetaSchema, parseCd, renderCd, solveCountdown, type CdExpr, type CdStep } from './countdown.ts';

/** Countdown's monolithic trace: the canonical answer's operations as steps, then the answer expression. */
export function countdownMonoTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig): TraceResult {
  const meta = CountdownMetaSchema.parse(item.meta);
  const rev = meta.knobs.reversed;
  const r = checkCdAnswer(item.answer, meta.numbers, meta.target, rev);
  if (!r.ok) return { ok: false, reason: `the item's answer is not a solution: ${r.reason}` };
  const p = protocolTokens(tok);
  const b = new TreeBuilder();
  const root = b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget);
  const answer = encodeChecked(tok, item.answer);
  b.sample(root, [...encodeChecked(tok, r.steps.map((x) => cdStepText(x, rev)).join('')), p.answer, ...answer, p.eos]);
  root.finish = 'answer';
  root.answer = answer;
  return b.result('mono', item.id, cfg);
}

/**
 * A Countdown search as the search-style traces write it (README.md here, "Countdown search traces"): depth first
 * in the canonical move order (cdSearchMoves), every move tried written as a step `a op b=c` in the item's digit
 * order, ended by one mark: `;` when c is the target (the search stops there) or when the move leaves one number (a
 * failed try); `[` otherwise, followed by the search of the list the move leaves, then `]` when that search
 * failed. So every `[` opens the tries of one list and its `]` closes them: the brackets show the depth. A list
 * that holds the target is solved at once, writing nothing. `expr` is the expression of the path found, over the
 * list's numbers; null when the search fails (the text is then the whole search).
 */
export function cdSearchText(numbers: readonly number[], target: number, reversed: boolean): { text: string; expr: CdExpr | null } {
  const leaf = (value: number): CdExpr => ({ kind: 'num', value });
  if (numbers.includes(target)) return { text: '', expr: leaf(target) };
  let text = '';
  const walk = (values: number[], exprs: CdExpr[]): CdExpr | null => {
    for (const m of cdSearchMoves(values)) {
      const e: CdExpr = { kind: 'bin', op: m.step.op, left: exprs[m.left], right: exprs[m.right] };
      const step = cdStepText(m.step, reversed);
      if (m.step.c === target) {
        text += step;
        return e;
      }
      if (m.rest.length === 1) {
        text += step;
        continue;
      }
      text += `${step.slice(0, -1)}[`;
      const found = walk(m.rest, [...exprs.filter((_, k) => k !== m.left && k !== m.right), e]);
      if (found) return found;
      text += ']';
    }
    return null;
  };
  const expr = walk([...numbers], numbers.map(leaf));
  return { text, expr };
}

/**
 * Countdown's search-style monolithic trace: the root writes its whole search (cdSearchText), then
 * `<answer> EXPR <eos>` with the path found (renderCd, the item's digit order). Refused when it does not fit
 * cfg.rootWindow (a long search: the point of the style) or cfg.rootBudget.
 */
export function countdownSearchMonoTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig): TraceResult {
  const meta = CountdownMetaSchema.parse(item.meta);
  const rev = meta.knobs.reversed;
  const { text, expr } = cdSearchText(meta.numbers, meta.target, rev);
  if (!expr) return { ok: false, reason: 'the search finds no solution' };
  const answerText = renderCd(expr, rev);
  const check = checkCdAnswer(answerText, meta.numbers, meta.target, rev);
  if (!check.ok) return { ok: false, reason: `the path found, ${answerText}, is not a solution: ${check.reason}` };
  const p = protocolTokens(tok);
  const prompt = rootPromptIds(item, tok);
  const answer = encodeChecked(tok, answerText);
  const tokens = [...encodeChecked(tok, text), p.answer, ...answer, p.eos];
  if (prompt.length + tokens.length > cfg.rootWindow) return { ok: false, reason: `the search holds ${prompt.length + tokens.length} tokens with its prompt, rootWindow is ${cfg.rootWindow}` };
  const b = new TreeBuilder();
  const root = b.add(null, null, prompt, cfg.rootBudget);
  b.sample(root, tokens);
  root.finish = 'answer';
  root.answer = answer;
  return b.result('mono', item.id, cfg);
}

/** What a Countdown clone answers when its reduced instance has no solution. */
export const CD_NO_SOLUTION = 'none';

/** One first move of a Countdown item and the reduced instance it leaves. */
interface CdMove {
  step: CdStep;
  /** the other numbers in prompt order, then the move's result */
  numbers: number[];
  solution: { expr: CdExpr; steps: CdStep[] } | null;
}

/**
 * The first moves the solver would consider (a ≥ b, no ×1 or ÷1, no a−a, a valid result) that are not already
 * the target (the root would answer at once), one per distinct reduced instance (2+2 and 2*2 leave the same
 * one), each with the solver's verdict on its reduced instance.
 */
function cdFirstMoves(numbers: readonly number[], target: number): CdMove[] {
  const out: CdMove[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < numbers.length; i++) {
    for (let j = 0; j < numbers.length; j++) {
      if (i === j) continue;
      const [a, b] = [numbers[i], numbers[j]];
      if (a < b || (a === b && i > j)) continue;
      for (const op of ['+', '-', '*', '/'] as const) {
        if ((op === '*' || op === '/') && b === 1) continue;
        if (op === '-' && a === b) continue;
        const c = applyCd(a, op, b);
        if (c === null || c === target) continue;
        const rest = [...numbers.filter((_, k) => k !== i && k !== j), c];
        const key = rest.join(',');
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ step: { a, op, b, c }, numbers: rest, solution: solveCountdown(rest, target) });
      }
    }
  }
  return out;
}

/** Replace the first leaf of value `c` (in evaluation order) with `sub`; null when there is none. */
function substituteLeaf(e: CdExpr, c: number, sub: CdExpr): CdExpr | null {
  if (e.kind === 'num') return e.value === c ? sub : null;
  const left = substituteLeaf(e.left, c, sub);
  if (left) return { ...e, left };
  const right = substituteLeaf(e.right, c, sub);
  return right ? { ...e, right } : null;
}

/**
 * Countdown's delegation trace: one call of k clones (k uniform in [minClones, maxClones] ∩ [2, 3], capped by
 * cfg and the number of moves), each exploring a different first move; one solving move at a random spec
 * position, the others drawn among the remaining moves (solving or not). Refused when the item has no
 * solving first move or no choice fits `cfg`.
 */
export function countdownDelegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: TraceOptions): TraceResult {
  const meta = CountdownMetaSchema.parse(item.meta);
  const rev = meta.knobs.reversed;
  const p = protocolTokens(tok);
  const budgets = opts.budgets ?? DEFAULT_TRACE_BUDGETS;
  const budgetToken = budgetTokens(p, budgets);
  const noSpawn = spawnRefusal(cfg);
  if (noSpawn) return noSpawn;
  const minClones = Math.max(opts.minClones ?? 2, 2);
  const maxClones = Math.min(opts.maxClones ?? 3, 3, cfg.maxClonesPerCall);
  const moves = cdFirstMoves(meta.numbers, meta.target);
  const solving = moves.filter((m) => m.solution !== null);
  if (!solving.length) return { ok: false, reason: 'no first move leads to a solution' };
  const counts = Array.from({ length: maxClones - minClones + 1 }, (_, i) => minClones + i).filter((k) => k <= moves.length);
  if (!counts.length) return { ok: false, reason: `${moves.length} distinct first moves; a call needs ${minClones}-${maxClones}` };

  let reason = '';
  for (const k of shuffled(rng, counts)) {
    for (const win of shuffled(rng, solving).slice(0, 8)) {
      const others = shuffled(rng, moves.filter((m) => m !== win)).slice(0, k - 1);
      const chosen = [...others];
      chosen.splice(rng.int(0, others.length), 0, win);
      const r = buildCdDelegation(item, meta.numbers, meta.target, rev, chosen, { tok, p, cfg, rng, budgets, budgetToken });
      if (r.ok) return r;
      reason = r.reason;
    }
  }
  return { ok: false, reason: `no choice of first moves fits: ${reason}` };
}

function buildCdDelegation(
  item: TaskItem,
  numbers: readonly number[],
  target: number,
  rev: boolean,
  moves: CdMove[],
  env: DelegationEnv,
): TraceResult {
  const { tok, p, cfg, rng, budgets, budgetToken } = env;
  const b = new TreeBuilder();
  const root = b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget);
  const works = moves.map((m) => {
    const answer = encodeChecked(tok, m.solution ? renderCd(m.solution.expr, rev) : CD_NO_SOLUTION);
    const steps = m.solution ? m.solution.steps.map((st) => cdStepText(st, rev)).join('') : '';
    return { objective: encodeChecked(tok, countdownPrompt(target, m.numbers, rev)), tokens: [...(steps ? encodeChecked(tok, steps) : []), p.answer, ...answer, p.eos], answer };
  });
  const planned = budgetedSpecs(works, budgets, cfg, rng);
  if (!planned.ok) return planned;
  delegate(b, root, planned.specs, budgetToken, p, cfg);
  // the root takes the first clone that solved: its own first move as a step, then the clone's expression
  // with (a op b) in place of c (or as it is, when the clone did not use c)
  const win = moves.find((m) => m.solution !== null)!;
  const { a, op, b: y, c } = win.step;
  const move: CdExpr = { kind: 'bin', op, left: { kind: 'num', value: a }, right: { kind: 'num', value: y } };
  const cloneExpr = parseCd(renderCd(win.solution!.expr, rev), rev);
  const full = substituteLeaf(cloneExpr, c, move) ?? cloneExpr;
  const text = renderCd(full, rev);
  const check = checkCdAnswer(text, numbers, target, rev);
  if (!check.ok) return { ok: false, reason: `the combined answer ${text} is not a solution: ${check.reason}` };
  const answer = encodeChecked(tok, text);
  b.sample(root, [...encodeChecked(tok, cdStepText(win.step, rev)), p.answer, ...answer, p.eos]);
  root.finish = 'answer';
  root.answer = answer;
  return b.result('delegate', item.id, cfg);
}

/**
 * Search style: a clone's budget token by the size of its list, so the caller can name it before the clone runs:
 * `<b64>` for 2 numbers (at most 4 tries and the answer), `<b128>` for more (a clone that delegates, or one that
 * searches 3+ numbers alone at the deepest level). A trace whose clone needs more is refused.
 */
export const CD_SEARCH_BUDGETS = { pair: 64, more: 128 } as const;

/** What planning one context of a search-style delegation gives: its context, its answer's expression (null: `none`), the calls of its subtree. */
interface CdSearchPlan {
  ctx: PlannedContext;
  expr: CdExpr | null;
  calls: number;
}

interface CdSearchEnv {
  target: number;
  rev: boolean;
  tok: TextTokenizer;
  p: ProtocolTokens;
  cfg: RolloutConfig;
  /** clones per call */
  perCall: number;
  budgetToken: Map<number, number>;
}

/**
 * Plan one context of a search-style delegation over `numbers`. It searches alone (cdSearchText, then its
 * answer: the path found or `none`) when it holds the target, fewer than 3 numbers, or its depth may not spawn.
 * Otherwise it hands its moves (cdSearchMoves), perCall at a time, to clones whose objective is the reduced
 * prompt; after each call it takes the first return in spec order that holds an expression: it writes that
 * move as a step `a op b=c;` and answers with the clone's expression with `(a op b)` in place of a leaf c (as
 * the guess style does); when every return is `none`, the next call; `none` when the moves run out.
 */
function planCdSearch(numbers: number[], depth: number, prompt: number[], budget: number, env: CdSearchEnv): CdSearchPlan {
  const { target, rev, tok, p, cfg } = env;
  const answerRun = (before: string, expr: CdExpr | null) => {
    const answer = encodeChecked(tok, expr ? renderCd(expr, rev) : CD_NO_SOLUTION);
    return { tokens: [...encodeChecked(tok, before), p.answer, ...answer, p.eos], answer };
  };
  const done = (runs: PlannedContext['runs'], before: string, expr: CdExpr | null, calls: number): CdSearchPlan => {
    const last = answerRun(before, expr);
    return { ctx: { prompt, budget, runs: [...runs, { tokens: last.tokens }], answer: last.answer }, expr, calls };
  };
  if (numbers.includes(target) || numbers.length < 3 || depth >= cfg.maxDepth) {
    const { text, expr } = cdSearchText(numbers, target, rev);
    return done([], text, expr, 0);
  }
  const moves = cdSearchMoves(numbers);
  const runs: PlannedContext['runs'] = [];
  let calls = 0;
  for (let from = 0; from < moves.length; from += env.perCall) {
    const kids = moves.slice(from, from + env.perCall).map((m) => {
      const objective = encodeChecked(tok, countdownPrompt(target, m.rest, rev));
      const asked = m.rest.length <= 2 ? CD_SEARCH_BUDGETS.pair : CD_SEARCH_BUDGETS.more;
      const plan = planCdSearch(m.rest, depth + 1, [p.clone, ...objective, p.think], grantedBudget(asked, cfg), env);
      return { m, objective, asked, plan };
    });
    runs.push({ tokens: [p.spawn, ...kids.flatMap((k) => [p.obj, ...k.objective, env.budgetToken.get(k.asked)!]), p.endSpawn], clones: kids.map((k) => k.plan.ctx) });
    calls += 1 + kids.reduce((n, k) => n + k.plan.calls, 0);
    const win = kids.find((k) => k.plan.expr !== null);
    if (!win) continue;
    // the caller reads the clone's answer as text, so it combines the parsed text, as the guess style does
    const { a, op, b: y, c } = win.m.step;
    const read = parseCd(renderCd(win.plan.expr!, rev), rev);
    const move: CdExpr = { kind: 'bin', op, left: { kind: 'num', value: a }, right: { kind: 'num', value: y } };
    return done(runs, cdStepText(win.m.step, rev), substituteLeaf(read, c, move) ?? read, calls);
  }
  return done(runs, '', null, calls);
}

/** Every context of a planned tree, depth first. */
function plannedContexts(c: PlannedContext): PlannedContext[] {
  return [c, ...c.runs.flatMap((r) => (r.clones ?? []).flatMap(plannedContexts))];
}

/**
 * Countdown's search-style delegation trace (planCdSearch from the root, built by scheduleTree). Refused when
 * spawning is off, the item has fewer than 3 numbers, the search finds no solution, or the tree does not fit
 * cfg: windows, budgets, maxTreeTokens (checked first: the limits of the model), then calls per tree and
 * returnTokens.
 */
export function countdownSearchDelegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, opts: TraceOptions): TraceResult {
  const meta = CountdownMetaSchema.parse(item.meta);
  const rev = meta.knobs.reversed;
  const p = protocolTokens(tok);
  const noSpawn = spawnRefusal(cfg);
  if (noSpawn) return noSpawn;
  if (meta.numbers.length < 3) return { ok: false, reason: `${meta.numbers.length} numbers: nothing to delegate` };
  const perCall = Math.min(opts.maxClones ?? cfg.maxClonesPerCall, cfg.maxClonesPerCall);
  const env: CdSearchEnv = { target: meta.target, rev, tok, p, cfg, perCall, budgetToken: budgetTokens(p, Object.values(CD_SEARCH_BUDGETS)) };
  const plan = planCdSearch(meta.numbers, 0, rootPromptIds(item, tok), cfg.rootBudget, env);
  if (!plan.expr) return { ok: false, reason: 'the search finds no solution' };
  const text = renderCd(plan.expr, rev);
  const check = checkCdAnswer(text, meta.numbers, meta.target, rev);
  if (!check.ok) return { ok: false, reason: `the combined answer ${text} is not a solution: ${check.reason}` };
  const b = new TreeBuilder();
  scheduleTree(b, plan.ctx, p, cfg);
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  if (plan.calls > cfg.maxCallsPerTree) return { ok: false, reason: `the search makes ${plan.calls} calls, maxCallsPerTree is ${cfg.maxCallsPerTree}` };
  const long = plannedContexts(plan.ctx).slice(1).find((c) => c.answer.length > cfg.returnTokens);
  if (long) return { ok: false, reason: `a clone's answer has ${long.answer.length} tokens, returnTokens is ${cfg.returnTokens}` };
  return { ok: true, trace: { kind: 'delegate', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
}
