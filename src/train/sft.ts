/**
 * SFT on demonstration trees: every context of a tree is its own sample (clones are trained as the same
 * policy); the loss counts only the tokens the policy samples (loss mask 1), never prompts, documents, injected
 * returns or error segments.
 */
import type { Tree } from '../rollout/tree.ts';
import type { TokenBatch } from './step.ts';

export interface SftRow {
  ids: number[];
  targets: number[];
  mask: number[];
}

/** One row per context with at least one sampled token: inputs ids[:-1], targets ids[1:], mask lossMask[1:]. */
export function treeRows(trees: readonly Tree[]): SftRow[] {
  const rows: SftRow[] = [];
  for (const t of trees) {
    for (const c of t.contexts) {
      const mask = c.lossMask.slice(1);
      if (mask.some((m) => m === 1)) rows.push({ ids: c.ids.slice(0, -1), targets: c.ids.slice(1), mask });
    }
  }
  return rows;
}

/** One right-padded batch of rows (pads are token 0 with mask 0). */
export function padRows(rows: readonly SftRow[]): TokenBatch {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.ids.length));
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  rows.forEach((r, b) => {
    ids.set(r.ids, b * T);
    targets.set(r.targets, b * T);
    mask.set(r.mask, b * T);
  });
  return { ids, targets, mask, B, T };
}

/**
 * Right-padded batches of at most `batchRows` rows. Rows are sorted by length first (stable), so a batch holds
 * rows of similar lengths and wastes little padding.
 */
export function rowBatches(rows: readonly SftRow[], batchRows: number): TokenBatch[] {
  const sorted = rows.map((r, i) => ({ r, i })).sort((a, b) => a.r.ids.length - b.r.ids.length || a.i - b.i);
  const batches: TokenBatch[] = [];
  for (let s = 0; s < sorted.length; s += batchRows) batches.push(padRows(sorted.slice(s, s + batchRows).map((x) => x.r)));
  return batches;
}
