/**
 * The tree rollout engine: many trees decode at once; every live context of every tree is one row of the
 * policy's batch (continuous batching). A parent that closes a spawn call leaves the batch; its clones join
 * with fresh contexts (clone header, objective, referenced documents only); when the last clone of the call
 * ends, the return segments are injected into the parent (loss-masked) and the parent rejoins.
 *
 * The policy is anything that gives the next token of a set of contexts: the model (ModelPolicy: a
 * RowDecoder + host sampling) or a fixed token script (tests). Nothing throws on bad model output: a
 * malformed call is recorded, answered with the error segment, and the parent goes on (or ends, per config).
 */
import type { Rng } from '../util/rng.ts';
import { SelfcestError } from '../util/errors.ts';
import type { GPT } from '../model/decoder.ts';
import type { RowDecoder } from '../model/row-decoder.ts';
import { sampleRows } from '../model/sampling.ts';
import {
  clonePrompt,
  extractAnswer,
  parseCall,
  returnSegment,
  type ProtocolTokens,
  type RolloutConfig,
  type RolloutItem,
} from './protocol.ts';
import { appendTokens, newContext, treeCost, type CallRecord, type Context, type Finish, type Tree } from './tree.ts';

export type { RolloutItem };


/** A context asking for its next token. `key` is unique across the trees of one run. */
export interface TokenRequest {
  key: number;
  /** which tree (index into the items) and which context of it */
  tree: number;
  context: number;
  ids: readonly number[];
  /** tokens the policy must not produce here */
  forbid: readonly number[];
}

export interface Policy {
  next(reqs: TokenRequest[]): Promise<{ token: number; logprob: number }[]>;
  /** these contexts stop decoding (waiting for clones, or finished) */
  release(keys: number[]): Promise<void>;
}

interface Live {
  tree: number;
  ctx: Context;
  key: number;
  /** position of an open <spawn> in ids, or -1 */
  openCall: number;
  /** for a parent waiting on a call: clone contexts still running */
  pending: Set<number> | null;
  window: number;
  done: boolean;
  /** what a split call of this context splits: the root's question, a clone's objective */
  objective: readonly number[] | null;
}

/** Optional observers of a run (e.g. a progress bar). */
export interface RunHooks {
  /** a tree ended (its root finished): its index into the items and the tokens its contexts hold */
  onTreeEnd?: (index: number, tokens: number) => void;
}

/**
 * The tokens a context at this depth must not sample: the engine's own tokens (returns, errors, ...), and <spawn>
 * where spawning is masked or the depth is at its limit. The learner masks the same tokens (grpo.ts).
 */
export function forbiddenTokens(p: ProtocolTokens, cfg: RolloutConfig, depth: number): number[] {
  const engineOnly = [...p.special].filter((t) => ![p.spawn, p.endSpawn, p.obj, p.ctx, p.answer, p.eos, p.think, ...p.budgets.keys()].includes(t));
  return !cfg.allowSpawn || depth >= cfg.maxDepth ? [...engineOnly, p.spawn] : engineOnly;
}

