/**
 * Our WGSL kernels on tfjs's webgpu backend (issue 22), registered as tfjs kernels (so the engine, tf.profile and
 * the kernel counts see them) and run through WebGPUBackend.runWebGPUProgram. Developed and tested on Mesa's
 * lavapipe (tests/backend/webgpu-kernels.test.ts, against the unfused ops on cpu); only their speed needs a GPU.
 *
 *   SelfcestAdamMoment   (x, g, norm[1]) -> beta·x + (1-beta)·h(g·s), one pass: AdamW's first moment (h = identity)
 *                        or second moment (h = square); s = min(1, clip / (norm + 1e-6)) the global-norm clip
 *                        factor, computed in the kernel from the norm tensor (1 when clip is 0)
 *   SelfcestAdamParam    (p, m', v') -> p - lr·(m'/bc1)/(sqrt(v'/bc2) + eps) - lr·wd·p
 *   SelfcestGelu         x -> x·σ(c2·x·(1 + 0.044715x²)) (tanh-approximated GELU as model/ops.ts writes it)
 *   SelfcestGeluGrad     (x, dy) -> dy·(σ + σ(1-σ)·x·c2(1 + 3·0.044715x²))
 *   SelfcestSumSquares   (a0 .. a6) -> [1]: Σ a² over up to 7 tensors, one workgroup (the gradient norm)
 *   SelfcestRowStats     x [N, C] -> [N, 2]: each row's mean and 1/sqrt(var + eps) (LayerNorm; a thread per row)
 *   SelfcestLayerNorm    (x, stats, g, b) -> (x - mean)·rstd·g + b
 *   SelfcestLayerNormDx  (x, stats, g, dy) -> rstd·(dŷ - mean(dŷ) - x̂·mean(dŷ·x̂)), dŷ = dy·g (a thread per row)
 *   SelfcestLayerNormDg  (x, stats, dy) [C] -> Σ_rows dy·x̂ (a thread per column)
 *
 * AdamW.apply on webgpu runs these three kernels per parameter instead of ~16 elementwise ones (optim.ts). The
 * arithmetic follows the unfused sequence operation by operation, in f32, so the two agree to float rounding.
 * LayerNorm (model/ops.ts) runs 2 kernels forward and 3 backward (the bias gradient is tf.sum) instead of ~30.
 * SELFCEST_WEBGPU_FUSED=0 turns them all off (the kernel counts of scripts/bench/kernels.ts compare both).
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
  runWebGPUProgram(program: Program, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms: Uniform[]): tf.TensorInfo;
}

const WORKGROUP = 128;

/**
 * A program of one thread per output element (elementwise: guarded by tfjs's `uniforms.size`), or of `threads`
 * threads (one per row or column; guarded by our `uniforms.threads`, the first of its uniforms).
 */
function program(key: string, shape: number[], inputs: string[], uniforms: string, body: string, threads?: number): Program {
  const n = threads ?? shape.reduce((x, y) => x * y, 1);
  const wg = threads === undefined ? WORKGROUP : 64;
  const guard = threads === undefined ? 'uniforms.size' : 'uniforms.threads';
  return {
    outputShape: shape,
    shaderKey: key,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [Math.ceil(n / wg), 1, 1],
    variableNames: inputs,
    workgroupSize: [wg, 1, 1],
    size: threads === undefined,
    uniforms: threads === undefined ? uniforms : `threads : i32, ${uniforms}`,
    getUserCode: () => `
      fn main(index : i32) {
        if (index < ${guard}) {
          ${body}
        }
      }`,
  };
}

const elementwise = (key: string, shape: number[], inputs: string[], uniforms: string, body: string) => program(key, shape, inputs, uniforms, body);
const perLine = (key: string, shape: number[], threads: number, inputs: string[], uniforms: string, body: string) => program(key, shape, inputs, uniforms, body, threads);

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

