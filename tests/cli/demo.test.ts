// selfcest demo: the shipped policies evaluated on the test sets, the report, the headline in the terminal, and a
// short run that learns. Run small here (4 items, one seed, no training run); the plan is checked in full.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planDemo } from '../../src/experiment/demo.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('selfcest demo', () => {
  it('plans 3 series x 3 seeds x 2 test splits of the shipped policies, one pooled report, then the short run', () => {
    const stages = planDemo({ dir: 'D', n: 100, seeds: [1, 2, 3], train: true });
    expect(stages.filter((s) => s.kind === 'eval')).toHaveLength(18);
    expect(stages.find((s) => s.name === 'eval-selfcest-s2-ood')!.args).toEqual(expect.arrayContaining(['--checkpoint', 'checkpoints/results/arith-split-gated-sharp/seed-2/clones', '--split', 'ood', '--mode', 'clones']));
    expect(stages.find((s) => s.name === 'eval-mono-sc-s1-id')!.args).toEqual(expect.arrayContaining(['--mode', 'sc', '--sweep', 'samples=2,4']));
    expect(stages.find((s) => s.name === 'compare')!.args).toContain('--pool-seeds');
    expect(stages.at(-1)).toMatchObject({ name: 'train-addition', kind: 'train', steps: 600 });
  });

  it('prints a non-trivial headline and writes the report (4 items, seed 1)', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-demo-'));
    const r = spawnSync(process.execPath, ['bin/selfcest.mjs', 'demo', '--n', '4', '--seeds', '1', '--no-train', '--out', out, '--backend', 'wasm'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr + r.stdout.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(/in distribution \(2-11 operations\)/);
    expect(r.stdout).toMatch(/^ {2}selfcest s1 +≤128: [\d.]+ \[[\d.]+, [\d.]+\] \d+ \(\d+\)/m);
    expect(r.stdout).toMatch(/^ {2}mono-sc s1 +x2: /m);
    // the shipped SELFCEST policy gets something right in distribution at the largest budget
    const id = /^ {2}selfcest s1 .*≤512: ([\d.]+)/m.exec(r.stdout.split('out of distribution')[0])!;
    expect(Number(id[1])).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(out, 'report', 'index.html'))).toBe(true);
  }, 300_000);
});
