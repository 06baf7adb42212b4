/**
 * Project-side fixes for @tensorflow/tfjs-backend-wasm 4.22.0 (measured in ../shared/notes/tfjs-on-node.md §5):
 *
 * 1. UnsortedSegmentSum is not registered for wasm, so the gradient of `tf.gather` (embeddings) throws.
 *    We register a JS kernel that works on views of the wasm heap.
 * 2. Stock Slice calls `backend.readSync(x)`, which copies the *whole* input out of the heap on every slice;
 *    Unpack and SplitV call that slice once per output. We replace all three with kernels that read the input
 *    through a heap view. Views are taken only after `makeOutput`, because its `malloc` can grow the heap and
 *    detach earlier views.
 *
 * 3. Identity copies its input; we share the buffer by reference count instead (as the cpu backend does).
 * 4. Sum over leading axes (bias and LayerNorm gradients [N, C] → [C]) first transposes the input in stock
 *    wasm (7.8 ms for 2048x512, 3x our time); we add rows in place instead.
 *
 * 5. A batched, flag-free BatchMatMul with tall slices (attention in training: [B·H, T, hd] · [B·H, hd, T])
 *    takes wasm's naive batched loop (~2 GFLOP/s). We run XNNPACK's rank-2 path once per slice on *views*
 *    of the input and output buffers (tensors registered at offsets inside them, released without a free),
 *    instead of unstack → matmul → stack, which copied every slice twice and paid the engine per slice.
 *
 * 6. GatherV2 along axis 0 (embeddings; selecting KV-cache rows when contexts leave a decode batch) runs
 *    ~30 ns per element in stock wasm (41 ms per leave of a 64-row cache); ours copies whole rows.
 *
 * 7. BackendWasm.move stores `_malloc`'s result without checking it: when the heap (4 GiB at most) cannot
 *    hold a new tensor, malloc returns 0, the tensor is registered at address 0, and writing it corrupts the
 *    allocator and the runtime's own tables; the process dies later in an unrelated dispose ("memory access
 *    out of bounds"). guardWasmMalloc() turns that into an immediate, clear error.
 *
 * The last fix (every matmul a flag-free rank-2 matmul) lives in src/model/ops.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { SelfcestError } from '../util/errors.ts';

type TensorInfo = tf.TensorInfo;
type TypedArray = Float32Array | Int32Array | Uint8Array;

/** The slice of BackendWasm's surface these kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): TypedArray;
  incRef(dataId: object): void;
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  dataIdNextNumber: number;
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...a: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
}

/** Smallest slice height for which per-slice XNNPACK beats the naive batched loop (decode has M = 1). */
const MIN_SLICE_ROWS = 16;
let wasmBatchMatMul: ((...a: unknown[]) => void) | null = null;

/** out[i] = a[i] · b[i] for a [N,M,K], b [N,K,P] via rank-2 XNNPACK matmuls on views of the buffers. */
function sliceBatchMatMul(bk: WasmBackendLike, a: TensorInfo, b: TensorInfo): TensorInfo {
  const [N, M, K] = a.shape;
  const P = b.shape[2];
  const out = bk.makeOutput([N, M, P], 'float32');
  const offA = bk.dataIdMap.get(a.dataId).memoryOffset;
  const offB = bk.dataIdMap.get(b.dataId).memoryOffset;
  const offO = bk.dataIdMap.get(out.dataId).memoryOffset;
  const shapeBytes = (s: number[]) => new Uint8Array(new Int32Array(s).buffer);
  const sa = shapeBytes([1, M, K]);
  const sb = shapeBytes([1, K, P]);
  const view = (offset: number, size: number) => {
    const id = bk.dataIdNextNumber++;
    bk.wasm.tfjs.registerTensor(id, size, offset);
    return id;
  };
  for (let i = 0; i < N; i++) {
    const ia = view(offA + 4 * i * M * K, M * K);
    const ib = view(offB + 4 * i * K * P, K * P);
    const io = view(offO + 4 * i * M * P, M * P);
    wasmBatchMatMul!(ia, sa, 3, ib, sb, 3, false, false, io);
    // release the views' registrations (and any cached XNNPACK operator); their memory belongs to a, b, out
    for (const id of [ia, ib, io]) bk.wasm.tfjs.disposeData(id);
  }
  return out;
}

const patched = new Set<string>();

function sliceInto(backend: WasmBackendLike, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const total = tf.util.sizeFromShape(size);
  if (total === 0) return out;
  // Views after makeOutput: the heap may have grown.
  const xv = backend.typedArrayFromHeap(x);
  const ov = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape);
  if (rank === 0) {
    ov[0] = xv[0];
    return out;
  }
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const off = tf.slice_util.computeFlatOffset(begin, strides);
    ov.set(xv.subarray(off, off + total));
    return out;
  }
  // Copy contiguous runs of the innermost axis; odometer over the outer axes.
  const inner = size[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let o = 0;
  for (;;) {
    let src = begin[rank - 1];
    for (let a = 0; a < rank - 1; a++) src += (begin[a] + idx[a]) * strides[a];
    ov.set(xv.subarray(src, src + inner), o);
    o += inner;
    let a = rank - 2;
    while (a >= 0) {
      idx[a]++;
      if (idx[a] < size[a]) break;
      idx[a] = 0;
      a--;
    }
    if (a < 0) break;
  }
  return out;
}

