/**
 * Credit assignment for tree GRPO: one scalar advantage per context of every tree, from one global reward per
 * tree. A group is the G trees sampled for one prompt (never a node). Pure functions, no tfjs.
 *
 * Group baseline of the root rewards R_1..R_G (normalize):
 *   mean       A_i = R_i - mean(R)
 *   mean-std   A_i = (R_i - mean(R)) / (std(R) + eps)       std unbiased (n-1), as the reference
 *   G = 1: no baseline exists: mean 0 and std 1, so A = R (as the reference implementation does).
 *   A zero-variance group (G ≥ 2, all R equal) gives A = 0 for every tree; its share is reported.
 * loo replaces the group mean by the mean of the *other* trees (RLOO): A_i = R_i - mean_{j≠i} R_j
 *   (then divided by std + eps under mean-std); G = 1 as above.
 *
 * From the root's advantage to every context of its tree (assigner):
 *   broadcast  every context gets the root's advantage
 *   selfcest   the reference implementation's credit: a clone gets A_root · cloneScale (the reference's ratio
 *              R_clone / R_root is 1 for its arithmetic and QA rewards, 0.4 = cloneScale for its math reward), and 0
 *              when gated (below). Clone-local rewards are ignored. Departure: the reference's 0/0 edge case (R_root
 *              exactly 0 gives its clones 0) is not kept; it made credit discontinuous in R_root at 0 and left clones
 *              of failed trees without gradient, so here selfcest without gating equals broadcast everywhere.
 *   loo        as broadcast, with the leave-one-out baseline above; with looScope 'subtree' the clones of one call
 *              form their own leave-one-out group over their clone-local rewards: A_clone = R_clone − mean of its
 *              siblings' rewards (a call with one clone, or without clone-local rewards, falls back to A_root)
 *   local      clone-local rewards enter additively, normalised per call: A_clone = A_root + localWeight ·
 *              (r_c − mean of its call's r) / (std of its call's r + eps) (unbiased std; 0 for a call of one clone or
 *              without clone-local rewards)
 * gating (default on for selfcest, off otherwise; on top of any assigner): a clone that did not return an answer
 *   (ended by budget, window, tree limit or a malformed call, or with <eos> and no answer marker) or that made a
 *   malformed call gets advantage 0 (the reference zeroes malformed clones).
 */
import { z } from 'zod';
import type { Context, Tree } from '../rollout/tree.ts';

export const AdvantageConfigSchema = z
  .object({
    normalize: z.enum(['mean', 'mean-std']).default('mean-std'),
    eps: z.number().positive().default(1e-6),
    assigner: z.enum(['broadcast', 'selfcest', 'loo', 'local']).default('selfcest'),
    /** zero the advantage of clones without an answer (absent: on for selfcest, off for the others) */
    gating: z.boolean().optional(),
    /** selfcest: a well-formed clone's share of its root's advantage (the reference's R_clone / R_root) */
    cloneScale: z.number().default(1),
    /** local: weight of the per-call normalised clone-local reward */
    localWeight: z.number().min(0).default(0.5),
    /** no longer used (the ratio clamp of selfcest before the credit fix); accepted so that runs saved before it load */
    ratioClamp: z.number().positive().optional(),
    /** loo: the baseline of clones over the whole group (as roots), or over the sibling clones of their call */
    looScope: z.enum(['group', 'subtree']).default('group'),
  })
  .strict();
export type AdvantageConfig = z.infer<typeof AdvantageConfigSchema>;

export interface TreeReward {
  /** the tree's global reward (the root's) */
  root: number;
  /** clone-local rewards by context id, where the reward function defines them */
  perContext?: ReadonlyMap<number, number>;
  /** parts of the reward; `correct` (1 when the answer is right) is averaged into the step metrics as `acc` */
  components?: { readonly correct?: number };
}

export interface GroupAdvantages {
  /** advantages[t][c]: tree t of the group, context c */
  advantages: number[][];
  /** the group's root rewards all equal (G ≥ 2): no learning signal */
  zeroVariance: boolean;
  /** clone contexts in the group, and how many of them the gate zeroed */
  clones: number;
  gatedClones: number;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** unbiased standard deviation (0 for fewer than 2 values) */
function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
}

/** Root advantages of one group. */
export function rootAdvantages(rewards: readonly number[], cfg: AdvantageConfig): number[] {
  const G = rewards.length;
  if (G === 0) return [];
  if (G === 1) return [rewards[0]];
  const s = cfg.normalize === 'mean-std' ? std(rewards) + cfg.eps : 1;
  const total = rewards.reduce((a, b) => a + b, 0);
  return rewards.map((r) => {
    const baseline = cfg.assigner === 'loo' ? (total - r) / (G - 1) : total / G;
    return (r - baseline) / s;
  });
}

/** Leave-one-out over the clones of c's call, by clone-local reward; null when there is no such group. */
function siblingLoo(t: Tree, c: Context, local: ReadonlyMap<number, number> | undefined): number | null {
  const parent = t.contexts[c.parent!];
  const siblings = parent.calls[c.callIndex!]?.clones ?? [];
  if (siblings.length < 2 || !local || siblings.some((k) => !local.has(k))) return null;
  const others = siblings.filter((k) => k !== c.id).map((k) => local.get(k)!);
  return local.get(c.id)! - others.reduce((a, b) => a + b, 0) / others.length;
}

/** a clone that returned no answer, or made a malformed call */
export function gated(c: Context): boolean {
  return c.finish !== 'answer' || c.answer === null || c.calls.some((k) => k.malformed !== null);
}

/** the gate in effect: the config's, else on for selfcest only */
export function gatingOn(cfg: AdvantageConfig): boolean {
  return cfg.gating ?? cfg.assigner === 'selfcest';
}

/** (r_c − mean of its call's r) / (std + eps) over the clones of c's call, by clone-local reward; 0 without a group */
function callNormalised(t: Tree, c: Context, local: ReadonlyMap<number, number> | undefined, eps: number): number {
  const siblings = t.contexts[c.parent!].calls[c.callIndex!]?.clones ?? [];
  if (siblings.length < 2 || !local || siblings.some((k) => !local.has(k))) return 0;
  const rs = siblings.map((k) => local.get(k)!);
  return (local.get(c.id)! - mean(rs)) / (std(rs) + eps);
}

export function groupAdvantages(trees: readonly Tree[], rewards: readonly TreeReward[], cfg: AdvantageConfig): GroupAdvantages {
  if (trees.length !== rewards.length) throw new Error(`${trees.length} trees but ${rewards.length} rewards`);
  const R = rewards.map((r) => r.root);
  const roots = rootAdvantages(R, cfg);
  const gate = gatingOn(cfg);
  let clones = 0;
  let gatedClones = 0;
  const advantages = trees.map((t, i) => {
    const aRoot = roots[i];
    return t.contexts.map((c) => {
      if (c.role === 'root') return aRoot;
      clones++;
      if (gate && gated(c)) {
        gatedClones++;
        return 0;
      }
      if (cfg.assigner === 'loo' && cfg.looScope === 'subtree') return siblingLoo(t, c, rewards[i].perContext) ?? aRoot;
      if (cfg.assigner === 'selfcest') return aRoot * cfg.cloneScale;
      if (cfg.assigner === 'local') return aRoot + cfg.localWeight * callNormalised(t, c, rewards[i].perContext, cfg.eps);
      return aRoot;
    });
  });
  return { advantages, zeroVariance: R.length >= 2 && std(R) === 0, clones, gatedClones };
}
