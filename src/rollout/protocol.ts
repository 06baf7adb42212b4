/**
 * The clone protocol: special tokens, no JSON (docs/protocol.md).
 *
 *   call     <spawn> SPEC+ </spawn>
 *   SPEC     <obj> OBJECTIVE [BUDGET] (<ctx> KEY)*        BUDGET ∈ <b16> <b32> <b64> <b128>
 *   split    <spawn> [BUDGET] </spawn>                     the task splits the caller's objective (its question)
 *                                                          into parts, one clone each with that budget; a
 *                                                          length-free call (tasks with a Splitter only)
 *   clone    <clone> OBJECTIVE (<doc> DOCUMENT)* <think>   then the clone generates ... <answer> A <eos>
 *   returns  <ret> A1 </ret> <ret> A2 </ret> ...           injected into the parent, one per spec, in order
 *   error    <err>                                         injected instead when the call is malformed
 *
 * OBJECTIVE and KEY are plain (non-special) tokens, copied token for token: nothing is decoded and re-encoded.
 * A KEY names a document of the task's store by its exact token ids. Pure TS: no tfjs.
 */
import { z } from 'zod';
import type { TextTokenizer } from '../tokenizer/index.ts';
import type { MalformedReason } from './tree.ts';

export const RolloutConfigSchema = z
  .object({
    /** false: the spawn token is masked for every context (the monolithic baseline) */
    allowSpawn: z.boolean().default(true),
    maxClonesPerCall: z.number().int().min(1).default(4),
    maxCallsPerTree: z.number().int().min(0).default(4),
    /** clones may spawn clones while their depth is below this (1: only the root spawns) */
    maxDepth: z.number().int().min(0).default(1),
    /** total tokens held by all contexts of a tree, a hard limit (docs/protocol.md); at it every live context ends with 'tree-limit' */
    maxTreeTokens: z.number().int().min(1).default(4096),
    rootWindow: z.number().int().min(2).default(128),
    cloneWindow: z.number().int().min(2).default(128),
    /** tokens the root may sample */
    rootBudget: z.number().int().min(1).default(96),
    /** a clone's budget when its spec names none, and the most any spec may grant */
    defaultCloneBudget: z.number().int().min(1).default(32),
    cloneBudgetCap: z.number().int().min(1).default(128),
    /**
     * learned: a spec's budget token sets its clone's budget (capped by cloneBudgetCap); fixed: budget tokens
     * still parse but every clone gets defaultCloneBudget (the ablation of learned budgets)
     */
    cloneBudgets: z.enum(['learned', 'fixed']).default('learned'),
    /** answer tokens returned to the parent per clone (longer answers are truncated) */
    returnTokens: z.number().int().min(1).default(16),
    /** which end of a longer answer the return keeps: its first returnTokens tokens, or its last (the reference) */
    returnTruncation: z.enum(['head', 'tail']).default('head'),
    /** a context's answer follows its last answer marker, or its first (the reference) */
    answerMarker: z.enum(['last', 'first']).default('last'),
    /** after a malformed call: inject the error segment and go on, or end the tree */
    malformed: z.enum(['continue', 'end']).default('continue'),
    temperature: z.number().min(0).default(1),
    topK: z.number().int().min(0).default(0),
  })
  .strict();
export type RolloutConfig = z.infer<typeof RolloutConfigSchema>;

/** Special-token ids of the protocol. */
export interface ProtocolTokens {
  spawn: number;
  endSpawn: number;
  obj: number;
  ctx: number;
  ret: number;
  endRet: number;
  answer: number;
  eos: number;
  clone: number;
  doc: number;
  think: number;
  err: number;
  /** budget token id → tokens granted */
  budgets: Map<number, number>;
  /** every special id (objectives and keys must not contain them) */
  special: Set<number>;
}

export function protocolTokens(tok: TextTokenizer): ProtocolTokens {
  const special = new Set<number>();
  for (let i = 0; i < tok.vocabSize; i++) if (tok.isSpecial(i)) special.add(i);
  return {
    spawn: tok.id('<spawn>'),
    endSpawn: tok.id('</spawn>'),
    obj: tok.id('<obj>'),
    ctx: tok.id('<ctx>'),
    ret: tok.id('<ret>'),
    endRet: tok.id('</ret>'),
    answer: tok.id('<answer>'),
    eos: tok.id('<eos>'),
    clone: tok.id('<clone>'),
    doc: tok.id('<doc>'),
    think: tok.id('<think>'),
    err: tok.id('<err>'),
    budgets: new Map([
      [tok.id('<b16>'), 16],
      [tok.id('<b32>'), 32],
      [tok.id('<b64>'), 64],
      [tok.id('<b128>'), 128],
    ]),
    special,
  };
}

/** A task's documents, addressed by the exact token ids of their keys. */
export interface DocStore {
  get(key: readonly number[]): readonly number[] | undefined;
}

export function docStore(docs: { key: number[]; doc: number[] }[]): DocStore {
  const m = new Map(docs.map((d) => [d.key.join(','), d.doc]));
  return { get: (key) => m.get(key.join(',')) };
}

