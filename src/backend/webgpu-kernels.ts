/**
 * Our WGSL kernels on tfjs's webgpu backend (issue 22), registered as tfjs kernels (so the engine, tf.profile and
 * the kernel counts see them) and run through WebGPUBackend.runWebGPUProgram. Developed and tested on Mesa's
 * lavapipe (tests/backend/webgpu-kernels.test.ts, against the unfused ops on cpu); only their speed needs a GPU.
 *
 *   SelfcestAdamMoment   (x, g, norm[1]) -> beta·x + (1-beta)·h(g·s), one pass: AdamW's first moment (h = identity)
 *                        or second moment (h = square); s = min(1, clip / (norm + 1e-6)) the global-norm clip
 *                        factor, computed in the kernel from the norm tensor (1 when clip is 0)
 *   SelfcestAdamParam    (p, m', v') -> p - lr·(m'/bc1)/(sqrt(v'/bc2) + eps) - lr·wd·p
 *
 * AdamW.apply on webgpu runs these three kernels per parameter instead of ~16 elementwise ones (optim.ts). The
 * arithmetic follows the unfused sequence operation by operation, in f32, so the two agree to float rounding.
 */
import * as tf from '@tensorflow/tfjs';

/** The part of tfjs-backend-webgpu's WebGPUProgram these elementwise programs fill in. */
interface Program {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms: string;
  getUserCode(): string;
}

interface WebGPUBackendLike {
  runWebGPUProgram(program: Program, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms: { type: string; data: number[] }[]): tf.TensorInfo;
}

const WORKGROUP = 128;

/** An elementwise program over the output's flat index (tfjs calls `main(index)` once per element). */
function elementwise(key: string, shape: number[], inputs: string[], uniforms: string, body: string): Program {
  const size = shape.reduce((a, b) => a * b, 1);
  return {
    outputShape: shape,
    shaderKey: key,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    variableNames: inputs,
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    uniforms,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

const f32 = (x: number) => ({ type: 'float32', data: [x] });

export const ADAM_MOMENT = 'SelfcestAdamMoment';
export const ADAM_PARAM = 'SelfcestAdamParam';

export interface AdamMomentAttrs {
  beta: number;
  /** clip the global norm to this (0: no clipping) */
  clip: number;
  /** true: the second moment (the gradient squared) */
  square: boolean;
}

export interface AdamParamAttrs {
  lr: number;
  bc1: number;
  bc2: number;
  eps: number;
  /** lr · weight decay (0: none) */
  lrWd: number;
}

let registered = false;

/** Register the kernels for the webgpu backend (idempotent; needs no adapter until they run). */
export function registerWebgpuKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: ADAM_MOMENT,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, g, norm } = inputs as { x: tf.TensorInfo; g: tf.TensorInfo; norm: tf.TensorInfo };
      const a = attrs as unknown as AdamMomentAttrs;
      // as the unfused ops: s = min(1, clip / (norm + 1e-6)); g·s; then mul, mul, add
      const program = elementwise(
        `selfcest_adam_moment_${a.square ? 'v' : 'm'}`,
        x.shape,
        ['X', 'G', 'N'],
        'beta : f32, oneMinusBeta : f32, clip : f32,',
        // N is read in both cases: a binding the shader never reads is dropped from its layout, and the dispatch fails
        `let s = select(1.0, min(1.0, uniforms.clip / (N[0] + 1e-6)), uniforms.clip > 0.0);
          let g = G[index] * s;
          setOutputAtIndex(index, X[index] * uniforms.beta + ${a.square ? 'g * g' : 'g'} * uniforms.oneMinusBeta);`,
      );
      return (backend as unknown as WebGPUBackendLike).runWebGPUProgram(program, [x, g, norm], 'float32', [f32(a.beta), f32(1 - a.beta), f32(a.clip)]);
    },
  });
  tf.registerKernel({
    kernelName: ADAM_PARAM,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { p, m, v } = inputs as { p: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo };
      const a = attrs as unknown as AdamParamAttrs;
      const program = elementwise(
        `selfcest_adam_param_${a.lrWd > 0 ? 'wd' : 'free'}`,
        p.shape,
        ['P', 'M', 'V'],
        'lr : f32, bc1 : f32, bc2 : f32, eps : f32, lrWd : f32,',
        `let update = (M[index] / uniforms.bc1) / (sqrt(V[index] / uniforms.bc2) + uniforms.eps);
          let next = P[index] - update * uniforms.lr;
          setOutputAtIndex(index, ${a.lrWd > 0 ? 'next - P[index] * uniforms.lrWd' : 'next'});`,
      );
      return (backend as unknown as WebGPUBackendLike).runWebGPUProgram(program, [p, m, v], 'float32', [f32(a.lr), f32(a.bc1), f32(a.bc2), f32(a.eps), f32(a.lrWd)]);
    },
  });
}

/** One moment of AdamW, fused (webgpu only). */
export function adamMoment(x: tf.Tensor, g: tf.Tensor, norm: tf.Tensor, attrs: AdamMomentAttrs): tf.Tensor {
  return tf.engine().runKernel(ADAM_MOMENT, { x, g, norm } as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** AdamW's parameter step from the new moments, fused (webgpu only). */
export function adamParam(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamParamAttrs): tf.Tensor {
  return tf.engine().runKernel(ADAM_PARAM, { p, m, v } as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}
