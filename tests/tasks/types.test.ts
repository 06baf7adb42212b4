import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { arithKnobs, generateArith } from '../../src/tasks/arith/arith.ts';
import { checkItem } from '../../src/tasks/registry.ts';
import { readItemsJsonl, rootPromptIds, writeItemsJsonl, type TaskItem } from '../../src/tasks/types.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-tasks-'));
const items = generateArith({ split: 'id', n: 5, seed: 1, knobs: arithKnobs('tiny', 'id') });
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('task item JSONL', () => {
  it('writes one record per line with keys in the documented order and reads it back', () => {
    const f = path.join(tmp(), 'sub', 'a.jsonl');
    writeItemsJsonl(f, items, checkItem);
    const text = fs.readFileSync(f, 'utf8');
    const lines = text.split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[5]).toBe('');
    expect(Object.keys(JSON.parse(lines[0]))).toEqual(['format', 'task', 'split', 'id', 'prompt', 'answer', 'meta']);
    expect(Object.keys(JSON.parse(lines[0]).meta)).toEqual(['value', 'expr', 'ops', 'digits', 'parens', 'knobs']);
    expect(readItemsJsonl(f, checkItem)).toEqual(items);
    // docs (for later tasks) sit between answer and meta
    const withDocs: TaskItem = { ...items[0], task: 'qa', id: 'q1', docs: [{ key: 'K1', text: 'a paragraph' }], meta: {} };
    const g = path.join(tmp(), 'b.jsonl');
    writeItemsJsonl(g, [withDocs]);
    expect(Object.keys(JSON.parse(fs.readFileSync(g, 'utf8')))).toEqual(['format', 'task', 'split', 'id', 'prompt', 'answer', 'docs', 'meta']);
    expect(readItemsJsonl(g)).toEqual([withDocs]);
  });

  /** write the lines, read, return the error message */
  const readError = (lines: string[]) => {
    const f = path.join(tmp(), 'bad.jsonl');
    fs.writeFileSync(f, lines.join('\n') + '\n');
    try {
      readItemsJsonl(f, checkItem);
    } catch (e) {
      return { f, msg: (e as Error).message, name: (e as Error).name };
    }
    throw new Error('expected an error');
  };
  const good = items.map((x) => JSON.stringify(x));
  const edit = (i: number, patch: (o: Record<string, any>) => void) => {
    const o = JSON.parse(good[i]);
    patch(o);
    return JSON.stringify(o);
  };

  it.each([
    ['invalid JSON', [good[0], '{"format": 1,'], 2, /invalid JSON: /],
    ['a missing field', [good[0], good[1], edit(2, (o) => delete o.prompt)], 3, /prompt: Invalid input: expected string, received undefined/],
    ['an unknown split', [edit(0, (o) => (o.split = 'test'))], 1, /split: Invalid option: expected one of "train"\|"dev"\|"id"\|"ood"/],
    ['another format', [edit(0, (o) => (o.format = 3))], 1, /format: Invalid input/],
    ['a train item labelled a test item', [edit(0, (o) => (o.split = 'train'))], 1, /split: is train, but the item belongs to the test partition of arith/],
    ['an unknown key', [edit(0, (o) => (o.extra = 1))], 1, /\(top level\): unknown key "extra"/],
    ['a bad document', [edit(0, (o) => (o.docs = [{ key: 'K' }]))], 1, /docs\.0\.text: /],
    ['a duplicate id', [good[0], good[1], good[0]], 3, /id: "arith-id-1-0" duplicates the id on line 1/],
    ['an unknown task', [edit(0, (o) => (o.task = 'chess'))], 1, /task: unknown task "chess" \(known: arith, countdown, multihop\)/],
    ['a wrong answer', [good[0], edit(1, (o) => (o.answer = '1'))], 2, /answer: is "1", expected "/],
    ['a wrong value', [edit(0, (o) => (o.meta.value = '7'))], 1, /meta\.value: is 7, but the prompt evaluates to /],
    ['a bad knob', [edit(0, (o) => (o.meta.knobs.minOps = 'x'))], 1, /meta\.knobs\.minOps: Invalid input: expected number/],
  ])('names file:line:field for %s', (_what, lines, line, re) => {
    const { f, msg, name } = readError(lines);
    expect(name).toBe('SelfcestError');
    expect(msg).toMatch(new RegExp(`^${esc(f)}:${line}: `));
    expect(msg).toMatch(re);
    expect(msg).not.toContain('\n');
  });

  it('counts lines from 1 and skips blank ones', () => {
    const { f, msg } = readError([good[0], '', '   ', edit(1, (o) => (o.split = 'x'))]);
    expect(msg).toMatch(new RegExp(`^${esc(f)}:4: split: `));
  });

  it('reads without a task check (schema only) and names a missing file', () => {
    const f = path.join(tmp(), 'nocheck.jsonl');
    fs.writeFileSync(f, edit(0, (o) => (o.answer = '1')) + '\n');
    expect(readItemsJsonl(f)[0].answer).toBe('1');
    expect(() => readItemsJsonl(f, checkItem)).toThrow(/:1: answer: /);
    expect(() => readItemsJsonl(path.join(tmp(), 'none.jsonl'))).toThrow(/none\.jsonl: cannot read \(ENOENT\)/);
  });

  it('refuses to write an invalid item, naming its index and id', () => {
    const f = path.join(tmp(), 'w.jsonl');
    const broken = { ...items[1], answer: '' };
    expect(() => writeItemsJsonl(f, [items[0], broken], checkItem)).toThrow(new RegExp(`^${esc(f)}: item 1 \\(arith-id-1-1\\): answer: `));
    expect(() => writeItemsJsonl(f, [items[0], items[0]])).toThrow(/item 1 \(arith-id-1-0\): id: duplicate of item 0/);
    expect(fs.existsSync(f)).toBe(false);
  });

  it("the root's prompt ids are the prompt's tokens then <think>", () => {
    const tok = loadTokenizer();
    expect(rootPromptIds(items[0], tok)).toEqual([...tok.encode(items[0].prompt), tok.id('<think>')]);
    expect(() => rootPromptIds({ prompt: '1+é' }, tok)).toThrow(/character "é" .* at index 2/);
  });
});
