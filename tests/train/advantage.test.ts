import { describe, it, expect } from 'vitest';
import { AdvantageConfigSchema, groupAdvantages, rootAdvantages } from '../../src/train/advantage.ts';
import type { Context, Finish, Tree } from '../../src/rollout/tree.ts';
import { treeCost } from '../../src/rollout/tree.ts';

const cfg = (o: object = {}) => AdvantageConfigSchema.parse(o);

function ctx(id: number, parent: number | null, finish: Finish, malformedCall = false): Context {
  return {
    id, parent, depth: parent === null ? 0 : 1, role: parent === null ? 'root' : 'clone', callIndex: parent === null ? null : 0,
    budget: 16, promptLength: 1, ids: [1, 2], lossMask: [0, 1], logprobs: [0, -1], finish, answer: finish === 'answer' ? [3] : null,
    calls: malformedCall ? [{ index: 0, start: 1, end: 2, clones: [], malformed: 'parse', injected: 1 }] : [],
  };
}
/** a root with two clones: clone 1 answers, clone 2 ends as given */
function tree(clone2: Finish = 'answer', malformedCall = false): Tree {
  const contexts = [ctx(0, null, 'answer'), ctx(1, 0, 'answer'), ctx(2, 0, clone2, malformedCall)];
  contexts[0].calls = [{ index: 0, start: 1, end: 2, clones: [1, 2], malformed: null, injected: 0 }];
  return { itemId: 'x', contexts, cost: treeCost(contexts, 0) };
}

describe('group baselines (hand-computed)', () => {
  it.each([
    // rewards, normalize, assigner, expected root advantages
    [[1, 0, 0, 1], 'mean', 'broadcast', [0.5, -0.5, -0.5, 0.5]],
    // mean 0.5, unbiased std sqrt(1/3) = 0.57735
    [[1, 0, 0, 1], 'mean-std', 'broadcast', [0.866025, -0.866025, -0.866025, 0.866025]],
    // leave-one-out: 1 - (0+0+1)/3 = 0.666667, 0 - (1+0+1)/3 = -0.666667
    [[1, 0, 0, 1], 'mean', 'loo', [0.666667, -0.666667, -0.666667, 0.666667]],
    [[3, 1], 'mean-std', 'broadcast', [0.707107, -0.707107]], // mean 2, std sqrt(2)
    [[0.7], 'mean-std', 'broadcast', [0.7]], // G = 1: mean 0, std 1
    [[0.7], 'mean', 'loo', [0.7]],
    [[0.5, 0.5, 0.5], 'mean-std', 'broadcast', [0, 0, 0]], // zero variance
  ] as const)('%j %s %s', (R, normalize, assigner, want) => {
    const got = rootAdvantages(R, cfg({ normalize, assigner }));
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 5));
  });

  it('counts the clones the gate zeroed (and the clones it looked at)', () => {
    const g = [tree('budget'), tree('answer', true), tree()]; // one cut by its budget, one with a malformed call, one clean
    const R = [{ root: 1 }, { root: 0 }, { root: 1 }];
    expect(groupAdvantages(g, R, cfg({ assigner: 'selfcest' }))).toMatchObject({ gatedClones: 2, clones: 6 });
    expect(groupAdvantages(g, R, cfg({ assigner: 'selfcest', gating: false }))).toMatchObject({ gatedClones: 0, clones: 6 });
    expect(groupAdvantages(g, R, cfg({ assigner: 'broadcast' }))).toMatchObject({ gatedClones: 0, clones: 6 });
  });

  it('reports zero-variance groups', () => {
    expect(groupAdvantages([tree(), tree()], [{ root: 1 }, { root: 1 }], cfg()).zeroVariance).toBe(true);
    expect(groupAdvantages([tree(), tree()], [{ root: 1 }, { root: 0 }], cfg()).zeroVariance).toBe(false);
    expect(groupAdvantages([tree()], [{ root: 1 }], cfg()).zeroVariance).toBe(false);
  });
});

describe('assigners over a tree', () => {
  const trees = [tree(), tree()];
  it('broadcast: every context gets the root advantage', () => {
    const { advantages } = groupAdvantages(trees, [{ root: 1 }, { root: 0 }], cfg({ assigner: 'broadcast', normalize: 'mean' }));
    expect(advantages).toEqual([[0.5, 0.5, 0.5], [-0.5, -0.5, -0.5]]);
  });

  it('selfcest: a well-formed clone gets A_root · cloneScale, whatever the clone-local rewards', () => {
    const c = cfg({ assigner: 'selfcest', normalize: 'mean', cloneScale: 0.4 });
    const { advantages } = groupAdvantages(trees, [
      { root: 1, perContext: new Map([[1, 0.4], [2, 5]]) },
      { root: 0, perContext: new Map([[1, 0], [2, 2]]) },
    ], c);
    [[0.5, 0.2, 0.2], [-0.5, -0.2, -0.2]].forEach((row, t) => row.forEach((v, k) => expect(advantages[t][k]).toBeCloseTo(v, 9)));
  });

  it('loo per subtree: clones of one call are each other\'s baseline (by clone-local reward)', () => {
    const c = cfg({ assigner: 'loo', normalize: 'mean', looScope: 'subtree' });
    const { advantages } = groupAdvantages(trees, [
      { root: 1, perContext: new Map([[1, 0.9], [2, 0.3]]) },
      { root: 0 }, // no clone-local rewards: clones fall back to the root's advantage
    ], c);
    expect(advantages[0][0]).toBeCloseTo(1); // roots: leave-one-out over the group, 1 - 0
    expect(advantages[0][1]).toBeCloseTo(0.6); // 0.9 - 0.3
    expect(advantages[0][2]).toBeCloseTo(-0.6); // 0.3 - 0.9
    expect(advantages[1]).toEqual([-1, -1, -1]);
  });

  it('gating: clones out of budget, out of window or with a malformed call get zero', () => {
    const gatedTrees = [tree('budget'), tree('window'), tree('answer', true), tree('answer')];
    const { advantages } = groupAdvantages(gatedTrees, [{ root: 1 }, { root: 1 }, { root: 1 }, { root: 0 }], cfg({ assigner: 'broadcast', normalize: 'mean', gating: true }));
    expect(advantages.map((a) => a[2])).toEqual([0, 0, 0, -0.75]);
    expect(advantages.map((a) => a[1])).toEqual([0.25, 0.25, 0.25, -0.75]);
  });
});
