import { describe, expect, it } from 'vitest';
import { parseSweep, resolveRollout, sweepPoints } from '../../src/eval/sweep.ts';

describe('budget sweeps', () => {
  it('parses key=v1,v2 axes and forms every combination, first axis slowest', () => {
    const axes = parseSweep(['maxTreeTokens=64,128', 'maxClonesPerCall=1,2,3']);
    expect(axes).toEqual([
      { key: 'maxTreeTokens', values: [64, 128] },
      { key: 'maxClonesPerCall', values: [1, 2, 3] },
    ]);
    const pts = sweepPoints(axes);
    expect(pts.map((p) => p.name)).toEqual([
      'maxTreeTokens-64.maxClonesPerCall-1',
      'maxTreeTokens-64.maxClonesPerCall-2',
      'maxTreeTokens-64.maxClonesPerCall-3',
      'maxTreeTokens-128.maxClonesPerCall-1',
      'maxTreeTokens-128.maxClonesPerCall-2',
      'maxTreeTokens-128.maxClonesPerCall-3',
    ]);
    expect(pts[4].overrides).toEqual({ maxTreeTokens: 128, maxClonesPerCall: 2 });
    expect(sweepPoints([])).toEqual([{ name: 'default', overrides: {} }]);
    expect(parseSweep(['malformed=end,continue'])[0].values).toEqual(['end', 'continue']);
  });

  it('rejects bad sweep syntax with one clear line', () => {
    expect(() => parseSweep(['maxTreeTokens'])).toThrow(/expected key=v1,v2/);
    expect(() => parseSweep(['maxTreeTokens='])).toThrow(/expected key=v1,v2/);
    expect(() => parseSweep(['maxTokens=1,2'])).toThrow(/unknown key "maxTokens" \(known: .*maxTreeTokens/);
    expect(() => parseSweep(['allowSpawn=true,false'])).toThrow(/unknown key "allowSpawn"/);
    expect(() => parseSweep(['rootBudget=1,,2'])).toThrow(/empty value/);
    expect(() => parseSweep(['rootBudget=8,8'])).toThrow(/listed twice/);
    expect(() => parseSweep(['rootBudget=8', 'rootBudget=16'])).toThrow(/swept twice/);
    expect(() => parseSweep(['samples=0,4'])).toThrow(/samples must be integers >= 1/);
  });
});

describe('rollout config of an eval point', () => {
  const grpo = { mode: 'grpo', rollout: { rootWindow: 48, cloneWindow: 40, maxTreeTokens: 300, temperature: 0.7, allowSpawn: false } };

  it("starts from a GRPO run's rollout section, then --set, temperature, the mode, the sweep values", () => {
    const c = resolveRollout({ runConfig: grpo, ctx: 64, set: ['maxDepth=2', 'rootBudget=40'], temperature: 0 }, 'clones', { maxTreeTokens: 128 });
    expect(c.rootWindow).toBe(48);
    expect(c.cloneWindow).toBe(40);
    expect(c.maxDepth).toBe(2);
    expect(c.rootBudget).toBe(40);
    expect(c.temperature).toBe(0);
    expect(c.allowSpawn).toBe(true); // the mode wins over the run's allowSpawn false
    expect(c.maxTreeTokens).toBe(128); // the sweep wins over the run
    const mono = resolveRollout({ runConfig: grpo, ctx: 64 }, 'mono');
    expect(mono.allowSpawn).toBe(false);
    expect(mono.temperature).toBe(0.7);
    expect(mono.maxTreeTokens).toBe(300);
  });

  it('for runs without a rollout section (SFT) uses the defaults with both windows at the model context', () => {
    const c = resolveRollout({ runConfig: { model: {}, train: { task: 'sft' } }, ctx: 96 }, 'sc', { samples: 4 });
    expect(c.rootWindow).toBe(96);
    expect(c.cloneWindow).toBe(96);
    expect(c.allowSpawn).toBe(false);
    expect(c.maxTreeTokens).toBe(4096);
  });

  it('validates the result and names the sweep point', () => {
    expect(() => resolveRollout({ runConfig: {}, ctx: 64 }, 'clones', { rootWindow: 128 })).toThrow(/sweep point rootWindow=128.*exceed the model's context window 64/);
    expect(() => resolveRollout({ runConfig: {}, ctx: 64 }, 'clones', { maxClonesPerCall: 0 })).toThrow(/maxClonesPerCall/);
    expect(() => resolveRollout({ runConfig: {}, ctx: 64, set: ['maxDepht=2'] }, 'clones')).toThrow(/unknown key "maxDepht"/);
    expect(() => resolveRollout({ runConfig: {}, ctx: 64, set: ['allowSpawn=true'] }, 'mono')).toThrow(/--mode/);
  });
});
