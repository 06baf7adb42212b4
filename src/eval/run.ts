/**
 * One evaluation point: every item of a split through the rollout engine (continuous batching: all trees of a
 * chunk decode as one batch, a chunk being up to `chunk` trees), then one record per item. Works with any
 * Policy (the model, or a script in tests). Pure of tfjs itself: the caller builds the policy.
 *
 *   clones  one tree per item, spawning allowed
 *   mono    one tree per item, spawning masked (RolloutConfig.allowSpawn false)
 *   sc      `samples` monolithic trees per item; the answer is the majority vote (normalised text), pass@n
 *           counts an item when any sample is right; cost = the sum over samples, critical path = the
 *           longest sample (they run in parallel), wall-clock = the slowest sample
 */
import type { Policy, TokenRequest } from '../rollout/engine.ts';
import { runTrees } from '../rollout/engine.ts';
import { protocolTokens, type RolloutConfig } from '../rollout/protocol.ts';
import type { Finish, Tree } from '../rollout/tree.ts';
import { normalizeText } from '../tasks/scoring.ts';
import { type RewardFn } from '../tasks/reward.ts';
import type { TaskItem } from '../tasks/types.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import { evalRolloutItem, type EvalMode } from './items.ts';
import { majorityVote } from './stats.ts';

export interface EvalRunSettings {
  mode: EvalMode;
  /** trees per item (sc); 1 otherwise */
  samples: number;
  /** the rollout config of this point (allowSpawn already set by the mode) */
  rollout: RolloutConfig;
  /** most trees per engine call (memory bound); all of a point's trees when larger */
  chunk: number;
  reward: RewardFn;
}

/** One line of examples.jsonl: what happened on one item. */
export interface ExampleRecord {
  id: string;
  /** 1 when the (voted) answer is right */
  correct: number;
  /** the task's reward of the (voted) tree, and its components (correct, cost terms, ...) */
  reward: number;
  components: Record<string, number>;
  /** the item's canonical answer */
  gold: string;
  /** the root's answer text (the voted one for sc), null when it gave none */
  answer: string | null;
  /** why the root (of the voted sample) stopped */
  finish: Finish | null;
  /** trees run for the item (samples) and how many were right: pass@n = right > 0 */
  samples: number;
  right: number;
  passAtN: number;
  /** sc: votes of the winning answer (0 when no sample answered) and which sample gave it (0 otherwise) */
  votes: number;
  sample: number;
  /**
   * tokens held by all contexts (prompt + sampled + injected), the root's and the clones', and the tokens on
   * the tree's critical path (sc: the longest sample)
   */
  tokens: { total: number; critical: number; root: number; clone: number };
  /** tokens sampled by the policy, root and clones */
  generated: { root: number; clone: number };
  calls: number;
  clones: number;
  malformed: number;
  /** milliseconds from the start of the engine call until the tree ended (sc: the slowest sample) */
  ms: number;
}

export interface PointResult {
  records: ExampleRecord[];
  /** every tree, item-major (item i's samples are trees i·samples .. i·samples + samples − 1) */
  trees: Tree[];
  wallSeconds: number;
}

/** A policy that sees global tree indices while the engine runs one chunk (scripts are keyed by tree index). */
function offsetPolicy(policy: Policy, offset: number): Policy {
  if (offset === 0) return policy;
  return {
    next: (reqs: TokenRequest[]) => policy.next(reqs.map((r) => ({ ...r, tree: r.tree + offset }))),
    release: (keys) => policy.release(keys),
  };
}

/** Per-item records from finished trees (item-major, `samples` trees per item). */
export function exampleRecords(items: readonly TaskItem[], trees: readonly Tree[], samples: number, reward: RewardFn, tok: TextTokenizer): ExampleRecord[] {
  if (trees.length !== items.length * samples) throw new Error(`exampleRecords: ${trees.length} trees for ${items.length} items x ${samples} samples`);
  return items.map((item, i) => {
    const group = trees.slice(i * samples, (i + 1) * samples);
    const scored = group.map((t) => {
      const ids = t.contexts[0].answer;
      const answer = ids === null ? null : tok.decode(ids);
      return { tree: t, answer, r: reward(item, t, tok) };
    });
    const vote = samples > 1 ? majorityVote(scored.map((s) => (s.answer === null ? null : normalizeText(s.answer)))) : { index: 0, votes: scored[0].answer === null ? 0 : 1 };
    const chosen = scored[Math.max(0, vote.index)];
    const right = scored.filter((s) => s.r.components.correct === 1).length;
    const sum = (f: (t: Tree) => number) => group.reduce((a, t) => a + f(t), 0);
    const max = (f: (t: Tree) => number) => Math.max(...group.map(f));
    return {
      id: item.id,
      correct: vote.index < 0 ? 0 : chosen.r.components.correct,
      reward: chosen.r.reward,
      components: { ...chosen.r.components },
      gold: item.answer,
      answer: vote.index < 0 ? null : chosen.answer,
      finish: chosen.tree.contexts[0].finish,
      samples,
      right,
      passAtN: right > 0 ? 1 : 0,
      votes: vote.votes,
      sample: Math.max(0, vote.index),
      tokens: {
        total: sum((t) => t.cost.processedTokens),
        critical: max((t) => t.cost.criticalPathTokens),
        root: sum((t) => t.cost.rootTokens),
        clone: sum((t) => t.cost.cloneTokens),
      },
      generated: { root: sum((t) => t.cost.rootGenerated), clone: sum((t) => t.cost.cloneGenerated) },
      calls: sum((t) => t.cost.calls),
      clones: sum((t) => t.cost.clones),
      malformed: sum((t) => t.cost.malformed),
      ms: Math.round(max((t) => t.cost.ms) * 10) / 10,
    };
  });
}

/**
 * Run one point: items × samples trees through `runTrees`, `chunk` trees per engine call, and score them.
 * `onTreeEnd(done, total, tokens)` is called as each tree ends (for a progress bar).
 */
export async function evalPoint(
  items: readonly TaskItem[],
  tok: TextTokenizer,
  policy: Policy,
  s: EvalRunSettings,
  onTreeEnd?: (done: number, total: number, tokens: number) => void,
): Promise<PointResult> {
  if (s.mode !== 'sc' && s.samples !== 1) throw new Error(`evalPoint: mode ${s.mode} runs one tree per item (samples ${s.samples})`);
  if (s.mode !== 'clones' && s.rollout.allowSpawn) throw new Error(`evalPoint: mode ${s.mode} needs allowSpawn false`);
  const t0 = performance.now();
  const p = protocolTokens(tok);
  const base = items.map((it) => evalRolloutItem(it, tok, s.mode, s.rollout.rootWindow));
  const all = base.flatMap((r) => Array.from({ length: s.samples }, () => r));
  const trees: Tree[] = [];
  let done = 0;
  for (let start = 0; start < all.length; start += s.chunk) {
    const part = all.slice(start, start + s.chunk);
    const out = await runTrees(part, offsetPolicy(policy, start), s.rollout, p, {
      onTreeEnd: (_, tokens) => onTreeEnd?.(++done, all.length, tokens),
    });
    trees.push(...out);
  }
  return { records: exampleRecords(items, trees, s.samples, s.reward, tok), trees, wallSeconds: (performance.now() - t0) / 1000 };
}
