/**
 * AdamW with decoupled weight decay (on weight matrices only) and global gradient-norm clipping.
 * Our own, not tf.train.adam: its state needs stable names to be checkpointed and restored bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { SelfcestError } from '../util/errors.ts';
import type { Params } from '../model/decoder.ts';
import { adamMoment, adamParam, fusedWebgpu, sumSquaresParts } from '../backend/webgpu-kernels.ts';

export const OptimConfigSchema = z
  .object({
    lr: z.number().positive().default(1e-3),
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.999),
    eps: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0.0),
    /** clip the global gradient norm to this value (0: no clipping) */
    gradClip: z.number().min(0).default(1.0),
  })
  .strict();
export type OptimConfig = z.infer<typeof OptimConfigSchema>;

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export class AdamW {
  readonly config: OptimConfig;
  /** number of updates applied so far */
  t = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  /**
   * `fused`: on webgpu, three WGSL kernels per parameter (backend/webgpu-kernels.ts) instead of ~16 elementwise
   * ops; the same arithmetic in the same order. Default: on whenever the webgpu backend is active. Other backends
   * always run the ops.
   */
  constructor(
    config: OptimConfig,
    params: Params,
    private readonly opts: { fused?: boolean } = {},
  ) {
    this.config = config;
    const zeros = (p: tf.Variable) => tf.tidy(() => tf.variable(tf.zerosLike(p), false));
    for (const [name, p] of params) {
      this.m.set(name, zeros(p));
      this.v.set(name, zeros(p));
    }
  }

  /**
   * Clip and apply gradients (keyed by parameter name) at learning rate lr. Returns the global gradient norm
   * before clipping as a scalar tensor (the caller reads it once per step, and disposes it); `globalNorm`, when
   * given, is that norm already computed (gradNorm), so a caller can check it is finite before updating.
   */
  apply(params: Params, grads: Map<string, tf.Tensor>, lr: number, globalNorm?: tf.Scalar): tf.Scalar {
    const c = this.config;
    this.t++;
    const bc1 = 1 - Math.pow(c.beta1, this.t);
    const bc2 = 1 - Math.pow(c.beta2, this.t);
    return tf.tidy(() => {
      const norm = globalNorm ? tf.clone(globalNorm) : gradNorm(grads);
      if (tf.getBackend() === 'webgpu' && (this.opts.fused ?? fusedWebgpu())) {
        for (const [name, p] of params) {
          const g = grads.get(name);
          if (!g) continue;
          const m = this.m.get(name)!;
          const v = this.v.get(name)!;
          m.assign(adamMoment(m, g, norm, { beta: c.beta1, clip: c.gradClip, square: false }));
          v.assign(adamMoment(v, g, norm, { beta: c.beta2, clip: c.gradClip, square: true }));
          p.assign(adamParam(p, m, v, { lr, bc1, bc2, eps: c.eps, lrWd: c.weightDecay > 0 && p.shape.length >= 2 ? lr * c.weightDecay : 0 }));
        }
        return tf.keep(norm);
      }
      const scale = c.gradClip > 0 ? tf.minimum(1, tf.div(c.gradClip, tf.add(norm, 1e-6))) : tf.scalar(1);
      for (const [name, p] of params) {
        const g0 = grads.get(name);
        if (!g0) continue;
        const g = tf.mul(g0, scale);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1)));
        v.assign(tf.add(tf.mul(v, c.beta2), tf.mul(tf.square(g), 1 - c.beta2)));
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), c.eps));
        let next = tf.sub(p, tf.mul(update, lr));
        if (c.weightDecay > 0 && p.shape.length >= 2) next = tf.sub(next, tf.mul(p, lr * c.weightDecay));
        p.assign(next);
      }
      return tf.keep(norm);
    });
  }

  /** State as named arrays: `<param>.m`, `<param>.v` and `step` (one float holding t). */
  async toArrays(): Promise<NamedArray[]> {
    const out: NamedArray[] = [];
    for (const [name, m] of this.m) {
      out.push({ name: `${name}.m`, shape: m.shape, data: (await m.data()) as Float32Array });
      out.push({ name: `${name}.v`, shape: m.shape, data: (await this.v.get(name)!.data()) as Float32Array });
    }
    out.push({ name: 'step', shape: [1], data: new Float32Array([this.t]) });
    return out;
  }

  /** Names and shapes toArrays() produces, for checkpoint validation. */
  expectedArrays(): { name: string; shape: number[] }[] {
    const out: { name: string; shape: number[] }[] = [];
    for (const [name, m] of this.m) out.push({ name: `${name}.m`, shape: m.shape }, { name: `${name}.v`, shape: m.shape });
    out.push({ name: 'step', shape: [1] });
    return out;
  }

  load(arrays: Map<string, { shape: number[]; data: Float32Array }>, source = 'optimizer state'): void {
    for (const [key, store] of [['m', this.m], ['v', this.v]] as const) {
      for (const [name, variable] of store) {
        const a = arrays.get(`${name}.${key}`);
        if (!a || a.shape.join(',') !== variable.shape.join(',')) {
          throw new SelfcestError(`${source}: tensor "${name}.${key}" missing or not of shape [${variable.shape}]`);
        }
        tf.tidy(() => variable.assign(tf.tensor(a.data, variable.shape, 'float32')));
      }
    }
    const step = arrays.get('step');
    if (!step) throw new SelfcestError(`${source}: tensor "step" missing`);
    this.t = step.data[0];
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
  }
}

/** The global L2 norm of the gradients (a scalar tensor; the caller disposes it). */
export function gradNorm(grads: Map<string, tf.Tensor>): tf.Scalar {
  if (fusedWebgpu()) return tf.tidy(() => tf.reshape(tf.sqrt(sumOf(sumSquaresParts([...grads.values()]))), []) as tf.Scalar);
  return tf.tidy(() => tf.sqrt(sumOf([...grads.values()].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * The sum of same-shaped tensors. One AddN on wasm and cpu; on webgpu in AddNs of at most 7 inputs, because a WebGPU
 * shader may bind only 8 storage buffers by default (7 inputs and the output) and a longer AddN fails validation.
 */
export function sumOf(xs: tf.Tensor[]): tf.Tensor {
  if (tf.getBackend() !== 'webgpu') return tf.addN(xs);
  while (xs.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < xs.length; i += 7) next.push(i + 1 === xs.length ? xs[i] : tf.addN(xs.slice(i, i + 7)));
    xs = next;
  }
  return xs[0];
}
