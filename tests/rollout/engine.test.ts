import { describe, it, expect } from 'vitest';
import { loadTokenizer, type SpecialToken } from '../../src/tokenizer/index.ts';
import { docStore, protocolTokens, RolloutConfigSchema, parseCall } from '../../src/rollout/protocol.ts';
import { runTrees, ScriptedPolicy, type RolloutItem } from '../../src/rollout/engine.ts';
import { criticalPath } from '../../src/rollout/tree.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
/** token ids from text pieces and special-token names, e.g. T('<spawn>', '<obj>', '12+34') */
const T = (...parts: string[]): number[] => parts.flatMap((x) => (/^<[^>]+>$/.test(x) ? [tok.id(x as SpecialToken)] : tok.encode(x)));

const cfg = RolloutConfigSchema.parse({ maxDepth: 2, maxClonesPerCall: 3, maxTreeTokens: 300, rootBudget: 96, defaultCloneBudget: 24 });
const docs = docStore([
  { key: T('K1'), doc: T('K1: twelve is 12') },
  { key: T('K2'), doc: T('K2: fifty-six') },
]);

describe('protocol parser', () => {
  it('parses specs with budgets and refs, and names what is wrong otherwise', () => {
    const ok = parseCall(T('<obj>', 'a', '<b16>', '<ctx>', 'K1', '<obj>', 'bc'), p, cfg, docs);
    expect(ok).toEqual({ ok: true, specs: [{ objective: T('a'), budget: 16, refs: [T('K1')] }, { objective: T('bc'), budget: 24, refs: [] }] });
    expect(parseCall(T('<obj>', 'a', '<b128>'), p, { ...cfg, cloneBudgetCap: 64 }, docs)).toMatchObject({ ok: true, specs: [{ budget: 64 }] });
    // fixed budgets (the ablation): the token parses but every clone gets defaultCloneBudget
    expect(parseCall(T('<obj>', 'a', '<b128>', '<obj>', 'b', '<b16>'), p, { ...cfg, cloneBudgets: 'fixed', defaultCloneBudget: 40 }, docs)).toMatchObject({ ok: true, specs: [{ budget: 40 }, { budget: 40 }] });
    expect(parseCall(T('a'), p, cfg, docs)).toEqual({ ok: false, reason: 'parse' });
    expect(parseCall(T('<obj>'), p, cfg, docs)).toEqual({ ok: false, reason: 'empty-objective' });
    expect(parseCall(T('<obj>', 'a', '<ctx>', 'K9'), p, cfg, docs)).toEqual({ ok: false, reason: 'unknown-ref' });
    expect(parseCall(T('<obj>', 'a', '<answer>'), p, cfg, docs)).toEqual({ ok: false, reason: 'parse' });
    expect(parseCall(T('<obj>', 'a', '<obj>', 'b', '<obj>', 'c', '<obj>', 'd'), p, cfg, docs)).toEqual({ ok: false, reason: 'too-many-clones' });
  });
});

