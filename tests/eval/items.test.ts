import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { planPoints } from '../../src/eval/evaluate.ts';
import { checkpointTask, loadEvalItems, splitFile, splitName } from '../../src/eval/items.ts';
import { parseSweep } from '../../src/eval/sweep.ts';

describe('eval items and the plan of points', () => {
  it('id/ood name the committed sets, anything else is a file', () => {
    expect(splitFile('arith', 'id')).toBe('data/eval/arith-id.jsonl');
    expect(splitFile('countdown', 'ood')).toBe('data/eval/countdown-ood.jsonl');
    expect(splitFile('arith', 'my/set.jsonl')).toBe('my/set.jsonl');
    expect(splitName('ood')).toBe('ood');
    expect(splitName('some/dir/hard-set.jsonl')).toBe('hard-set');
    const { items, file } = loadEvalItems('countdown', 'ood', { limit: 3 });
    expect(file).toBe('data/eval/countdown-ood.jsonl');
    expect(items.map((it) => it.task)).toEqual(['countdown', 'countdown', 'countdown']);
    expect(loadEvalItems('arith', 'id').items.length).toBeGreaterThan(3);
  });

  it("id/ood follow the checkpoint's own task and preset, and the committed sets resolve from the package, not the working directory", () => {
    const ROOT = path.join(import.meta.dirname, '../..');
    // a GRPO config names its task; an SFT config its demonstrations' task
    expect(checkpointTask({ mode: 'grpo', task: { name: 'arith', preset: 'sums-long' } })).toEqual({ name: 'arith', preset: 'sums-long' });
    expect(checkpointTask({ train: { task: 'sft' }, sft: { name: 'countdown', preset: 'search' } })).toEqual({ name: 'countdown', preset: 'search' });
    expect(checkpointTask({ train: { task: 'addition' } })).toBeNull();
    const cfg = { mode: 'grpo', task: { name: 'arith', preset: 'sums-long' } };
    const { file, items } = loadEvalItems('arith', 'id', { preset: checkpointTask(cfg)!.preset, limit: 2 });
    expect(path.resolve(file)).toBe(path.join(ROOT, 'data/eval/arith-sums-long-id.jsonl'));
    expect(items).toHaveLength(2);
    expect(splitFile('arith', 'ood', undefined, 'tiny')).toBe(splitFile('arith', 'ood')); // the first preset is the unnamed set
    expect(splitFile('multihop', 'id', undefined, 'chain')).toMatch(/data\/eval\/multihop-chain-id\.jsonl$/);
    expect(() => loadEvalItems('arith', 'id', { preset: 'reference' })).toThrow(/--split id: .*arith-reference-id\.jsonl does not exist \(task arith, preset reference has no committed id set/);
    // from another working directory the committed sets are still found
    const code = `import { loadEvalItems } from ${JSON.stringify(path.join(ROOT, 'src/eval/items.ts'))}; console.log(loadEvalItems('arith', 'ood', { preset: 'sums' }).file);`;
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-cwd-')), 'x.ts');
    fs.writeFileSync(script, code);
    const out = execFileSync(process.execPath, ['--import', pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href, script], { cwd: path.dirname(script), encoding: 'utf8' }).trim();
    expect(out).toBe(path.join(ROOT, 'data/eval/arith-sums-ood.jsonl'));
  });

  it('fails with one line for an unknown task, a missing file, items of another task, an empty file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-items-'));
    expect(() => loadEvalItems('chess', 'id')).toThrow(/unknown task "chess" \(known: arith, countdown/);
    expect(() => loadEvalItems('arith', path.join(dir, 'missing.jsonl'))).toThrow(/missing.jsonl: no such file/);
    expect(() => loadEvalItems('countdown', 'data/eval/arith-id.jsonl')).toThrow(/arith-id-1-0 is a arith item, not countdown/);
    fs.writeFileSync(path.join(dir, 'empty.jsonl'), '\n');
    expect(() => loadEvalItems('arith', path.join(dir, 'empty.jsonl'))).toThrow(/holds no items/);
    fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"format":1}\n');
    expect(() => loadEvalItems('arith', path.join(dir, 'bad.jsonl'))).toThrow(/bad.jsonl:1: /);
  });

  it('plans one point per combination and rejects settings that cannot work', () => {
    const base = { runConfig: {}, ctx: 64, mode: 'sc' as const, samples: 8, sweep: parseSweep(['samples=1,4', 'rootBudget=8,16']) };
    const plan = planPoints(base);
    expect(plan.map((p) => [p.name, p.samples, p.rollout.rootBudget, p.rollout.allowSpawn])).toEqual([
      ['samples-1.rootBudget-8', 1, 8, false],
      ['samples-1.rootBudget-16', 1, 16, false],
      ['samples-4.rootBudget-8', 4, 8, false],
      ['samples-4.rootBudget-16', 4, 16, false],
    ]);
    expect(planPoints({ ...base, sweep: [] }).map((p) => p.samples)).toEqual([8]);
    expect(planPoints({ ...base, mode: 'clones', sweep: [] }).map((p) => [p.samples, p.rollout.allowSpawn])).toEqual([[1, true]]);
    expect(() => planPoints({ ...base, temperature: 0 })).toThrow(/greedy samples would all be the same/);
    expect(() => planPoints({ ...base, mode: 'mono' })).toThrow(/only --mode sc/);
    expect(() => planPoints({ ...base, sweep: parseSweep(['rootWindow=32,128']) })).toThrow(/sweep point rootWindow=128.*context window 64/);
  });
});
