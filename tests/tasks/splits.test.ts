// Train, dev and test items are disjoint by construction: every item belongs to one partition of its task by a hash
// of its exact prompt (and documents); the train stream draws only train-partition items, the SFT held-out batch
// and end-of-run eval draw dev items, the committed id/ood sets test items. Checked by brute force against the
// training stream, for every task and preset, and on the committed sets.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TASKS } from '../../src/tasks/registry.ts';
import { readItemsJsonl, type TaskItem } from '../../src/tasks/types.ts';
import { checkItem } from '../../src/tasks/registry.ts';
import { taskItems } from '../../src/train/task-source.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const key = (it: TaskItem) => `${it.prompt}\n${(it.docs ?? []).map((d) => `${d.key}:${d.text}`).join('\n')}`;

/** n training items as the trainers draw them: batches from a stream of seeds */
function trainStream(task: string, preset: string, batches: number, batch: number): Set<string> {
  const seen = new Set<string>();
  for (let b = 0; b < batches; b++) for (const it of taskItems({ name: task, preset }, 'train', batch, 1_000_003 * b + 7)) seen.add(key(it));
  return seen;
}

describe('disjoint splits', () => {
  it('Countdown (the smallest item space): 40,000 training draws never produce an item of a dev or test set', () => {
    const train = trainStream('countdown', 'tiny', 2_500, 16);
    expect(train.size).toBeGreaterThan(5_000); // the stream covers most of the train partition
    for (const split of ['dev', 'id', 'ood'] as const) {
      const held = taskItems({ name: 'countdown', preset: 'tiny' }, split, 200, 1).map(key);
      expect(new Set(held).size, `${split}: no duplicates within the set`).toBe(200);
      expect(held.filter((k) => train.has(k)), `${split} items in the training stream`).toEqual([]);
    }
  }, 120_000);

  it('every task and preset: dev and test sets share no item with 4,000 training draws or with each other', () => {
    for (const def of Object.values(TASKS)) {
      for (const preset of def.presets) {
        const train = trainStream(def.name, preset, 250, 16);
        const sets = Object.fromEntries((['dev', 'id', 'ood'] as const).map((s) => [s, taskItems({ name: def.name, preset }, s, 100, 3).map(key)]));
        for (const [s, keys] of Object.entries(sets)) {
          expect(keys.filter((k) => train.has(k)), `${def.name}/${preset} ${s} ∩ train`).toEqual([]);
          expect(new Set(keys).size, `${def.name}/${preset} ${s} duplicates`).toBe(keys.length);
        }
        expect(sets.dev.filter((k) => sets.id.includes(k) || sets.ood.includes(k)), `${def.name}/${preset} dev ∩ test`).toEqual([]);
      }
    }
  }, 300_000);

  it('eval on a format-1 set (before partitions) says that its items may be training items', () => {
    const r = spawnSync(process.execPath, ['bin/selfcest.mjs', 'eval', '--backend', 'cpu', '--checkpoint', 'checkpoints/results/arith/seed-1/sft', '--split', 'data/eval/v1/arith-sums-id.jsonl', '--n', '1', '--bootstrap', '10', '--out', fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-v1-'))], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: 1 of 1 items are format 1 \(before disjoint splits\): they may also be training items/);
  }, 120_000);

  it('the committed id/ood/dev sets are items of their partitions (checked on read, format 2)', () => {
    const dir = path.join(ROOT, 'data/eval');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    expect(files.length).toBeGreaterThanOrEqual(14);
    for (const f of files) {
      const items = readItemsJsonl(path.join(dir, f), checkItem);
      expect(items.every((it) => it.format === 2), `${f}: format 2 (partitioned)`).toBe(true);
    }
    // an item whose prompt falls in the train partition, labelled a test item, is refused by the check
    const train = taskItems({ name: 'arith', preset: 'tiny' }, 'train', 1, 5)[0];
    expect(checkItem({ ...train, split: 'id' })).toEqual({ path: ['split'], message: expect.stringMatching(/belongs to the train partition of arith, not to the test partition split id draws from/) });
  });
});
