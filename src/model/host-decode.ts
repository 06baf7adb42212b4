/**
 * Continuous-batching decode with the KV cache on the host (CPU backends): the same contract as DecodeBatch
 * (decode.ts), but keys and values live in one WebAssembly memory, one fixed page per row, and attention is one
 * SIMD kernel call per layer (attn.wat) instead of tensor ops. What this removes on wasm: appending a slot no
 * longer copies the whole cache (Concat), a leaving row is a freed page instead of a gather, and the B·H
 * one-query attention products become one pass over each row's own slots (no mask, no holes).
 *
 * Steps and prompt prefills are one code path (feed): every new token is a query row of the kernel. Per layer,
 * q, k, v [N, d] come from the model's tensors (one host read each); k and v go to slot `pos` of their row's
 * page; the kernel returns y [N, d] for blockTail. Memory, in f32 units, for P pages and Q query rows: per
 * layer K and V [P, H, ctx, hd], then q and out [Q, H, hd], pages and lens (i32 [Q]), scratch [ctx]. P doubles
 * when rows outnumber pages (the layer regions move up in reverse order, so nothing is overwritten); Q grows
 * with the largest prefill.
 *
 * Every tensor op stays on the model's backend, so results match DecodeBatch within float rounding (tested).
 * Use it where tensors live in host memory (wasm, cpu); on a GPU the per-layer reads would cost more than they
 * save (kvCacheKind in row-decoder.ts picks).
 */
import * as tf from '@tensorflow/tfjs';
import { SelfcestError } from '../util/errors.ts';
import { ATTN_WASM_BASE64 } from './attn-wasm.ts';
import { RowBook } from './decode.ts';
import type { GPT } from './decoder.ts';

// the WebAssembly API as far as we use it (this project's TS libs do not declare it)
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The attention kernel: `attend` of attn.wat on its own memory. */
export interface AttnKernel {
  memory: WasmMemory;
  attend(B: number, H: number, hd: number, C: number, q: number, K: number, V: number, pages: number, lens: number, out: number, scr: number, scale: number): void;
  /** the same for head size 32, unrolled */
  attend32(B: number, H: number, C: number, q: number, K: number, V: number, pages: number, lens: number, out: number, scr: number, scale: number): void;
}

let kernelModule: object | null = null;

/** A fresh instance of the compiled kernel (each decode batch owns its memory). */
export function attnKernel(): AttnKernel {
  if (!kernelModule) {
    const bytes = Buffer.from(ATTN_WASM_BASE64, 'base64');
    if (!WebAssembly.validate(bytes)) throw new SelfcestError('this runtime cannot run the WebAssembly SIMD attention kernel (src/model/attn.wat); set SELFCEST_KV_CACHE=tensor');
    kernelModule = new WebAssembly.Module(bytes);
  }
  const inst = new WebAssembly.Instance(kernelModule, {});
  const ex = inst.exports as unknown as AttnKernel;
  return { memory: ex.memory, attend: ex.attend, attend32: ex.attend32 };
}

/** The same computation in plain JS over the kernel's memory layout (the tests' reference). */
export function attendJs(mem: Float32Array, memI: Int32Array, B: number, H: number, hd: number, C: number, q: number, K: number, V: number, pages: number, lens: number, out: number, scale: number): void {
  for (let b = 0; b < B; b++) {
    const len = memI[lens + b];
    const page = memI[pages + b];
    for (let h = 0; h < H; h++) {
      const head = (page * H + h) * C * hd;
      const qo = q + (b * H + h) * hd;
      const oo = out + (b * H + h) * hd;
      const s = new Float64Array(len);
      let max = -Infinity;
      for (let t = 0; t < len; t++) {
        let acc = 0;
        for (let j = 0; j < hd; j++) acc += mem[qo + j] * mem[K + head + t * hd + j];
        s[t] = acc * scale;
        max = Math.max(max, s[t]);
      }
      let sum = 0;
      for (let t = 0; t < len; t++) sum += s[t] = Math.exp(s[t] - max);
      for (let j = 0; j < hd; j++) {
        let acc = 0;
        for (let t = 0; t < len; t++) acc += (s[t] / sum) * mem[V + head + t * hd + j];
        mem[oo + j] = acc;
      }
    }
  }
}

