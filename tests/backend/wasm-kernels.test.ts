import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend/select.ts';
import { checkedMalloc, wasmCrashNote, wasmHeapBytes } from '../../src/backend/wasm-kernels.ts';
import { Rng } from '../../src/util/rng.ts';
import { maxRelErr, onBackend } from '../helpers.ts';

function randomArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

describe('wasm kernel fixes', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('registers UnsortedSegmentSum, so the gradient of gather works on wasm and matches cpu', async () => {
    const rng = Rng.fromSeed(1);
    const table = randomArray(10 * 4, rng);
    const idx = [3, 0, 3, 9, 1, 3];
    const dy = randomArray(idx.length * 4, rng);
    const run = () =>
      tf.tidy(() => {
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(idx, 'int32')), tf.tensor2d(dy, [idx.length, 4]))));
        return Array.from(g(tf.tensor2d(table, [10, 4])).dataSync());
      });
    const w = await onBackend('wasm', run);
    const c = await onBackend('cpu', run);
    expect(w).toEqual(c);
    // row 3 was gathered three times: its gradient is the sum of three dy rows
    expect(w[3 * 4]).toBeCloseTo(dy[0] + dy[2 * 4] + dy[5 * 4], 5);
  });

  it('UnsortedSegmentSum drops out-of-range segment ids like TF', async () => {
    await selectBackend('wasm');
    const out = tf.tidy(() => Array.from(tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([0, 5, 1, 0], 'int32'), 2).dataSync()));
    expect(out).toEqual([5, 3]);
  });

  const cases: { shape: number[]; begin: number[]; size: number[] }[] = [
    { shape: [7], begin: [2], size: [4] },
    { shape: [5, 6], begin: [1, 2], size: [3, 3] },
    { shape: [5, 6], begin: [2, 0], size: [2, 6] },
    { shape: [3, 4, 5], begin: [1, 1, 2], size: [2, 2, 3] },
    { shape: [2, 3, 4, 5], begin: [1, 0, 1, 2], size: [1, 3, 2, 2] },
    { shape: [2, 2, 3, 2, 4], begin: [0, 1, 1, 0, 1], size: [2, 1, 2, 2, 3] },
    { shape: [4, 4], begin: [0, 0], size: [0, 4] },
  ];
  it.each(cases)('Slice $shape from $begin size $size matches cpu (float32 and int32)', async ({ shape, begin, size }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randomArray(n, Rng.fromSeed(2));
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor(data, shape);
        const xi = tf.tensor(Int32Array.from(data, (v) => Math.round(v * 100)), shape, 'int32');
        return [Array.from(tf.slice(x, begin, size).dataSync()), Array.from(tf.slice(xi, begin, size).dataSync())];
      });
    expect(await onBackend('wasm', run)).toEqual(await onBackend('cpu', run));
  });

  it('Unpack and SplitV match cpu on every axis', async () => {
    const data = randomArray(3 * 4 * 5, Rng.fromSeed(3));
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor3d(data, [3, 4, 5]);
        const out: number[][] = [];
        for (let axis = 0; axis < 3; axis++) {
          for (const t of tf.unstack(x, axis)) out.push(Array.from(t.dataSync()));
          for (const t of tf.split(x, [1, x.shape[axis] - 1], axis)) out.push(Array.from(t.dataSync()));
        }
        return out;
      });
    const w = await onBackend('wasm', run);
    const c = await onBackend('cpu', run);
    expect(w.length).toBe(c.length);
    w.forEach((a, i) => expect(maxRelErr(a, c[i])).toBe(0));
  });

  it('Sum over leading axes matches cpu (with and without keepDims), other reductions still work', async () => {
    const data = randomArray(6 * 5 * 4, Rng.fromSeed(4));
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor3d(data, [6, 5, 4]);
        return [tf.sum(x, 0), tf.sum(x, [0, 1]), tf.sum(x, [0, 1], true), tf.sum(x, 1), tf.sum(x, 2), tf.sum(x)].map((t) => [
          t.shape,
          Array.from(t.dataSync()),
        ]);
      });
    const w = await onBackend('wasm', run);
    const c = await onBackend('cpu', run);
    w.forEach(([shape, vals], i) => {
      expect(shape).toEqual(c[i][0]);
      expect(maxRelErr(vals as number[], c[i][1] as number[])).toBeLessThan(1e-5);
    });
  });

  it('Identity shares the buffer and disposing either copy keeps the other valid', async () => {
    await selectBackend('wasm');
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
  });

  it('slicing does not leak tensors', async () => {
    await selectBackend('wasm');
    const x = tf.randomNormal([16, 8, 8]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      tf.tidy(() => {
        tf.unstack(x).map((t) => tf.sum(t));
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('turns a failed heap allocation into a clear error instead of a tensor at address 0', () => {
    const calls: number[] = [];
    const malloc = checkedMalloc((n) => (calls.push(n), n > 100 ? 0 : 8), () => 64 * 2 ** 20);
    expect(malloc(16)).toBe(8);
    expect(malloc(0)).toBe(8);
    expect(() => malloc(300 * 2 ** 20)).toThrow(/wasm heap out of memory: cannot allocate 300 MiB more \(heap 64 MiB, 4096 MiB at most\).*grpo.microbatchRows/);
    // 4 GiB and more would wrap around in wasm32's size_t: refused without calling malloc
    expect(() => malloc(2 ** 32 + 16)).toThrow(/out of memory/);
    expect(calls).toEqual([16, 0, 300 * 2 ** 20]);
    // the live backend is guarded and still allocates normally
    expect((tf.backend() as unknown as { wasm: { selfcestGuard?: boolean } }).wasm.selfcestGuard).toBe(true);
    const t = tf.zeros([1024]);
    expect(t.dataSync()[0]).toBe(0);
    t.dispose();
    expect(wasmHeapBytes()).toBeGreaterThan(0);
  });

  it('explains a crash of the wasm runtime by its heap size', () => {
    const crash = Object.assign(new Error('Aborted()'), { name: 'RuntimeError' });
    expect(wasmCrashNote(crash, 3900 * 2 ** 20)).toMatch(/heap at 3900 MiB of 4096 MiB: most likely .*out of memory.*grpo.microbatchRows/);
    expect(wasmCrashNote(crash, 200 * 2 ** 20)).toBe('note: the wasm runtime crashed with its heap at 200 MiB of 4096 MiB');
    expect(wasmCrashNote(new Error('Aborted()'), 3900 * 2 ** 20)).toBeNull(); // not a wasm RuntimeError
    expect(wasmCrashNote(crash, 0)).toBeNull(); // not on wasm
  });
});
