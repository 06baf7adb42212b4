import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend/select.ts';
import { aggregate, policyLoss, PolicyLossConfigSchema } from '../../src/train/loss.ts';

const cfg = PolicyLossConfigSchema.parse({ clipLow: 0.2, clipHigh: 0.28 });
const t2 = (rows: number[][]) => tf.tensor2d(rows);

describe('PPO-clip policy loss (hand-computed)', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('clips asymmetrically, reports the clip fraction and passes gradient only through unclipped tokens', () => {
    // ratios 1, 1.5, 0.5 with advantages +1, +1, -1
    const old = t2([[-1, -1, -1]]);
    const newLp = t2([[-1, -1 + Math.log(1.5), -1 + Math.log(0.5)]]);
    const adv = t2([[1, 1, -1]]);
    const mask = t2([[1, 1, 1]]);
    const r = policyLoss({ logprobs: newLp, oldLogprobs: old, advantages: adv, mask }, cfg);
    // token losses: -1, max(-1.5, -1.28) = -1.28, max(0.5, 0.8) = 0.8
    expect(r.loss.dataSync()[0]).toBeCloseTo((-1 - 1.28 + 0.8) / 3, 6);
    expect(r.clipFrac.dataSync()[0]).toBeCloseTo(2 / 3, 6);
    const g = tf.grad((lp: tf.Tensor) => policyLoss({ logprobs: lp as tf.Tensor2D, oldLogprobs: old, advantages: adv, mask }, cfg).loss)(newLp);
    const gv = Array.from(g.dataSync());
    expect(gv[0]).toBeCloseTo(-1 / 3, 6); // d(-A·r)/dlogp = -A·r = -1, token-mean over 3
    expect(gv[1]).toBeCloseTo(0, 9);
    expect(gv[2]).toBeCloseTo(0, 9);
  });

  it('aggregates token-mean vs seq-mean-token-mean and skips empty rows', () => {
    const x = t2([[1, 2, 3], [10, 0, 0], [5, 5, 5]]);
    const mask = t2([[1, 1, 1], [1, 0, 0], [0, 0, 0]]);
    expect(aggregate(x, mask, 'token-mean').dataSync()[0]).toBeCloseTo((1 + 2 + 3 + 10) / 4, 6);
    expect(aggregate(x, mask, 'seq-mean-token-mean').dataSync()[0]).toBeCloseTo((2 + 10) / 2, 6);
  });

  it('k1 and k3 KL to the reference: zero when equal, k3 never negative, added with its coefficient', () => {
    const lp = t2([[-1, -2, -0.5]]);
    const ref = t2([[-1.5, -2, -0.2]]);
    const mask = t2([[1, 1, 1]]);
    const zeroAdv = t2([[0, 0, 0]]);
    const k1 = policyLoss({ logprobs: lp, oldLogprobs: lp, advantages: zeroAdv, mask, refLogprobs: ref }, { ...cfg, klEstimator: 'k1', klCoef: 0.5 });
    expect(k1.kl.dataSync()[0]).toBeCloseTo((0.5 + 0 - 0.3) / 3, 6);
    expect(k1.loss.dataSync()[0]).toBeCloseTo(0.5 * k1.kl.dataSync()[0], 6);
    const k3 = policyLoss({ logprobs: lp, oldLogprobs: lp, advantages: zeroAdv, mask, refLogprobs: ref }, { ...cfg, klEstimator: 'k3' });
    const want = [-0.5, 0, 0.3].map((d) => Math.exp(d) - d - 1).reduce((a, b) => a + b, 0) / 3;
    expect(k3.kl.dataSync()[0]).toBeCloseTo(want, 6);
    expect(policyLoss({ logprobs: lp, oldLogprobs: lp, advantages: zeroAdv, mask, refLogprobs: lp }, cfg).kl.dataSync()[0]).toBeCloseTo(0, 9);
  });
});
