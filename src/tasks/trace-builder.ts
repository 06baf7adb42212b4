/**
 * The shared builder of demonstration traces: it makes contexts exactly as the rollout engine does (same ids,
 * loss masks, call records, injected returns; src/rollout/engine.ts), so a trace's `tree` is what the engine
 * builds when a scripted policy replays its `scripts` (tests/tasks/traces.test.ts replays them). A task's traces
 * (src/tasks/<task>/traces.ts) plan what each context writes and hand it to this builder; every trace is checked
 * against a RolloutConfig (windows, budgets, return length, tree tokens): an item whose trace does not fit is
 * refused with a reason, never silently truncated. Pure TS: no tfjs.
 */
import { returnSegment, type ProtocolTokens, type RolloutConfig } from '../rollout/protocol.ts';
import { appendTokens, newContext, treeCost, type CallRecord, type Context, type Tree } from '../rollout/tree.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import type { Rng } from '../util/rng.ts';
import type { TraceKind, TraceResult } from './task.ts';

/** The budgets a demonstration's clone specs name by default, in tokens. */
export const DEFAULT_TRACE_BUDGETS = [16, 32, 64];

/** Builds contexts the way the engine does (same ids, masks, call records). */
export class TreeBuilder {
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

  /** The finished trace, or the reason it does not fit cfg (treeFits). */
  result(kind: TraceKind, itemId: string, cfg: RolloutConfig): TraceResult {
    const bad = treeFits(this, cfg);
    if (bad) return { ok: false, reason: bad };
    return { ok: true, trace: { kind, itemId, scripts: this.scripts, tree: this.tree(itemId) } };
  }
}

/** What building one delegation trace needs besides the item and its plan: tokenizer, protocol tokens, limits, draws, and the budgets a spec may name (with their tokens). */
export interface DelegationEnv {
  tok: TextTokenizer;
  p: ProtocolTokens;
  cfg: RolloutConfig;
  rng: Rng;
  budgets: readonly number[];
  budgetToken: Map<number, number>;
}

/** Why a rollout config leaves a delegation trace no call to make (spawning off, depth 0, no calls); null when it allows one. */
export function spawnRefusal(cfg: RolloutConfig): TraceResult | null {
  return !cfg.allowSpawn || cfg.maxDepth < 1 || cfg.maxCallsPerTree < 1 ? { ok: false, reason: 'the rollout config allows no spawn call' } : null;
}

/** A clone's work in a delegation trace: its objective, the documents it gets by reference, the tokens it samples, and its answer. */
export interface CloneWork {
  objective: number[];
  /** `<ctx> KEY` references: the key's ids and the document the engine expands into the clone's prompt */
  refs?: { key: number[]; doc: number[] }[];
  tokens: number[];
  answer: number[];
}

export type CloneSpec = CloneWork & { budget: number };

/** Budget token id by the tokens it grants; every requested budget must have one. */
export function budgetTokens(p: ProtocolTokens, budgets: readonly number[]): Map<number, number> {
  const byGrant = new Map([...p.budgets].map(([id, n]) => [n, id]));
  for (const n of budgets) if (!byGrant.has(n)) throw new Error(`delegationTrace: no budget token grants ${n} tokens`);
  return byGrant;
}

/** The budget the engine gives a clone whose spec names `n` tokens (cloneBudgets 'fixed': always defaultCloneBudget). */
export function grantedBudget(n: number, cfg: RolloutConfig): number {
  return cfg.cloneBudgets === 'fixed' ? cfg.defaultCloneBudget : Math.min(n, cfg.cloneBudgetCap);
}

/** Each clone gets a budget drawn from those that cover its work and fit the clone window; or the reason none fits. */
export function budgetedSpecs(works: readonly CloneWork[], budgets: readonly number[], cfg: RolloutConfig, rng: Rng): { ok: true; specs: CloneSpec[] } | { ok: false; reason: string } {
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
export function delegate(b: TreeBuilder, root: Context, specs: readonly CloneSpec[], budgetToken: Map<number, number>, p: ProtocolTokens, cfg: RolloutConfig): void {
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

export function treeFits(b: TreeBuilder, cfg: RolloutConfig): string | null {
  for (const c of b.contexts) {
    const bad = contextFits(c, c.parent === null ? cfg.rootWindow : cfg.cloneWindow);
    if (bad) return bad;
  }
  if (b.tokens() > cfg.maxTreeTokens) return `the tree holds ${b.tokens()} tokens, maxTreeTokens is ${cfg.maxTreeTokens}`;
  return null;
}

export function shuffled<T>(rng: Rng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * A context of a planned tree: its prompt, its granted budget, the runs of tokens it samples (a run with clones
 * is exactly one call, `<spawn>` to `</spawn>`, and the engine injects their returns after it) and its answer.
 */
export interface PlannedContext {
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
export function scheduleTree(b: TreeBuilder, root: PlannedContext, p: ProtocolTokens, cfg: RolloutConfig): void {
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
