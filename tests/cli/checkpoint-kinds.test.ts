// sample, rollout and info take every checkpoint and config kind: SFT on a task, GRPO, the addition warm-up.
// (They parsed every checkpoint's config as an SFT run config, so GRPO checkpoints and configs were refused with
// "unknown keys", and rollout always rolled out addition prompts, whatever the policy was trained on.)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GRPO = 'checkpoints/results/arith-split-gated-sharp/seed-1/clones';
const SFT = 'checkpoints/results/arith/seed-1/sft';
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/selfcest.mjs', ...args, '--backend', 'wasm'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });

describe('every checkpoint and config kind', () => {
  it('rollout rolls out items of the checkpoint\'s own task (dev items), for a GRPO and an SFT checkpoint', () => {
    for (const ck of [GRPO, SFT]) {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-kinds-')), 'trees.jsonl');
      const r = cli('rollout', '--checkpoint', ck, '-n', '4', '--set', 'temperature=0', '--out', out);
      expect(r.status, r.stderr).toBe(0);
      const trees = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { itemId: string; contexts: unknown[] });
      expect(trees.map((t) => t.itemId)).toEqual(['arith-dev-1-0', 'arith-dev-1-1', 'arith-dev-1-2', 'arith-dev-1-3']);
      if (ck === GRPO) expect(trees.some((t) => t.contexts.length > 1), 'the headline policy delegates').toBe(true);
    }
  }, 120_000);

  it('sample completes items of the task and shows the gold answer; info takes a GRPO checkpoint and a GRPO config', () => {
    const s = cli('sample', '--checkpoint', GRPO, '--n', '2', '--max-new', '48');
    expect(s.status, s.stderr).toBe(0);
    const lines = s.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^[-+0-9]+<think>.*\t\[(stop|length), \d+ tokens, logprob -?[\d.]+, gold -?\d+\]$/);
    const i = cli('info', '--checkpoint', GRPO);
    expect(i.status, i.stderr).toBe(0);
    expect(i.stdout).toMatch(/run: grpo on arith \(sums-long\)/);
    const c = cli('info', '--config', 'configs/arith-grpo-tiny.json', '--set', 'train.steps=3');
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/parameters: 124,672/);
  }, 120_000);
});