export async function runTrees(items: RolloutItem[], policy: Policy, cfg: RolloutConfig, p: ProtocolTokens, hooks: RunHooks = {}): Promise<Tree[]> {
  const t0 = performance.now();
  const trees = items.map((it) => ({ item: it, contexts: [] as Context[], tokens: 0, calls: 0, ended: false, ms: 0 }));
  const states: Live[] = [];
  const byKey = new Map<number, Live>();

  const addContext = (tree: number, parent: Context | null, callIndex: number | null, prompt: number[], budget: number, objective: readonly number[] | null): Live => {
    const t = trees[tree];
    const ctx = newContext(t.contexts.length, parent, callIndex, prompt, budget);
    t.contexts.push(ctx);
    t.tokens += prompt.length;
    const s: Live = { tree, ctx, key: states.length, openCall: -1, pending: null, window: parent ? cfg.cloneWindow : cfg.rootWindow, done: false, objective };
    states.push(s);
    byKey.set(s.key, s);
    return s;
  };

  const toRelease: number[] = [];
  /** tokens a tree may still hold: maxTreeTokens bounds all of them (prompts, samples, clone prompts, returns) */
  const room = (tree: number) => cfg.maxTreeTokens - trees[tree].tokens;
  /**
   * Append engine tokens (returns, an error segment; loss-masked) up to the context's window and the tree's
   * token limit, and return how many fit; the policy must re-read the context, so its row is released.
   */
  const inject = (s: Live, tokens: number[]): number => {
    if (!toRelease.includes(s.key)) toRelease.push(s.key);
    // a context never holds more than its window (training forwards it whole), a tree never more than
    // maxTreeTokens: what does not fit is dropped, and the context ends ('window' / 'tree-limit') on the next pass
    const kept = tokens.slice(0, Math.max(0, Math.min(s.window - s.ctx.ids.length, room(s.tree))));
    appendTokens(s.ctx, kept, false);
    trees[s.tree].tokens += kept.length;
    return kept.length;
  };

  const finish = (s: Live, why: Finish) => {
    if (s.done) return;
    s.done = true;
    s.ctx.finish = why;
    s.ctx.answer = why === 'answer' ? extractAnswer(s.ctx.ids.slice(s.ctx.promptLength), p, cfg.answerMarker) : null;
    if (!toRelease.includes(s.key)) toRelease.push(s.key);
    const t = trees[s.tree];
    if (s.ctx.parent === null) {
      t.ended = true;
      t.ms = performance.now() - t0;
      for (const o of states) if (o.tree === s.tree && !o.done) finish(o, 'tree-limit'); // only after a tree-limit
      hooks.onTreeEnd?.(s.tree, t.tokens);
      return;
    }
    // a clone ended: when it was the last of its call, answer the parent and let it go on
    const parent = states.find((o) => o.tree === s.tree && o.ctx.id === s.ctx.parent)!;
    if (!parent.pending || parent.done) return;
    parent.pending.delete(s.ctx.id);
    if (parent.pending.size > 0) return;
    parent.pending = null;
    const call = parent.ctx.calls[parent.ctx.calls.length - 1];
    const seg = call.clones.flatMap((id) => returnSegment(t.contexts[id].answer, p, cfg));
    call.injected = inject(parent, seg);
  };

  /** the context closed a call at the token just appended */
  const closeCall = (s: Live) => {
    const t = trees[s.tree];
    const start = s.openCall;
    s.openCall = -1;
    const end = s.ctx.ids.length;
    const call: CallRecord = { index: s.ctx.calls.length, start, end, clones: [], malformed: null, injected: 0 };
    s.ctx.calls.push(call);
    t.calls++;
    const parsed = parseCall(s.ctx.ids.slice(start + 1, end - 1), p, cfg, t.item.docs, { objective: s.objective, split: t.item.split });
    if (s.ctx.depth >= cfg.maxDepth) call.malformed = 'depth';
    else if (t.calls > cfg.maxCallsPerTree) call.malformed = 'calls-limit';
    else if (!parsed.ok) call.malformed = parsed.reason;
    else {
      const prompts = parsed.specs.map((spec) => clonePrompt(spec, p, t.item.docs));
      if (prompts.some((pr) => pr.length >= cfg.cloneWindow)) call.malformed = 'window';
      else if (prompts.reduce((n, pr) => n + pr.length, 0) > room(s.tree)) call.malformed = 'tree-tokens';
      else {
        s.pending = new Set();
        if (!toRelease.includes(s.key)) toRelease.push(s.key);
        parsed.specs.forEach((spec, i) => {
          const c = addContext(s.tree, s.ctx, call.index, prompts[i], spec.budget, spec.objective);
          call.clones.push(c.ctx.id);
          s.pending!.add(c.ctx.id);
        });
        return;
      }
    }
    call.injected = inject(s, [p.err]);
    if (cfg.malformed === 'end') finish(s, 'malformed');
  };

  items.forEach((it, i) => addContext(i, null, null, it.prompt, cfg.rootBudget, it.question ?? null));

  for (;;) {
    // contexts ready to sample: end those out of budget, window or tree tokens first
    const ready: Live[] = [];
    for (const s of states) {
      if (s.done || s.pending) continue;
      const generated = s.ctx.lossMask.reduce((a, b) => a + b, 0);
      if (trees[s.tree].tokens >= cfg.maxTreeTokens) finish(s, 'tree-limit');
      else if (generated >= s.ctx.budget) finish(s, 'budget');
      else if (s.ctx.ids.length >= s.window) finish(s, 'window');
      else ready.push(s);
    }
    // finishing can release parents (returns injected): they are picked up on the next pass. A tree with r tokens
    // of room lets at most r of its contexts sample this pass (in context order); the others leave the policy
    // and end with 'tree-limit' on the next pass, when the tree is full.
    const quota = new Map<number, number>();
    const live = ready.filter((s) => {
      if (s.done || s.pending) return false;
      const q = quota.get(s.tree) ?? room(s.tree);
      quota.set(s.tree, q - 1);
      if (q > 0) return true;
      if (!toRelease.includes(s.key)) toRelease.push(s.key);
      return false;
    });
    if (toRelease.length) await policy.release(toRelease.splice(0));
    if (live.length === 0) {
      if (states.every((s) => s.done || s.pending)) break;
      continue;
    }
    const reqs = live.map((s) => ({
      key: s.key,
      tree: s.tree,
      context: s.ctx.id,
      ids: s.ctx.ids,
      forbid: forbiddenTokens(p, cfg, s.ctx.depth),
    }));
    const out = await policy.next(reqs);
    live.forEach((s, i) => {
      const { token, logprob } = out[i];
      appendTokens(s.ctx, [token], true, [logprob]);
      trees[s.tree].tokens++;
      if (s.openCall >= 0) {
        if (token === p.endSpawn) closeCall(s);
        else if (token === p.spawn || token === p.eos) {
          // the call cannot be closed any more: it is malformed up to here
          const call: CallRecord = { index: s.ctx.calls.length, start: s.openCall, end: s.ctx.ids.length, clones: [], malformed: 'parse', injected: 0 };
          s.openCall = -1;
          s.ctx.calls.push(call);
          trees[s.tree].calls++;
          if (token === p.eos) finish(s, 'answer');
          else {
            call.injected = 1;
            inject(s, [p.err]);
            if (cfg.malformed === 'end') finish(s, 'malformed');
          }
        }
      } else if (token === p.spawn) s.openCall = s.ctx.ids.length - 1;
      else if (token === p.eos) finish(s, 'answer');
    });
  }
  if (toRelease.length) await policy.release(toRelease.splice(0));
  const total = performance.now() - t0;
  return trees.map((t) => ({ itemId: t.item.itemId, contexts: t.contexts, cost: treeCost(t.contexts, t.ms || total) }));
}