interface Row {
  handle: number;
  /** position of the next token = slots it holds */
  pos: number;
  page: number;
}

export class HostDecodeBatch extends RowBook<Row> {
  private readonly model: GPT;
  private readonly kernel: AttnKernel;
  private readonly H: number;
  private readonly hd: number;
  private readonly C: number;
  private free: number[] = [];
  private pages = 0;
  private queries = 0;

  constructor(model: GPT, initialPages = 16) {
    super();
    this.model = model;
    const { nHeads: H, dModel: d, ctx } = model.config;
    [this.H, this.hd, this.C] = [H, d / H, ctx];
    if (this.hd % 4 !== 0) throw new SelfcestError(`host KV cache: head size ${this.hd} (dModel/nHeads) must be a multiple of 4 for the SIMD kernel; set SELFCEST_KV_CACHE=tensor`);
    this.kernel = attnKernel();
    this.grow(initialPages, initialPages);
  }

  /** Pages allocated (rows the cache holds without growing). */
  get capacity(): number {
    return this.pages;
  }

  // ---- memory layout (f32 offsets): per layer K and V for `pages` pages, then the query scratch for `queries`
  private layerFloats(P: number): number {
    return P * this.H * this.C * this.hd;
  }
  private kOff(layer: number, P = this.pages): number {
    return 2 * layer * this.layerFloats(P);
  }
  private vOff(layer: number, P = this.pages): number {
    return this.kOff(layer, P) + this.layerFloats(P);
  }
  private get qOff(): number {
    return 2 * this.model.config.nLayers * this.layerFloats(this.pages);
  }
  private get outOff(): number {
    return this.qOff + this.queries * this.H * this.hd;
  }
  private get pagesOff(): number {
    return this.outOff + this.queries * this.H * this.hd;
  }
  private get lensOff(): number {
    return this.pagesOff + this.queries;
  }
  private get scrOff(): number {
    return this.lensOff + this.queries;
  }

  private f32(): Float32Array {
    return new Float32Array(this.kernel.memory.buffer);
  }

  /** Room for at least P pages and Q query rows; pages keep their contents (the query scratch does not). */
  private grow(P: number, Q = this.queries): void {
    P = Math.max(P, this.pages);
    Q = Math.max(Q, this.queries);
    if (P === this.pages && Q === this.queries) return;
    const old = this.pages;
    const L = this.model.config.nLayers;
    const need = (2 * L * this.layerFloats(P) + 2 * Q * this.H * this.hd + 2 * Q + this.C) * 4;
    const have = this.kernel.memory.buffer.byteLength;
    if (need > have) this.kernel.memory.grow(Math.ceil((need - have) / 65536));
    if (old > 0 && P > old) {
      // move layer regions up, last first: each destination is at or above its source
      const m = this.f32();
      for (let l = L - 1; l >= 0; l--) {
        m.copyWithin(this.vOff(l, P), this.vOff(l, old), this.vOff(l, old) + this.layerFloats(old));
        m.copyWithin(this.kOff(l, P), this.kOff(l, old), this.kOff(l, old) + this.layerFloats(old));
      }
    }
    for (let p = P - 1; p >= old; p--) this.free.push(p);
    this.pages = P;
    this.queries = Q;
  }

  private takePage(): number {
    if (this.free.length === 0) this.grow(this.pages * 2);
    return this.free.pop()!;
  }

