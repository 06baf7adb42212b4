// Our WGSL kernels (src/backend/webgpu-kernels.ts) against the unfused ops on cpu, on whatever webgpu adapter is
// here (lavapipe in CI, tests opt in to software adapters), and the kernels they save, counted with tf.profile.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { gelu, layerNorm } from '../../src/model/ops.ts';
import { AdamW, gradNorm, OptimConfigSchema } from '../../src/train/optim.ts';
import { Rng } from '../../src/util/rng.ts';
import { maxRelErr, onBackend, webgpuUnavailable } from '../helpers.ts';

const why = await webgpuUnavailable();
if (why) console.log(`webgpu kernel tests skipped: ${why}`);

const cfg = modelConfig({ vocabSize: 32, ctx: 16, dModel: 16, nLayers: 2, nHeads: 2 });

/** Parameters and a few steps' gradients as arrays (one seed), to replay on any backend. */
function fixture(steps: number) {
  const m = GPT.init(cfg, Rng.fromSeed(5));
  const params = new Map([...m.params].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]));
  m.dispose();
  const rng = Rng.fromSeed('grads');
  // gradients of a few scales (so that clipping is active in some steps and not in others)
  const grads = Array.from({ length: steps }, (_, s) => new Map([...params].map(([k, p]) => [k, Float32Array.from(p.data, () => (rng.next() - 0.5) * (s % 2 ? 0.05 : 2))])));
  return { params, grads };
}

async function train(optim: object, steps: number, fused: boolean) {
  const { params, grads } = fixture(steps);
  const vars = new Map([...params].map(([k, p]) => [k, tf.tidy(() => tf.variable(tf.tensor(p.data, p.shape), true, `k-${k}-${Math.random()}`))]));
  const opt = new AdamW(OptimConfigSchema.parse(optim), vars, { fused });
  const norms: number[] = [];
  for (let s = 0; s < steps; s++) {
    const g = new Map([...grads[s]].map(([k, d]) => [k, tf.tensor(d, params.get(k)!.shape)]));
    const norm = opt.apply(vars, g, 0.01 * (s + 1));
    norms.push((await norm.data())[0]);
    tf.dispose([norm, ...g.values()]);
  }
  const state = await opt.toArrays();
  const out = { params: new Map(await Promise.all([...vars].map(async ([k, v]) => [k, (await v.data()) as Float32Array] as const))), state, norms };
  opt.dispose();
  tf.dispose([...vars.values()]);
  return out;
}

