/**
 * Disjoint splits by construction. Every item of a task belongs to one partition, decided by a hash of its exact
 * content (prompt and documents): 8 in 10 items are `train`, 1 in 10 `dev`, 1 in 10 `test`. A split draws only
 * items of its partition: `train` the train partition, `dev` the dev partition (the SFT held-out batch, the
 * end-of-run eval, choosing configs), `id` and `ood` the test partition (published numbers). However small a
 * task's item space (Countdown's ID space holds ~10k prompts; SFT draws ~50k items), no test item can be drawn
 * in training. Generators redraw an item until it falls in its split's partition and differs from the items
 * before it in the set. Pure TS: no tfjs.
 */
import { SelfcestError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { Split, TaskItem } from './types.ts';

export type Partition = 'train' | 'dev' | 'test';

/** Which partition a split draws from. */
export function splitPartition(split: Split): Partition {
  return split === 'train' ? 'train' : split === 'dev' ? 'dev' : 'test';
}

/** An item's identity for the partition and for de-duplication: its prompt and its documents, exactly. */
export function itemKey(item: Pick<TaskItem, 'prompt' | 'docs'>): string {
  return `${item.prompt}\n${(item.docs ?? []).map((d) => `${d.key}:${d.text}`).join('\n')}`;
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The partition of an item of `task` with this key: hash mod 10, 0–7 train, 8 dev, 9 test. */
export function partitionOf(task: string, key: string): Partition {
  const b = fnv1a(`${task}\n${key}`) % 10;
  return b < 8 ? 'train' : b === 8 ? 'dev' : 'test';
}

/** Draws per item before a generator gives up (a test partition holds 1 in 10 items: 1,000 draws miss with p ≈ 1e-46). */
const MAX_DRAWS = 1_000;

/**
 * n items of a split: item i is drawn from `Rng.fromSeed("<task>:<split>:<seed>:<i>")`, redrawn from
 * `...:<i>:<k>` (k = 1, 2, ...) while it falls outside the split's partition or repeats an earlier item of the
 * set. Ids are `<task>-<split>-<seed>-<i>`.
 */
export function generatePartitioned<T extends TaskItem>(
  task: string,
  o: { split: Split; n: number; seed: number | string },
  make: (rng: Rng, split: Split, id: string) => T,
): T[] {
  const want = splitPartition(o.split);
  const seen = new Set<string>();
  return Array.from({ length: o.n }, (_, i) => {
    const id = `${task}-${o.split}-${o.seed}-${i}`;
    for (let k = 0; k < MAX_DRAWS; k++) {
      const item = make(Rng.fromSeed(`${task}:${o.split}:${o.seed}:${i}${k ? `:${k}` : ''}`), o.split, id);
      const key = itemKey(item);
      if (partitionOf(task, key) !== want || seen.has(key)) continue;
      seen.add(key);
      return item;
    }
    throw new SelfcestError(`${task}, split ${o.split}: no new ${want}-partition item in ${MAX_DRAWS} draws for item ${i} of ${o.n}: the knobs allow too few distinct items for a set this large`);
  });
}
