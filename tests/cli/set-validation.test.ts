// Every command's --set goes through the schema a config file goes through: a value the schema refuses in a file
// is refused as an override, one line naming the key, exit 1, before any work.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SFT = 'checkpoints/results/arith/seed-1/sft';
const out = path.join(os.tmpdir(), `selfcest-set-${process.pid}`);

const cases: [string, string[], RegExp][] = [
  ['train (SFT)', ['train', '--config', 'configs/arith-sft-tiny.json', '--out', out, '--set', 'train.steps=-5'], /train\.steps: Too small/],
  ['train (SFT, fraction)', ['train', '--config', 'configs/arith-sft-tiny.json', '--out', out, '--set', 'train.steps=2.5'], /train\.steps: .*expected int/],
  ['train (GRPO)', ['train', '--config', 'configs/arith-grpo-tiny.json', '--out', out, '--set', 'grpo.groupSize=0'], /grpo\.groupSize: Too small/],
  ['train (unknown key)', ['train', '--config', 'configs/arith-sft-tiny.json', '--out', out, '--set', 'train.stepz=5'], /train: unknown key "stepz"/],
  ['info', ['info', '--config', 'configs/arith-sft-tiny.json', '--set', 'model.dModel=2.5'], /model\.dModel: .*expected int/],
  ['eval', ['eval', '--checkpoint', SFT, '--split', 'id', '--n', '2', '--out', out, '--set', 'maxDepth=-1'], /maxDepth: Too small/],
  ['rollout', ['rollout', '--checkpoint', SFT, '-n', '1', '--out', `${out}.jsonl`, '--set', 'maxTreeTokens=0'], /maxTreeTokens: Too small/],
  ['data gen', ['data', 'gen', '--task', 'arith', '--split', 'id', '--n', '2', '--seed', '1', '--out', `${out}.jsonl`, '--set', 'maxOps=2.5'], /maxOps: .*expected int/],
  ['experiment', ['experiment', '--config', 'configs/experiments/arith.json', '--dry-run', '--set', 'seeds=[1.5]'], /seeds\.0: .*expected int/],
  ['any command (prototype key)', ['train', '--config', 'configs/arith-sft-tiny.json', '--out', out, '--set', '__proto__.x=1'], /"__proto__" is not a config key/],
];

describe('--set is validated by every command', () => {
  it.each(cases)('%s', (_name, args, expected) => {
    const r = spawnSync(process.execPath, ['bin/selfcest.mjs', ...args, ...(args[0] === 'data' || args[0] === 'experiment' ? [] : ['--backend', 'cpu'])], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(1);
    const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(expected);
  }, 120_000);
});

describe('configs and arguments are checked before the backend is probed', () => {
  it.each([
    ['train', ['train', '--config', 'configs/arith-sft-tiny.json', '--out', out, '--set', 'train.steps=-5']],
    ['info', ['info', '--config', 'configs/arith-sft-tiny.json', '--set', 'model.dModel=2.5']],
    ['sample', ['sample', '--checkpoint', SFT, '--n', '-1']],
    ['sample (bad checkpoint)', ['sample', '--checkpoint', '/nonexistent']],
  ])('%s: one error line and no backend line', (_name, args) => {
    const r = spawnSync(process.execPath, ['bin/selfcest.mjs', ...args, '--backend', 'cpu'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: /)]);
  }, 120_000);

  it('a mistyped command is answered with the command it resembles', () => {
    const r = spawnSync(process.execPath, ['bin/selfcest.mjs', 'trian'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Did you mean train\?/);
  });
});
