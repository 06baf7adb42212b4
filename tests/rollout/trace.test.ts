import { describe, it, expect, vi } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { traceCommand } from '../../src/cli/trace.ts';
import { renderTreeHtml } from '../../src/rollout/trace-html.ts';
import { readTreesJsonl, treeFromJson, treeToJson, TREE_FORMAT, writeTreesJsonl } from '../../src/rollout/trace-io.ts';
import { runTrees, ScriptedPolicy } from '../../src/rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { treeCost, type CallRecord, type Context, type Tree } from '../../src/rollout/tree.ts';
import { encodeChecked, loadTokenizer, type SpecialToken } from '../../src/tokenizer/index.ts';
import { isSelfcestError } from '../../src/util/errors.ts';

const tok = loadTokenizer();
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-trace-'));

/** text with special tokens written inline, e.g. '<spawn><obj>1+2</spawn>' (encodeChecked rejects <unk>) */
const enc = (text: string) => encodeChecked(tok, text);

type Kind = 'prompt' | 'sampled' | 'injected';

/** Build a context from segments; returns it with each segment's start position. */
function context(base: Omit<Context, 'ids' | 'lossMask' | 'logprobs' | 'promptLength' | 'calls'>, segments: [Kind, string][]) {
  const c: Context = { ...base, promptLength: 0, ids: [], lossMask: [], logprobs: [], calls: [] };
  const starts: number[] = [];
  for (const [kind, text] of segments) {
    starts.push(c.ids.length);
    for (const id of enc(text)) {
      c.ids.push(id);
      c.lossMask.push(kind === 'sampled' ? 1 : 0);
      c.logprobs.push(kind === 'sampled' ? -0.25 : 0);
    }
    if (kind === 'prompt') c.promptLength = c.ids.length;
  }
  return { c, starts };
}

const SCRIPT = '<script>alert(1)</script>';

/** A root with one call of two clones (the first answers, the second runs out of budget) and one malformed call. */
function sampleTree(itemId = 'add-7'): Tree {
  const root = context({ id: 0, parent: null, depth: 0, role: 'root', callIndex: null, budget: 96, finish: 'answer', answer: enc('10') }, [
    ['prompt', '1+2+3+4=<think>'],
    ['sampled', '<spawn><obj>1+2<b16><obj>3+4</spawn>'],
    ['injected', '<ret>3</ret><ret></ret>'],
    ['sampled', '<spawn><obj></spawn>'],
    ['injected', '<err>'],
    ['sampled', 'so\n3+7<answer>10<eos>'],
  ]);
  const [, spawn0, ret0, spawn1, err1] = root.starts;
  const calls: CallRecord[] = [
    { index: 0, start: spawn0, end: ret0, clones: [1, 2], malformed: null, injected: spawn1 - ret0 },
    { index: 1, start: spawn1, end: err1, clones: [], malformed: 'empty-objective', injected: 1 },
  ];
  root.c.calls = calls;
  const clone1 = context({ id: 1, parent: 0, depth: 1, role: 'clone', callIndex: 0, budget: 16, finish: 'answer', answer: enc('3') }, [
    ['prompt', '<clone>1+2<think>'],
    ['sampled', '1 plus 2<answer>3<eos>'],
  ]).c;
  const clone2 = context({ id: 2, parent: 0, depth: 1, role: 'clone', callIndex: 0, budget: 32, finish: 'budget', answer: null }, [
    ['prompt', '<clone>3+4<think>'],
    ['sampled', `${SCRIPT} "q" & 'a'`],
  ]).c;
  const contexts = [root.c, clone1, clone2];
  return { itemId, contexts, cost: treeCost(contexts, 1234) };
}

