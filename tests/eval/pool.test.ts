import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEvalItems } from '../../src/eval/items.ts';
import { hierarchicalBootstrap, poolSeeds, seedOfLabel } from '../../src/eval/pool.ts';
import { readEvalIndex } from '../../src/eval/evaluate.ts';
import { writeReport } from '../../src/eval/report.ts';
import { bootstrapMeans } from '../../src/eval/stats.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { answerScript, scriptedEval, traceScripts } from './helpers.ts';

const tok = loadTokenizer();

describe('seed pooling', () => {
  it('reads the seed tag of a label', () => {
    expect(seedOfLabel('clones s2')).toEqual({ series: 'clones', seed: '2' });
    expect(seedOfLabel('mono-sc s13')).toEqual({ series: 'mono-sc', seed: '13' });
    expect(seedOfLabel('clones')).toEqual({ series: 'clones', seed: null });
    expect(seedOfLabel('s1')).toEqual({ series: 's1', seed: null });
  });

  it('the two-level bootstrap carries the spread between seeds; one group is the item bootstrap', () => {
    const zeros = { x: new Array(50).fill(0) };
    const ones = { x: new Array(50).fill(1) };
    const two = hierarchicalBootstrap([zeros, ones], Rng.fromSeed(1), { resamples: 400 }).x;
    expect(two.mean).toBe(0.5);
    // a seed resample is {0,0}, {0,1} or {1,1}: the interval spans both seeds
    expect([two.lo, two.hi]).toEqual([0, 1]);
    // pooling the items as one seed would claim a narrow interval
    const flat = bootstrapMeans({ x: [...zeros.x, ...ones.x] }, Rng.fromSeed(1), { resamples: 400 }).x;
    expect(flat.hi - flat.lo).toBeLessThan(0.3);
    // one group: the item bootstrap's interval (same data, other draws: close, not equal)
    const xs = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const one = hierarchicalBootstrap([{ x: xs }], Rng.fromSeed(2), { resamples: 2000 }).x;
    const ref = bootstrapMeans({ x: xs }, Rng.fromSeed(3), { resamples: 2000 }).x;
    expect(one.mean).toBeCloseTo(ref.mean, 12);
    expect(Math.abs(one.lo - ref.lo)).toBeLessThan(0.02);
    expect(Math.abs(one.hi - ref.hi)).toBeLessThan(0.02);
    expect(() => hierarchicalBootstrap([{ x: [1] }, { x: [] }], Rng.fromSeed(1))).toThrow(/group 1 has no items/);
  });

  it('pools evals of several seeds per series and split; the report plots the pooled series and lists each seed', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-pool-'));
    const items = loadEvalItems('arith', 'id', { limit: 6 }).items;
    const sweep = [{ key: 'maxTreeTokens', values: [4096, 60] }];
    const right = traceScripts(items, tok, 'mono');
    const wrong = new Map(items.map((_, i) => [`${i}:0`, answerScript(tok, 'x')]));
    const dirs: string[] = [];
    for (const [label, scripts] of [['mono s1', right], ['mono s2', wrong], ['delegate s1', traceScripts(items, tok, 'delegate')]] as const) {
      const out = path.join(root, label.replace(' ', '-'));
      await scriptedEval(tok, out, { label, split: 'id', mode: label.startsWith('mono') ? 'mono' : 'clones', scripts, items, sweep });
      dirs.push(out);
    }
    const evals = dirs.map((d) => readEvalIndex(d));
    const pooled = poolSeeds(evals, dirs, { resamples: 300 });
    expect(pooled.map((p) => [p.index.label, p.members])).toEqual([
      ['mono (2 seeds)', [0, 1]],
      ['delegate s1', [2]],
    ]);
    const [a, b] = [evals[0].points[0].summary, evals[1].points[0].summary];
    const m = pooled[0].index.points[0].summary;
    expect([a.accuracy.mean, b.accuracy.mean]).toEqual([1, 0]);
    expect(m.accuracy).toEqual({ mean: 0.5, lo: 0, hi: 1 });
    expect(m.items).toBe(12);
    expect(m.tokens.total.mean).toBeCloseTo((a.tokens.total.mean + b.tokens.total.mean) / 2, 10);
    expect(m.tokens.total.lo).toBeLessThanOrEqual(Math.min(a.tokens.total.mean, b.tokens.total.mean) + 1e-9);
    expect(m.tokens.total.hi).toBeGreaterThanOrEqual(Math.max(a.tokens.total.mean, b.tokens.total.mean) - 1e-9);
    expect(m.costOfPass).toBeCloseTo(m.tokens.total.mean / 0.5, 10);
    // one seed alone keeps its label and its summary's means
    expect(pooled[1].index.points[0].summary.accuracy.mean).toBe(evals[2].points[0].summary.accuracy.mean);

    const rep = await writeReport(dirs, path.join(root, 'report'), tok, { traces: 0, poolSeeds: true, resamples: 300 });
    expect([...new Set(rep.rows.map((r) => r.series))]).toEqual(['mono (2 seeds)', 'delegate s1']);
    expect(new Set(rep.seedRows.map((r) => r.series))).toEqual(new Set(['mono s1', 'mono s2', 'delegate s1']));
    expect(rep.markdown).toContain('## Split id, per seed');
    expect(rep.html).toContain('mono (2 seeds)');
    expect(rep.html).toContain('two-level bootstrap');

    // seeds with different sweeps are not pooled silently; neither is the same seed twice
    const other = path.join(root, 'mono-s3');
    await scriptedEval(tok, other, { label: 'mono s3', split: 'id', mode: 'mono', scripts: right, items, sweep: [{ key: 'maxTreeTokens', values: [4096] }] });
    expect(() => poolSeeds([...evals, readEvalIndex(other)], [...dirs, other])).toThrow(/do not have the same sweep points \(maxTreeTokens-60\)/);
    expect(() => poolSeeds([evals[0], evals[0]], [dirs[0], dirs[0]])).toThrow(/have seed 1/);
  });
});
