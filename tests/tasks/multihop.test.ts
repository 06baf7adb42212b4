import { taskDocs } from '../task-docs.ts';
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizer, encodeChecked } from '../../src/tokenizer/index.ts';
import { protocolTokens, RolloutConfigSchema, type RolloutConfig } from '../../src/rollout/protocol.ts';
import { runTrees, ScriptedPolicy } from '../../src/rollout/engine.ts';
import { Rng } from '../../src/util/rng.ts';
import { checkMultihopItem, type Entity, generateMultihop, type MultihopItem, multihopItemFrom, multihopKnobs, MultihopKnobsSchema, multihopParagraph, type MultihopPreset, multihopPrompt, multihopQuestion, namePool, solveMultihop } from '../../src/tasks/multihop/multihop.ts';
import { checkItem, TASKS } from '../../src/tasks/registry.ts';
import { makeReward, taskReward } from '../../src/tasks/reward.ts';
import { readItemsJsonl, writeItemsJsonl, type Split, type TaskItem } from '../../src/tasks/types.ts';
import { delegationTrace, monolithicTrace, replayInputs, type Trace, type TraceResult, traceText } from '../../src/tasks/traces.ts';
import { MONO_VIEW_RESERVE } from '../../src/tasks/task.ts';
import { monolithicPromptIds, rolloutItem } from '../../src/tasks/views.ts';
import { MULTIHOP_DRILL_QUERIES, multihopDrillTrace } from '../../src/tasks/multihop/traces.ts';
import { arithKnobs, generateArith } from '../../src/tasks/arith/arith.ts';
import { dataGen, dataValidate } from '../../src/cli/data.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-multihop-'));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const gen = (preset: MultihopPreset, split: Split, n: number, seed: number | string, overrides: Record<string, unknown> = {}) =>
  generateMultihop({ split, n, seed, knobs: multihopKnobs(preset, split, overrides) });

/** A hand-written world: Bo -p-> Ka -d-> Mi -m-> Zu; Le is a distractor. */
const WORLD: Entity[] = [
  { key: 'Ka', name: 'Ka', facts: [['d', 'Mi'], ['p', 'Le']] },
  { key: 'Le', name: 'Le', facts: [['p', 'Bo'], ['d', 'Zu']] },
  { key: 'Bo', name: 'Bo', facts: [['m', 'Le'], ['p', 'Ka']] },
  { key: 'Zu', name: 'Zu', facts: [['b', 'Ka'], ['m', 'Bo']] },
  { key: 'Mi', name: 'Mi', facts: [['m', 'Zu'], ['d', 'Ka']] },
];

describe('multihop text format', () => {
  it('writes the question in hop order, paragraphs, and the root prompt with keys only', () => {
    expect(multihopQuestion('Bo', ['p', 'd'], 'terse')).toBe('Bo.p.d?');
    expect(multihopQuestion('Bok', ['pal', 'dad'], 'prose')).toBe('Who is the dad of the pal of Bok?');
    expect(multihopParagraph(WORLD[0], 'terse')).toBe('Ka:dMi,pLe');
    expect(multihopParagraph(WORLD[0], 'facts')).toBe('Ka.d=Mi,Ka.p=Le');
    expect(multihopQuestion('B', ['p', 'd'], 'facts')).toBe('B.p.d?');
    expect(multihopParagraph({ name: 'Kab', facts: [['pal', 'Lom'], ['boss', 'Sir']] }, 'prose')).toBe("Kab's pal is Lom. Kab's boss is Sir.");
    expect(multihopPrompt('Bo', ['p', 'd'], WORLD, { keys: 'name', style: 'terse' })).toBe('Bo.p.d?Ka,Le,Bo,Zu,Mi');
    const coded = WORLD.map((e, i) => ({ ...e, key: `k${i}` }));
    expect(multihopPrompt('Bo', ['p'], coded, { keys: 'code', style: 'terse' })).toBe('Bo.p?k0:Ka,k1:Le,k2:Bo,k3:Zu,k4:Mi');
    expect(multihopPrompt('Bo', ['p'], coded, { keys: 'code', style: 'prose' })).toBe('Who is the p of Bo? Keys: k0:Ka, k1:Le, k2:Bo, k3:Zu, k4:Mi.');
  });

  it('name lists are fixed, distinct and of the right shape', () => {
    expect([...namePool(1)].sort().join('')).toBe('ABCDEFGHIJKLMNOPQRSTUVWXYZ');
    const two = namePool(2);
    const three = namePool(3);
    expect(two).toHaveLength(75);
    expect(three).toHaveLength(1050);
    expect(new Set(two).size).toBe(75);
    expect(new Set(three).size).toBe(1050);
    expect(two.every((n) => /^[A-Z][aeiou]$/.test(n))).toBe(true);
    expect(three.every((n) => /^[A-Z][aeiou][a-z]$/.test(n))).toBe(true);
    expect(namePool(2).slice(0, 5)).toEqual(two.slice(0, 5));
  });
});

