/**
 * The record of one rollout: a tree of contexts (the root and the clones it spawned, recursively), each a
 * token sequence decoded by the same policy. One currency for rewards, advantages, batches and traces.
 * Pure TS: no tfjs.
 */

export type Role = 'root' | 'clone';

/**
 * Why a context stopped:
 * answer    emitted the end token (after an answer marker, or not)
 * budget    generated its generation budget without ending
 * window    filled its context window
 * malformed (root) a malformed call ended the tree (config malformed = 'end')
 * tree-limit the tree's total token limit was reached
 */
export type Finish = 'answer' | 'budget' | 'window' | 'malformed' | 'tree-limit';

/** Why a spawn call was rejected. */
export type MalformedReason = 'parse' | 'empty-objective' | 'too-many-clones' | 'unknown-ref' | 'depth' | 'calls-limit' | 'window' | 'tree-tokens' | 'unsplittable';

export interface CallRecord {
  /** index of this call among the parent's calls */
  index: number;
  /** position in the parent's ids of the call's first token (<spawn>) and one past its last (</spawn>) */
  start: number;
  end: number;
  /** clone context ids, in spec order (empty when malformed) */
  clones: number[];
  malformed: MalformedReason | null;
  /** the tokens injected into the parent after the call (returns or the error segment) */
  injected: number;
}

export interface Context {
  id: number;
  parent: number | null;
  depth: number;
  role: Role;
  /** which call of the parent created it */
  callIndex: number | null;
  /** generation budget (tokens this context may sample) */
  budget: number;
  promptLength: number;
  /** prompt + everything after: token in, token out */
  ids: number[];
  /** 1 = sampled by the policy; 0 = prompt, injected returns, documents, error segments */
  lossMask: number[];
  /** sampler log-prob per position (0 where lossMask = 0) */
  logprobs: number[];
  finish: Finish | null;
  /** token ids of the answer (between the answer marker and the end token), or null */
  answer: number[] | null;
  calls: CallRecord[];
}

export interface TreeCost {
  /** tokens sampled by the policy in the root / in all clones */
  rootGenerated: number;
  cloneGenerated: number;
  /** tokens held by the root / clones (prompt + sampled + injected): what the model had to process */
  rootTokens: number;
  cloneTokens: number;
  processedTokens: number;
  /** root tokens plus, for each of its calls, the longest clone (recursively for nested calls) */
  criticalPathTokens: number;
  calls: number;
  clones: number;
  malformed: number;
  ms: number;
}

/** How a tree did on its item (set by evaluations, shown on trace pages): absent on training rollouts. */
export interface TreeOutcome {
  /** the item's canonical answer */
  gold: string;
  /** the root's parsed answer, null when it gave none */
  answer: string | null;
  correct: number;
  reward: number;
  components: Record<string, number>;
}

export interface Tree {
  itemId: string;
  contexts: Context[];
  cost: TreeCost;
  outcome?: TreeOutcome;
}

/** A fresh context holding only its prompt (loss-masked). */
export function newContext(id: number, parent: Context | null, callIndex: number | null, prompt: readonly number[], budget: number): Context {
  return {
    id,
    parent: parent ? parent.id : null,
    depth: parent ? parent.depth + 1 : 0,
    role: parent ? 'clone' : 'root',
    callIndex,
    budget,
    promptLength: prompt.length,
    ids: [...prompt],
    lossMask: prompt.map(() => 0),
    logprobs: prompt.map(() => 0),
    finish: null,
    answer: null,
    calls: [],
  };
}

/** Append tokens: sampled by the policy (mask 1, with their log-probs) or injected by the engine (mask 0). */
export function appendTokens(c: Context, tokens: readonly number[], sampled: boolean, logprobs?: readonly number[]): void {
  c.ids.push(...tokens);
  c.lossMask.push(...tokens.map(() => (sampled ? 1 : 0)));
  c.logprobs.push(...tokens.map((_, i) => (sampled && logprobs ? logprobs[i] : 0)));
}

/** Tokens on the critical path of a context: its own tokens plus, per call, the longest clone's path. */
export function criticalPath(tree: Pick<Tree, 'contexts'>, id = 0): number {
  const c = tree.contexts[id];
  let total = c.ids.length;
  for (const call of c.calls) {
    if (call.clones.length) total += Math.max(...call.clones.map((k) => criticalPath(tree, k)));
  }
  return total;
}

export function treeCost(contexts: Context[], ms: number): TreeCost {
  const gen = (c: Context) => c.lossMask.reduce((a, b) => a + b, 0);
  const root = contexts[0];
  const clones = contexts.slice(1);
  const calls = contexts.flatMap((c) => c.calls);
  const rootTokens = root.ids.length;
  const cloneTokens = clones.reduce((a, c) => a + c.ids.length, 0);
  return {
    rootGenerated: gen(root),
    cloneGenerated: clones.reduce((a, c) => a + gen(c), 0),
    rootTokens,
    cloneTokens,
    processedTokens: rootTokens + cloneTokens,
    criticalPathTokens: criticalPath({ contexts }),
    calls: calls.length,
    clones: clones.length,
    malformed: calls.filter((k) => k.malformed !== null).length,
    ms,
  };
}
