/**
 * The lowest held-out SFT loss a model could reach on a config's demonstration mix: the entropy of the trace
 * sampler itself. Demonstrations are drawn at random (delegate or not, the plan, the split point, the budgets),
 * so even a perfect policy pays for the draws it cannot predict from its row's tokens. The held-out loss is the
 * mean masked-token loss, so its floor is
 *
 *   Σ_items E[Σ_rows −log p(row ids | row prompt)] / Σ_items E[masked tokens]
 *
 * estimated per item by drawing `samples` trees with independent Rngs and taking, for each row, the empirical
 * probability of its whole id sequence among the drawn rows that start with the same prompt (the ids before the
 * first sampled token). Within one item an injected return is fixed by what came before it, so a row's sequence
 * probability is that of its sampled tokens. It is a lower bound (a real policy does not see the item behind its
 * row) and a plug-in estimate (biased low when a prompt has many rare continuations: `continuations` says how
 * many distinct rows each prompt had). A train.untilHeldOutLoss below it is never reached.
 */
import type { TaskItem } from '../tasks/types.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import { Rng } from '../util/rng.ts';
import type { RunConfig } from './config.ts';
import { sftTree, traceRollout } from './supervised.ts';

export interface SftLossFloor {
  /** the held-out loss floor, nats per masked token (token-weighted over items, as maskedLoss is) */
  floor: number;
  /** mean masked (sampled) tokens per tree */
  maskedPerTree: number;
  /** mean sampler entropy per tree, nats */
  natsPerTree: number;
  /** per item: nats / masked tokens */
  perItem: number[];
  /** distinct row sequences per distinct row prompt, on average */
  continuations: number;
  /** items for which no trace fits */
  skipped: number;
}

export function sftLossFloor(cfg: RunConfig, tok: TextTokenizer, items: readonly TaskItem[], samples: number, seed = 'floor'): SftLossFloor {
  const rollout = traceRollout(cfg);
  let nats = 0;
  let masked = 0;
  let prompts = 0;
  let distinct = 0;
  let skipped = 0;
  const perItem: number[] = [];
  for (const [i, item] of items.entries()) {
    const byPrompt = new Map<string, Map<string, number>>(); // prompt -> whole row -> count
    const drawn: { prompt: string; row: string }[] = [];
    let itemMasked = 0;
    let trees = 0;
    for (let s = 0; s < samples; s++) {
      const tree = sftTree(cfg, tok, item, Rng.fromSeed(`${seed}:${i}:${s}`), rollout);
      if (!tree) continue;
      trees++;
      for (const c of tree.contexts) {
        // as treeRows: a row's targets are ids[1:], its mask lossMask[1:]
        const first = c.lossMask.indexOf(1, 1);
        if (first < 0) continue;
        const prompt = c.ids.slice(0, first).join(',');
        const row = c.ids.join(',');
        const m = byPrompt.get(prompt) ?? new Map<string, number>();
        m.set(row, (m.get(row) ?? 0) + 1);
        byPrompt.set(prompt, m);
        drawn.push({ prompt, row });
        for (let t = 1; t < c.lossMask.length; t++) itemMasked += c.lossMask[t];
      }
    }
    if (trees === 0) {
      skipped++;
      continue;
    }
    let itemNats = 0;
    for (const d of drawn) {
      const m = byPrompt.get(d.prompt)!;
      let total = 0;
      for (const n of m.values()) total += n;
      itemNats -= Math.log(m.get(d.row)! / total);
    }
    for (const m of byPrompt.values()) distinct += m.size;
    prompts += byPrompt.size;
    nats += itemNats / trees;
    masked += itemMasked / trees;
    perItem.push(itemMasked > 0 ? itemNats / itemMasked : 0);
  }
  const n = Math.max(1, items.length - skipped);
  return {
    floor: nats / Math.max(1, masked),
    maskedPerTree: masked / n,
    natsPerTree: nats / n,
    perItem,
    continuations: distinct / Math.max(1, prompts),
    skipped,
  };
}
