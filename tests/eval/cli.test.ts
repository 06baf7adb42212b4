import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/select.ts';
import { writeRandomCheckpoint } from './helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/selfcest.mjs');
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('selfcest eval and compare (CLI)', () => {
  let dir = '';
  let ck = '';
  beforeAll(async () => {
    await selectBackend('cpu');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-evalcli-'));
    ck = path.join(dir, 'run');
    await writeRandomCheckpoint(ck, {}, { rollout: { rootWindow: 64, cloneWindow: 64, rootBudget: 12, maxTreeTokens: 160 } });
  });

  it('explains every option and fails with one line on bad input', async () => {
    const help = cli(['eval', '--help']);
    expect(help.code).toBe(0);
    for (const opt of ['--checkpoint', '--task', '--split', '--mode', '--samples', '--temperature', '--top-k', '--seed', '-n ', '--sweep', '--set', '--out', '--label', '--chunk', '--threads', '--traces', '--bootstrap', '--overwrite', '--backend']) {
      expect(help.out, opt).toContain(opt);
    }
    const base = ['eval', '--backend', 'cpu', '--checkpoint', ck];
    // (the other input errors are unit-tested: tests/eval/sweep.test.ts, items.test.ts; each CLI start costs seconds)
    const cases: [string[], RegExp][] = [
      [[...base, '--task', 'chess', '--split', 'id'], /^error: unknown task "chess" \(known: arith, countdown/],
      [['eval', '--backend', 'cpu', '--checkpoint', path.join(dir, 'nope'), '--task', 'arith', '--split', 'id'], /^error: .*nope/],
      [[...base, '--task', 'arith', '--split', 'id', '--sweep', 'maxTreeTokens'], /^error: --sweep maxTreeTokens: expected key=v1,v2/],
      [['compare', dir, '--out', path.join(dir, 'rep')], /^error: .*not an eval directory/],
    ];
    // a checkpoint that says its task: another --task is refused (its preset picks the id/ood set, tests/eval/items.test.ts)
    const cd = path.join(dir, 'countdown-run');
    await writeRandomCheckpoint(cd, {}, { mode: 'grpo', task: { name: 'countdown', preset: 'search' } });
    cases.push([['eval', '--backend', 'cpu', '--checkpoint', cd, '--task', 'arith', '--split', 'id'], /^error: --task arith, but .*countdown-run was trained on countdown/]);
    for (const [args, re] of cases) {
      const r = cli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err.trim().split('\n').pop(), args.join(' ')).toMatch(re);
    }
  });

  it('evaluates with a sweep and a progress bar, then builds the report', () => {
    const ev = path.join(dir, 'ev');
    const r = cli(['eval', '--backend', 'cpu', '--checkpoint', ck, '--task', 'arith', '--split', 'ood', '--n', '6', '--mode', 'sc', '--samples', '2', '--sweep', 'rootBudget=4,8', '--out', ev, '--bootstrap', '50']);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim()).toBe(ev);
    expect(r.err).toMatch(/tree 12\/12 \(100%\) \| \[#+\] point 2\/2 \| [\d,]+ tok\/s \| ETA 0s/);
    // 0 of 6 right: the Wilson interval [0, 39.0 %] (a percentile bootstrap would say [0.0 %, 0.0 %])
    expect(r.err).toMatch(/accuracy 0\.0% \[0\.0%, 39\.0%\] pass@2/);
    const index = JSON.parse(fs.readFileSync(path.join(ev, 'eval.json'), 'utf8'));
    expect(index.label).toBe('run-sc');
    expect(index.points.map((p: { name: string }) => p.name)).toEqual(['rootBudget-4', 'rootBudget-8']);
    expect(index.points[0].rollout.temperature).toBe(1); // sc default: the checkpoint's (default) rollout temperature
    expect(fs.readFileSync(path.join(ev, 'points/rootBudget-8/examples.jsonl'), 'utf8').trim().split('\n')).toHaveLength(6);

    const rep = path.join(dir, 'reports', 'x');
    const c = cli(['compare', ev, '--out', rep, '--title', 'CLI test']);
    expect(c.code, c.err).toBe(0);
    expect(c.out.trim()).toBe(path.join(rep, 'index.html'));
    const html = fs.readFileSync(path.join(rep, 'index.html'), 'utf8');
    expect(html).toContain('<title>CLI test</title>');
    expect((html.match(/<svg/g) ?? []).length).toBe(2);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(fs.readFileSync(path.join(rep, 'report.md'), 'utf8')).toContain('| run-sc | sc | rootBudget-8 | 6 |');
  });
});