/**
 * A task's split of an objective (a root's question or a clone's objective, token ids) into the objectives of
 * the clones of a split call, in the same format, so clones can split again; null when it cannot be split.
 */
export type Splitter = (objective: readonly number[]) => number[][] | null;

/** What a split call needs: the caller's objective and the task's splitter (either may be missing). */
export interface SplitSource {
  objective: readonly number[] | null;
  split?: Splitter;
}

export interface CloneSpec {
  objective: number[];
  budget: number;
  refs: number[][];
}

export type ParsedCall = { ok: true; specs: CloneSpec[] } | { ok: false; reason: MalformedReason };

/** The budget a spec or split call grants for its budget token (undefined: none named). */
function grant(token: number | undefined, p: ProtocolTokens, cfg: RolloutConfig): number {
  if (token === undefined || cfg.cloneBudgets === 'fixed') return cfg.defaultCloneBudget;
  return Math.min(p.budgets.get(token)!, cfg.cloneBudgetCap);
}

/**
 * Parse the tokens strictly between <spawn> and </spawn>. Budgets are capped by cloneBudgetCap; a spec
 * without one gets defaultCloneBudget. An empty body (or a budget token alone) is a split call: with the
 * task's splitter and the caller's objective it becomes one spec per part (no refs); without them it is
 * malformed ('parse'), and an objective the task cannot split is 'unsplittable'.
 */
export function parseCall(body: readonly number[], p: ProtocolTokens, cfg: RolloutConfig, docs?: DocStore, split?: SplitSource): ParsedCall {
  if (body.length === 0 || (body.length === 1 && p.budgets.has(body[0]))) {
    if (!split?.split) return { ok: false, reason: 'parse' };
    const parts = split.objective ? split.split(split.objective) : null;
    if (!parts || parts.length < 2 || parts.some((o) => o.length === 0)) return { ok: false, reason: 'unsplittable' };
    if (parts.length > cfg.maxClonesPerCall) return { ok: false, reason: 'too-many-clones' };
    const budget = grant(body[0], p, cfg);
    return { ok: true, specs: parts.map((objective) => ({ objective, budget, refs: [] })) };
  }
  if (body[0] !== p.obj) return { ok: false, reason: 'parse' };
  const specs: CloneSpec[] = [];
  let i = 0;
  while (i < body.length) {
    i++; // <obj>
    const objective: number[] = [];
    while (i < body.length && !p.special.has(body[i])) objective.push(body[i++]);
    if (objective.length === 0) return { ok: false, reason: 'empty-objective' };
    const budget = grant(i < body.length && p.budgets.has(body[i]) ? body[i++] : undefined, p, cfg);
    const refs: number[][] = [];
    while (i < body.length && body[i] === p.ctx) {
      i++;
      const key: number[] = [];
      while (i < body.length && !p.special.has(body[i])) key.push(body[i++]);
      if (key.length === 0) return { ok: false, reason: 'parse' };
      if (!docs || docs.get(key) === undefined) return { ok: false, reason: 'unknown-ref' };
      refs.push(key);
    }
    if (i < body.length && body[i] !== p.obj) return { ok: false, reason: 'parse' };
    specs.push({ objective, budget, refs });
  }
  if (specs.length > cfg.maxClonesPerCall) return { ok: false, reason: 'too-many-clones' };
  return { ok: true, specs };
}

/** <clone> OBJECTIVE (<doc> DOCUMENT)* <think> */
export function clonePrompt(spec: CloneSpec, p: ProtocolTokens, docs?: DocStore): number[] {
  const out = [p.clone, ...spec.objective];
  for (const key of spec.refs) out.push(p.doc, ...docs!.get(key)!);
  out.push(p.think);
  return out;
}

/** One return segment: <ret> answer (truncated) </ret>, or <ret> <err> </ret> for a clone without an answer. */
export function returnSegment(answer: readonly number[] | null, p: ProtocolTokens, cfg: RolloutConfig): number[] {
  const kept = answer === null ? [p.err] : cfg.returnTruncation === 'tail' ? answer.slice(Math.max(0, answer.length - cfg.returnTokens)) : answer.slice(0, cfg.returnTokens);
  return [p.ret, ...kept, p.endRet];
}

/** The answer of a finished context: the tokens after its last (or first) answer marker, up to the end token. */
export function extractAnswer(generated: readonly number[], p: ProtocolTokens, marker: 'last' | 'first' = 'last'): number[] | null {
  const end = generated.lastIndexOf(p.eos);
  const upto = end < 0 ? generated.length : end;
  const start = marker === 'last' ? generated.lastIndexOf(p.answer, upto - 1) : generated.indexOf(p.answer);
  if (start < 0 || start >= upto) return null;
  return generated.slice(start + 1, upto);
}

/** One tree's input to the engine (runTrees): the root's prompt, the documents `<ctx> KEY` reads, the split call's question and splitter. */
export interface RolloutItem {
  itemId: string;
  /** the root's prompt ids */
  prompt: number[];
  docs?: DocStore;
  /** the root's question (its objective, what a split call splits) and the task's splitter */
  question?: number[];
  split?: Splitter;
}
