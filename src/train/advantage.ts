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
 *   selfcest   clone: A_root · clamp(R_clone / R_root_safe, -1.5, 1.5), R_root_safe = sign(R_root)·max(|R_root|, 1e-8)
 *              with sign +1 for R_root = 0; R_clone is the clone-local reward when the reward function gives one,
 *              else R_root (ratio 1). Edge cases, as in the reference: R_root = 0 and R_clone = 0 give 0 (the
 *              clones of a root with reward exactly 0 get no gradient); R_root = 0 and R_clone > 0 give 1.5·A_root.
 *   loo        as broadcast, with the leave-one-out baseline above; with looScope 'subtree' the clones of one call
 *              form their own leave-one-out group over their clone-local rewards: A_clone = R_clone − mean of its
 *              siblings' rewards (a call with one clone, or without clone-local rewards, falls back to A_root)
 * gating (on top of any assigner): clones that ended by budget, window or a malformed call, or made a malformed
 *   call, get advantage 0.
 */
import { z } from 'zod';
import type { Context, Tree } from '../rollout/tree.ts';

export const AdvantageConfigSchema = z
  .object({
    assigner: z.enum(['broadcast', 'selfcest', 'loo']).default('selfcest'),
    normalize: z.enum(['mean', 'mean-std']).default('mean-std'),
    eps: z.number().positive().default(1e-6),
    gating: z.boolean().default(false),
    /** selfcest: bounds of the clone/root reward ratio */
    ratioClamp: z.number().positive().default(1.5),
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

function gated(c: Context): boolean {
  return c.finish === 'budget' || c.finish === 'window' || c.finish === 'malformed' || c.calls.some((k) => k.malformed !== null);
}

export function groupAdvantages(trees: readonly Tree[], rewards: readonly TreeReward[], cfg: AdvantageConfig): GroupAdvantages {
  if (trees.length !== rewards.length) throw new Error(`${trees.length} trees but ${rewards.length} rewards`);
  const R = rewards.map((r) => r.root);
  const roots = rootAdvantages(R, cfg);
  const advantages = trees.map((t, i) => {
    const aRoot = roots[i];
    const rRoot = R[i];
    const safe = (rRoot < 0 ? -1 : 1) * Math.max(Math.abs(rRoot), 1e-8);
    return t.contexts.map((c) => {
      if (c.role === 'root') return aRoot;
      if (cfg.gating && gated(c)) return 0;
      if (cfg.assigner === 'loo' && cfg.looScope === 'subtree') return siblingLoo(t, c, rewards[i].perContext) ?? aRoot;
      if (cfg.assigner !== 'selfcest') return aRoot;
      const rClone = rewards[i].perContext?.get(c.id) ?? rRoot;
      const ratio = Math.min(cfg.ratioClamp, Math.max(-cfg.ratioClamp, rClone / safe));
      return aRoot * ratio;
    });
  });
  return { advantages, zeroVariance: R.length >= 2 && std(R) === 0 };
}