describe('multihop solver', () => {
  it.each([
    [['p'], ['Bo', 'Ka']],
    [['p', 'd'], ['Bo', 'Ka', 'Mi']],
    [['p', 'd', 'm'], ['Bo', 'Ka', 'Mi', 'Zu']],
    [['m', 'd'], ['Bo', 'Le', 'Zu']],
    [['p', 'd', 'd', 'p'], ['Bo', 'Ka', 'Mi', 'Ka', 'Le']],
  ])('follows %j from Bo through the paragraphs: %j', (route, chain) => {
    expect(solveMultihop(WORLD, 'Bo', route)).toEqual({ ok: true, chain });
  });

  it('names the missing paragraph or fact', () => {
    expect(solveMultihop(WORLD, 'Bo', ['b'])).toEqual({ ok: false, reason: "Bo's paragraph has no b" });
    expect(solveMultihop(WORLD, 'Xu', ['p'])).toEqual({ ok: false, reason: 'no paragraph about Xu' });
  });

  it('an item built from a hand-written world has the chain and answer of the solver and passes the check', () => {
    const k = multihopKnobs('tiny', 'id', { minDistractors: 1, maxDistractors: 1, minHops: 3, maxHops: 3, nameLength: 2, names: 75, style: 'terse' });
    const item = multihopItemFrom(WORLD, 'Bo', ['p', 'd', 'm'], k, 'id', 'hand-1');
    expect(item.answer).toBe('Zu');
    expect(item.meta.chain).toEqual(['Bo', 'Ka', 'Mi', 'Zu']);
    expect(item.meta.distractors).toBe(1);
    expect(item.prompt).toBe('Bo.p.d.m?Ka,Le,Bo,Zu,Mi');
    expect(item.docs.map((d) => d.key)).toEqual(['Ka', 'Le', 'Bo', 'Zu', 'Mi']);
    expect(checkMultihopItem(item)).toBeNull();
    // a path that visits an entity twice is refused by the check (generated chains never do)
    const loop = multihopItemFrom(WORLD, 'Bo', ['p', 'd', 'd'], { ...k, minHops: 3 }, 'id', 'hand-2');
    expect(checkMultihopItem(loop)).toMatchObject({ path: ['meta', 'chain'], message: expect.stringMatching(/visits an entity twice/) });
  });
});

