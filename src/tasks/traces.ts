/**
 * Demonstration traces for the SFT warm start, in the exact protocol of the rollout engine (docs/tasks.md).
 *
 * A trace is what a scripted policy would sample in every context of one tree (`scripts`, keyed
 * `0:<contextId>` as ScriptedPolicy expects for tree 0; context ids in creation order: root 0, then the
 * clones of its call in spec order) plus the tree the engine must produce from them (`tree`: every
 * context's ids, loss mask, calls, answer). Training reads `tree` (ids + lossMask per context); tests replay
 * `scripts` through runTrees and compare.
 *
 * Arithmetic, two kinds:
 *   mono      the root solves alone: one step `a op b=c;` per operation, then `<answer> A <eos>`
 *   delegate  the root splits its top level (the terms of the sum, or the factors of a single product) into
 *             contiguous groups; every group with an operation goes to a clone whose objective is exactly
 *             that slice of the prompt, with a budget from <b16>/<b32>/<b64>; a clone solves its slice like
 *             a mono root; the root then folds the returned values (and any bare-number groups it kept) with
 *             `+` (sum) or `*` (product) steps and answers.
 *   delegate, split style (DelegationOptions.arithStyle 'split'): the root writes the length-free split call
 *             `<spawn> BUDGET </spawn>`; the task halves its question (arithSplitter) into two clones whose prompts
 *             are questions too; a clone with more than leafTerms terms calls again while its depth allows, else
 *             solves alone; every caller adds its two returns in one step and answers.
 * Countdown, two kinds:
 *   mono      the root writes the operations of the item's canonical answer as `a op b=c;` steps (in the
 *             order the answer expression evaluates them), then `<answer> EXPR <eos>`
 *   delegate  the root spawns 2–3 clones, each trying a different first move `a op b=c` (at least one
 *             leads to a solution); a clone's objective is the reduced Countdown prompt (the other numbers
 *             in prompt order, then c); a clone solves it like a mono root, or answers `none` when the
 *             solver says it has no solution; the root writes the first move of the first clone that
 *             solved, then answers with that clone's expression with `(a op b)` put in place of c.
 *   search style (countdownStyle 'search'): the exhaustive depth-first search in the canonical move order
 *             (cdSearchMoves), stopped at the first move that reaches the target.
 *     mono      the root writes every move it tries (cdSearchText: `a op b=c[` ... `]` around the tries of the
 *               list a move leaves, `;` after a try that leaves one number), then answers with the path found;
 *               refused when it does not fit the root window (the long searches: the point of the style)
 *     delegate  a context hands its moves, in order, to clones (up to maxClonesPerCall per call), each with the
 *               reduced prompt as objective; a clone of 3+ numbers delegates again while its depth allows, else
 *               searches alone like the mono root; after each call the first return that holds an expression
 *               wins (its move as a step, then the combined answer), else the next call; `none` when every
 *               move failed
 * Multi-hop QA, two kinds:
 *   mono      the root's prompt is the monolithic view (the question and every paragraph that fits the root
 *             window, monolithicPromptIds); it writes one step `Bo.p=Ka;` per hop, then `<answer> NAME <eos>`;
 *             refused when a paragraph of the chain did not fit the view
 *   delegate  the root sees the question and the keys only (the item's prompt); for the first hops it
 *             spawns one clone per hop, `<obj> Bo.p BUDGET <ctx> KEY` with the key of the current entity's
 *             paragraph, and reads the return (the next entity); a clone reads its paragraph, writes the step
 *             `Bo.p=Ka;` and answers `Ka`. When 2 or more hops remain, one clone gets the rest of the path
 *             (`Ka.d.m`) and every paragraph (`<ctx>` per key) and writes their steps. The split point and
 *             the budgets are drawn; the root answers with the last return
 * Every trace is checked against a RolloutConfig (windows, budgets, return length, clones per call, tree
 * tokens); an item whose trace does not fit is refused with a reason, never silently truncated.
 * Pure TS: no tfjs.
 */
import { encodeChecked, type TextTokenizer } from '../tokenizer/index.ts';
import { docStore, protocolTokens, returnSegment, type DocStore, type ProtocolTokens, type RolloutConfig, type Splitter } from '../rollout/protocol.ts';
import type { RolloutItem } from '../rollout/engine.ts';
import { appendTokens, newContext, treeCost, type CallRecord, type Context, type Tree } from '../rollout/tree.ts';
import type { Rng } from '../util/rng.ts';
import { applyOp, ArithMetaSchema, parseExpr, renderTerms, solve, stepText, writeInt, type ArithOp, type Expr, type Term } from './arith.ts';
import { applyCd, cdSearchMoves, cdStepText, checkCdAnswer, countdownPrompt, CountdownMetaSchema, parseCd, renderCd, solveCountdown, type CdExpr, type CdStep } from './countdown.ts';
import { MONO_DOC_SEPARATOR, multihopMonoText, multihopObjective, multihopStep, MultihopMetaSchema, type MultihopItem } from './multihop.ts';
import { rootPromptIds, type TaskItem } from './types.ts';

