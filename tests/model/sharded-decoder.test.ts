import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend/select.ts';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { generate } from '../../src/model/generate.ts';
import { LocalDecoder } from '../../src/model/row-decoder.ts';
import { ShardedDecoder } from '../../src/model/sharded-decoder.ts';
import { Rng } from '../../src/util/rng.ts';
import { maxRelErr } from '../helpers.ts';

const cfg = modelConfig({ vocabSize: 32, ctx: 40, dModel: 32, nLayers: 2, nHeads: 4 });

describe('ShardedDecoder (rows over this thread and worker threads)', () => {
  it('gives the same logits as the full forward while rows join and leave across shards', async () => {
    await selectBackend('wasm');
    const before = tf.memory().numTensors;
    const m = GPT.init(cfg, Rng.fromSeed(3));
    const rng = Rng.fromSeed(5);
    const seqs = Array.from({ length: 7 }, (_, i) => Array.from({ length: 20 + i }, () => rng.int(0, 31)));
    const full = seqs.map((s) => tf.tidy(() => m.forward(tf.tensor2d([s], [1, s.length], 'int32')).arraySync()[0]));
    const dec = await ShardedDecoder.start(m, 2, 'wasm');
    try {
      expect(dec.shards).toBe(3);
      const cur = new Map<number, { s: number; n: number }>();
      let maxErr = 0;
      const check = (logits: Float32Array, handles: number[]) =>
        handles.forEach((h, b) => {
          const c = cur.get(h)!;
          maxErr = Math.max(maxErr, maxRelErr(Array.from(logits.subarray(b * 32, (b + 1) * 32)), full[c.s][c.n - 1]));
        });
      const join = async (items: { s: number; n: number }[]) => {
        const { handles, logits } = await dec.join(items.map((x) => seqs[x.s].slice(0, x.n)));
        handles.forEach((h, i) => cur.set(h, { ...items[i] }));
        check(logits, handles);
        return handles;
      };
      const first = await join([{ s: 0, n: 4 }, { s: 1, n: 2 }, { s: 2, n: 6 }, { s: 3, n: 3 }]);
      for (let step = 0; step < 10; step++) {
        if (step === 3) await join([{ s: 4, n: 5 }, { s: 5, n: 1 }]);
        if (step === 5) {
          await dec.leave([first[0], first[2]]);
          cur.delete(first[0]);
          cur.delete(first[2]);
          await join([{ s: 6, n: 7 }]);
        }
        const handles = dec.handles;
        const logits = await dec.step(handles.map((h) => seqs[cur.get(h)!.s][cur.get(h)!.n]));
        handles.forEach((h) => cur.get(h)!.n++);
        check(logits, handles);
        handles.forEach((h) => expect(dec.position(h)).toBe(cur.get(h)!.n));
      }
      expect(maxErr).toBeLessThan(1e-4);
      await dec.clear();
      expect(dec.handles).toEqual([]);
    } finally {
      await dec.close();
    }
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('generates the same greedy completions as a single-thread decoder, and follows new weights after syncWeights', async () => {
    await selectBackend('wasm');
    const m = GPT.init(cfg, Rng.fromSeed(8));
    const prompts = Array.from({ length: 9 }, (_, i) => [1 + i, 2, 3 + (i % 4)]);
    const opts = { temperature: 0, maxNew: 12, stopTokens: [0], maxBatch: 4 };
    const dec = await ShardedDecoder.start(m, 1, 'wasm');
    try {
      const local = await generate(m, prompts, opts, Rng.fromSeed(1));
      const sharded = await generate(m, prompts, opts, Rng.fromSeed(1), dec);
      expect(sharded.map((g) => g.tokens)).toEqual(local.map((g) => g.tokens));
      // change the weights: the worker follows only after syncWeights
      tf.tidy(() => m.p('lm_head.weight').assign(tf.randomNormal(m.p('lm_head.weight').shape, 0, 1, 'float32', 9)));
      await dec.syncWeights();
      const local2 = await generate(m, prompts, opts, Rng.fromSeed(1), new LocalDecoder(m));
      const sharded2 = await generate(m, prompts, opts, Rng.fromSeed(1), dec);
      expect(sharded2.map((g) => g.tokens)).toEqual(local2.map((g) => g.tokens));
      expect(local2.map((g) => g.tokens)).not.toEqual(local.map((g) => g.tokens));
    } finally {
      await dec.close();
    }
    m.dispose();
  });
});
