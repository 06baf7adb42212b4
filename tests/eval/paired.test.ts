// The report's summary: SELFCEST − monolithic accuracy, paired by item, per split and budget, with a (two-level)
// bootstrap CI; the eval table moves to an appendix.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEvalItems } from '../../src/eval/items.ts';
import { readEvalIndex } from '../../src/eval/evaluate.ts';
import { pairedDifferences } from '../../src/eval/paired.ts';
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
});