export type TraceKind = 'mono' | 'delegate';

/**
 * Countdown's demonstrations: `guess` writes the solver's solution path (the dead ends are not written),
 * `search` the exhaustive depth-first search in the canonical move order (docs/tasks.md "Countdown search
 * traces").
 */
export type CountdownTraceStyle = 'guess' | 'search';

export interface Trace {
  kind: TraceKind;
  itemId: string;
  /** tokens the policy samples, per context, keyed `0:<contextId>` */
  scripts: Map<string, number[]>;
  /** the tree the engine builds when it replays the scripts (cost.ms = 0) */
  tree: Tree;
}

export type TraceResult = { ok: true; trace: Trace } | { ok: false; reason: string };

export interface DelegationOptions {
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
   * length-free split call `<spawn> BUDGET </spawn>` (the task halves the caller's question, arithSplitter),
   * recursively while a context holds more than `leafTerms` terms (default 4) and its depth allows a call
   */
  arithStyle?: 'copy' | 'split';
  leafTerms?: number;
  /**
   * Countdown: `guess` (default) one call of 2–3 first moves, at least one of them solving; `search` every first
   * move in the canonical order, `maxClones` (default cfg.maxClonesPerCall) per call, calls until one solves,
   * clones of 3+ numbers delegating again (countdownSearchDelegationTrace). The search style ignores
   * minClones and budgets (its budget tokens are CD_SEARCH_BUDGETS)
   */
  countdownStyle?: CountdownTraceStyle;
}

export const DEFAULT_TRACE_BUDGETS = [16, 32, 64];

/** Builds contexts the way the engine does (same ids, masks, call records). */
class TreeBuilder {
  readonly contexts: Context[] = [];
  readonly scripts = new Map<string, number[]>();

  add(parent: Context | null, callIndex: number | null, prompt: number[], budget: number): Context {
    const c = newContext(this.contexts.length, parent, callIndex, prompt, budget);
    this.contexts.push(c);
    this.scripts.set(`0:${c.id}`, []);
    return c;
  }

  sample(c: Context, tokens: number[]): void {
    appendTokens(c, tokens, true, tokens.map(() => 0));
    this.scripts.get(`0:${c.id}`)!.push(...tokens);
  }

  inject(c: Context, tokens: number[]): void {
    appendTokens(c, tokens, false);
  }

  tokens(): number {
    return this.contexts.reduce((n, c) => n + c.ids.length, 0);
  }