describe('rollout engine with a scripted policy', () => {
  it('runs spawns with budgets and refs, a nested spawn, a malformed call, a clone out of budget and a tree at its token limit', async () => {
    const items: RolloutItem[] = [
      { itemId: 'a', prompt: T('12+34+56+7='), docs },
      { itemId: 'b', prompt: T('hi'), docs },
    ];
    const scripts = new Map<string, number[]>([
      // tree a: root → 3 clones; clone 2 spawns a grandchild; clone 3 runs out of its 16-token budget
      ['0:0', [...T('<spawn>', '<obj>', '12+34', '<b16>', '<ctx>', 'K1', '<obj>', '56', '<ctx>', 'K2', '<obj>', '7+0', '<b16>', '</spawn>'), ...T('<spawn>', '<obj>', '</spawn>'), ...T('<answer>', '102', '<eos>')]],
      ['0:1', T('<answer>', '46', '<eos>')],
      ['0:2', [...T('<spawn>', '<obj>', '5', '</spawn>'), ...T('<answer>', '56', '<eos>')]],
      ['0:3', T('xxxxxxxxxxxxxxxxxxxx')],
      ['0:4', T('<answer>', '5', '<eos>')],
      // tree b: three clones that never stop; the tree reaches 300 tokens first
      ['1:0', [...T('<spawn>', '<obj>', 'y', '<b128>', '<obj>', 'y', '<b128>', '<obj>', 'y', '<b128>', '</spawn>'), ...T('zzzzzzzz')]],
      ['1:1', T('y'.repeat(200))],
      ['1:2', T('y'.repeat(200))],
      ['1:3', T('y'.repeat(200))],
    ]);
    const policy = new ScriptedPolicy(scripts);
    const [a, b] = await runTrees(items, policy, cfg, p);

    // ---- tree a
    const [root, c1, c2, c3, g] = a.contexts;
    expect(a.contexts).toHaveLength(5);
    expect([c1, c2, c3, g].map((c) => [c.parent, c.depth, c.callIndex, c.budget])).toEqual([
      [0, 1, 0, 16],
      [0, 1, 0, 24],
      [0, 1, 0, 16],
      [2, 2, 0, 24],
    ]);
    expect(c1.ids).toEqual([...T('<clone>', '12+34', '<doc>', 'K1: twelve is 12', '<think>'), ...T('<answer>', '46', '<eos>')]);
    expect(c2.ids).toEqual([
      ...T('<clone>', '56', '<doc>', 'K2: fifty-six', '<think>'),
      ...T('<spawn>', '<obj>', '5', '</spawn>'),
      ...T('<ret>', '5', '</ret>'),
      ...T('<answer>', '56', '<eos>'),
    ]);
    expect(g.ids).toEqual([...T('<clone>', '5', '<think>'), ...T('<answer>', '5', '<eos>')]);
    expect(c3.ids).toEqual([...T('<clone>', '7+0', '<think>'), ...T('x'.repeat(16))]);
    expect([root, c1, c2, c3, g].map((c) => c.finish)).toEqual(['answer', 'answer', 'answer', 'budget', 'answer']);
    expect([root, c1, c2, c3, g].map((c) => (c.answer ? tok.decode(c.answer) : null))).toEqual(['102', '46', '56', null, '5']);
    const call1 = T('<spawn>', '<obj>', '12+34', '<b16>', '<ctx>', 'K1', '<obj>', '56', '<ctx>', 'K2', '<obj>', '7+0', '<b16>', '</spawn>');
    const returns = T('<ret>', '46', '</ret>', '<ret>', '56', '</ret>', '<ret>', '<err>', '</ret>');
    const bad = T('<spawn>', '<obj>', '</spawn>');
    const final = T('<answer>', '102', '<eos>');
    const prompt = T('12+34+56+7=');
    expect(root.ids).toEqual([...prompt, ...call1, ...returns, ...bad, p.err, ...final]);
    const mask = (n: number, v: number) => new Array(n).fill(v);
    expect(root.lossMask).toEqual([...mask(prompt.length, 0), ...mask(call1.length, 1), ...mask(returns.length, 0), ...mask(bad.length, 1), 0, ...mask(final.length, 1)]);
    expect(c2.lossMask).toEqual([...mask(c2.promptLength, 0), ...mask(4, 1), ...mask(3, 0), ...mask(4, 1)]);
    expect(root.calls).toEqual([
      { index: 0, start: prompt.length, end: prompt.length + call1.length, clones: [1, 2, 3], malformed: null, injected: returns.length },
      { index: 1, start: prompt.length + call1.length + returns.length, end: prompt.length + call1.length + returns.length + bad.length, clones: [], malformed: 'empty-objective', injected: 1 },
    ]);
    expect(c2.calls).toEqual([{ index: 0, start: c2.promptLength, end: c2.promptLength + 4, clones: [4], malformed: null, injected: 3 }]);
    // costs: critical path = root + longest clone of its call, where clone 2's path includes its grandchild
    const len = (c: { ids: number[] }) => c.ids.length;
    expect(criticalPath(a)).toBe(len(root) + Math.max(len(c1), len(c2) + len(g), len(c3)));
    expect(a.cost).toMatchObject({
      rootGenerated: call1.length + bad.length + final.length,
      cloneGenerated: 4 + 8 + 16 + 3, // "<answer> 4 6 <eos>", call + answer, budget, "<answer> 5 <eos>"
      rootTokens: len(root),
      cloneTokens: len(c1) + len(c2) + len(c3) + len(g),
      processedTokens: len(root) + len(c1) + len(c2) + len(c3) + len(g),
      criticalPathTokens: len(root) + len(c2) + len(g),
      calls: 3,
      clones: 4,
      malformed: 1,
    });

    // ---- tree b: stops at the token limit, exactly (tests/rollout/tree-limit.test.ts)
    const total = b.contexts.reduce((n, c) => n + c.ids.length, 0);
    expect(b.contexts.map((c) => c.finish)).toEqual(['tree-limit', 'tree-limit', 'tree-limit', 'tree-limit']);
    expect(total).toBe(cfg.maxTreeTokens);
    // the clones ran in lockstep: on the last step only as many sampled as the tree had room for
    const gen = b.contexts.slice(1).map((c) => c.lossMask.filter((m) => m === 1).length);
    expect(Math.max(...gen) - Math.min(...gen)).toBeLessThanOrEqual(1);
    // no room was left for their returns
    expect(b.contexts[0].ids.slice(-1)).toEqual(T('</spawn>'));
  });

  it('masks the spawn token for the monolithic baseline and at the depth limit', async () => {
    const seen: number[][] = [];
    const policy = {
      next: async (reqs: { forbid: readonly number[] }[]) => {
        seen.push(...reqs.map((r) => [...r.forbid]));
        return reqs.map(() => ({ token: p.eos, logprob: 0 }));
      },
      release: async () => {},
    };
    await runTrees([{ itemId: 'x', prompt: T('q') }], policy, RolloutConfigSchema.parse({ allowSpawn: false }), p);
    expect(seen[0]).toContain(p.spawn);
    seen.length = 0;
    await runTrees([{ itemId: 'x', prompt: T('q') }], policy, RolloutConfigSchema.parse({}), p);
    expect(seen[0]).not.toContain(p.spawn);
    expect(seen[0]).toContain(p.ret); // engine-only tokens are never sampled
  });
});

