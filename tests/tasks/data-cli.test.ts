import { taskDocs } from '../task-docs.ts';
import { describe, it, expect, vi, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import { dataCommand, dataGen, dataValidate } from '../../src/cli/data.ts';
import { SelfcestError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { readItemsJsonl } from '../../src/tasks/types.ts';
import { checkItem } from '../../src/tasks/registry.ts';
import { delegationTrace, monolithicTrace, traceText } from '../../src/tasks/traces.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-data-'));

/** Run `selfcest <args>` through the exported command as main.ts does; returns printed lines or the error. */
async function cli(args: string[]): Promise<{ out: string[]; err: string | null }> {
  const out: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...xs: unknown[]) => void out.push(xs.join(' ')));
  try {
    await yargs(args)
      .command(dataCommand)
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        if (err) throw err;
        throw new SelfcestError(msg);
      })
      .parseAsync();
    return { out, err: null };
  } catch (e) {
    return { out, err: (e as Error).message };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('selfcest data', () => {
  it('gen writes a seeded split that validate accepts; the same command writes the same bytes', async () => {
    const dir = tmp();
    const f = path.join(dir, 'a.jsonl');
    const args = ['data', 'gen', '--task', 'arith', '--split', 'train', '--n', '25', '--seed', '7', '--out', f];
    const r = await cli(args);
    expect(r).toEqual({ out: [`wrote 25 arith items (split train, seed 7) to ${f}`], err: null });
    const first = fs.readFileSync(f);
    await cli(args);
    expect(fs.readFileSync(f).equals(first)).toBe(true);
    expect(await cli(['data', 'validate', f])).toEqual({ out: [`OK ${f}: 25 items (arith/train 25)`], err: null });
    // presets and knob overrides
    const g = path.join(dir, 'b.jsonl');
    expect(dataGen({ task: 'arith', split: 'ood', n: 10, seed: 7, out: g, preset: 'reference', set: ['maxOps=8', 'weights.mul=0'] })).toMatch(/wrote 10/);
    const items = fs.readFileSync(g, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(items.every((x) => x.meta.ops === 8 && !x.meta.expr.includes('*') && x.meta.knobs.minDigits === 3)).toBe(true);
  });

  it('user errors are one line', async () => {
    const f = path.join(tmp(), 'x.jsonl');
    const gen = (...more: string[]) => cli(['data', 'gen', '--task', 'arith', '--split', 'id', '--seed', '1', '--out', f, ...(more.includes('--n') ? more : ['--n', '3', ...more])]);
    expect((await gen('--n', '0')).err).toBe('--n 0: expected an integer >= 1');
    expect((await gen('--n', '2.5')).err).toBe('--n 2.5: expected an integer >= 1');
    expect((await gen('--n', '3', '--n', '4')).err).toBe('--n given more than once (3, 4)');
    expect((await gen('--set', 'maxOps=abc')).err).toBe('arith knobs (preset tiny, split id): maxOps: Invalid input: expected number, received string');
    expect((await gen('--set', 'minOps=9')).err).toBe('arith knobs (preset tiny, split id): minOps: minOps must be <= maxOps');
    expect((await gen('--preset', 'huge')).err).toBe('--preset huge: task arith has no such preset (known: tiny, sums, sums-long, reference)');
    expect((await cli(['data', 'gen', '--task', 'arith', '--split', 'test', '--n', '3', '--seed', '1', '--out', f])).err).toMatch(/Invalid values:[\s\S]*split/);
    expect((await cli(['data'])).err).toBe('name a data command: gen or validate');
    expect(fs.existsSync(f)).toBe(false);
  });

  it('validate names file:line:field of the first bad record', async () => {
    const f = path.join(tmp(), 'v.jsonl');
    dataGen({ task: 'arith', split: 'id', n: 4, seed: 2, out: f, set: [] });
    const lines = fs.readFileSync(f, 'utf8').split('\n');
    const o = JSON.parse(lines[2]);
    o.answer = '0';
    lines[2] = JSON.stringify(o);
    fs.writeFileSync(f, lines.join('\n'));
    const r = await cli(['data', 'validate', f]);
    expect(r.err).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3: answer: is "0", expected "`));
    expect(r.err).not.toContain('\n');
    expect(() => dataValidate({ file: path.join(tmp(), 'missing.jsonl') })).toThrow(/missing\.jsonl: cannot read \(ENOENT\)/);
    // an empty or blank file is no data set: validate refuses it as eval does
    for (const text of ['', '\n  \n\n']) {
      const empty = path.join(tmp(), 'empty.jsonl');
      fs.writeFileSync(empty, text);
      expect(() => dataValidate({ file: empty })).toThrow(/empty\.jsonl: holds no items \(the file is empty or blank\)/);
    }
  });

  it('the committed evaluation sets are what the documented commands generate, byte for byte', async () => {
    const doc = taskDocs();
    const commands = [...doc.matchAll(/^selfcest (data gen .*--out (data\/eval\/\S+\.jsonl).*)$/gm)];
    expect(commands.map((m) => m[2]).sort()).toEqual(['data/eval/arith-id.jsonl', 'data/eval/arith-ood.jsonl', 'data/eval/arith-sums-id.jsonl', 'data/eval/arith-sums-long-dev.jsonl', 'data/eval/arith-sums-long-id.jsonl', 'data/eval/arith-sums-long-ood.jsonl', 'data/eval/arith-sums-ood.jsonl']);
    const dir = tmp();
    for (const [, command, file] of commands) {
      const out = path.join(dir, path.basename(file));
      const args = command.split(/\s+/).map((a) => (a === file ? out : a));
      const r = await cli(args);
      expect(r.err).toBeNull();
      expect(fs.readFileSync(out).equals(fs.readFileSync(path.join(ROOT, file))), `${file} differs from: selfcest ${command}`).toBe(true);
      expect(dataValidate({ file: path.join(ROOT, file) })).toMatch(/^OK .*: 200 items \(arith\/(id|ood|dev) 200\)$/);
    }
  });

  it('the worked trace examples in docs/tasks.md are what the code produces', () => {
    const doc = taskDocs();
    const blocks = [...doc.matchAll(/<!-- trace (\S+) (mono|delegate)(?: (\d+))? -->\n```text\n([\s\S]*?)\n```/g)];
    expect(blocks.length).toBe(3);
    const tok = loadTokenizer();
    const cfg = RolloutConfigSchema.parse({});
    // the examples show items of the format-1 set (data/eval/v1: the trace formats, not the split, are the point)
    const items = readItemsJsonl(path.join(ROOT, 'data/eval/v1/arith-id.jsonl'), checkItem);
    for (const [, id, kind, seed, text] of blocks) {
      const item = items.find((x) => x.id === id)!;
      const r = kind === 'mono' ? monolithicTrace(item, tok, cfg) : delegationTrace(item, tok, cfg, Rng.fromSeed(Number(seed)));
      if (!r.ok) throw new Error(r.reason);
      expect(traceText(r.trace, tok)).toBe(text);
    }
  });
});