  tree(itemId: string): Tree {
    return { itemId, contexts: this.contexts, cost: treeCost(this.contexts, 0) };
  }
}

/** A clone's work in a delegation trace: its objective, the documents it gets by reference, the tokens it samples, and its answer. */
interface CloneWork {
  objective: number[];
  /** `<ctx> KEY` references: the key's ids and the document the engine expands into the clone's prompt */
  refs?: { key: number[]; doc: number[] }[];
  tokens: number[];
  answer: number[];
}
type CloneSpec = CloneWork & { budget: number };

/** Budget token id by the tokens it grants; every requested budget must have one. */
function budgetTokens(p: ProtocolTokens, budgets: readonly number[]): Map<number, number> {
  const byGrant = new Map([...p.budgets].map(([id, n]) => [n, id]));
  for (const n of budgets) if (!byGrant.has(n)) throw new Error(`delegationTrace: no budget token grants ${n} tokens`);
  return byGrant;
}

/** The budget the engine gives a clone whose spec names `n` tokens (cloneBudgets 'fixed': always defaultCloneBudget). */
function grantedBudget(n: number, cfg: RolloutConfig): number {
  return cfg.cloneBudgets === 'fixed' ? cfg.defaultCloneBudget : Math.min(n, cfg.cloneBudgetCap);
}

/** Each clone gets a budget drawn from those that cover its work and fit the clone window; or the reason none fits. */
function budgetedSpecs(works: readonly CloneWork[], budgets: readonly number[], cfg: RolloutConfig, rng: Rng): { ok: true; specs: CloneSpec[] } | { ok: false; reason: string } {
  const specs: CloneSpec[] = [];
  for (const w of works) {
    const need = w.tokens.length;
    const promptLength = w.objective.length + 2 + (w.refs ?? []).reduce((n, r) => n + 1 + r.doc.length, 0);
    const fits = budgets.filter((n) => grantedBudget(n, cfg) >= need && promptLength + need <= cfg.cloneWindow);
    if (!fits.length) return { ok: false, reason: `a clone needs ${need} tokens after a ${promptLength}-token prompt; no budget of ${budgets.join('/')} fits (${cfg.cloneBudgets === 'fixed' ? `fixed budgets of ${cfg.defaultCloneBudget}` : `cap ${cfg.cloneBudgetCap}`}, window ${cfg.cloneWindow})` };
    if (w.answer.length > cfg.returnTokens) return { ok: false, reason: `a clone's answer has ${w.answer.length} tokens, returnTokens is ${cfg.returnTokens}` };
    specs.push({ ...w, budget: rng.pick(fits) });
  }
  return { ok: true, specs };
}

/**
 * One call of the root, as the engine runs it: the root samples <spawn> (<obj> OBJECTIVE BUDGET (<ctx> KEY)*)*
 * </spawn>, each clone starts from <clone> OBJECTIVE (<doc> DOCUMENT)* <think> and samples its work, and the
 * returns are injected into the root. Calls are numbered in order (a root may call several times).
 */
function delegate(b: TreeBuilder, root: Context, specs: readonly CloneSpec[], budgetToken: Map<number, number>, p: ProtocolTokens, cfg: RolloutConfig): void {
  const start = root.ids.length;
  const index = root.calls.length;
  const refs = (s: CloneSpec) => s.refs ?? [];
  b.sample(root, [p.spawn, ...specs.flatMap((s) => [p.obj, ...s.objective, budgetToken.get(s.budget)!, ...refs(s).flatMap((r) => [p.ctx, ...r.key])]), p.endSpawn]);
  const record: CallRecord = { index, start, end: root.ids.length, clones: [], malformed: null, injected: 0 };
  root.calls.push(record);
  const clones = specs.map((s) => {
    const c = b.add(root, index, [p.clone, ...s.objective, ...refs(s).flatMap((r) => [p.doc, ...r.doc]), p.think], grantedBudget(s.budget, cfg));
    record.clones.push(c.id);
    b.sample(c, s.tokens);
    c.finish = 'answer';
    c.answer = s.answer;
    return c;
  });
  const returns = clones.flatMap((c) => returnSegment(c.answer, p, cfg));
  record.injected = returns.length;
  b.inject(root, returns);
}

/** The engine's limits for one context: generated ≤ budget, all ids ≤ window. */
function contextFits(c: Context, window: number): string | null {
  const gen = c.lossMask.reduce((a, b) => a + b, 0);
  if (gen > c.budget) return `context ${c.id} generates ${gen} tokens, its budget is ${c.budget}`;
  if (c.ids.length > window) return `context ${c.id} holds ${c.ids.length} tokens, its window is ${window}`;
  return null;
}

function treeFits(b: TreeBuilder, cfg: RolloutConfig): string | null {
  for (const c of b.contexts) {
    const bad = contextFits(c, c.parent === null ? cfg.rootWindow : cfg.cloneWindow);
    if (bad) return bad;
  }
  if (b.tokens() > cfg.maxTreeTokens) return `the tree holds ${b.tokens()} tokens, maxTreeTokens is ${cfg.maxTreeTokens}`;
  return null;
}

/** What a context samples to solve an expression alone: the steps, then <answer> A <eos>. */
function solutionTokens(e: Expr, reversed: boolean, tok: TextTokenizer, p: ProtocolTokens): { tokens: number[]; answer: number[] } {
  const { value, steps } = solve(e);
  const answer = encodeChecked(tok, writeInt(value, reversed));
  return { tokens: [...encodeChecked(tok, steps.map((s) => stepText(s, reversed)).join('')), p.answer, ...answer, p.eos], answer };
}

function arithSetup(item: TaskItem): { expr: Expr; reversed: boolean } | string {
  if (item.task !== 'arith') return `no demonstration traces for task "${item.task}" yet`;
  const meta = ArithMetaSchema.parse(item.meta);
  return { expr: parseExpr(item.prompt, meta.knobs.reversed), reversed: meta.knobs.reversed };
}

/** Tokens the monolithic view leaves free for the root to write by default: a 4-hop tiny chain (4 steps `B.p=K;` of 6 tokens, then `<answer> NAME <eos>`). */
export const MONO_VIEW_RESERVE = 28;

export interface RolloutViewOptions {
  /**
   * `keys` (default): the root's prompt is the item's prompt (for multi-hop QA: the question and the paragraph
   * keys, never the paragraphs), and clones get paragraphs through `<ctx> KEY`. `inline`: the monolithic view,
   * for the baseline without clones: the question and every paragraph that fits `window − reserve` tokens
   * (monolithicPromptIds). Items without documents look the same in both views.
   */
  view?: 'keys' | 'inline';
  /** the root window the inline view must fit (default 128, the RolloutConfig default rootWindow) */
  window?: number;
  /** tokens the inline view leaves free for the root to write (default MONO_VIEW_RESERVE) */
  reserve?: number;
}

/**
 * The monolithic view's prompt ids of an item: for multi-hop QA the question, then `|PARAGRAPH` for the
 * paragraphs in the item's order while the prompt (with its closing <think>) stays within `window − reserve`
 * tokens (the first paragraph that does not fit ends the list), then <think>; `included` counts the paragraphs
 * it holds. Any other item: its prompt (rootPromptIds), all of it.
 */
export function monolithicPromptIds(item: TaskItem, tok: TextTokenizer, opts: Pick<RolloutViewOptions, 'window' | 'reserve'> = {}): { ids: number[]; included: number } {
  if (!item.docs?.length) return { ids: rootPromptIds(item, tok), included: 0 };
  if (item.task !== 'multihop') throw new Error(`monolithicPromptIds: no monolithic view for task "${item.task}" with documents`);
  const limit = (opts.window ?? 128) - (opts.reserve ?? MONO_VIEW_RESERVE);
  const mh = { ...item, meta: MultihopMetaSchema.parse(item.meta) } as MultihopItem;
  const { text, included } = multihopMonoText(mh, (t) => encodeChecked(tok, t).length + 1 <= limit);
  return { ids: [...encodeChecked(tok, text), tok.id('<think>')], included };
}

/** The documents of an item as the engine's store (keys and texts as token ids); undefined without documents. */
export function itemDocStore(item: TaskItem, tok: TextTokenizer): DocStore | undefined {
  if (!item.docs?.length) return undefined;
  return docStore(item.docs.map((d) => ({ key: encodeChecked(tok, d.key), doc: encodeChecked(tok, d.text) })));
}

/**
 * The root's rollout input for an item: prompt ids (the prompt text then <think>, or the monolithic view with
 * `view: 'inline'`) and the item's documents as the DocStore that `<ctx> KEY` references read.
 */
export function rolloutItem(item: TaskItem, tok: TextTokenizer, opts: RolloutViewOptions = {}): RolloutItem {
  const prompt = opts.view === 'inline' ? monolithicPromptIds(item, tok, opts).ids : rootPromptIds(item, tok);
  const docs = itemDocStore(item, tok);
  const meta = item.task === 'arith' ? ArithMetaSchema.safeParse(item.meta) : null; // the split call needs the digit order
  const split = meta?.success ? { question: encodeChecked(tok, item.prompt), split: arithSplitter(tok, meta.data.knobs.reversed) } : {};
  return { itemId: item.id, prompt, ...(docs ? { docs } : {}), ...split };
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

/** Countdown's monolithic trace: the canonical answer's operations as steps, then the answer expression. */
function countdownMonoTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig): TraceResult {
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
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, trace: { kind: 'mono', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
}

/**
 * A Countdown search as the search-style traces write it (docs/tasks.md "Countdown search traces"): depth first
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
function countdownSearchMonoTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig): TraceResult {
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
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, trace: { kind: 'mono', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
}

/**
 * Multi-hop QA's monolithic trace: the root's prompt is the monolithic view for cfg.rootWindow (opts.reserve);
 * it writes one step per hop and answers. Refused when a paragraph the chain needs is not in the view.
 */
function multihopMonoTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, opts: MonolithicOptions): TraceResult {
  const m = MultihopMetaSchema.parse(item.meta);
  const view = monolithicPromptIds(item, tok, { window: cfg.rootWindow, reserve: opts.reserve });
  const inView = new Set(m.world.slice(0, view.included).map((e) => e.name));
  const missing = m.chain.slice(0, -1).filter((e) => !inView.has(e));
  if (missing.length) return { ok: false, reason: `the paragraphs of ${missing.join(', ')} are not in the monolithic view (${view.included} of ${m.world.length} paragraphs fit the ${cfg.rootWindow}-token window)` };
  const p = protocolTokens(tok);
  const b = new TreeBuilder();
  const root = b.add(null, null, view.ids, cfg.rootBudget);
  const steps = m.path.map((r, i) => multihopStep(m.chain[i], r, m.chain[i + 1])).join('');
  const answer = encodeChecked(tok, item.answer);
  b.sample(root, [...encodeChecked(tok, steps), p.answer, ...answer, p.eos]);
  root.finish = 'answer';
  root.answer = answer;
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, trace: { kind: 'mono', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
}

/** Queries in a multi-hop lookup drill, at most. */
export const MULTIHOP_DRILL_QUERIES = 6;

/**
 * A multi-hop lookup drill (SFT only, `sft.drills`): the one-hop skill, densely. The question lists up to
 * `maxQueries` one-hop queries drawn from the facts of the paragraphs in the monolithic view, `B.b,H.m?`, the
 * view holds those paragraphs as a real question's does, and the root writes every lookup as a hop, then
 * answers the last value: `B.b=O;H.m=S;<answer>S<eos>`. Everything it writes is fixed by its prompt. A real
 * question chains its hops (`B.b.m?`, one start entity); a drill's queries are independent, so each hop is one
 * lookup in the paragraphs. Fewer queries when the tree would not fit `cfg.rootWindow`.
 */
export function multihopDrillTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, maxQueries = MULTIHOP_DRILL_QUERIES): TraceResult {
  if (item.task !== 'multihop') return { ok: false, reason: `lookup drills are for multi-hop items, not ${item.task}` };
  const m = MultihopMetaSchema.parse(item.meta);
  if (m.knobs.style !== 'facts') return { ok: false, reason: `lookup drills need the facts style, not ${m.knobs.style}` };
  const view = monolithicPromptIds(item, tok, { window: cfg.rootWindow });
  const inView = m.world.slice(0, view.included);
  const facts = shuffled(
    rng,
    inView.flatMap((e) => e.facts.map(([r, v]) => ({ entity: e.name, relation: r, value: v }))),
  );
  const p = protocolTokens(tok);
  for (let k = Math.min(maxQueries, facts.length); k >= 1; k--) {
    const qs = facts.slice(0, k);
    const question = `${qs.map((q) => multihopObjective(q.entity, q.relation)).join(',')}?`;
    const text = question + item.docs!.slice(0, view.included).map((d) => MONO_DOC_SEPARATOR + d.text).join('');
    const b = new TreeBuilder();
    const root = b.add(null, null, [...encodeChecked(tok, text), p.think], cfg.rootBudget);
    const answer = encodeChecked(tok, qs[k - 1].value);
    b.sample(root, [...encodeChecked(tok, qs.map((q) => multihopStep(q.entity, q.relation, q.value)).join('')), p.answer, ...answer, p.eos]);
    root.finish = 'answer';
    root.answer = answer;
    if (!treeFits(b, cfg)) return { ok: true, trace: { kind: 'mono', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
  }
  return { ok: false, reason: `no lookup drill fits the ${cfg.rootWindow}-token window (${view.included} paragraphs in view)` };
}

export interface MonolithicOptions {
  /** multi-hop QA: tokens the monolithic view leaves free for the root to write (default MONO_VIEW_RESERVE) */
  reserve?: number;
  /** Countdown: `guess` (default) writes the solution path, `search` the whole search (cdSearchText) */
  countdownStyle?: CountdownTraceStyle;
}

/**
 * The monolithic trace: the root solves step by step and answers. For multi-hop QA the root's prompt is the
 * monolithic view (rolloutItem with `view: 'inline'`, window cfg.rootWindow); replay with replayInputs.
 */
export function monolithicTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, opts: MonolithicOptions = {}): TraceResult {
  if (item.task === 'countdown') return opts.countdownStyle === 'search' ? countdownSearchMonoTrace(item, tok, cfg) : countdownMonoTrace(item, tok, cfg);
  if (item.task === 'multihop') return multihopMonoTrace(item, tok, cfg, opts);
  const setup = arithSetup(item);
  if (typeof setup === 'string') return { ok: false, reason: setup };
  const p = protocolTokens(tok);
  const b = new TreeBuilder();
  const root = b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget);
  const sol = solutionTokens(setup.expr, setup.reversed, tok, p);
  b.sample(root, sol.tokens);
  root.finish = 'answer';
  root.answer = sol.answer;
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, trace: { kind: 'mono', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
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

function shuffled<T>(rng: Rng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * A delegation trace: one call of 2–3 clones (opts), each solving one slice of the prompt, then the root
 * combines. The split, the clone count and each clone's budget are drawn with `rng` among the choices that
 * fit `cfg`; refused when the item has no such split (too few operations, or nothing fits the windows).
 */
export function delegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: DelegationOptions = {}): TraceResult {
  if (item.task === 'countdown') return opts.countdownStyle === 'search' ? countdownSearchDelegationTrace(item, tok, cfg, opts) : countdownDelegationTrace(item, tok, cfg, rng, opts);
  if (item.task === 'multihop') return multihopDelegationTrace(item, tok, cfg, rng, opts);
  const setup = arithSetup(item);
  if (typeof setup === 'string') return { ok: false, reason: setup };
  if (opts.arithStyle === 'split') return arithSplitTrace(item, setup.expr.terms, setup.reversed, tok, cfg, rng, opts);
  const p = protocolTokens(tok);
  const minClones = opts.minClones ?? 2;
  const maxClones = Math.min(opts.maxClones ?? 3, cfg.maxClonesPerCall);
  const budgets = opts.budgets ?? DEFAULT_TRACE_BUDGETS;
  const budgetToken = budgetTokens(p, budgets);
  if (!cfg.allowSpawn || cfg.maxDepth < 1 || cfg.maxCallsPerTree < 1) return { ok: false, reason: 'the rollout config allows no spawn call' };

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
      const r = buildDelegation(item, groups, top.op, setup.reversed, tok, p, cfg, rng, budgets, budgetToken);
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
  tok: TextTokenizer,
  p: ProtocolTokens,
  cfg: RolloutConfig,
  rng: Rng,
  budgets: number[],
  budgetToken: Map<number, number>,
): TraceResult {
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
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, trace: { kind: 'delegate', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
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
function arithSplitTrace(item: TaskItem, terms: Term[], reversed: boolean, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: DelegationOptions): TraceResult {
  const p = protocolTokens(tok);
  const budgets = opts.budgets ?? [...DEFAULT_TRACE_BUDGETS, 128];
  const budgetToken = budgetTokens(p, budgets);
  const leaf = opts.leafTerms ?? 4;
  if (!cfg.allowSpawn || cfg.maxDepth < 1 || cfg.maxCallsPerTree < 1) return { ok: false, reason: 'the rollout config allows no spawn call' };
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
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, trace: { kind: 'delegate', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
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
function countdownDelegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: DelegationOptions): TraceResult {
  const meta = CountdownMetaSchema.parse(item.meta);
  const rev = meta.knobs.reversed;
  const p = protocolTokens(tok);
  const budgets = opts.budgets ?? DEFAULT_TRACE_BUDGETS;
  const budgetToken = budgetTokens(p, budgets);
  if (!cfg.allowSpawn || cfg.maxDepth < 1 || cfg.maxCallsPerTree < 1) return { ok: false, reason: 'the rollout config allows no spawn call' };
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
      const r = buildCdDelegation(item, meta.numbers, meta.target, rev, chosen, tok, p, cfg, rng, budgets, budgetToken);
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
  tok: TextTokenizer,
  p: ProtocolTokens,
  cfg: RolloutConfig,
  rng: Rng,
  budgets: number[],
  budgetToken: Map<number, number>,
): TraceResult {
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
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, trace: { kind: 'delegate', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
}

/**
 * Search style: a clone's budget token by the size of its list, so the caller can name it before the clone runs:
 * `<b64>` for 2 numbers (at most 4 tries and the answer), `<b128>` for more (a clone that delegates, or one that
 * searches 3+ numbers alone at the deepest level). A trace whose clone needs more is refused.
 */
export const CD_SEARCH_BUDGETS = { pair: 64, more: 128 } as const;

/**
 * A context of a planned tree: its prompt, its granted budget, the runs of tokens it samples (a run with clones
 * is exactly one call, `<spawn>` to `</spawn>`, and the engine injects their returns after it) and its answer.
 */
interface PlannedContext {
  prompt: number[];
  budget: number;
  runs: { tokens: number[]; clones?: PlannedContext[] }[];
  answer: number[];
}

/**
 * Build a planned tree as the engine runs it (runTrees): each step, every context not waiting on clones samples
 * one token, in creation order; a call's clones are created in spec order when its `</spawn>` is sampled and
 * sample from the next step; when the last clone of a call ends, the returns are injected and the caller samples
 * again from the next step. So context ids follow the engine's creation order, also when the calls of different
 * contexts close at different steps.
 */
function scheduleTree(b: TreeBuilder, root: PlannedContext, p: ProtocolTokens, cfg: RolloutConfig): void {
  interface Live {
    plan: PlannedContext;
    ctx: Context;
    parent: Live | null;
    run: number;
    pos: number;
    waiting: number;
    done: boolean;
  }
  const states: Live[] = [];
  const add = (plan: PlannedContext, parent: Live | null, callIndex: number | null): Live => {
    const s = { plan, ctx: b.add(parent?.ctx ?? null, callIndex, plan.prompt, plan.budget), parent, run: 0, pos: 0, waiting: 0, done: false };
    states.push(s);
    return s;
  };
  const end = (s: Live) => {
    s.done = true;
    s.ctx.finish = 'answer';
    s.ctx.answer = s.plan.answer;
    const parent = s.parent;
    if (!parent || --parent.waiting > 0) return;
    const call = parent.ctx.calls[parent.ctx.calls.length - 1];
    const returns = call.clones.flatMap((id) => returnSegment(b.contexts[id].answer, p, cfg));
    call.injected = returns.length;
    b.inject(parent.ctx, returns);
  };
  add(root, null, null);
  for (;;) {
    const live = states.filter((s) => !s.done && s.waiting === 0);
    if (!live.length) return;
    for (const s of live) {
      const run = s.plan.runs[s.run];
      b.sample(s.ctx, [run.tokens[s.pos++]]);
      if (s.pos < run.tokens.length) continue;
      [s.run, s.pos] = [s.run + 1, 0];
      if (run.clones) {
        const call: CallRecord = { index: s.ctx.calls.length, start: s.ctx.ids.length - run.tokens.length, end: s.ctx.ids.length, clones: [], malformed: null, injected: 0 };
        s.ctx.calls.push(call);
        for (const c of run.clones) call.clones.push(add(c, s, call.index).ctx.id);
        s.waiting = run.clones.length;
      } else if (s.run === s.plan.runs.length) end(s);
    }
  }
}

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
function countdownSearchDelegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, opts: DelegationOptions): TraceResult {
  const meta = CountdownMetaSchema.parse(item.meta);
  const rev = meta.knobs.reversed;
  const p = protocolTokens(tok);
  if (!cfg.allowSpawn || cfg.maxDepth < 1 || cfg.maxCallsPerTree < 1) return { ok: false, reason: 'the rollout config allows no spawn call' };
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

/**
 * Multi-hop QA's delegation trace. The root (question and keys only) follows the chain for `perHop` hops with one
 * call per hop, each with one clone that gets the current entity's paragraph by `<ctx> KEY`; when hops remain
 * after that (at least 2), one more call hands the rest of the path to a single clone that gets every paragraph
 * (the root does not know which it will need). perHop = hops is the pure chain (calls = hops); perHop = 0 hands
 * the whole question to one clone. The plan is drawn with `rng` among those that fit cfg (opts.multihopPlans
 * restricts it): a kind (chain, whole, chain-rest) uniformly, then its split point; each clone's budget among
 * opts.budgets that cover its work. Refused when spawning is off
 * or no plan fits (calls per tree, windows, budgets).
 */
function multihopDelegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: DelegationOptions): TraceResult {
  const m = MultihopMetaSchema.parse(item.meta);
  const p = protocolTokens(tok);
  const budgets = opts.budgets ?? DEFAULT_TRACE_BUDGETS;
  const budgetToken = budgetTokens(p, budgets);
  if (!cfg.allowSpawn || cfg.maxDepth < 1 || cfg.maxCallsPerTree < 1) return { ok: false, reason: 'the rollout config allows no spawn call' };
  // the plans by kind: perHop = hops (chain), 0 (whole), 1..hops-2 (chain-rest); a kind is drawn first, then its split
  const kinds = new Map<string, number[]>([
    ['chain', [m.hops]],
    ['whole', m.hops >= 2 ? [0] : []],
    ['chain-rest', Array.from({ length: Math.max(0, m.hops - 2) }, (_, j) => j + 1)],
  ]);
  const plans = shuffled(rng, [...kinds.keys()].filter((k) => (!opts.multihopPlans || opts.multihopPlans.includes(k as 'chain')) && kinds.get(k)!.length)).flatMap((k) => shuffled(rng, kinds.get(k)!));
  let reason = 'no plan allowed by opts.multihopPlans';
  for (const perHop of plans) {
    const r = buildMultihopDelegation(item, m, perHop, tok, p, cfg, rng, budgets, budgetToken);
    if (r.ok) return r;
    reason = r.reason;
  }
  return { ok: false, reason: plans.length > 1 ? `no plan fits: ${reason}` : reason };
}

function buildMultihopDelegation(
  item: TaskItem,
  m: MultihopItem['meta'],
  perHop: number,
  tok: TextTokenizer,
  p: ProtocolTokens,
  cfg: RolloutConfig,
  rng: Rng,
  budgets: number[],
  budgetToken: Map<number, number>,
): TraceResult {
  const calls = perHop + (perHop < m.hops ? 1 : 0);
  if (calls > cfg.maxCallsPerTree) return { ok: false, reason: `${calls} calls (${perHop} of one hop${perHop < m.hops ? ', one for the rest' : ''}), maxCallsPerTree is ${cfg.maxCallsPerTree}` };
  const docs = new Map((item.docs ?? []).map((d) => [d.key, d.text]));
  const ref = (e: { key: string }) => ({ key: encodeChecked(tok, e.key), doc: encodeChecked(tok, docs.get(e.key)!) });
  const byName = new Map(m.world.map((e) => [e.name, e]));
  /** what a context writes for hops [from, to): one step each, then <answer> the entity reached */
  const hopTokens = (from: number, to: number) => {
    const answer = encodeChecked(tok, m.chain[to]);
    const steps = m.path.slice(from, to).map((r, i) => multihopStep(m.chain[from + i], r, m.chain[from + i + 1])).join('');
    return { tokens: [...encodeChecked(tok, steps), p.answer, ...answer, p.eos], answer };
  };
  const b = new TreeBuilder();
  const root = b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget);
  const works: CloneWork[] = m.path.slice(0, perHop).map((r, i) => ({
    objective: encodeChecked(tok, multihopObjective(m.chain[i], r)),
    refs: [ref(byName.get(m.chain[i])!)],
    ...hopTokens(i, i + 1),
  }));
  if (perHop < m.hops) {
    works.push({
      objective: encodeChecked(tok, [m.chain[perHop], ...m.path.slice(perHop)].join('.')),
      refs: m.world.map(ref),
      ...hopTokens(perHop, m.hops),
    });
  }
  for (const w of works) {
    const planned = budgetedSpecs([w], budgets, cfg, rng);
    if (!planned.ok) return planned;
    delegate(b, root, planned.specs, budgetToken, p, cfg);
  }
  const answer = encodeChecked(tok, item.answer);
  b.sample(root, [p.answer, ...answer, p.eos]);
  root.finish = 'answer';
  root.answer = answer;
  const bad = treeFits(b, cfg);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, trace: { kind: 'delegate', itemId: item.id, scripts: b.scripts, tree: b.tree(item.id) } };
}

/**
 * Inputs for replaying traces of several items in one runTrees call: items in order (each root's prompt is the
 * one its trace starts from, so a multi-hop monolithic trace replays with its monolithic view), scripts re-keyed
 * by tree.
 */
export function replayInputs(pairs: { item: TaskItem; trace: Trace }[], tok: TextTokenizer): { items: RolloutItem[]; scripts: Map<string, number[]> } {
  const scripts = new Map<string, number[]>();
  pairs.forEach(({ trace }, t) => {
    for (const [key, s] of trace.scripts) scripts.set(`${t}:${key.slice(key.indexOf(':') + 1)}`, s);
  });
  const items = pairs.map(({ item, trace }) => {
    const root = trace.tree.contexts[0];
    return { ...rolloutItem(item, tok), prompt: root.ids.slice(0, root.promptLength) };
  });
  return { items, scripts };
}

/**
 * A trace as text, one context after another: the prompt, then each run of sampled (`gen`) and
 * engine-injected (`eng`) tokens, special tokens written out.
 */
export function traceText(trace: Trace, tok: TextTokenizer): string {
  const lines: string[] = [`${trace.kind} trace of ${trace.itemId}`];
  for (const c of trace.tree.contexts) {
    const who = c.parent === null ? 'root' : `clone of context ${c.parent}, call ${c.callIndex}`;
    lines.push(`context ${c.id} (${who}; budget ${c.budget}; ${c.ids.length} tokens)`);
    lines.push(`  prompt  ${tok.decode(c.ids.slice(0, c.promptLength))}`);
    let i = c.promptLength;
    while (i < c.ids.length) {
      let j = i;
      while (j < c.ids.length && c.lossMask[j] === c.lossMask[i]) j++;
      lines.push(`  ${c.lossMask[i] ? 'gen' : 'eng'}     ${tok.decode(c.ids.slice(i, j))}`);
      i = j;
    }
  }
  return lines.join('\n');
}