describe.runIf(!why)('WGSL kernels on webgpu', () => {
  for (const optim of [{ gradClip: 1, weightDecay: 0.1 }, { gradClip: 0, weightDecay: 0 }]) {
    it(`fused AdamW equals the unfused ops on cpu to float rounding over 4 steps (${JSON.stringify(optim)}), and leaks no tensor`, async () => {
      const ref = await onBackend('cpu', () => train(optim, 4, false));
      await onBackend('webgpu', () => undefined);
      const before = tf.memory().numTensors;
      const got = await train(optim, 4, true);
      expect(tf.memory().numTensors).toBe(before);
      await onBackend('wasm', () => undefined);
      expect(maxRelErr(got.norms, ref.norms)).toBeLessThan(1e-5);
      for (const [k, p] of ref.params) expect(maxRelErr(got.params.get(k)!, p), k).toBeLessThan(1e-5);
      for (const [i, a] of ref.state.entries()) expect(maxRelErr(got.state[i].data, a.data), a.name).toBeLessThan(1e-5);
      // the updates moved the weights (the comparison is not of two untouched copies)
      const { params } = fixture(0);
      expect(Math.max(...[...params].map(([k, p]) => maxRelErr(ref.params.get(k)!, p.data)))).toBeGreaterThan(1e-3);
    });
  }

  it('fused AdamW runs 3 kernels per parameter where the ops take 16 (tf.profile on webgpu)', async () => {
    await onBackend('webgpu', () => undefined);
    const { params, grads } = fixture(1);
    const count = async (fused: boolean) => {
      const vars = new Map([...params].map(([k, p]) => [k, tf.tidy(() => tf.variable(tf.tensor(p.data, p.shape), true, `c-${k}-${fused}`))]));
      const g = new Map([...grads[0]].map(([k, d]) => [k, tf.tensor(d, params.get(k)!.shape)]));
      const opt = new AdamW(OptimConfigSchema.parse({ gradClip: 1, weightDecay: 0.1 }), vars, { fused });
      const norm = tf.tidy(() => tf.sqrt(tf.addN([...g.values()].slice(0, 1).map((x) => tf.sum(tf.square(x))))) as tf.Scalar);
      const prof = await tf.profile(() => void opt.apply(vars, g, 0.01, norm).dispose());
      tf.dispose([norm, ...g.values(), ...vars.values()]);
      opt.dispose();
      return prof.kernels.map((k) => k.name).filter((n) => n !== 'Identity'); // Identity: the norm's clone, no dispatch of ours
    };
    const P = params.size;
    const fused = await count(true);
    const ops = await count(false);
    await onBackend('wasm', () => undefined);
    expect(fused.length).toBe(3 * P);
    expect(new Set(fused)).toEqual(new Set(['SelfcestAdamMoment', 'SelfcestAdamParam']));
    expect(ops.length).toBeGreaterThanOrEqual(15 * P);
  });

  /** LayerNorm's value and the gradients of sum(y·w) by x, g and b, as arrays, and the kernels that took. */
  async function layerNormCase(fusedOff: boolean) {
    const rng = Rng.fromSeed('ln');
    const r = (n: number, scale: number, off = 0) => Float32Array.from({ length: n }, () => off + (rng.next() - 0.5) * scale);
    const [B, T, C] = [3, 5, 24];
    const data = { x: r(B * T * C, 4, 1.5), g: r(C, 2, 1), b: r(C, 1), w: r(B * T * C, 2) };
    if (fusedOff) process.env.SELFCEST_WEBGPU_FUSED = '0';
    try {
      const x = tf.tensor3d(data.x, [B, T, C]);
      const g = tf.tensor1d(data.g);
      const b = tf.tensor1d(data.b);
      const w = tf.tensor3d(data.w, [B, T, C]);
      const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(layerNorm(xi, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5), w));
      let out: { value: tf.Tensor; grads: tf.Tensor[] } | null = null;
      const prof = await tf.profile(() => {
        out = tf.valueAndGrads(f)([x, g, b]);
      });
      const { value, grads } = out!;
      const res = { value: (await value.data())[0], grads: await Promise.all(grads.map(async (t) => (await t.data()) as Float32Array)), kernels: prof.kernels.map((k) => k.name).filter((n) => n !== 'Reshape' && n !== 'Identity') };
      tf.dispose([x, g, b, w, value, ...grads]);
      return res;
    } finally {
      delete process.env.SELFCEST_WEBGPU_FUSED;
    }
  }

  it('fused LayerNorm: value and the gradients by x, g and b equal the ops on cpu within 1e-4, in 5 kernels where the ops take ~34 (forward + backward)', async () => {
    const ref = await onBackend('cpu', () => layerNormCase(false));
    await onBackend('webgpu', () => undefined);
    const before = tf.memory().numTensors;
    const got = await layerNormCase(false);
    expect(tf.memory().numTensors).toBe(before);
    const ops = await layerNormCase(true);
    await onBackend('wasm', () => undefined);
    expect(Math.abs(got.value - ref.value) / Math.max(1, Math.abs(ref.value))).toBeLessThan(1e-4);
    got.grads.forEach((gr, i) => expect(maxRelErr(gr, ref.grads[i]), ['dx', 'dg', 'db'][i]).toBeLessThan(1e-4));
    const ours = got.kernels.filter((n) => n.startsWith('Selfcest'));
    expect(ours.sort()).toEqual(['SelfcestLayerNorm', 'SelfcestLayerNormDg', 'SelfcestLayerNormDx', 'SelfcestRowStats']);
    // the loss sum(y·w) and its gradient take the same kernels in both (6); LayerNorm itself: 4 of ours + 1 Sum
    // measured: 11 kernels fused, 40 with the ops (tfjs 4.22), so LayerNorm's own share is 5 against 34
    expect(ops.kernels.length - got.kernels.length).toBeGreaterThanOrEqual(25);
  });

  it('fused gradient norm: one kernel per 7 tensors, equal to the ops on cpu within 1e-5 (17 tensors of 1 to 5,000 entries)', async () => {
    const rng = Rng.fromSeed('norm');
    const arrays = Array.from({ length: 17 }, (_, i) => Float32Array.from({ length: i === 0 ? 1 : rng.int(1, 5000) }, () => rng.next() - 0.5));
    const norm = async () => {
      const grads = new Map(arrays.map((a, i) => [`g${i}`, tf.tensor1d(a)]));
      let n: tf.Scalar | null = null;
      const prof = await tf.profile(() => void (n = gradNorm(grads)));
      const value = (await n!.data())[0];
      tf.dispose([n!, ...grads.values()]);
      return { value, kernels: prof.kernels.map((k) => k.name) };
    };
    const ref = await onBackend('cpu', norm);
    await onBackend('webgpu', () => undefined);
    const got = await norm();
    await onBackend('wasm', () => undefined);
    expect(Math.abs(got.value - ref.value) / ref.value).toBeLessThan(1e-5);
    expect(got.kernels.filter((k) => k === 'SelfcestSumSquares').length).toBe(3);
    expect(got.kernels.filter((k) => k === 'Square' || k === 'Sum').length).toBe(0);
  });

  it('fused GELU: value and gradient equal the ops on cpu within 1e-5, one kernel each way', async () => {
    const rng = Rng.fromSeed('gelu');
    const xs = Float32Array.from({ length: 3000 }, () => (rng.next() - 0.5) * 12);
    const ws = Float32Array.from({ length: 3000 }, () => rng.next() - 0.5);
    const run = async () => {
      const x = tf.tensor1d(xs);
      const w = tf.tensor1d(ws);
      let out: { value: tf.Tensor; grad: tf.Tensor } | null = null;
      const prof = await tf.profile(() => void (out = tf.valueAndGrad((xi: tf.Tensor) => tf.sum(tf.mul(gelu(xi), w)))(x)));
      const y = await tf.tidy(() => gelu(x)).data();
      const res = { y: y as Float32Array, grad: (await out!.grad.data()) as Float32Array, kernels: prof.kernels.map((k) => k.name) };
      tf.dispose([x, w, out!.value, out!.grad]);
      return res;
    };
    const ref = await onBackend('cpu', run);
    await onBackend('webgpu', () => undefined);
    const got = await run();
    await onBackend('wasm', () => undefined);
    expect(maxRelErr(got.y, ref.y)).toBeLessThan(1e-5);
    expect(maxRelErr(got.grad, ref.grad)).toBeLessThan(1e-5);
    expect(got.kernels.filter((k) => k.startsWith('Selfcest'))).toEqual(['SelfcestGelu', 'SelfcestGeluGrad']);
    expect(got.kernels.filter((k) => k === 'Sigmoid')).toEqual([]);
  });
});