/** Are the fused kernels used now? On webgpu unless SELFCEST_WEBGPU_FUSED=0. */
export function fusedWebgpu(): boolean {
  return tf.getBackend() === 'webgpu' && process.env.SELFCEST_WEBGPU_FUSED !== '0';
}

const i32 = (x: number) => ({ type: 'int32', data: [x] });

export const GELU = 'SelfcestGelu';
export const GELU_GRAD = 'SelfcestGeluGrad';
export const SUM_SQUARES = 'SelfcestSumSquares';
/** inputs of one SumSquares (WebGPU's default 8 storage buffers per stage: 7 inputs and the output) */
export const SUM_SQUARES_INPUTS = 7;
const REDUCE = 256;
export const ROW_STATS = 'SelfcestRowStats';
export const LAYER_NORM = 'SelfcestLayerNorm';
export const LAYER_NORM_DX = 'SelfcestLayerNormDx';
export const LAYER_NORM_DG = 'SelfcestLayerNormDg';

type Uniform = { type: string; data: number[] };

/** Register a kernel of ours: `build` makes its program, its inputs in binding order, and its own uniforms. */
function define(name: string, build: (inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => [Program, tf.TensorInfo[], Uniform[]]): void {
  tf.registerKernel({
    kernelName: name,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const [program, bound, uniforms] = build(inputs, attrs ?? {});
      return (backend as unknown as WebGPUBackendLike).runWebGPUProgram(program, bound, 'float32', uniforms);
    },
  });
}

let registered = false;