  /**
   * Feed tokens to rows: `toks[i]` (≥ 1 token) continues `rows[i]` from its position. Every token is one query
   * row of the kernel (its row's page, attending to the slots up to its own), so a prompt prefills in one pass
   * per layer, causal by construction, with no padding. Returns the logits after each row's last token [n, V].
   */
  private feed(rows: readonly Row[], toks: readonly (readonly number[])[]): tf.Tensor2D {
    const { nLayers: L, dModel: d } = this.model.config;
    const { H, hd, C } = this;
    const N = toks.reduce((n, t) => n + t.length, 0);
    if (N > this.queries) this.grow(this.pages, Math.max(N, 2 * this.queries));
    const ids = new Int32Array(N);
    const pos = new Int32Array(N);
    const page = new Int32Array(N);
    const last: number[] = [];
    let n = 0;
    rows.forEach((r, i) => {
      for (const [j, t] of toks[i].entries()) [ids[n], pos[n], page[n++]] = [t, r.pos + j, r.page];
      last.push(n - 1);
    });
    const mi = new Int32Array(this.kernel.memory.buffer);
    mi.set(page, this.pagesOff);
    for (let i = 0; i < N; i++) mi[this.lensOff + i] = pos[i] + 1;
    const posT = tf.tensor1d(pos, 'int32');
    let x = tf.tidy(() => this.model.embed(tf.tensor1d(ids, 'int32'), posT)); // [N, d]
    for (let l = 0; l < L; l++) {
      const [q, k, v] = tf.tidy(() => this.model.qkv(l, this.model.ln1(l, x), posT)); // [N, d] each
      const m = this.f32();
      const [kd, vd] = [k.dataSync() as Float32Array, v.dataSync() as Float32Array];
      const [K, V] = [this.kOff(l), this.vOff(l)];
      for (let i = 0; i < N; i++) {
        for (let h = 0; h < H; h++) {
          const dst = ((page[i] * H + h) * C + pos[i]) * hd;
          m.set(kd.subarray(i * d + h * hd, i * d + (h + 1) * hd), K + dst);
          m.set(vd.subarray(i * d + h * hd, i * d + (h + 1) * hd), V + dst);
        }
      }
      m.set(q.dataSync() as Float32Array, this.qOff);
      tf.dispose([q, k, v]);
      const [qb, kb, vb, pb, lb, ob, sb] = [this.qOff, K, V, this.pagesOff, this.lensOff, this.outOff, this.scrOff].map((o) => o * 4);
      if (hd === 32) this.kernel.attend32(N, H, C, qb, kb, vb, pb, lb, ob, sb, 1 / Math.sqrt(hd));
      else this.kernel.attend(N, H, hd, C, qb, kb, vb, pb, lb, ob, sb, 1 / Math.sqrt(hd));
      const y = m.slice(this.outOff, this.outOff + N * d);
      const prev = x;
      x = tf.tidy(() => this.model.blockTail(l, prev, tf.tensor2d(y, [N, d])));
      prev.dispose();
    }
    posT.dispose();
    const logits = tf.tidy(() => this.model.head(N === rows.length ? x : tf.gather(x, tf.tensor1d(last, 'int32'))));
    x.dispose();
    rows.forEach((r, i) => (r.pos += toks[i].length));
    return logits;
  }

  join(prompts: number[][]): { handles: number[]; logits: tf.Tensor2D } {
    this.checkPrompts(prompts, this.C);
    const rows = prompts.map(() => ({ handle: this.nextHandle++, pos: 0, page: this.takePage() }));
    let logits: tf.Tensor2D;
    try {
      logits = this.feed(rows, prompts);
    } catch (e) {
      for (const r of rows) this.free.push(r.page);
      throw e;
    }
    this.rows.push(...rows);
    return { handles: rows.map((r) => r.handle), logits };
  }

  step(tokens: readonly number[]): tf.Tensor2D {
    this.checkStep(tokens, this.C);
    return this.feed(this.rows, tokens.map((t) => [t]));
  }

  leave(handles: readonly number[]): void {
    const gone = new Set(handles);
    for (const h of gone) this.row(h);
    for (const r of this.rows) if (gone.has(r.handle)) this.free.push(r.page);
    this.rows = this.rows.filter((r) => !gone.has(r.handle));
  }

  clear(): void {
    this.leave(this.handles);
  }

  dispose(): void {
    this.rows = [];
    this.free = [];
  }
}
