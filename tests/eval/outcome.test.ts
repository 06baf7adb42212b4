// Traces show right and wrong: examples.jsonl and trees.jsonl carry the gold answer, the parsed answer, whether it
// was right and the reward with its components; an eval keeps trees of right and of wrong items; the trace page
// shows ✓/✗ and the report lists successes and failures apart.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEvalItems } from '../../src/eval/items.ts';
import { writeReport } from '../../src/eval/report.ts';
import { readTreesJsonl } from '../../src/rollout/trace-io.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { answerScript, scriptedEval, traceScripts } from './helpers.ts';

const tok = loadTokenizer();

describe('outcomes on traces', () => {
  it('records gold, answer, ✓/✗ and reward; keeps right and wrong trees; the report splits them', async () => {
    const items = loadEvalItems('arith', 'id', { limit: 6 }).items;
    // items 0, 2, 4 answered by their traces (right), 1, 3, 5 with a wrong answer
    const right = traceScripts(items, tok, 'mono');
    const scripts = new Map([...right].filter(([k]) => Number(k.split(':')[0]) % 2 === 0));
    for (const i of [1, 3, 5]) scripts.set(`${i}:0`, answerScript(tok, '7777'));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-outcome-'));
    const index = await scriptedEval(tok, out, { label: 'mono', split: 'id', mode: 'mono', scripts, items });
    const dir = path.join(out, index.points[0].dir);
    const ex = fs.readFileSync(path.join(dir, 'examples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(ex.map((e) => e.gold)).toEqual(items.map((it) => it.answer));
    expect(ex.map((e) => e.correct)).toEqual([1, 0, 1, 0, 1, 0]);
    expect(ex[1]).toMatchObject({ answer: '7777', components: { correct: 0 } });
    // traces: 2 (the helper's --traces) right ones and 2 wrong ones, each with its outcome
    const trees = readTreesJsonl(path.join(dir, 'trees.jsonl'));
    expect(trees.map((t) => [t.itemId, t.outcome?.correct])).toEqual([
      [items[0].id, 1], [items[1].id, 0], [items[2].id, 1], [items[3].id, 0],
    ]);
    expect(trees[1].outcome).toMatchObject({ gold: items[1].answer, answer: '7777', correct: 0, reward: ex[1].reward, components: { correct: 0 } });

    const rep = path.join(out, 'report');
    const r = await writeReport([out], rep, tok, { traces: 2 });
    const page = fs.readFileSync(path.join(rep, r.traces[1].href), 'utf8');
    expect(page).toContain(`gold <b>${items[1].answer}</b>`);
    expect(page).toMatch(/answer <b>7777<\/b> <span class="mark-bad">✗<\/span>/);
    expect(r.traces.map((t) => t.correct)).toEqual([1, 0, 1, 0]);
    expect(r.markdown).toMatch(/### Successes[\s\S]*✓[\s\S]*### Failures[\s\S]*✗/);
    expect(r.html).toMatch(/<h3>Successes<\/h3>[\s\S]*<h3>Failures<\/h3>/);
  });
});
