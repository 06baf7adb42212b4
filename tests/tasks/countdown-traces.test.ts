import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { runTrees, ScriptedPolicy } from '../../src/rollout/engine.ts';
import { Rng } from '../../src/util/rng.ts';
import { readInt } from '../../src/tasks/arith.ts';
import { checkCountdownItem, countdownKnobs, generateCountdown, type CountdownItem } from '../../src/tasks/countdown.ts';
import { taskReward } from '../../src/tasks/reward.ts';
import { readItemsJsonl } from '../../src/tasks/types.ts';
import { delegationTrace, monolithicTrace, replayInputs, traceText, type Trace } from '../../src/tasks/traces.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const cfg = RolloutConfigSchema.parse({});
const ROOT = path.resolve(import.meta.dirname, '../..');

const sets: [string, CountdownItem[]][] = [
  ['eval id', readItemsJsonl(path.join(ROOT, 'data/eval/countdown-id.jsonl'), checkCountdownItem) as CountdownItem[]],
  ['eval ood', readItemsJsonl(path.join(ROOT, 'data/eval/countdown-ood.jsonl'), checkCountdownItem) as CountdownItem[]],
  ['tiny train, normal digit order', generateCountdown({ split: 'train', n: 60, seed: 3, knobs: countdownKnobs('tiny', 'id', { reversed: false }) })],
  ['reference ood', generateCountdown({ split: 'ood', n: 60, seed: 3, knobs: countdownKnobs('reference', 'ood') })],
];

describe('countdown monolithic traces', () => {
  it.each(sets)('%s: every item has a trace that replays through the engine to the right answer', async (_, items) => {
    const pairs = items.map((item) => {
      const r = monolithicTrace(item, tok, cfg);
      if (!r.ok) throw new Error(`${item.id}: ${r.reason}`);
      return { item, trace: r.trace as Trace };
    });
    const { items: inputs, scripts } = replayInputs(pairs, tok);
    const trees = await runTrees(inputs, new ScriptedPolicy(scripts), cfg, p);
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

  it('reads as steps then the answer; delegation is not there yet', () => {
    const item = sets[0][1][0];
    const r = monolithicTrace(item, tok, cfg);
    expect(r.ok && traceText(r.trace, tok)).toMatch(/prompt  61:7,71,3,6<think>\n  gen     71-7=01;01\+6=61;<answer>71-7\+6<eos>/);
    expect(delegationTrace(item, tok, cfg, Rng.fromSeed(1))).toMatchObject({ ok: false });
  });

  it('refuses an item whose trace does not fit, naming why', () => {
    const small = RolloutConfigSchema.parse({ rootWindow: 24, rootBudget: 16 });
    const r = monolithicTrace(sets[1][1][0], tok, small);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/budget|window/) });
  });
});
