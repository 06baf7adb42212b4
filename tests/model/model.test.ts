import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../../src/backend/select.ts';
import { GPT } from '../../src/model/decoder.ts';
import { modelConfig, parameterCount, type ModelConfig } from '../../src/model/config.ts';
import { DecodeBatch } from '../../src/model/decode.ts';
import { HostDecodeBatch } from '../../src/model/host-decode.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { trainStep, type TokenBatch } from '../../src/train/step.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectAgreesWithCpu, fullLogits, gpuBackends, logitRows, lossAndGrads, maxRelErr, randomBatch } from '../helpers.ts';

// on a GPU box the decode, training and memory tests also run on the GPU backend (webgpu)
const GPU = await gpuBackends();
const TRAIN_BACKENDS: BackendChoice[] = ['wasm', ...GPU];
const DECODE_BACKENDS: BackendChoice[] = ['wasm', 'cpu', ...GPU];

const tiny = (over: Partial<ModelConfig> = {}) =>
  modelConfig({ vocabSize: 32, ctx: 24, dModel: 32, nLayers: 2, nHeads: 4, ...over });

describe('GPT policy', () => {
  it('counts parameters (tiny GPT of the notes: 826,112 at vocab 64, untied, learned positions)', () => {
    expect(parameterCount(modelConfig({ vocabSize: 64 }))).toBe(826_112 - 0);
  });

  it('rejects bad configs with a named field', () => {
    expect(() => modelConfig({ dModel: 30, nHeads: 4 })).toThrow(/nHeads/);
    expect(() => modelConfig({ foo: 1 } as unknown as ModelConfig)).toThrow(/foo/);
  });

  for (const over of [{}, { positions: 'rope' as const }, { tieEmbeddings: true }, { positions: 'rope' as const, norm: 'rms' as const, mlp: 'swiglu' as const, bias: false }]) {
    it(`forward and all gradients agree between wasm and cpu within 1e-4 (${JSON.stringify(over)})`, async () => {
      // initStd 0.2: attention far from uniform, so q/k gradients are as large as the others
      await expectAgreesWithCpu('wasm', tiny({ ...over, initStd: 0.2 }), 1e-4);
    });
  }

  for (const over of [{}, { positions: 'rope' as const, norm: 'rms' as const, mlp: 'swiglu' as const, bias: false }, { norm: 'rms' as const, mlp: 'swiglu' as const }])
  it(`gradients match central finite differences on a tiny config (cpu, ${JSON.stringify(over)})`, async () => {
    await selectBackend('cpu');
    const cfg = modelConfig({ vocabSize: 11, ctx: 6, dModel: 8, nLayers: 1, nHeads: 2, initStd: 0.3, ...over });
    const m = GPT.init(cfg, Rng.fromSeed(5));
    const batch = randomBatch(2, 5, cfg.vocabSize, 9);
    const { grads } = await lossAndGrads(m, batch);
    const lossNow = async () => (await lossAndGrads(m, batch)).loss;
    const rng = Rng.fromSeed(3);
    const eps = 1e-2;
    let checked = 0;
    for (const [name, v] of m.params) {
      for (let k = 0; k < 2; k++) {
        const data = v.dataSync().slice() as Float32Array;
        const i = rng.int(0, data.length - 1);
        const orig = data[i];
        const setTo = (x: number) => {
          data[i] = x;
          tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
        };
        setTo(orig + eps);
        const up = await lossNow();
        setTo(orig - eps);
        const down = await lossNow();
        setTo(orig);
        const fd = (up - down) / (2 * eps);
        const an = grads[name][i];
        expect(Math.abs(fd - an), `${name}[${i}] fd ${fd} analytic ${an}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(an));
        checked++;
      }
    }
    expect(checked).toBe(2 * m.params.size);
    m.dispose();
  });

  for (const [cache, Impl] of [['tensor cache', DecodeBatch], ['host cache', HostDecodeBatch]] as const)
  for (const backend of DECODE_BACKENDS) {
    // the host cache reads q, k and v back synchronously: a CPU-backend path, which webgpu in Node cannot do
    if (cache === 'host cache' && GPU.includes(backend)) continue;
    for (const [variant, over] of [['learned', {}], ['rope', { positions: 'rope' as const }], ['llama-style', { positions: 'rope' as const, norm: 'rms' as const, mlp: 'swiglu' as const, bias: false }]] as const) {
      it(`incremental decode logits equal the full forward for ragged rows joining and leaving (${cache}, ${backend}, ${variant})`, async () => {
        await selectBackend(backend);
        const cfg = tiny(over);
        const m = GPT.init(cfg, Rng.fromSeed(2));
        const rng = Rng.fromSeed(4);
        const seqs = [20, 14, 18, 9, 22].map((n) => Array.from({ length: n }, () => rng.int(0, cfg.vocabSize - 1)));
        const full: number[][][] = [];
      for (const s of seqs) full.push(await fullLogits(m, s));
        // host cache: one initial page, so joins grow the memory and move the layer regions
        const db = cache === 'host cache' ? new HostDecodeBatch(m, 1) : new Impl(m);
        const cursor = new Map<number, { s: number; n: number }>();
        let maxErr = 0;
        let compared = 0;
        const check = (row: number[], s: number, t: number) => {
          maxErr = Math.max(maxErr, maxRelErr(row, full[s][t]));
          compared++;
        };
        const join = async (items: { s: number; n: number }[]) => {
          const { handles, logits } = db.join(items.map(({ s, n }) => seqs[s].slice(0, n)));
          const rows = await logitRows(logits);
          handles.forEach((h, i) => {
            check(rows[i], items[i].s, items[i].n - 1);
            cursor.set(h, { ...items[i] });
          });
          return handles;
        };
        const first = await join([{ s: 0, n: 3 }, { s: 1, n: 7 }]);
        for (let step = 0; step < 12; step++) {
          if (step === 2) await join([{ s: 2, n: 2 }]);
          if (step === 5) await join([{ s: 3, n: 1 }, { s: 4, n: 9 }]);
          if (step === 6) {
            db.leave([first[1]]); // the row with the longest history leaves
            cursor.delete(first[1]);
          }
          const toks = db.handles.map((h) => seqs[cursor.get(h)!.s][cursor.get(h)!.n]);
          const rows = await logitRows(db.step(toks));
          db.handles.forEach((h, b) => {
            const c = cursor.get(h)!;
            check(rows[b], c.s, c.n);
            c.n++;
          });
          for (const [h, c] of cursor) if (c.n >= seqs[c.s].length) { db.leave([h]); cursor.delete(h); }
          if (db.size === 0) break;
        }
        expect(compared).toBeGreaterThan(40);
        expect(maxErr).toBeLessThan(1e-4);
        db.dispose();
        m.dispose();
      });
    }
  }

  it('compacts the cache when rows leave', async () => {
    await selectBackend('wasm');
    const m = GPT.init(tiny(), Rng.fromSeed(1));
    const db = new DecodeBatch(m);
    const a = db.join([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]]);
    a.logits.dispose();
    const b = db.join([[1]]);
    b.logits.dispose();
    db.step([1, 2]).dispose();
    expect(db.cacheSlots).toBe(21);
    db.leave(a.handles); // the remaining row holds 2 tokens in 21 slots
    expect(db.cacheSlots).toBe(2);
    expect(db.position(b.handles[0])).toBe(2);
    db.dispose();
    m.dispose();
  });

  for (const backend of TRAIN_BACKENDS)
  for (const positions of ['learned', 'rope'] as const) {
    it(`logits still equal the full forward after the cache is compacted around holes (${backend}, ${positions})`, async () => {
      await selectBackend(backend);
      const cfg = tiny({ ctx: 64, positions });
      const m = GPT.init(cfg, Rng.fromSeed(6));
      const rng = Rng.fromSeed(7);
      const seqs = [60, 30, 24].map((n) => Array.from({ length: n }, () => rng.int(0, cfg.vocabSize - 1)));
      const full: number[][][] = [];
      for (const s of seqs) full.push(await fullLogits(m, s));
      const db = new DecodeBatch(m);
      const n = new Map<number, { s: number; n: number }>();
      const join = (s: number, len: number) => {
        const { handles, logits } = db.join([seqs[s].slice(0, len)]);
        logits.dispose();
        n.set(handles[0], { s, n: len });
        return handles[0];
      };
      const step = async () => {
        const rows = await logitRows(db.step(db.handles.map((h) => seqs[n.get(h)!.s][n.get(h)!.n])));
        let err = 0;
        db.handles.forEach((h, b) => {
          const c = n.get(h)!;
          err = Math.max(err, maxRelErr(rows[b], full[c.s][c.n]));
          c.n++;
        });
        return err;
      };
      const long = join(0, 40);
      for (let i = 0; i < 6; i++) await step(); // 46 slots
      join(1, 3); // short row: slots 0..2, then holes until the shared end
      join(2, 5);
      let maxErr = 0;
      for (let i = 0; i < 4; i++) maxErr = Math.max(maxErr, await step());
      const before = db.cacheSlots;
      db.leave([long]);
      n.delete(long);
      expect(db.cacheSlots).toBeLessThan(before); // compacted: holes removed
      for (let i = 0; i < 12; i++) maxErr = Math.max(maxErr, await step());
      expect(maxErr).toBeLessThan(1e-4);
      db.dispose();
      m.dispose();
    });
  }

  it('refuses to decode past the context window (both caches)', async () => {
    await selectBackend('wasm');
    const m = GPT.init(tiny({ ctx: 4 }), Rng.fromSeed(1));
    for (const db of [new DecodeBatch(m), new HostDecodeBatch(m)]) {
      db.join([[1, 2, 3, 4]]).logits.dispose();
      expect(() => db.step([5])).toThrow(/context window/);
      expect(() => db.join([[1, 2, 3, 4, 5]])).toThrow(/context window/);
      db.dispose();
    }
    m.dispose();
  });

  for (const backend of TRAIN_BACKENDS)
  it(`overfits 8 sequences (loss < 0.05) on ${backend}`, async () => {
    await selectBackend(backend);
    const cfg = modelConfig({ vocabSize: 32, ctx: 16, dModel: 64, nLayers: 2, nHeads: 4 });
    const m = GPT.init(cfg, Rng.fromSeed(3));
    const opt = new AdamW(OptimConfigSchema.parse({ lr: 3e-3 }), m.params);
    const rng = Rng.fromSeed(8);
    const B = 8;
    const T = 15;
    const seq = Array.from({ length: B }, () => Array.from({ length: T + 1 }, () => rng.int(1, 31)));
    const batch: TokenBatch = {
      ids: Int32Array.from(seq.flatMap((s) => s.slice(0, T))),
      targets: Int32Array.from(seq.flatMap((s) => s.slice(1))),
      mask: new Float32Array(B * T).fill(1),
      B,
      T,
    };
    let loss = Infinity;
    for (let i = 0; i < 300 && loss >= 0.05; i++) loss = (await trainStep(m, opt, batch, 3e-3)).loss;
    expect(loss).toBeLessThan(0.05);
    opt.dispose();
    m.dispose();
  }, 120_000);

  for (const backend of TRAIN_BACKENDS)
  it(`keeps tf.memory().numTensors identical over 100 train steps and 100 decode calls (${backend})`, async () => {
    await selectBackend(backend);
    const cfg = tiny();
    const m = GPT.init(cfg, Rng.fromSeed(3));
    const opt = new AdamW(OptimConfigSchema.parse({}), m.params);
    const batch = randomBatch(2, 8, cfg.vocabSize, 1);
    await trainStep(m, opt, batch, 1e-3); // warm-up: nothing lazily created inside the measured loop
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) await trainStep(m, opt, batch, 1e-3);
    expect(tf.memory().numTensors).toBe(before);

    for (const db of GPU.includes(backend) ? [new DecodeBatch(m)] : [new DecodeBatch(m), new HostDecodeBatch(m, 1)]) {
    const rng = Rng.fromSeed(1);
    for (let i = 0; i < 100; i++) {
      if (db.size < 4) db.join([[rng.int(0, 31), rng.int(0, 31)]]).logits.dispose();
      db.step(db.handles.map(() => rng.int(0, 31))).dispose();
      const full = db.handles.filter((h) => db.position(h) >= cfg.ctx - 1);
      if (full.length) db.leave(full);
      if (i % 17 === 0 && db.size > 1) db.leave([db.handles[0]]);
    }
    db.dispose();
    expect(tf.memory().numTensors).toBe(before);
    }
    opt.dispose();
    m.dispose();
  }, 120_000);

  for (const backend of TRAIN_BACKENDS)
  it(`is deterministic: same seed, same backend, same weights after training (${backend})`, async () => {
    await selectBackend(backend);
    const run = async () => {
      const m = GPT.init(tiny(), Rng.fromSeed(21));
      const opt = new AdamW(OptimConfigSchema.parse({}), m.params);
      for (let i = 0; i < 3; i++) await trainStep(m, opt, randomBatch(2, 8, 32, i), 1e-3);
      const w = await m.toArrays();
      opt.dispose();
      m.dispose();
      return w.map((x) => Array.from(x.data));
    };
    expect(await run()).toEqual(await run());
  });
});
