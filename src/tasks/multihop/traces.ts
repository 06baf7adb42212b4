/**
 * Multi-hop QA's views and demonstration traces (built by src/tasks/trace-builder.ts; README.md here):
 *   mono      the root's prompt is the monolithic view (the question and every paragraph that fits the root
 *             window, multihopMonoView); it writes one step `Bo.p=Ka;` per hop, then `<answer> NAME <eos>`;
 *             refused when a paragraph of the chain did not fit the view
 *   delegate  the root sees the question and the keys only (the item's prompt); for the first hops it
 *             spawns one clone per hop, `<obj> Bo.p BUDGET <ctx> KEY` with the key of the current entity's
 *             paragraph, and reads the return (the next entity); a clone reads its paragraph, writes the step
 *             `Bo.p=Ka;` and answers `Ka`. When 2 or more hops remain, one clone gets the rest of the path
 *             (`Ka.d.m`) and every paragraph (`<ctx>` per key) and writes their steps. The split point and
 *             the budgets are drawn; the root answers with the last return
 *   drill     (SFT's `sft.drills`) the one-hop lookup skill, densely: multihopDrillTrace
 * Pure TS: no tfjs.
 */
import { protocolTokens, type RolloutConfig } from '../../rollout/protocol.ts';
import { encodeChecked, type TextTokenizer } from '../../tokenizer/index.ts';
import type { Rng } from '../../util/rng.ts';
import { MONO_VIEW_RESERVE, type TraceOptions, type TraceResult, type ViewWindow } from '../task.ts';
import { budgetedSpecs, budgetTokens, DEFAULT_TRACE_BUDGETS, delegate, shuffled, spawnRefusal, TreeBuilder, type DelegationEnv, type CloneWork } from '../trace-builder.ts';
import { rootPromptIds, type TaskItem } from '../types.ts';
import { MONO_DOC_SEPARATOR, multihopMonoText, multihopObjective, multihopStep, MultihopMetaSchema, type MultihopItem } from './multihop.ts';

/**
 * The monolithic view's prompt ids of a multi-hop item: the question, then `|PARAGRAPH` for the paragraphs in the
 * item's order while the prompt (with its closing <think>) stays within `window − reserve` tokens (the first
 * paragraph that does not fit ends the list), then <think>; `included` counts the paragraphs it holds.
 */
export function multihopMonoView(item: TaskItem, tok: TextTokenizer, w: ViewWindow): { ids: number[]; included: number } {
  if (!item.docs?.length) return { ids: rootPromptIds(item, tok), included: 0 };
  const limit = w.window - w.reserve;
  const mh = { ...item, meta: MultihopMetaSchema.parse(item.meta) } as MultihopItem;
  const { text, included } = multihopMonoText(mh, (t) => encodeChecked(tok, t).length + 1 <= limit);
  return { ids: [...encodeChecked(tok, text), tok.id('<think>')], included };
}

/**
 * Multi-hop QA's monolithic trace: the root's prompt is the monolithic view for cfg.rootWindow (opts.reserve);
 * it writes one step per hop and answers. Refused when a paragraph the chain needs is not in the view.
 */
export function multihopMonoTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, opts: TraceOptions): TraceResult {
  const m = MultihopMetaSchema.parse(item.meta);
  const view = multihopMonoView(item, tok, { window: cfg.rootWindow, reserve: opts.reserve ?? MONO_VIEW_RESERVE });
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
  return b.result('mono', item.id, cfg);
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
  const view = multihopMonoView(item, tok, { window: cfg.rootWindow, reserve: MONO_VIEW_RESERVE });
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
    const r = b.result('mono', item.id, cfg);
    if (r.ok) return r;
  }
  return { ok: false, reason: `no lookup drill fits the ${cfg.rootWindow}-token window (${view.included} paragraphs in view)` };
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
export function multihopDelegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: TraceOptions): TraceResult {
  const m = MultihopMetaSchema.parse(item.meta);
  const p = protocolTokens(tok);
  const budgets = opts.budgets ?? DEFAULT_TRACE_BUDGETS;
  const budgetToken = budgetTokens(p, budgets);
  const noSpawn = spawnRefusal(cfg);
  if (noSpawn) return noSpawn;
  // the plans by kind: perHop = hops (chain), 0 (whole), 1..hops-2 (chain-rest); a kind is drawn first, then its split
  const kinds = new Map<string, number[]>([
    ['chain', [m.hops]],
    ['whole', m.hops >= 2 ? [0] : []],
    ['chain-rest', Array.from({ length: Math.max(0, m.hops - 2) }, (_, j) => j + 1)],
  ]);
  const plans = shuffled(rng, [...kinds.keys()].filter((k) => (!opts.multihopPlans || opts.multihopPlans.includes(k as 'chain')) && kinds.get(k)!.length)).flatMap((k) => shuffled(rng, kinds.get(k)!));
  let reason = 'no plan allowed by opts.multihopPlans';
  for (const perHop of plans) {
    const r = buildMultihopDelegation(item, m, perHop, { tok, p, cfg, rng, budgets, budgetToken });
    if (r.ok) return r;
    reason = r.reason;
  }
  return { ok: false, reason: plans.length > 1 ? `no plan fits: ${reason}` : reason };
}

function buildMultihopDelegation(
  item: TaskItem,
  m: MultihopItem['meta'],
  perHop: number,
  env: DelegationEnv,
): TraceResult {
  const { tok, p, cfg, rng, budgets, budgetToken } = env;
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
  return b.result('delegate', item.id, cfg);
}
