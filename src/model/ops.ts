/**
 * Small tensor ops for the decoder, written so that on the wasm backend every matmul is a flag-free rank-2
 * matmul (the only case XNNPACK runs; transposed or batched matmuls hit a naive loop 10-20x slower,
 * ../shared/notes/tfjs-on-node.md §4). Other backends use tfjs's own matMul and autodiff.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedGelu, fusedLayerNorm, fusedWebgpu } from '../backend/webgpu-kernels.ts';

const onWasm = (): boolean => tf.getBackend() === 'wasm';
/** Whether autodiff is recording (inside tf.grad / variableGrads). Without it a custom gradient is overhead. */
const tapeOn = (): boolean => (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();

/** a [M,K] · b [K,N] → [M,N]. On wasm: the gradients use explicit transposes + flag-free matmuls. */
export function matmul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (!onWasm() || !tapeOn()) return tf.matMul(a, b);
  return flatMatmul(a, b) as tf.Tensor2D;
}

// tfjs types customGrad's callback as variadic (...inputs, save); cast once.
type Grad2 = (a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };
const customGrad2 = (f: Grad2) => tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const flatMatmul = customGrad2((a, b, save) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      const g = dy as tf.Tensor2D;
      // db = aᵀ·dy needs one big transpose: of a [M,K] or (as (dyᵀ·a)ᵀ) of dy [M,N]. Transposing the narrower
      // one saves ~7 ms per MLP projection at M=2048 (wasm's Transpose is ~8 ns/element for wide matrices).
      const db = sa.shape[1] <= g.shape[1] ? tf.matMul(tf.transpose(sa), g) : tf.transpose(tf.matMul(tf.transpose(g), sa));
      return [tf.matMul(g, tf.transpose(sb)), db];
    },
  };
});

/**
 * Flag-free batched matmul a [N,M,K] · b [N,K,P] → [N,M,P]. On wasm the BatchMatMul kernel runs it as one
 * XNNPACK rank-2 matmul per slice (src/backend/wasm-kernels.ts), so it must never carry transpose flags.
 */
function bmmSlices(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.matMul(a, b);
}

const bmmWasm = customGrad2((a, b, save) => {
  save([a, b]);
  return {
    value: bmmSlices(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as tf.Tensor3D[];
      const d = dy as tf.Tensor3D;
      return [bmmSlices(d, tf.transpose(sb, [0, 2, 1])), bmmSlices(tf.transpose(sa, [0, 2, 1]), d)];
    },
  };
});

/** Batched matmul a [N,M,K] · b [N,K,P] → [N,M,P]. */
export function bmm(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (!onWasm()) return tf.matMul(a, b);
  if (!tapeOn()) return bmmSlices(a, b);
  return bmmWasm(a, b) as tf.Tensor3D;
}

/** x [N, in] · w [in, out] + b [out]. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  const y = matmul2d(x, w);
  return b ? tf.add(y, b) : y;
}

/** RMSNorm over the last axis (Llama's): x / sqrt(mean(x²) + eps) · g. */
export function rmsNorm<T extends tf.Tensor>(x: T, g: tf.Tensor1D, eps: number): T {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), g) as T;
}

/** SiLU (swish): x·σ(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x)) as T;
}

/** LayerNorm over the last axis (on webgpu: our fused kernels, backend/webgpu-kernels.ts). */
export function layerNorm<T extends tf.Tensor>(x: T, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): T {
  if (fusedWebgpu()) return fusedLayerNorm(x, g, b, eps);
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), g), b) as T;
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * tanh-approximated GELU (tfjs has no gelu op): gelu(x) = x·σ(2u), u = c(x + 0.044715x³), using
 * 0.5·(1 + tanh(u)) = σ(2u) (wasm's Sigmoid is ~6x faster than its Tanh). The custom gradient
 * gelu'(x) = σ + x·σ(1-σ)·2c(1 + 0.134145x²) takes 8 elementwise ops where autodiff of the forward takes ~15.
 */
const geluOps = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const x2 = tf.mul(x, x);
  const s = tf.sigmoid(tf.mul(tf.mul(x, tf.add(tf.mul(x2, 0.044715), 1)), 2 * GELU_C));
  save([x, x2, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sx2, ss] = saved;
      const du = tf.mul(tf.add(tf.mul(sx2, 3 * 0.044715), 1), 2 * GELU_C); // d(2u)/dx
      const ds = tf.mul(tf.mul(ss, tf.sub(1, ss)), tf.mul(sx, du)); // x·σ'(2u)·d(2u)/dx
      return [tf.mul(dy, tf.add(ss, ds))];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as <T extends tf.Tensor>(x: T) => T;

/** GELU (on webgpu: our fused kernels, one forward and one backward, backend/webgpu-kernels.ts). */
export function gelu<T extends tf.Tensor>(x: T): T {
  return fusedWebgpu() ? fusedGelu(x) : geluOps(x);
}
