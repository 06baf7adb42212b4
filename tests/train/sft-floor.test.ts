import { describe, expect, it } from 'vitest';
import { runConfig } from '../../src/train/config.ts';
import { sftLossFloor } from '../../src/train/sft-floor.ts';
import { taskItems } from '../../src/train/task-source.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';

const tok = loadTokenizer();
const floorOf = (delegation: number, samples = 200) => {
  const cfg = runConfig({ model: { vocabSize: 128, ctx: 128 }, train: { task: 'sft' }, sft: { name: 'multihop', preset: 'tiny', delegation } });
  return sftLossFloor(cfg, tok, taskItems(cfg.sft, 'id', 8, 'floor-test'), samples);
};

describe('the SFT held-out loss floor (the trace sampler entropy)', () => {
  it('is 0 when every demonstration is determined by its prompt (multi-hop monolithic traces)', () => {
    const f = floorOf(0, 20);
    expect(f.skipped).toBe(0);
    expect(f.floor).toBe(0);
    expect(f.continuations).toBe(1);
    expect(f.maskedPerTree).toBeGreaterThan(10);
  });

  it('counts the drawn plans and budgets of delegation traces, and only the draws a row cannot see', () => {
    const all = floorOf(1);
    expect(all.continuations).toBeGreaterThan(1);
    expect(all.floor).toBeGreaterThan(0.01);
    expect(all.floor).toBeCloseTo(all.natsPerTree / all.maskedPerTree, 10);
    // half the trees are monolithic (their own prompt, so the coin itself costs nothing): about half the entropy
    const half = floorOf(0.5, 400);
    expect(half.natsPerTree).toBeGreaterThan(0.3 * all.natsPerTree);
    expect(half.natsPerTree).toBeLessThan(0.7 * all.natsPerTree);
  });
});