describe('multihop generator', () => {
  it('is deterministic per seed; a longer set starts with the shorter one; splits and seeds differ', () => {
    const a = gen('tiny', 'id', 20, 1);
    expect(gen('tiny', 'id', 20, 1)).toEqual(a);
    expect(gen('tiny', 'id', 50, 1).slice(0, 20)).toEqual(a);
    expect(gen('tiny', 'id', 20, 2).map((x) => x.prompt)).not.toEqual(a.map((x) => x.prompt));
    expect(gen('tiny', 'train', 20, 1).map((x) => x.prompt)).not.toEqual(a.map((x) => x.prompt));
    expect(a[3].id).toBe('multihop-id-1-3');
  });

  it.each([
    ['tiny', 'id', [2, 4], [1, 2]],
    ['tiny', 'ood', [5, 6], [3, 6]],
    ['reference', 'id', [2, 4], [8, 16]],
    ['reference', 'ood', [5, 6], [16, 24]],
  ] as const)('%s %s: hops and distractors within the knobs, every record passes the check, every string round-trips', (preset, split, hops, distractors) => {
    const items = gen(preset, split, 60, 5);
    const seenHops = new Set<number>();
    for (const it of items) {
      expect(checkMultihopItem(it), it.id).toBeNull();
      expect(checkItem(it)).toBeNull();
      const m = it.meta;
      seenHops.add(m.hops);
      expect(m.hops).toBeGreaterThanOrEqual(hops[0]);
      expect(m.hops).toBeLessThanOrEqual(hops[1]);
      expect(m.distractors).toBeGreaterThanOrEqual(distractors[0]);
      expect(m.distractors).toBeLessThanOrEqual(distractors[1]);
      expect(it.docs).toHaveLength(m.hops + 1 + m.distractors);
      expect(new Set(m.chain).size).toBe(m.chain.length);
      // the root's prompt holds no paragraph
      for (const d of it.docs) expect(it.prompt).not.toContain(d.text);
      for (const s of [it.prompt, it.answer, ...it.docs.flatMap((d) => [d.key, d.text])]) {
        const ids = encodeChecked(tok, s);
        expect(tok.decode(ids)).toBe(s);
        expect(ids.some((t) => tok.isSpecial(t))).toBe(false);
      }
    }
    expect(seenHops.size).toBe(hops[1] - hops[0] + 1);
  });

  it('chain-flat: the paragraph count is drawn independently of the hop count, within its range for every hop count', () => {
    const items = gen('chain-flat', 'id', 300, 3);
    const byHops = new Map<number, number[]>();
    for (const it of items) {
      expect(checkMultihopItem(it), it.id).toBeNull();
      byHops.set(it.meta.hops, [...(byHops.get(it.meta.hops) ?? []), it.docs.length]);
    }
    expect([...byHops.keys()].sort()).toEqual([2, 3, 4]);
    for (const [hops, counts] of byHops) {
      // each hop count sees (nearly) the whole 9-19 range, so the prompt's length does not reveal the hops
      expect(Math.min(...counts), `${hops} hops`).toBeLessThanOrEqual(10);
      expect(Math.max(...counts), `${hops} hops`).toBeGreaterThanOrEqual(18);
      expect(counts.every((n) => n >= 9 && n <= 19)).toBe(true);
    }
    // chain draws distractors instead: its largest 2-hop items are smaller than its largest 4-hop items
    const chain = gen('chain', 'id', 300, 3);
    const most = (h: number) => Math.max(...chain.filter((it) => it.meta.hops === h).map((it) => it.docs.length));
    expect(most(2)).toBe(13);
    expect(most(4)).toBe(15);
  });

  it('checks its knobs', () => {
    expect(() => multihopKnobs('chain', 'id', { minParagraphs: 9 })).toThrow(/minParagraphs and maxParagraphs go together/);
    expect(() => multihopKnobs('chain-flat', 'id', { minDistractors: 6 })).toThrow(/minParagraphs - maxHops - 1 >= minDistractors/);
    expect(() => multihopKnobs('chain-flat', 'id', { maxParagraphs: 25, names: 26 })).toThrow(/maxParagraphs - minHops - 1 <= maxDistractors/);
    expect(() => multihopKnobs('tiny', 'id', { minHops: 5 })).toThrow(/minHops must be <= maxHops/);
    expect(() => multihopKnobs('tiny', 'id', { maxFacts: 5 })).toThrow(/maxFacts must be <= the number of relations/);
    expect(() => multihopKnobs('tiny', 'ood', { names: 10 })).toThrow(/names must cover/);
    expect(() => MultihopKnobsSchema.parse({ relations: ['Pal'] })).toThrow(/lowercase/);
  });
});