function registerReplacing(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, 'wasm') !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
}

/**
 * Register the fixes on the wasm backend. Idempotent. Kernels are registered by name for the 'wasm' backend
 * and take effect on the next kernel call; call before the first op runs on wasm.
 */
export function installWasmKernelFixes(): void {
  if (patched.has('wasm')) return;
  const stockSlice = tf.getKernel('Slice', 'wasm');
  const stockUnpack = tf.getKernel('Unpack', 'wasm');
  const stockSplitV = tf.getKernel('SplitV', 'wasm');
  const stockSum = tf.getKernel('Sum', 'wasm');
  const stockBmm = tf.getKernel('BatchMatMul', 'wasm');
  const stockGather = tf.getKernel('GatherV2', 'wasm');
  if (!stockSlice || !stockUnpack || !stockSplitV || !stockSum || !stockBmm || !stockGather) {
    throw new Error('wasm backend kernels are not registered: import @tensorflow/tfjs-backend-wasm first');
  }

  registerReplacing({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      const b = backend as unknown as WasmBackendLike;
      const n = tf.util.sizeFromShape(segmentIds.shape);
      const inner = n === 0 ? 0 : tf.util.sizeFromShape(x.shape) / n;
      const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      const out = b.makeOutput(outShape, x.dtype);
      const ov = b.typedArrayFromHeap(out);
      ov.fill(0);
      const xv = b.typedArrayFromHeap(x);
      const ids = b.typedArrayFromHeap(segmentIds);
      for (let i = 0; i < n; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue; // TF semantics: out-of-range ids are dropped
        const src = i * inner;
        const dst = s * inner;
        for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
      }
      return out;
    },
  });

  registerReplacing({
    kernelName: 'Slice',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = (args.inputs as { x: TensorInfo }).x;
      if (x.dtype === 'string') return stockSlice.kernelFunc(args);
      const { begin, size } = args.attrs as unknown as { begin: number[]; size: number[] };
      const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
      return sliceInto(args.backend as unknown as WasmBackendLike, x, b, s);
    },
  });

  registerReplacing({
    kernelName: 'Unpack',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const value = (args.inputs as { value: TensorInfo }).value;
      if (value.dtype === 'string') return stockUnpack.kernelFunc(args);
      let axis = (args.attrs as unknown as { axis: number }).axis;
      if (axis < 0) axis += value.shape.length;
      const outShape = value.shape.filter((_, i) => i !== axis);
      const begin = new Array<number>(value.shape.length).fill(0);
      const size = value.shape.slice();
      size[axis] = 1;
      const outs: TensorInfo[] = [];
      for (let i = 0; i < value.shape[axis]; i++) {
        begin[axis] = i;
        const o = sliceInto(args.backend as unknown as WasmBackendLike, value, begin, size);
        outs.push({ dataId: o.dataId, dtype: o.dtype, shape: outShape });
      }
      return outs;
    },
  });

  registerReplacing({
    kernelName: 'SplitV',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const x = (args.inputs as { x: TensorInfo }).x;
      if (x.dtype === 'string') return stockSplitV.kernelFunc(args);
      const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
      const ax = tf.util.parseAxisParam(axis, x.shape)[0];
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
      const begin = new Array<number>(x.shape.length).fill(0);
      return sizes.map((s) => {
        const size = x.shape.slice();
        size[ax] = s;
        const o = sliceInto(args.backend as unknown as WasmBackendLike, x, begin.slice(), size);
        begin[ax] += s;
        return o;
      });
    },
  });
  registerReplacing({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const x = (inputs as { x: TensorInfo }).x;
      (backend as unknown as WasmBackendLike).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });

  registerReplacing({
    kernelName: 'Sum',
    backendName: 'wasm',
    setupFunc: stockSum.setupFunc,
    kernelFunc: (args) => {
      const x = (args.inputs as { x: TensorInfo }).x;
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
      const rank = x.shape.length;
      const first = axes[0];
      const last = axes[axes.length - 1];
      // Leading axes of a large tensor ([N, C] → [C]): stock wasm transposes first, ~3x slower than adding rows.
      // (For small or middle-axis reductions the stock transpose + C++ sum wins: JS adds ~350 M floats/s.)
      const ok = axes.length > 0 && first === 0 && last < rank - 1 && axes.every((a, i) => a === first + i) && x.dtype === 'float32';
      if (!ok) return stockSum.kernelFunc(args);
      const b = args.backend as unknown as WasmBackendLike;
      const prod = (xs: number[]) => xs.reduce((p, c) => p * c, 1);
      const outer = prod(x.shape.slice(0, first));
      const R = prod(x.shape.slice(first, last + 1));
      const inner = prod(x.shape.slice(last + 1));
      const outShape = keepDims ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : x.shape.filter((_, i) => i < first || i > last);
      const out = b.makeOutput(outShape, 'float32');
      const ov = b.typedArrayFromHeap(out) as Float32Array;
      const xv = b.typedArrayFromHeap(x) as Float32Array;
      const acc = new Float64Array(inner);
      for (let o = 0; o < outer; o++) {
        acc.fill(0);
        const base = o * R * inner;
        for (let r = 0; r < R; r++) {
          const off = base + r * inner;
          for (let i = 0; i < inner; i++) acc[i] += xv[off + i];
        }
        ov.set(acc, o * inner);
      }
      return out;
    },
  });
  registerReplacing({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    setupFunc: (backend) => {
      stockBmm.setupFunc?.(backend);
      wasmBatchMatMul = (backend as unknown as WasmBackendLike).wasm.cwrap('BatchMatMul', null, [
        'number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number',
      ]);
    },
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const sliceable =
        !transposeA && !transposeB && a.dtype === 'float32' && b.dtype === 'float32' && a.shape.length === 3 && b.shape.length === 3 &&
        a.shape[0] === b.shape[0] && a.shape[0] > 1 && a.shape[1] >= MIN_SLICE_ROWS && a.shape[2] === b.shape[1];
      if (!sliceable || !wasmBatchMatMul) return stockBmm.kernelFunc(args);
      return sliceBatchMatMul(args.backend as unknown as WasmBackendLike, a, b);
    },
  });
  registerReplacing({
    kernelName: 'GatherV2',
    backendName: 'wasm',
    setupFunc: stockGather.setupFunc,
    kernelFunc: (args) => {
      const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
      const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
      const ax = tf.util.parseAxisParam(axis, x.shape)[0];
      if (ax !== 0 || (batchDims ?? 0) !== 0 || x.dtype === 'string' || x.dtype === 'complex64') return stockGather.kernelFunc(args);
      const b = args.backend as unknown as WasmBackendLike;
      const n = tf.util.sizeFromShape(indices.shape);
      const inner = tf.util.sizeFromShape(x.shape.slice(1));
      const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
      const xv = b.typedArrayFromHeap(x);
      const ov = b.typedArrayFromHeap(out);
      const iv = b.typedArrayFromHeap(indices);
      const rows = x.shape[0];
      for (let i = 0; i < n; i++) {
        const r = iv[i];
        if (r < 0 || r >= rows) throw new Error(`GatherV2: index ${r} is not in [0, ${rows - 1}]`);
        ov.set(xv.subarray(r * inner, (r + 1) * inner), i * inner);
      }
      return out;
    },
  });
  patched.add('wasm');
}

