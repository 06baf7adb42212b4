// A GRPO run whose init has another model config than the config file's (the init's wins) resumes: the resume
// compares the run's config with the checkpoint's using the init's model config, as SFT does.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

it('tree GRPO from an init of another model size: --stop-after 1, then --resume auto finishes the run', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rl-init-')), 'run');
  // configs/arith-grpo-tiny.json says d64 / 2 layers; the init is d128 / 4 layers
  const run = (...extra: string[]) =>
    spawnSync(process.execPath, ['bin/selfcest.mjs', 'train', '--backend', 'wasm', '--config', 'configs/arith-grpo-tiny.json', '--out', out, '--set', 'init="checkpoints/results/arith-split-gated-sharp/seed-1/clones"',
      '--set', 'task.preset="sums-long"', '--set', 'train.steps=2', '--set', 'grpo.prompts=1', '--set', 'grpo.groupSize=2', ...extra], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  const first = run('--stop-after', '1');
  expect(first.status, first.stderr).toBe(0);
  const again = run('--resume', 'auto');
  expect(again.status, again.stderr).toBe(0);
  expect(again.stderr).toMatch(/resumed from .*step-000001 at step 1/);
  expect(fs.existsSync(path.join(out, 'step-000002', 'model.safetensors'))).toBe(true);
}, 300_000);
