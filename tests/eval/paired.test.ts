// The report's summary: SELFCEST − monolithic accuracy, paired by item, per split and budget, with a (two-level)
// bootstrap CI; the eval table moves to an appendix.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEvalItems } from '../../src/eval/items.ts';
import { readEvalIndex } from '../../src/eval/evaluate.ts';
import { pairedDifferences } from '../../src/eval/paired.ts';
import { newcombePaired } from '../../src/eval/stats.ts';
import { writeReport } from '../../src/eval/report.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { answerScript, scriptedEval, traceScripts } from './helpers.ts';

const tok = loadTokenizer();

describe('paired SELFCEST − monolithic differences', () => {
  it('are the per-item differences of matching series and budgets, pooled over seeds, and open the report', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-paired-'));
    const items = loadEvalItems('arith', 'id', { limit: 8 }).items;
    const sweep = [{ key: 'maxTreeTokens', values: [4096] }];
    const right = traceScripts(items, tok, 'delegate');
    // mono: right on items 0-3 only (traces), wrong on 4-7
    const mono = new Map([...traceScripts(items, tok, 'mono')].filter(([k]) => Number(k.split(':')[0]) < 4));
    for (let i = 4; i < 8; i++) mono.set(`${i}:0`, answerScript(tok, 'x'));
    const dirs: string[] = [];
    for (const seed of [1, 2]) {
      for (const [label, scripts, mode] of [[`clones s${seed}`, right, 'clones'], [`mono s${seed}`, mono, 'mono']] as const) {
        const out = path.join(root, label.replace(' ', '-'));
        await scriptedEval(tok, out, { label, split: 'id', mode, scripts, items, sweep });
        dirs.push(out);
      }
    }
    const evals = dirs.map((d) => readEvalIndex(d));
    const diffs = pairedDifferences(evals, dirs, { resamples: 300 });
    expect(diffs).toHaveLength(1);
    expect(diffs[0]).toMatchObject({ split: 'id', point: 'maxTreeTokens-4096', a: 'clones', b: 'mono', seeds: 2, items: 8 });
    expect(diffs[0].diff.mean).toBeCloseTo(0.5, 10);
    expect(diffs[0].diff.lo).toBeLessThan(0.5);
    expect(diffs[0].diff.lo).toBeGreaterThan(0);
    expect(diffs[0].diff.hi).toBeGreaterThanOrEqual(0.5);

    const r = await writeReport(dirs, path.join(root, 'report'), tok, { poolSeeds: true, resamples: 300 });
    const md = r.markdown;
    expect(md.indexOf('## Summary')).toBeGreaterThan(0);
    expect(md.indexOf('## Summary')).toBeLessThan(md.indexOf('## Split'));
    expect(md).toMatch(/\| id \| maxTreeTokens-4096 \| clones − mono \| 2 \| 8 \| \+50\.0 \[\+[\d.]+, \+[\d.]+\] \|/);
    expect(md.indexOf('## Appendix: evaluations')).toBeGreaterThan(md.indexOf('## Split'));
    expect(r.html).toMatch(/<details><summary>Appendix: evaluations/);
  });

  it('never collapse to [0, 0] when no item is discordant: the CI covers the Newcombe score interval of the pairs', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-paired0-'));
    const items = loadEvalItems('arith', 'id', { limit: 16 }).items;
    const sweep = [{ key: 'maxTreeTokens', values: [4096] }];
    const dirs: string[] = [];
    // both series right on every item: 16 concordant pairs, difference 0
    for (const [label, kind, mode] of [['clones', 'delegate', 'clones'], ['mono', 'mono', 'mono']] as const) {
      const out = path.join(root, label);
      await scriptedEval(tok, out, { label, split: 'id', mode, scripts: traceScripts(items, tok, kind), items, sweep });
      dirs.push(out);
    }
    const [d] = pairedDifferences(dirs.map((x) => readEvalIndex(x)), dirs, { resamples: 300 });
    expect(d.diff.mean).toBe(0);
    const nc = newcombePaired({ both: 16, onlyA: 0, onlyB: 0, neither: 0 });
    expect(nc.lo).toBeCloseTo(-0.194, 3); // 1 − Wilson lower bound of 16/16 (0.806)
    expect(d.diff.lo).toBeCloseTo(nc.lo, 10);
    expect(d.diff.hi).toBeCloseTo(nc.hi, 10);
  });
});

describe('newcombePaired (Newcombe 1998, paired data, method 10)', () => {
  it('reduces to the independent-samples score interval when the pairs are uncorrelated, narrows with positive correlation, stays in [-1, 1]', () => {
    // phi = 0 when a margin is empty: the square-and-add of the two Wilson intervals (56/70 − 48/80 is the classic
    // independent example; here both margins come from one table, so check the formula on its own terms)
    const w = (k: number, n: number) => {
      const z = 1.959963984540054;
      const c = (k + z * z / 2) / (n + z * z);
      const h = (z * Math.sqrt(n)) / (n + z * z) * Math.sqrt((k / n) * (1 - k / n) + (z * z) / (4 * n));
      return [k === 0 ? 0 : c - h, k === n ? 1 : c + h];
    };
    // a table with phi exactly 0: a*d = b*c (both 4, onlyA 4, onlyB 4, neither 4)
    const t = { both: 4, onlyA: 4, onlyB: 4, neither: 4 };
    const [l1, u1] = w(8, 16);
    const [l2, u2] = w(8, 16);
    const nc = newcombePaired(t);
    expect(nc.mean).toBe(0);
    expect(nc.lo).toBeCloseTo(-Math.sqrt((0.5 - l1) ** 2 + (u2 - 0.5) ** 2), 8);
    expect(nc.hi).toBeCloseTo(Math.sqrt((u1 - 0.5) ** 2 + (0.5 - l2) ** 2), 8);
    // positively correlated pairs (most concordant) give a narrower interval than the same margins uncorrelated
    const corr = newcombePaired({ both: 7, onlyA: 1, onlyB: 1, neither: 7 });
    expect(corr.hi - corr.lo).toBeLessThan(nc.hi - nc.lo);
    expect(corr.mean).toBe(0);
    // a large difference: inside [-1, 1], containing the point estimate
    const big = newcombePaired({ both: 0, onlyA: 20, onlyB: 0, neither: 0 });
    expect(big.mean).toBe(1);
    expect(big.hi).toBe(1);
    expect(big.lo).toBeCloseTo(1 - Math.SQRT2 * (1 - w(20, 20)[0]), 8); // phi 0: an empty margin
    const neg = newcombePaired({ both: 3, onlyA: 1, onlyB: 9, neither: 7 });
    expect(neg.mean).toBeCloseTo(-0.4, 12);
    expect(neg.lo).toBeLessThan(neg.mean);
    expect(neg.hi).toBeLessThan(0); // 9 of 10 discordant pairs favour B: the interval excludes 0
    expect(neg.lo).toBeGreaterThanOrEqual(-1);
    expect(Number.isNaN(newcombePaired({ both: 0, onlyA: 0, onlyB: 0, neither: 0 }).mean)).toBe(true);
  });
});