/** The wasm heap's size in bytes (0 when the active backend is not wasm). */
export function wasmHeapBytes(): number {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8?.length ?? 0;
}

/** What to do when the learner's batches do not fit the wasm heap. */
const OOM_HINT = 'Use smaller batches: for GRPO set grpo.microbatchRows (e.g. 32) to run the learner in smaller passes, or fewer prompts or trees per step';

/**
 * `malloc` that throws instead of returning 0 (fix 7), and refuses sizes of 4 GiB or more, which the wasm32
 * size_t would wrap around to a small allocation.
 */
export function checkedMalloc(malloc: (n: number) => number, heapBytes: () => number): (n: number) => number {
  return (n: number) => {
    const p = n < 2 ** 32 ? malloc(n) : 0;
    if (p === 0 && n > 0) {
      const mb = (x: number) => (x / 2 ** 20).toFixed(0);
      throw new SelfcestError(
        `wasm heap out of memory: cannot allocate ${mb(n)} MiB more (heap ${mb(heapBytes())} MiB, 4096 MiB at most). ${OOM_HINT}`,
      );
    }
    return p;
  };
}

/** Guard the active wasm backend's heap allocations with checkedMalloc. Call once wasm is active; idempotent. */
export function guardWasmMalloc(): void {
  const b = tf.backend() as unknown as { wasm?: { _malloc: (n: number) => number; selfcestGuard?: true } };
  const wasm = b.wasm;
  if (!wasm || wasm.selfcestGuard) return;
  wasm._malloc = checkedMalloc(wasm._malloc.bind(wasm), wasmHeapBytes);
  wasm.selfcestGuard = true;
}

/**
 * A note for a crash inside the wasm runtime (a WebAssembly RuntimeError: "Aborted()", "memory access out of
 * bounds"), or null for other errors. C++ allocations that fail abort the runtime without saying why; the heap
 * size tells whether it ran out (4 GiB at most).
 */
export function wasmCrashNote(e: unknown, heapBytes: number): string | null {
  if (!(e instanceof Error) || e.name !== 'RuntimeError' || heapBytes === 0) return null;
  const mib = Math.round(heapBytes / 2 ** 20);
  const full = heapBytes >= 0.9 * 2 ** 32;
  return (
    `note: the wasm runtime crashed with its heap at ${mib} MiB of 4096 MiB` +
    (full
      ? `: most likely an allocation inside it failed (out of memory). ${OOM_HINT}`
      : '')
  );
}