/** A fixed token script per context, keyed `${tree}:${contextId}`: drives the engine in tests. */
export class ScriptedPolicy implements Policy {
  private readonly scripts: Map<string, number[]>;
  private readonly cursor = new Map<string, number>();

  constructor(scripts: Map<string, number[]>) {
    this.scripts = scripts;
  }

  async next(reqs: TokenRequest[]): Promise<{ token: number; logprob: number }[]> {
    return reqs.map((r) => {
      const name = `${r.tree}:${r.context}`;
      const script = this.scripts.get(name);
      const i = this.cursor.get(name) ?? 0;
      if (!script || i >= script.length) throw new Error(`script ${name} has no token ${i}`);
      this.cursor.set(name, i + 1);
      return { token: script[i], logprob: 0 };
    });
  }

  async release(): Promise<void> {}
}

/**
 * The model as a policy: every requesting context is a row of a RowDecoder. Rows that already hold a context
 * step with its last token; contexts new to the decoder (fresh clones, parents back from a call) join with
 * all their ids. Sampling on the host with the explicit Rng, in request order.
 */
export class ModelPolicy implements Policy {
  private readonly dec: RowDecoder;
  private readonly vocab: number;
  private readonly cfg: RolloutConfig;
  private readonly rng: Rng;
  private readonly handle = new Map<number, number>(); // context key → row handle
  private readonly keyOf = new Map<number, number>(); // row handle → context key

  constructor(model: GPT, decoder: RowDecoder, cfg: RolloutConfig, rng: Rng) {
    this.dec = decoder;
    this.vocab = model.config.vocabSize;
    this.cfg = cfg;
    this.rng = rng;
  }

  async next(reqs: TokenRequest[]): Promise<{ token: number; logprob: number }[]> {
    const V = this.vocab;
    const want = new Map(reqs.map((r, i) => [r.key, i]));
    const logits = new Float32Array(reqs.length * V);
    // 1. every row in the decoder steps with its context's last token
    const rows = this.dec.handles;
    if (rows.length) {
      const tokens = rows.map((h) => {
        const i = want.get(this.keyOf.get(h)!);
        if (i === undefined) throw new SelfcestError(`rollout: row ${h} holds a context that asked for no token`);
        const ids = reqs[i].ids;
        return ids[ids.length - 1];
      });
      const out = await this.dec.step(tokens);
      rows.forEach((h, b) => logits.set(out.subarray(b * V, (b + 1) * V), want.get(this.keyOf.get(h)!)! * V));
    }
    // 2. contexts new to the decoder join with all their ids
    const fresh = reqs.filter((r) => !this.handle.has(r.key));
    if (fresh.length) {
      const { handles, logits: lg } = await this.dec.join(fresh.map((r) => [...r.ids]));
      fresh.forEach((r, j) => {
        this.handle.set(r.key, handles[j]);
        this.keyOf.set(handles[j], r.key);
        logits.set(lg.subarray(j * V, (j + 1) * V), want.get(r.key)! * V);
      });
    }
    const s = sampleRows(logits, reqs.length, V, { temperature: this.cfg.temperature, topK: this.cfg.topK, forbid: reqs.map((r) => r.forbid) }, this.rng);
    return s.tokens.map((token, i) => ({ token, logprob: s.logprobs[i] }));
  }

  async release(keys: number[]): Promise<void> {
    const handles = keys.filter((k) => this.handle.has(k)).map((k) => this.handle.get(k)!);
    for (const k of keys) {
      const h = this.handle.get(k);
      if (h === undefined) continue;
      this.handle.delete(k);
      this.keyOf.delete(h);
    }
    if (handles.length) await this.dec.leave(handles);
  }
}