/** Register the kernels for the webgpu backend (select.ts, when it brings webgpu up; idempotent). */
export function registerWebgpuKernels(): void {
  if (registered) return;
  registered = true;
  define(ADAM_MOMENT, (inputs, attrs) => {
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
    return [program, [x, g, norm], [f32(a.beta), f32(1 - a.beta), f32(a.clip)]];
  });
  define(ADAM_PARAM, (inputs, attrs) => {
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
    return [program, [p, m, v], [f32(a.lr), f32(a.bc1), f32(a.bc2), f32(a.eps), f32(a.lrWd)]];
  });
  // as the ops: s = sigmoid((x·(x²·0.044715 + 1))·c2), sigmoid(z) = 1 / (1 + exp(-z)) as tfjs's webgpu Sigmoid
  const geluS = 'let x = X[index]; let x2 = x * x; let s = 1.0 / (1.0 + exp(-1.0 * ((x * (x2 * 0.044715 + 1.0)) * uniforms.c2)));';
  define(GELU, (inputs, attrs) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const program = elementwise('selfcest_gelu', x.shape, ['X'], 'c2 : f32,', `${geluS}
        setOutputAtIndex(index, x * s);`);
    return [program, [x], [f32((attrs as { c2: number }).c2)]];
  });
  define(GELU_GRAD, (inputs, attrs) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = attrs as { c2: number; c3: number };
    const program = elementwise('selfcest_gelu_grad', x.shape, ['X', 'DY'], 'c2 : f32, c3 : f32,', `${geluS}
        let du = (x2 * uniforms.c3 + 1.0) * uniforms.c2;
        let ds = (s * (1.0 - s)) * (x * du);
        setOutputAtIndex(index, DY[index] * (s + ds));`);
    return [program, [x, dy], [f32(a.c2), f32(a.c3)]];
  });
  define(SUM_SQUARES, (inputs, attrs) => {
    const xs = Object.keys(inputs).sort().map((k) => (inputs as Record<string, tf.TensorInfo>)[k]);
    const names = xs.map((_, i) => `A${i}`);
    const sizes = xs.map((x) => x.shape.reduce((a, b) => a * b, 1));
    // every thread strides over each input (loop bounds uniform: the barriers stay in uniform control flow), then a
    // tree reduction in workgroup memory
    const loops = names.map((a, i) => `
        for (var j = 0; j < (uniforms.n${i} + ${REDUCE - 1}) / ${REDUCE}; j++) {
          let e = j * ${REDUCE} + lid;
          if (e < uniforms.n${i}) { let v = ${a}[e]; acc += v * v; }
        }`).join('');
    const program: Program = {
      outputShape: [1],
      shaderKey: `selfcest_sum_squares_${xs.length}`,
      dispatchLayout: { x: [0] },
      dispatch: [1, 1, 1],
      variableNames: names,
      workgroupSize: [REDUCE, 1, 1],
      size: false,
      uniforms: names.map((_, i) => `n${i} : i32,`).join(' '),
      getUserCode: () => `
    var<workgroup> partial : array<f32, ${REDUCE}>;
    fn main(index : i32) {
      let lid = i32(localId.x);
      var acc = 0.0;${loops}
      partial[lid] = acc;
      workgroupBarrier();
      for (var s = ${REDUCE / 2}; s > 0; s = s / 2) {
        if (lid < s) { partial[lid] = partial[lid] + partial[lid + s]; }
        workgroupBarrier();
      }
      if (lid == 0) { result[0] = partial[0]; }
    }`,
    };
    return [program, xs, sizes.map(i32)];
  });
  define(ROW_STATS, (inputs, attrs) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const [N, C] = x.shape;
    const program = perLine('selfcest_row_stats', [N, 2], N, ['X'], 'cols : i32, eps : f32,', `
        let base = index * uniforms.cols;
        var sum = 0.0;
        for (var c = 0; c < uniforms.cols; c++) { sum += X[base + c]; }
        let mean = sum / f32(uniforms.cols);
        var sq = 0.0;
        for (var c = 0; c < uniforms.cols; c++) { let d = X[base + c] - mean; sq += d * d; }
        result[index * 2] = mean;
        result[index * 2 + 1] = inverseSqrt(sq / f32(uniforms.cols) + uniforms.eps);`);
    return [program, [x], [i32(N), i32(C), f32((attrs as { eps: number }).eps)]];
  });
  define(LAYER_NORM, (inputs, attrs) => {
    const { x, stats, g, b } = inputs as { x: tf.TensorInfo; stats: tf.TensorInfo; g: tf.TensorInfo; b: tf.TensorInfo };
    const [N, C] = x.shape;
    const program = elementwise('selfcest_layer_norm', [N, C], ['X', 'S', 'Gm', 'Bt'], 'cols : i32,', `
        let row = index / uniforms.cols;
        let c = index - row * uniforms.cols;
        setOutputAtIndex(index, (X[index] - S[row * 2]) * S[row * 2 + 1] * Gm[c] + Bt[c]);`);
    return [program, [x, stats, g, b], [i32(C)]];
  });
  define(LAYER_NORM_DX, (inputs, attrs) => {
    const { x, stats, g, dy } = inputs as { x: tf.TensorInfo; stats: tf.TensorInfo; g: tf.TensorInfo; dy: tf.TensorInfo };
    const [N, C] = x.shape;
    const program = perLine('selfcest_layer_norm_dx', [N, C], N, ['X', 'S', 'Gm', 'DY'], 'cols : i32,', `
        let base = index * uniforms.cols;
        let mean = S[index * 2];
        let rstd = S[index * 2 + 1];
        var a = 0.0;
        var b = 0.0;
        for (var c = 0; c < uniforms.cols; c++) {
          let dh = DY[base + c] * Gm[c];
          a += dh;
          b += dh * (X[base + c] - mean) * rstd;
        }
        let n = f32(uniforms.cols);
        for (var c = 0; c < uniforms.cols; c++) {
          let dh = DY[base + c] * Gm[c];
          let xh = (X[base + c] - mean) * rstd;
          result[base + c] = rstd * (dh - a / n - xh * (b / n));
        }`);
    return [program, [x, stats, g, dy], [i32(N), i32(C)]];
  });
  define(LAYER_NORM_DG, (inputs, attrs) => {
    const { x, stats, dy } = inputs as { x: tf.TensorInfo; stats: tf.TensorInfo; dy: tf.TensorInfo };
    const [N, C] = x.shape;
    const program = perLine('selfcest_layer_norm_dg', [C], C, ['X', 'S', 'DY'], 'rows : i32,', `
        let C = uniforms.threads;
        var acc = 0.0;
        for (var r = 0; r < uniforms.rows; r++) {
          acc += DY[r * C + index] * (X[r * C + index] - S[r * 2]) * S[r * 2 + 1];
        }
        result[index] = acc;`);
    return [program, [x, stats, dy], [i32(C), i32(N)]];
  });
}

const kernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: object = {}) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;

/** one custom-gradient function per eps (customGrad passes tensors only) */
const layerNorms = new Map<number, (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor>();

/**
 * LayerNorm over the last axis with the fused kernels (webgpu only): forward RowStats + LayerNorm, backward
 * LayerNormDx, LayerNormDg and a Sum for the bias. The statistics are kept from the forward pass.
 */
export function fusedLayerNorm<T extends tf.Tensor>(x: T, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): T {
  let f = layerNorms.get(eps);
  if (!f) {
    f = tf.customGrad(((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
      const C = xi.shape[xi.shape.length - 1];
      const x2 = tf.reshape(xi, [-1, C]);
      const stats = kernel(ROW_STATS, { x: x2 }, { eps });
      save([x2, stats, gi]);
      return {
        value: tf.reshape(kernel(LAYER_NORM, { x: x2, stats, g: gi, b: bi }), xi.shape),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, st, gs] = saved;
          const dy2 = tf.reshape(dy, [-1, C]);
          return [tf.reshape(kernel(LAYER_NORM_DX, { x: xs, stats: st, g: gs, dy: dy2 }), xi.shape), kernel(LAYER_NORM_DG, { x: xs, stats: st, dy: dy2 }), tf.sum(dy2, 0)];
        },
      };
    }) as never) as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
    layerNorms.set(eps, f);
  }
  return f(x, g, b) as T;
}

/** One moment of AdamW, fused (webgpu only). */
export function adamMoment(x: tf.Tensor, g: tf.Tensor, norm: tf.Tensor, attrs: AdamMomentAttrs): tf.Tensor {
  return kernel(ADAM_MOMENT, { x, g, norm }, attrs);
}

/** AdamW's parameter step from the new moments, fused (webgpu only). */
export function adamParam(p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamParamAttrs): tf.Tensor {
  return kernel(ADAM_PARAM, { p, m, v }, attrs);
}

/** Σ x² over the tensors, fused (webgpu only): one kernel per 7 tensors; their partial sums [1] (the caller adds them). */
export function sumSquaresParts(xs: readonly tf.Tensor[]): tf.Tensor[] {
  const parts: tf.Tensor[] = [];
  for (let i = 0; i < xs.length; i += SUM_SQUARES_INPUTS) {
    parts.push(kernel(SUM_SQUARES, Object.fromEntries(xs.slice(i, i + SUM_SQUARES_INPUTS).map((x, k) => [`x${k}`, x]))));
  }
  return parts;
}

const GELU_C2 = 2 * Math.sqrt(2 / Math.PI);
let geluFn: ((x: tf.Tensor) => tf.Tensor) | null = null;

/** GELU with the fused kernels (webgpu only): one kernel forward, one backward. */
export function fusedGelu<T extends tf.Tensor>(x: T): T {
  geluFn ??= tf.customGrad(((xi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xi]);
    return {
      value: kernel(GELU, { x: xi }, { c2: GELU_C2 }),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [kernel(GELU_GRAD, { x: saved[0], dy }, { c2: GELU_C2, c3: 3 * 0.044715 })],
    };
  }) as never) as unknown as (x: tf.Tensor) => tf.Tensor;
  return geluFn(x) as T;
}