describe('rollout engine at the context window', () => {
  it('never injects past a window: returns and error segments are cut to fit, and the context ends at its window', async () => {
    const c = RolloutConfigSchema.parse({ rootWindow: 20, cloneWindow: 32, rootBudget: 64 });
    const call = T('<spawn>', '<obj>', 'a', '</spawn>');
    const bad = T('<spawn>', '<obj>', '</spawn>');
    const items: RolloutItem[] = [
      { itemId: 'ret', prompt: T('q'.repeat(14)) }, // 14 + 4 = 18: a 7-token return keeps 2
      { itemId: 'err', prompt: T('q'.repeat(17)) }, // 17 + 3 = 20: the error token does not fit
    ];
    const scripts = new Map<string, number[]>([
      ['0:0', [...call, ...T('<answer>', '1', '<eos>')]],
      ['0:1', T('<answer>', '12345', '<eos>')],
      ['1:0', [...bad, ...T('<answer>', '1', '<eos>')]],
    ]);
    const [a, b] = await runTrees(items, new ScriptedPolicy(scripts), c, p);
    expect(a.contexts[0].ids).toEqual([...T('q'.repeat(14)), ...call, ...T('<ret>', '1')]);
    expect(a.contexts[0].calls[0]).toMatchObject({ clones: [1], malformed: null, injected: 2 });
    expect(a.contexts[1].finish).toBe('answer');
    expect(b.contexts[0].ids).toEqual([...T('q'.repeat(17)), ...bad]);
    expect(b.contexts[0].calls[0]).toMatchObject({ malformed: 'empty-objective', injected: 0 });
    for (const t of [a, b]) {
      expect(t.contexts[0].finish).toBe('window');
      expect(t.contexts[0].ids.length).toBe(20);
      expect(t.contexts[0].lossMask).toHaveLength(20);
      expect(t.cost.rootTokens).toBe(20);
    }
  });
});