describe('multihop record check', () => {
  const items = gen('tiny', 'id', 4, 9);
  const good = items.map((x) => JSON.stringify(x));
  const edit = (i: number, patch: (o: Record<string, any>) => void) => {
    const o = JSON.parse(good[i]);
    patch(o);
    return JSON.stringify(o);
  };
  const other = (o: Record<string, any>) => o.meta.world.find((e: Entity) => !o.meta.chain.includes(e.name)).name;

  it.each([
    ['a wrong answer', 2, (o: any) => (o.answer = o.meta.chain[0]), /answer: is ".*", expected "/],
    ['a changed paragraph', 1, (o: any) => (o.docs[1].text += ',pBo'), /docs\.1\.text: is .*, expected /],
    ['a changed key', 1, (o: any) => (o.docs[0].key = 'Zz'), /docs\.0\.key: is "Zz", expected /],
    ['a missing paragraph', 3, (o: any) => o.docs.pop(), /docs: has \d+ paragraphs, meta\.world has \d+/],
    ['paragraphs in the prompt', 2, (o: any) => (o.prompt += `|${o.docs[0].text}`), /prompt: is .*, expected .*\(the question and the keys\)/],
    ['a wrong chain', 1, (o: any) => (o.meta.chain[1] = other(o)), /meta\.chain: is .*, but the path visits /],
    ['a fact pointing outside the world', 2, (o: any) => (o.meta.world[0].facts[0][1] = 'Qq'), /meta\.world\.0\.facts\.0\.1: "Qq" is not another entity of the world/],
    ['an unknown relation', 1, (o: any) => (o.meta.world[1].facts[0][0] = 'x'), /meta\.world\.1\.facts\.0\.0: "x" is not one of the relations/],
    ['two paragraphs about one name', 1, (o: any) => (o.meta.world[1].name = o.meta.world[0].name), /meta\.world\.1\.name: ".*" has two paragraphs/],
    ['hops outside the knobs', 1, (o: any) => (o.meta.knobs.maxHops = 1, o.meta.knobs.minHops = 1), /meta\.hops: \d is outside \[1, 1\]/],
    ['hops disagreeing with the path', 1, (o: any) => (o.meta.hops += 1), /meta\.path: has \d relations, meta\.hops is \d/],
    ['a bad knob', 1, (o: any) => (o.meta.knobs.style = 'poem'), /meta\.knobs\.style: Invalid option/],
    ['paragraphs outside the knobs', 1, (o: any) => Object.assign(o.meta.knobs, { minDistractors: 0, maxDistractors: 15, minParagraphs: 12, maxParagraphs: 17 }), /meta\.world: \d+ paragraphs is outside \[12, 17\]/],
  ])('names file:line:field for %s', (_what, line, patch, re) => {
    const lines = good.map((g, i) => (i === line - 1 ? edit(i, patch) : g));
    const f = path.join(tmp(), 'bad.jsonl');
    fs.writeFileSync(f, lines.join('\n') + '\n');
    let msg = '';
    try {
      readItemsJsonl(f, checkItem);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(new RegExp(`^${esc(f)}:${line}: `));
    expect(msg).toMatch(re);
    expect(msg).not.toContain('\n');
  });

  it('is registered: data gen writes a split that validate accepts, byte for byte the same again', () => {
    expect(Object.keys(TASKS)).toContain('multihop');
    expect(TASKS.multihop.presets).toEqual(['tiny', 'chain', 'chain-flat', 'reference']);
    const f = path.join(tmp(), 'm.jsonl');
    expect(dataGen({ task: 'multihop', split: 'train', n: 12, seed: 4, out: f, set: ['maxDistractors=5'] })).toBe(`wrote 12 multihop items (split train, seed 4) to ${f}`);
    const first = fs.readFileSync(f);
    dataGen({ task: 'multihop', split: 'train', n: 12, seed: 4, out: f, set: ['maxDistractors=5'] });
    expect(fs.readFileSync(f).equals(first)).toBe(true);
    expect(dataValidate({ file: f })).toBe(`OK ${f}: 12 items (multihop/train 12)`);
    expect(readItemsJsonl(f, checkItem).every((x) => (x.meta as { knobs: { maxDistractors: number } }).knobs.maxDistractors === 5)).toBe(true);
  });
});

describe('multihop views', () => {
  const item = gen('tiny', 'id', 1, 1)[0];

  it('keys view: the prompt (question and keys) and a DocStore that expands every key into its paragraph', () => {
    const r = rolloutItem(item, tok);
    expect(tok.decode(r.prompt)).toBe(`${item.prompt}<think>`);
    for (const d of item.docs) expect(r.docs!.get(encodeChecked(tok, d.key))).toEqual(encodeChecked(tok, d.text));
    expect(r.docs!.get(encodeChecked(tok, 'Qq'))).toBeUndefined();
  });

  it('inline view: the question and the paragraphs that fit window − reserve, in item order', () => {
    const full = rolloutItem(item, tok, { view: 'inline', window: 512 });
    const question = multihopQuestion(item.meta.chain[0], item.meta.path, 'terse');
    expect(tok.decode(full.prompt)).toBe(`${question}${item.docs.map((d) => `|${d.text}`).join('')}<think>`);
    for (const window of [60, 80, 100, 128, 200]) {
      const v = monolithicPromptIds(item, tok, { window });
      expect(v.ids.length).toBeLessThanOrEqual(window - MONO_VIEW_RESERVE);
      const next = item.docs[v.included];
      // the next paragraph would not have fit
      if (next) expect(v.ids.length + 1 + encodeChecked(tok, next.text).length).toBeGreaterThan(window - MONO_VIEW_RESERVE);
      expect(tok.decode(v.ids)).toBe(`${question}${item.docs.slice(0, v.included).map((d) => `|${d.text}`).join('')}<think>`);
    }
    // items without documents look the same in both views
    const arith: TaskItem = { format: 1, task: 'arith', split: 'id', id: 'a', prompt: '1+2', answer: '3', meta: {} };
    expect(rolloutItem(arith, tok, { view: 'inline' })).toEqual(rolloutItem(arith, tok));
  });
});

describe('multihop reward: exact match after normalisation', () => {
  const item = gen('tiny', 'id', 1, 1)[0];
  const treeAnswering = (text: string | null) => ({ contexts: [{ answer: text === null ? null : encodeChecked(tok, text), lossMask: [], calls: [] }] }) as never;
  it.each([
    [item.answer, 1],
    [` ${item.answer.toLowerCase()} `, 1],
    [item.answer.toUpperCase(), 1],
    [`${item.answer}.`, 0],
    [item.meta.chain[0], 0],
    ['', 0],
    [null, 0],
  ])('answer %j → correct %d', (answer, correct) => {
    const r = taskReward(item, treeAnswering(answer), tok);
    expect(r.components.correct).toBe(correct);
    expect(r.reward).toBe(correct);
  });
  it('cost terms apply as for every task', () => {
    const r = makeReward({ malformed: { coef: 0.5 } })(item, treeAnswering(item.answer), tok);
    expect(r.reward).toBe(1);
  });
});

// -------------------------------------------------------------------------------------------------- traces

const cfg = RolloutConfigSchema.parse({});
/** OOD needs 5 calls (one per hop): the default maxCallsPerTree is 4 */
const oodCfg = RolloutConfigSchema.parse({ maxCallsPerTree: 8 });
/** the reference preset is sized for long windows */
const bigCfg = RolloutConfigSchema.parse({ rootWindow: 4096, cloneWindow: 256, rootBudget: 512, maxCallsPerTree: 8, maxTreeTokens: 16384, returnTokens: 16 });

/** A trace per item (each must exist), all replayed through the engine in one run. */
async function replayed(items: MultihopItem[], make: (item: MultihopItem, i: number) => TraceResult, c: RolloutConfig) {
  const pairs = items.map((item, i) => {
    const r = make(item, i);
    if (!r.ok) throw new Error(`${item.id}: ${r.reason}`);
    return { item, trace: r.trace as Trace };
  });
  const { items: inputs, scripts } = replayInputs(pairs, tok);
  return { pairs, trees: await runTrees(inputs, new ScriptedPolicy(scripts), c, p) };
}

// the trace tests use the format-1 sets (data/eval/v1): their items, fits and worked examples are documented
const evalId = readItemsJsonl(path.join(ROOT, 'data/eval/v1/multihop-id.jsonl'), checkItem) as MultihopItem[];
const evalOod = readItemsJsonl(path.join(ROOT, 'data/eval/v1/multihop-ood.jsonl'), checkItem) as MultihopItem[];
const chainId = readItemsJsonl(path.join(ROOT, 'data/eval/v1/multihop-chain-id.jsonl'), checkItem) as MultihopItem[];
const chainOod = readItemsJsonl(path.join(ROOT, 'data/eval/v1/multihop-chain-ood.jsonl'), checkItem) as MultihopItem[];
// the `chain` preset's largest ID items need more than one 128-token window as the monolithic view (docs/tasks.md)
const chainIdMonoFits = chainId.filter((item) => monolithicTrace(item, tok, cfg).ok);
const CHAIN_ID_MONO_FITS = 196;
/**
 * Sets whose traces are replayed: `plans` are the delegation plans the set must show (absent: no delegation test;
 * ID items are short enough for a clone to hold every paragraph, OOD and reference items are not, except that the
 * `chain` preset's short OOD paragraphs let a clone take the last few hops with every paragraph); `mono`: whether
 * every item has a monolithic trace to test.
 */
const ALL_PLANS = ['chain', 'chain-rest', 'whole'];
const traceSets: { name: string; items: MultihopItem[]; c: RolloutConfig; plans?: string[]; mono: boolean }[] = [
  { name: 'eval id', items: evalId, c: cfg, plans: ALL_PLANS, mono: true },
  { name: 'tiny train seed 7', items: gen('tiny', 'train', 60, 7), c: cfg, plans: ALL_PLANS, mono: true },
  { name: 'tiny train seed 8, code keys', items: gen('tiny', 'train', 40, 8, { keys: 'code' }), c: cfg, plans: ALL_PLANS, mono: true },
  { name: 'eval ood (maxCallsPerTree 8)', items: evalOod, c: oodCfg, plans: ['chain'], mono: false },
  { name: 'tiny ood seed 9 (maxCallsPerTree 8)', items: gen('tiny', 'ood', 40, 9), c: oodCfg, plans: ['chain'], mono: false },
  { name: 'chain eval id', items: chainId, c: cfg, plans: ALL_PLANS, mono: false },
  { name: 'chain eval id, the items with a monolithic trace', items: chainIdMonoFits, c: cfg, mono: true },
  { name: 'chain eval ood (maxCallsPerTree 8)', items: chainOod, c: oodCfg, plans: ['chain', 'chain-rest'], mono: false },
  { name: 'reference id (long windows)', items: gen('reference', 'id', 20, 3), c: bigCfg, plans: ['chain'], mono: true },
  { name: 'reference ood (long windows)', items: gen('reference', 'ood', 20, 3), c: bigCfg, plans: ['chain'], mono: true },
];

describe('multihop delegation traces', () => {
  it.each(traceSets.filter((t) => t.plans))('$name: one call per hop with the current paragraph, then maybe one clone for the rest with every paragraph; replayed to the right answer', async ({ items, c, plans: expected }) => {
    const { pairs, trees } = await replayed(items, (item, i) => delegationTrace(item, tok, c, Rng.fromSeed(`mh-delegate:${i}`)), c);
    const budgets = new Set<number>();
    const plans = new Set<string>();
    trees.forEach((tree, t) => {
      const { item, trace } = pairs[t];
      const m = item.meta;
      expect(trace.kind).toBe('delegate');
      expect(tree.contexts).toEqual(trace.tree.contexts);
      expect(tree.cost.malformed).toBe(0);
      const [root, ...clones] = tree.contexts;
      expect(tok.decode(root.ids.slice(0, root.promptLength))).toBe(`${item.prompt}<think>`);
      expect(root.calls).toHaveLength(clones.length);
      expect(root.finish).toBe('answer');
      expect(tok.decode(root.answer!)).toBe(item.answer);
      expect(taskReward(item, tree, tok).components.correct).toBe(1);
      // the root never holds a paragraph
      for (const d of item.docs) expect(tok.decode(root.ids)).not.toContain(d.text);
      const keyOf = (name: string) => m.world.find((e) => e.name === name)!.key;
      const textOf = (key: string) => item.docs.find((d) => d.key === key)!.text;
      // the last clone may take the rest of the path with every paragraph; the others take one hop each
      const last = clones[clones.length - 1];
      const rest = tok.decode(last.ids.slice(0, last.promptLength)).split('<doc>').length - 1 === item.docs.length && item.docs.length > 1;
      const perHop = rest ? clones.length - 1 : clones.length;
      if (rest) expect(m.hops - perHop).toBeGreaterThanOrEqual(2);
      else expect(perHop).toBe(m.hops);
      plans.add(!rest ? 'chain' : perHop === 0 ? 'whole' : 'chain-rest');
      clones.forEach((clone, h) => {
        expect(clone.callIndex).toBe(h);
        expect(root.calls[h].clones).toEqual([clone.id]);
        expect(clone.finish).toBe('answer');
        const prompt = tok.decode(clone.ids.slice(0, clone.promptLength));
        const gen = tok.decode(clone.ids.slice(clone.promptLength));
        if (h < perHop) {
          expect(prompt).toBe(`<clone>${m.chain[h]}.${m.path[h]}<doc>${textOf(keyOf(m.chain[h]))}<think>`);
          expect(gen).toBe(`${m.chain[h]}.${m.path[h]}=${m.chain[h + 1]};<answer>${m.chain[h + 1]}<eos>`);
        } else {
          expect(prompt).toBe(`<clone>${[m.chain[h], ...m.path.slice(h)].join('.')}${item.docs.map((d) => `<doc>${d.text}`).join('')}<think>`);
          const steps = m.path.slice(h).map((r, i) => `${m.chain[h + i]}.${r}=${m.chain[h + i + 1]};`).join('');
          expect(gen).toBe(`${steps}<answer>${item.answer}<eos>`);
        }
        expect(clone.ids.length).toBeLessThanOrEqual(c.cloneWindow);
        budgets.add(clone.budget);
      });
      expect(tok.decode(root.ids.slice(root.promptLength))).toMatch(/^(<spawn><obj>[^<]+<b\d+>(<ctx>[^<]+)+<\/spawn><ret>[^<]+<\/ret>)+<answer>[^<]+<eos>$/);
      expect(root.ids.length).toBeLessThanOrEqual(c.rootWindow);
    });
    expect(budgets.size).toBeGreaterThan(1);
    expect([...plans].sort()).toEqual(expected);
  });

  it('reads as one call per hop, or one call with every paragraph', () => {
    const chain = delegationTrace(evalId[1], tok, cfg, Rng.fromSeed(1), { multihopPlans: ['chain'] });
    expect(chain.ok && traceText(chain.trace, tok)).toMatch(/gen     <spawn><obj>(\w+)\.\w<b\d+><ctx>\1<\/spawn>\n  eng     <ret>\w+<\/ret>/);
    const whole = delegationTrace(evalId[1], tok, cfg, Rng.fromSeed(1), { multihopPlans: ['whole'] });
    const keys = evalId[1].docs.map((d) => `<ctx>${d.key}`).join('');
    expect(whole.ok && traceText(whole.trace, tok)).toMatch(new RegExp(`gen     <spawn><obj>${esc(evalId[1].prompt.split('?')[0])}<b(32|64)>${esc(keys)}</spawn>\n  eng     <ret>${evalId[1].answer}</ret>\n  gen     <answer>${evalId[1].answer}<eos>`));
  });

  it('the worked examples in docs/tasks.md are what the code produces', () => {
    const doc = taskDocs();
    const blocks = [...doc.matchAll(/```text\n((mono|delegate) trace of multihop-id-1-2\n[\s\S]*?)\n```/g)].map((m) => m[1]);
    const item = evalId[2];
    const made = [monolithicTrace(item, tok, cfg), ...(['chain', 'whole'] as const).map((plan) => delegationTrace(item, tok, cfg, Rng.fromSeed(2), { multihopPlans: [plan] }))];
    expect(blocks).toEqual(made.map((r) => (r.ok ? traceText(r.trace, tok) : r.reason)));
  });

  it('with fixed clone budgets, every clone gets defaultCloneBudget, as the engine grants it', async () => {
    const fixed = RolloutConfigSchema.parse({ cloneBudgets: 'fixed', defaultCloneBudget: 48 });
    const { pairs, trees } = await replayed(evalId.slice(0, 30), (item, i) => delegationTrace(item, tok, fixed, Rng.fromSeed(i)), fixed);
    trees.forEach((tree, t) => {
      expect(tree.contexts).toEqual(pairs[t].trace.tree.contexts);
      expect(tree.contexts.slice(1).every((c) => c.budget === 48)).toBe(true);
    });
  });

  it('refuses, naming why: more hops than calls, spawning off, a window too small', () => {
    const h = evalOod[0].meta.hops;
    expect(delegationTrace(evalOod[0], tok, cfg, Rng.fromSeed(1), { multihopPlans: ['chain'] })).toMatchObject({ ok: false, reason: `${h} calls (${h} of one hop), maxCallsPerTree is 4` });
    expect(delegationTrace(evalOod[0], tok, cfg, Rng.fromSeed(1))).toMatchObject({ ok: false, reason: expect.stringMatching(/^no plan fits: /) });
    expect(delegationTrace(evalId[0], tok, RolloutConfigSchema.parse({ allowSpawn: false }), Rng.fromSeed(1))).toMatchObject({ ok: false, reason: expect.stringMatching(/spawn/) });
    expect(delegationTrace(evalId[0], tok, RolloutConfigSchema.parse({ cloneWindow: 20 }), Rng.fromSeed(1))).toMatchObject({ ok: false, reason: expect.stringMatching(/window/) });
  });
});

describe('multihop monolithic traces', () => {
  it.each(traceSets.filter((t) => t.mono))(
    '$name: the root reads the inlined paragraphs and writes one step per hop; replayed to the right answer',
    async ({ items, c }) => {
      const { pairs, trees } = await replayed(items, (item) => monolithicTrace(item, tok, c), c);
      trees.forEach((tree, t) => {
        const { item, trace } = pairs[t];
        const m = item.meta;
        expect(tree.contexts).toEqual(trace.tree.contexts);
        expect(tree.contexts).toHaveLength(1);
        const root = tree.contexts[0];
        expect(root.ids.slice(0, root.promptLength)).toEqual(rolloutItem(item, tok, { view: 'inline', window: c.rootWindow }).prompt);
        const steps = m.path.map((r, i) => `${m.chain[i]}.${r}=${m.chain[i + 1]};`).join('');
        expect(tok.decode(root.ids.slice(root.promptLength))).toBe(`${steps}<answer>${item.answer}<eos>`);
        expect(taskReward(item, tree, tok).components.correct).toBe(1);
        expect(root.ids.length).toBeLessThanOrEqual(c.rootWindow);
      });
    },
  );

  it('OOD does not fit one 128-token window: no monolithic trace, each refused naming the missing paragraphs or the window', () => {
    for (const item of [...evalOod, ...chainOod]) {
      const r = monolithicTrace(item, tok, oodCfg);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/are not in the monolithic view \(\d+ of \d+ paragraphs fit the 128-token window\)|holds \d+ tokens, its window is 128/);
    }
    // tiny: all its paragraphs together exceed the view (chain's one-fact paragraphs fit it, the chain after them does not)
    for (const item of evalOod) expect(encodeChecked(tok, item.docs.map((d) => `|${d.text}`).join('')).length).toBeGreaterThan(cfg.rootWindow - MONO_VIEW_RESERVE);
  });
});

describe('committed multihop evaluation sets', () => {
  it('are what the documented commands generate, byte for byte', () => {
    const doc = taskDocs();
    const commands = [...doc.matchAll(/^npm run selfcest -- (data gen --task multihop .*--out (data\/eval\/\S+\.jsonl).*)$/gm)];
    expect(commands.map((m) => m[2]).sort()).toEqual(['data/eval/multihop-chain-dev.jsonl', 'data/eval/multihop-chain-id.jsonl', 'data/eval/multihop-chain-ood.jsonl', 'data/eval/multihop-id.jsonl', 'data/eval/multihop-ood.jsonl']);
    const dir = tmp();
    for (const [, command, file] of commands) {
      const args = command.split(/\s+/);
      const flag = (name: string) => args[args.indexOf(`--${name}`) + 1];
      const out = path.join(dir, path.basename(file));
      dataGen({ task: 'multihop', split: flag('split') as Split, n: Number(flag('n')), seed: Number(flag('seed')), preset: flag('preset'), out, set: [] });
      expect(fs.readFileSync(out).equals(fs.readFileSync(path.join(ROOT, file))), `${file} differs from: npm run selfcest -- ${command}`).toBe(true);
      // and generateMultihop with the preset's knobs writes the same
      const direct = path.join(dir, `direct-${path.basename(file)}`);
      writeItemsJsonl(direct, gen(flag('preset') as MultihopPreset, flag('split') as Split, Number(flag('n')), Number(flag('seed'))), checkItem);
      expect(fs.readFileSync(direct).equals(fs.readFileSync(out))).toBe(true);
    }
    expect(evalId).toHaveLength(100);
    expect(evalOod).toHaveLength(100);
    expect([chainId.length, chainOod.length, chainIdMonoFits.length]).toEqual([200, 200, CHAIN_ID_MONO_FITS]);
    // every `chain` paragraph is one fact, so its name alone is the key
    for (const item of [...chainId, ...chainOod]) for (const e of item.meta.world) expect(e.facts).toHaveLength(1);
  });
});

describe('multihop lookup drills (sft.drills)', () => {
  it.each([['tiny', evalId], ['chain', chainId]] as const)('%s: ask independent one-hop queries over the monolithic view; each step is a fact of its paragraph; replayed as they are', async (_, set) => {
    const { pairs, trees } = await replayed([...set], (item, i) => multihopDrillTrace(item, tok, cfg, Rng.fromSeed(`drill:${i}`)), cfg);
    const counts = new Set<number>();
    trees.forEach((tree, t) => {
      const { item, trace } = pairs[t];
      expect(tree.contexts).toEqual(trace.tree.contexts);
      const root = tree.contexts[0];
      const prompt = tok.decode(root.ids.slice(0, root.promptLength));
      const m = prompt.match(/^((?:[A-Z]\.[a-z],)*[A-Z]\.[a-z])\?((?:\|[^|<]+)*)<think>$/);
      expect(m, prompt).not.toBeNull();
      const queries = m![1].split(',');
      counts.add(queries.length);
      expect(new Set(queries).size).toBe(queries.length);
      expect(queries.length).toBeLessThanOrEqual(MULTIHOP_DRILL_QUERIES);
      // the paragraphs are the monolithic view's, in item order
      const view = monolithicPromptIds(item, tok, { window: cfg.rootWindow });
      expect(m![2]).toBe(item.docs.slice(0, view.included).map((d) => `|${d.text}`).join(''));
      const facts = new Map<string, string>(item.meta.world.slice(0, view.included).flatMap((e) => e.facts.map(([r, v]) => [`${e.name}.${r}`, v] as [string, string])));
      const values = queries.map((q) => facts.get(q));
      expect(values.every((v) => v !== undefined)).toBe(true);
      expect(tok.decode(root.ids.slice(root.promptLength))).toBe(`${queries.map((q, i) => `${q}=${values[i]};`).join('')}<answer>${values.at(-1)}<eos>`);
      expect(root.lossMask.slice(root.promptLength).every((x) => x === 1)).toBe(true);
      expect(root.ids.length).toBeLessThanOrEqual(cfg.rootWindow);
    });
    // as many queries as fit: up to the cap, fewer in the longest views
    expect(Math.max(...counts)).toBe(MULTIHOP_DRILL_QUERIES);
    expect(Math.min(...counts)).toBeLessThan(MULTIHOP_DRILL_QUERIES);
  });

  it('draw their queries from the Rng, and refuse other tasks and styles, naming why', () => {
    const a = multihopDrillTrace(evalId[0], tok, cfg, Rng.fromSeed(1));
    const b = multihopDrillTrace(evalId[0], tok, cfg, Rng.fromSeed(1));
    const c = multihopDrillTrace(evalId[0], tok, cfg, Rng.fromSeed(2));
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (a.ok && b.ok && c.ok) {
      expect(b.trace.tree.contexts).toEqual(a.trace.tree.contexts);
      expect(c.trace.tree.contexts[0].ids).not.toEqual(a.trace.tree.contexts[0].ids);
    }
    const terse = gen('tiny', 'id', 1, 3, { style: 'terse' })[0];
    expect(multihopDrillTrace(terse, tok, cfg, Rng.fromSeed(1))).toEqual({ ok: false, reason: 'lookup drills need the facts style, not terse' });
    const arith = generateArith({ split: 'id', n: 1, seed: 1, knobs: arithKnobs('tiny', 'id') })[0];
    expect(multihopDrillTrace(arith, tok, cfg, Rng.fromSeed(1))).toEqual({ ok: false, reason: 'lookup drills are for multi-hop items, not arith' });
  });
});
