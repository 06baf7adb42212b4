import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { runTrees, ScriptedPolicy } from '../../src/rollout/engine.ts';
import { Rng } from '../../src/util/rng.ts';
import { readInt } from '../../src/tasks/numbers.ts';
import { checkCdAnswer, checkCountdownItem, type CountdownItem, countdownKnobs, generateCountdown, parseCountdownPrompt, solveCountdown } from '../../src/tasks/countdown/countdown.ts';
import { taskReward } from '../../src/tasks/reward.ts';
import { readItemsJsonl, type TaskItem } from '../../src/tasks/types.ts';
import { CD_NO_SOLUTION } from '../../src/tasks/countdown/traces.ts';
import { delegationTrace, monolithicTrace, replayInputs, type Trace, type TraceResult, traceText } from '../../src/tasks/traces.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const cfg = RolloutConfigSchema.parse({});
const ROOT = path.resolve(import.meta.dirname, '../..');

const sets: [string, CountdownItem[]][] = [
  ['eval id', readItemsJsonl(path.join(ROOT, 'data/eval/v1/countdown-id.jsonl'), checkCountdownItem) as CountdownItem[]],
  ['eval ood', readItemsJsonl(path.join(ROOT, 'data/eval/v1/countdown-ood.jsonl'), checkCountdownItem) as CountdownItem[]],
  ['tiny train, normal digit order', generateCountdown({ split: 'train', n: 60, seed: 3, knobs: countdownKnobs('tiny', 'id', { reversed: false }) })],
  ['reference ood', generateCountdown({ split: 'ood', n: 60, seed: 3, knobs: countdownKnobs('reference', 'ood') })],
];

/** A trace per item (each must exist), all replayed through the engine in one run. */
async function replayed<I extends TaskItem>(items: I[], make: (item: I, i: number) => TraceResult) {
  const pairs = items.map((item, i) => {
    const r = make(item, i);
    if (!r.ok) throw new Error(`${item.id}: ${r.reason}`);
    return { item, trace: r.trace as Trace };
  });
  const { items: inputs, scripts } = replayInputs(pairs, tok);
  return { pairs, trees: await runTrees(inputs, new ScriptedPolicy(scripts), cfg, p) };
}

describe('countdown monolithic traces', () => {
  it.each(sets)('%s: every item has a trace that replays through the engine to the right answer', async (_, items) => {
    const { pairs, trees } = await replayed(items, (item) => monolithicTrace(item, tok, cfg));
    trees.forEach((tree, t) => {
      const { item, trace } = pairs[t];
      const rev = item.meta.knobs.reversed;
      expect(tree.contexts).toEqual(trace.tree.contexts);
      expect(tree.contexts).toHaveLength(1);
      expect(tree.cost.malformed).toBe(0);
      const root = tree.contexts[0];
      expect(root.finish).toBe('answer');
      expect(tok.decode(root.answer!)).toBe(item.answer);
      expect(taskReward(item, tree, tok).components.correct).toBe(1);
      // the sampled text: one right step per operation of the answer, then <answer> EXPR <eos>
      const text = tok.decode(root.ids.slice(root.promptLength));
      const [steps, answer] = text.split('<answer>');
      expect(answer).toBe(`${item.answer}<eos>`);
      const parts = steps.split(';').filter(Boolean);
      expect(parts).toHaveLength(item.meta.steps);
      for (const s of parts) {
        const m = /^(\d+)([+\-*/])(\d+)=(\d+)$/.exec(s)!;
        expect(m, s).not.toBeNull();
        const [a, b, c] = [m[1], m[3], m[4]].map((x) => readInt(x, rev)!);
        const want = m[2] === '+' ? a + b : m[2] === '-' ? a - b : m[2] === '*' ? a * b : a / b;
        expect(m[2] !== '/' || a % b === 0n).toBe(true);
        expect(want, s).toBe(c);
        expect(c >= 0n).toBe(true);
      }
      expect(root.ids.length).toBeLessThanOrEqual(cfg.rootWindow);
    });
  });

  it('reads as steps then the answer', () => {
    const item = sets[0][1][0];
    const r = monolithicTrace(item, tok, cfg);
    expect(r.ok && traceText(r.trace, tok)).toMatch(/prompt  61:7,71,3,6<think>\n  gen     71-7=01;01\+6=61;<answer>71-7\+6<eos>/);
  });

  it('refuses an item whose trace does not fit, naming why', () => {
    const small = RolloutConfigSchema.parse({ rootWindow: 24, rootBudget: 16 });
    const r = monolithicTrace(sets[1][1][0], tok, small);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/budget|window/) });
  });
});