/** The visible text of an HTML fragment: tags dropped, entities decoded. */
function visibleText(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isSelfcestError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('trace JSONL', () => {
  it('round-trips trees through a file', () => {
    const dir = tmp();
    const file = path.join(dir, 'sub', 'trees.jsonl');
    const trees = [sampleTree(), sampleTree('second')];
    writeTreesJsonl(file, trees);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['trees.jsonl']); // no temp file left behind
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]).format).toBe(TREE_FORMAT);
    expect(readTreesJsonl(file)).toEqual(trees);
    expect(treeFromJson(JSON.parse(JSON.stringify(treeToJson(trees[0]))), 'x')).toEqual(trees[0]);
    writeTreesJsonl(file, []);
    expect(readTreesJsonl(file)).toEqual([]);
  });

  it('accepts and renders the trees the engine produces (nested spawn, malformed call, tree limit)', async () => {
    const cfg = RolloutConfigSchema.parse({ maxDepth: 2, maxTreeTokens: 120 });
    const scripts = new Map<string, number[]>([
      ['0:0', enc('<spawn><obj>1+2<b16><obj>3</spawn><spawn></spawn><answer>3<eos>')],
      ['0:1', enc('<answer>3<eos>')],
      ['0:2', enc('<spawn><obj>x</spawn><answer>4<eos>')],
      ['0:3', enc('<answer>5<eos>')],
      ['1:0', enc('<spawn><obj>y<b128><obj>y<b128></spawn>zzzz')],
      ['1:1', enc('y'.repeat(100))],
      ['1:2', enc('y'.repeat(100))],
    ]);
    const items = [{ itemId: 'a', prompt: enc('1+2=') }, { itemId: 'b', prompt: enc('hi') }];
    const trees = await runTrees(items, new ScriptedPolicy(scripts), cfg, protocolTokens(tok));
    expect(trees[0].contexts.map((c) => c.depth)).toEqual([0, 1, 1, 2]);
    expect(trees[0].cost.malformed).toBe(1);
    expect(trees[1].contexts.map((c) => c.finish)).toContain('tree-limit');
    const file = path.join(tmp(), 'engine.jsonl');
    writeTreesJsonl(file, trees);
    expect(readTreesJsonl(file)).toEqual(trees);
    for (const t of trees) for (const c of t.contexts) expect(renderTreeHtml(t, tok)).toContain(`id="ctx-${c.id}"`);
  });

  it('names file:line and the field of a bad tree', () => {
    const dir = tmp();
    const file = path.join(dir, 'bad.jsonl');
    const good = JSON.stringify(treeToJson(sampleTree()));
    const bad = (edit: (t: any) => void) => {
      const t = JSON.parse(good);
      edit(t);
      fs.writeFileSync(file, `${good}\n${JSON.stringify(t)}\n`);
      return errorOf(() => readTreesJsonl(file));
    };
    expect(bad((t) => t.contexts[1].lossMask.pop())).toBe(`${file}:2: contexts.1.lossMask: length 15, expected 16 (the length of ids)`);
    expect(bad((t) => t.contexts[2].logprobs.push(0))).toMatch(`${file}:2: contexts.2.logprobs: length`);
    expect(bad((t) => (t.contexts[2].parent = 7))).toMatch(`${file}:2: contexts.2.parent: is 7, expected the id of an earlier context`);
    expect(bad((t) => (t.contexts[0].calls[0].clones = [1, 2, 5]))).toMatch(`${file}:2: contexts.0.calls.0.clones: clone 5`);
    expect(bad((t) => (t.contexts[1].callIndex = 1))).toMatch(`${file}:2: contexts.1.callIndex:`);
    expect(bad((t) => (t.contexts[0].ids[3] = 'x'))).toMatch(`${file}:2: contexts.0.ids.3:`);
    expect(bad((t) => (t.contexts[0].lossMask[0] = 2))).toMatch(`${file}:2: contexts.0.lossMask.0:`);
    expect(bad((t) => (t.cost.ms = -1))).toMatch(`${file}:2: cost.ms:`);
    expect(bad((t) => (t.contexts[0].finish = 'done'))).toMatch(`${file}:2: contexts.0.finish:`);
    expect(bad((t) => (t.contexts[0].extra = 1))).toMatch(`${file}:2: contexts.0: unknown key "extra"`);
    expect(bad((t) => (t.format = 2))).toMatch(`${file}:2: format:`);

    fs.writeFileSync(file, `${good}\n\n{"format": 1,\n`);
    expect(errorOf(() => readTreesJsonl(file))).toMatch(`${file}:3: invalid JSON`);
    expect(errorOf(() => readTreesJsonl(path.join(dir, 'missing.jsonl')))).toMatch(/missing\.jsonl: cannot read \(ENOENT\)/);
    expect(errorOf(() => treeFromJson({ format: 1 }, 'obj'))).toMatch(/^obj: itemId: /);
  });
});

