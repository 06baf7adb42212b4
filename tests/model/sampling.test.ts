import { describe, it, expect } from 'vitest';
import { sampleRows } from '../../src/model/sampling.ts';
import { Rng } from '../../src/util/rng.ts';

const logits = Float32Array.from([2, 1, 0, -1, 3, 0.5, 0.5, 0.5]); // 2 rows x 4

describe('sampleRows', () => {
  it('greedy takes the argmax of allowed tokens and reports the temperature-1 log-prob', () => {
    const s = sampleRows(logits, 2, 4, { temperature: 0, forbid: [null, [0]] }, Rng.fromSeed(1));
    expect(s.tokens).toEqual([0, 1]); // row 1: token 0 forbidden, ties broken by lowest id
    const lse0 = Math.log(Math.exp(2) + Math.exp(1) + 1 + Math.exp(-1));
    expect(s.logprobs[0]).toBeCloseTo(2 - lse0, 6);
  });

  it('is deterministic for a seed and never samples forbidden tokens', () => {
    const a = sampleRows(logits, 2, 4, { temperature: 1, forbid: [[0, 1], null] }, Rng.fromSeed(5));
    const b = sampleRows(logits, 2, 4, { temperature: 1, forbid: [[0, 1], null] }, Rng.fromSeed(5));
    expect(a).toEqual(b);
    const rng = Rng.fromSeed(9);
    for (let i = 0; i < 500; i++) {
      const t = sampleRows(logits, 2, 4, { temperature: 1.3, forbid: [[0, 1], [0]] }, rng).tokens;
      expect([2, 3]).toContain(t[0]);
      expect(t[1]).not.toBe(0);
    }
  });

  it('samples in proportion to softmax(logits / T) and top-k keeps only the k best', () => {
    const rng = Rng.fromSeed(2);
    const row = Float32Array.from([0, Math.log(3), -10, Math.log(2)]);
    const counts = [0, 0, 0, 0];
    const N = 6000;
    for (let i = 0; i < N; i++) counts[sampleRows(row, 1, 4, { temperature: 1, topK: 2 }, rng).tokens[0]]++;
    expect(counts[0]).toBe(0);
    expect(counts[2]).toBe(0);
    expect(counts[1] / N).toBeGreaterThan(0.6 - 0.03);
    expect(counts[1] / N).toBeLessThan(0.6 + 0.03);
    const s = sampleRows(row, 1, 4, { temperature: 1, topK: 2 }, Rng.fromSeed(3));
    const lse = Math.log(1 + 3 + Math.exp(-10) + 2);
    expect(s.fullLogprobs[0]).toBeCloseTo(row[s.tokens[0]] - lse, 6); // full-vocabulary log-prob
    expect(s.logprobs[0]).toBeCloseTo(row[s.tokens[0]] - Math.log(5), 6); // the recorded (old) log-prob: within the top-2
    expect(s.samplerLogprobs[0]).toBeCloseTo(row[s.tokens[0]] - Math.log(5), 6); // within the top-2
  });

  it('rejects a row where everything is forbidden', () => {
    expect(() => sampleRows(logits, 2, 4, { temperature: 1, forbid: [[0, 1, 2, 3], null] }, Rng.fromSeed(1))).toThrow(/forbidden/);
  });
});