describe('countdown delegation traces', () => {
  it.each(sets)('%s: every item has a trace whose clones try different first moves, replayed to the right answer', async (_, items) => {
    const { pairs, trees } = await replayed(items, (item, i) => delegationTrace(item, tok, cfg, Rng.fromSeed(`cd-delegate:${i}`)));
    trees.forEach((tree, t) => {
      const { item, trace } = pairs[t];
      const rev = item.meta.knobs.reversed;
      const { target, numbers } = item.meta;
      expect(trace.kind).toBe('delegate');
      expect(tree.contexts).toEqual(trace.tree.contexts);
      expect(tree.cost.malformed).toBe(0);
      const [root, ...clones] = tree.contexts;
      expect(root.calls).toHaveLength(1);
      expect(root.calls[0].malformed).toBeNull();
      expect(clones.length).toBeGreaterThanOrEqual(2);
      expect(clones.length).toBeLessThanOrEqual(3);
      expect(root.finish).toBe('answer');
      expect(checkCdAnswer(tok.decode(root.answer!), numbers, target, rev).ok).toBe(true);
      expect(taskReward(item, tree, tok).components.correct).toBe(1);
      const objectives = new Set<string>();
      let solved = 0;
      for (const c of clones) {
        expect(c.parent).toBe(0);
        expect(c.finish).toBe('answer');
        expect(c.ids.length).toBeLessThanOrEqual(cfg.cloneWindow);
        // the objective is a Countdown prompt: same target, one number fewer (two of the item's numbers
        // replaced by the result of the first move, written last)
        const objective = tok.decode(c.ids.slice(1, c.promptLength - 1));
        objectives.add(objective);
        const reduced = parseCountdownPrompt(objective, rev)!;
        expect(reduced, objective).not.toBeNull();
        expect(reduced.target).toBe(target);
        expect(reduced.numbers).toHaveLength(numbers.length - 1);
        const left = [...numbers];
        for (const v of reduced.numbers.slice(0, -1)) {
          expect(left).toContain(v);
          left.splice(left.indexOf(v), 1);
        }
        const answer = tok.decode(c.answer!);
        if (answer === CD_NO_SOLUTION) {
          expect(solveCountdown(reduced.numbers, target)).toBeNull();
        } else {
          expect(checkCdAnswer(answer, reduced.numbers, target, rev).ok).toBe(true);
          solved++;
        }
      }
      expect(solved).toBeGreaterThanOrEqual(1);
      expect(objectives.size).toBe(clones.length);
      // after the returns: the winning first move as a step, then <answer> EXPR <eos>
      const after = tok.decode(root.ids.slice(root.calls[0].end + root.calls[0].injected));
      expect(after).toMatch(/^\d+[+\-*/]\d+=\d+;<answer>[^<]+<eos>$/);
      expect(root.ids.length).toBeLessThanOrEqual(cfg.rootWindow);
    });
  });

  it('reads as a call, the returns, the first move and the combined answer', () => {
    const r = delegationTrace(sets[0][1][1], tok, cfg, Rng.fromSeed('cd-delegate:1'));
    expect(r.ok && traceText(r.trace, tok)).toMatch(/<spawn><obj>04:[\d,]+<b\d+><obj>04:[\d,]+<b\d+>(<obj>04:[\d,]+<b\d+>)?<\/spawn>/);
    expect(r.ok && traceText(r.trace, tok)).toContain('<answer>none<eos>');
  });

  it('refuses, naming why, when no call fits or spawning is off', () => {
    const item = sets[1][1][0];
    const small = RolloutConfigSchema.parse({ cloneWindow: 20 });
    expect(delegationTrace(item, tok, small, Rng.fromSeed(1))).toMatchObject({ ok: false, reason: expect.stringMatching(/window|budget/) });
    const off = RolloutConfigSchema.parse({ allowSpawn: false });
    expect(delegationTrace(item, tok, off, Rng.fromSeed(1))).toMatchObject({ ok: false, reason: expect.stringMatching(/spawn/) });
  });
});