describe('trace HTML', () => {
  const tree = sampleTree(`add ${SCRIPT}`);
  const html = renderTreeHtml(tree, tok);

  it('is a complete, self-contained document', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html).toContain('<style>');
    expect(html).not.toMatch(/<script|src=|href=|@import|url\(/i);
  });

  it('escapes all model text', () => {
    expect(html).not.toContain(SCRIPT);
    // the item id in the header and title, escaped as one piece
    expect(html).toContain('add &lt;script&gt;alert(1)&lt;/script&gt;');
    // clone 2's tokens: rendered one span per token, visible text intact
    const box2 = html.slice(html.indexOf('id="ctx-2"'));
    expect(visibleText(box2)).toContain(`${SCRIPT}·"q"·&·'a'`);
    expect(box2).toContain('>&quot;</span>');
    expect(box2).toContain('>&#39;</span>');
    expect(box2).toContain('>&amp;</span>');
  });

  it('nests clones under their call and shows the costs', () => {
    for (const id of [0, 1, 2]) expect(html).toContain(`id="ctx-${id}"`);
    // clones inside the root's box, inside the first call's box, before the injected returns
    const root = html.indexOf('id="ctx-0"');
    const call0 = html.indexOf('call #0');
    const [c1, c2] = [html.indexOf('id="ctx-1"'), html.indexOf('id="ctx-2"')];
    const call1 = html.indexOf('call #1');
    expect(root).toBeLessThan(call0);
    expect(call0).toBeLessThan(c1);
    expect(c1).toBeLessThan(c2);
    expect(c2).toBeLessThan(call1);
    expect(html).toContain('MALFORMED: empty-objective');
    expect(html).toMatch(/class="callbox bad"/);
    // token kinds and special badges
    expect(html).toMatch(/<span class="t p sp"[^>]*>&lt;think&gt;<\/span>/);
    expect(html).toMatch(/<span class="t s call sp"[^>]*>&lt;spawn&gt;<\/span>/);
    expect(html).toMatch(/<span class="t s bad sp"[^>]*>&lt;spawn&gt;<\/span>/);
    expect(html).toMatch(/<span class="t i sp"[^>]*>&lt;ret&gt;<\/span>/);
    expect(html).toMatch(/<span class="t s ans"[^>]*>1<\/span><span class="t s ans"[^>]*>0<\/span>/);
    expect(html).toContain('<span class="ws">↵</span><br>');
    expect(html).toContain('answer: <span class="text">3</span>');
    // cost table
    const c = tree.cost;
    expect(c).toMatchObject({ calls: 2, clones: 2, malformed: 1 });
    for (const v of [c.rootGenerated, c.cloneGenerated, c.rootTokens, c.cloneTokens, c.processedTokens, c.criticalPathTokens, 1234]) {
      expect(html).toContain(`<td>${v}</td>`);
    }
  });

  it('uses real protocol token ids', () => {
    const ids = tree.contexts[0].ids;
    for (const t of ['<spawn>', '</spawn>', '<obj>', '<ret>', '<err>', '<answer>', '<eos>'] as SpecialToken[]) expect(ids).toContain(tok.id(t));
  });
});

describe('selfcest trace', () => {
  const run = async (args: { file: string; index?: number; out?: string }) => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await traceCommand.handler({ _: [], $0: 'selfcest', index: 0, ...args } as never);
      return log.mock.calls.map((c) => c.join(' '));
    } finally {
      log.mockRestore();
    }
  };

  it('writes the chosen tree next to the file, or to --out', async () => {
    const dir = tmp();
    const file = path.join(dir, 'rollouts.jsonl');
    writeTreesJsonl(file, [sampleTree('first'), sampleTree('second')]);
    expect(await run({ file, index: 1 })).toEqual([path.join(dir, 'rollouts-1.html')]);
    const html = fs.readFileSync(path.join(dir, 'rollouts-1.html'), 'utf8');
    expect(html).toContain('<b>second</b>');
    const out = path.join(dir, 'html', 'first.html');
    expect(await run({ file, out })).toEqual([out]);
    expect(fs.readFileSync(out, 'utf8')).toContain('<b>first</b>');
  });

  it('reports a missing file or an index out of range as one line', async () => {
    const dir = tmp();
    const file = path.join(dir, 'rollouts.jsonl');
    writeTreesJsonl(file, [sampleTree(), sampleTree()]);
    await expect(run({ file, index: 2 })).rejects.toThrow(`${file}: --index 2 is out of range: the file holds 2 trees (--index 0..1)`);
    await expect(run({ file, index: -1 })).rejects.toThrow('--index -1: expected an integer >= 0');
    await expect(run({ file: path.join(dir, 'nope.jsonl') })).rejects.toThrow(/nope\.jsonl: cannot read \(ENOENT\)/);
    await expect(run({ file, index: 2 })).rejects.toSatisfy(isSelfcestError);
  });
});
