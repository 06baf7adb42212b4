/**
 * The policy: a decoder-only transformer (GPT-2 style), readable in one sitting.
 *
 *   x = wte[ids] (+ wpe[pos])                              [N, d]     N = B·T rows, d = dModel
 *   per block:  x += proj(attn(ln1(x)))                    causal, H heads of size hd = d/H
 *               x += mlp.proj(gelu(mlp.fc(ln2(x))))         hidden f = mlpRatio·d
 *               (mlp 'swiglu': mlp.proj(silu(mlp.gate(h)) · mlp.fc(h)); norm 'rms': RMSNorm; bias false: no biases)
 *   logits = ln_f(x) · lm_head   (or · wteᵀ when tied)     [N, V]
 *
 * Pre-LayerNorm (or RMSNorm), tanh-GELU (or SwiGLU), learned positions or RoPE, tied or untied embeddings (see config.ts).
 * Linear weights are stored [in, out]. Every matmul goes through ops.ts (flag-free rank-2 on wasm).
 * Incremental decoding with a per-row KV cache lives in decode.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng.ts';
import { SelfcestError } from '../util/errors.ts';
import { type ModelConfig, parameterShapes, parameterCount } from './config.ts';
import { bmm, gelu, layerNorm, linear, rmsNorm, silu } from './ops.ts';

export type Params = Map<string, tf.Variable>;

/** Per-layer keys and values of a prefix, in the cache layout [B, T, d] (k after RoPE). */
export type LayerKV = {
  k: tf.Tensor3D;
  v: tf.Tensor3D;
};

export class GPT {
  readonly config: ModelConfig;
  readonly params: Params;
  private ropeCache: { cos: tf.Tensor2D; sin: tf.Tensor2D } | null = null;

  constructor(config: ModelConfig, params: Params) {
    this.config = config;
    this.params = params;
  }

  /** A freshly initialised model: N(0, initStd) weights, residual projections scaled by 1/√(2L), zero biases, unit LN gains. */
  static init(config: ModelConfig, rng: Rng): GPT {
    const params: Params = new Map();
    const residStd = config.initStd / Math.sqrt(2 * config.nLayers);
    for (const { name, shape } of parameterShapes(config)) {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      if (/(^|\.)ln(\d|_f)\.weight$/.test(name)) data.fill(1);
      else if (!name.endsWith('.bias')) {
        const std = /attn\.proj\.weight$|mlp\.proj\.weight$/.test(name) ? residStd : config.initStd;
        for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
      }
      params.set(name, toVariable(data, shape));
    }
    return new GPT(config, params);
  }

  /** A model from named arrays (e.g. a checkpoint). Shapes must match the config exactly. */
  static fromArrays(config: ModelConfig, arrays: Map<string, { shape: number[]; data: Float32Array }>, source = 'weights'): GPT {
    const params: Params = new Map();
    for (const { name, shape } of parameterShapes(config)) {
      const a = arrays.get(name);
      if (!a) throw new SelfcestError(`${source}: missing tensor "${name}" (expected shape [${shape}])`);
      if (a.shape.join(',') !== shape.join(',')) {
        throw new SelfcestError(`${source}: tensor "${name}" has shape [${a.shape}], expected [${shape}]`);
      }
      params.set(name, toVariable(a.data, shape));
    }
    return new GPT(config, params);
  }

  /** Replace every weight with named arrays (shapes must match). */
  load(arrays: Map<string, { shape: number[]; data: Float32Array }>, source = 'weights'): void {
    for (const { name, shape } of parameterShapes(this.config)) {
      const a = arrays.get(name);
      if (!a || a.shape.join(',') !== shape.join(',')) {
        throw new SelfcestError(`${source}: tensor "${name}" missing or not of shape [${shape}]`);
      }
      tf.tidy(() => this.p(name).assign(tf.tensor(a.data, shape, 'float32')));
    }
  }

  get numParams(): number {
    return parameterCount(this.config);
  }

  p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  }

  /** Copy all weights out as named Float32Arrays (for checkpoints). */
  async toArrays(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
    const out = [];
    for (const { name, shape } of parameterShapes(this.config)) {
      out.push({ name, shape, data: (await this.p(name).data()) as Float32Array });
    }
    return out;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.ropeCache?.cos.dispose();
    this.ropeCache?.sin.dispose();
    this.ropeCache = null;
  }

  /** Token (+ learned position) embeddings: ids, pos int32 [N] → [N, d]. */
  embed(ids: tf.Tensor1D, pos: tf.Tensor1D): tf.Tensor2D {
    const x = tf.gather(this.p('wte.weight'), ids) as tf.Tensor2D;
    if (this.config.positions !== 'learned') return x;
    return tf.add(x, tf.gather(this.p('wpe.weight'), pos)) as tf.Tensor2D;
  }

  /** RoPE tables [maxPos, hd] (halves duplicated), built once, kept outside any tidy. */
  private rope(): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    if (!this.ropeCache) {
      const hd = this.config.dModel / this.config.nHeads;
      const n = this.config.ctx;
      const cos = new Float32Array(n * hd);
      const sin = new Float32Array(n * hd);
      for (let t = 0; t < n; t++) {
        for (let i = 0; i < hd / 2; i++) {
          const a = t / Math.pow(this.config.ropeBase, (2 * i) / hd);
          cos[t * hd + i] = cos[t * hd + i + hd / 2] = Math.cos(a);
          sin[t * hd + i] = sin[t * hd + i + hd / 2] = Math.sin(a);
        }
      }
      this.ropeCache = tf.tidy(() => ({
        cos: tf.keep(tf.tensor2d(cos, [n, hd])),
        sin: tf.keep(tf.tensor2d(sin, [n, hd])),
      }));
    }
    return this.ropeCache;
  }

  /** Rotate q or k [N, d] whose rows sit at positions pos [N]; identity for learned positions. */
  applyRope(x: tf.Tensor2D, pos: tf.Tensor1D): tf.Tensor2D {
    if (this.config.positions !== 'rope') return x;
    const { nHeads: H, dModel: d } = this.config;
    const hd = d / H;
    const { cos, sin } = this.rope();
    const n = x.shape[0];
    const c = tf.reshape(tf.gather(cos, pos), [n, 1, hd]);
    const s = tf.reshape(tf.gather(sin, pos), [n, 1, hd]);
    const xh = tf.reshape(x, [n, H, hd]);
    const [x1, x2] = tf.split(xh, 2, 2);
    const rotated = tf.concat([tf.neg(x2), x1], 2);
    return tf.reshape(tf.add(tf.mul(xh, c), tf.mul(rotated, s)), [n, d]) as tf.Tensor2D;
  }

  /** q, k, v projections of block i for normalised rows h [N, d]; k and q rotated by RoPE. */
  qkv(i: number, h: tf.Tensor2D, pos: tf.Tensor1D): [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] {
    const qkv = this.dense(`blocks.${i}.attn.qkv`, h);
    const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor2D[];
    return [this.applyRope(q, pos), this.applyRope(k, pos), v];
  }

  /** The linear layer `name` (its bias when the config has biases): [N, in] → [N, out]. */
  private dense(name: string, x: tf.Tensor2D): tf.Tensor2D {
    return linear(x, this.p(`${name}.weight`) as tf.Tensor2D, this.params.get(`${name}.bias`) as tf.Tensor1D | undefined);
  }

  /** The norm `name` (ln1, ln2, ln_f): LayerNorm, or RMSNorm with config.norm 'rms'. */
  private norm(name: string, x: tf.Tensor2D): tf.Tensor2D {
    const g = this.p(`${name}.weight`) as tf.Tensor1D;
    return this.config.norm === 'rms' ? rmsNorm(x, g, this.config.lnEps) : layerNorm(x, g, this.p(`${name}.bias`) as tf.Tensor1D, this.config.lnEps);
  }

  /** Everything after attention in block i: x + proj(y), then the MLP residual (GELU, or gated SiLU with config.mlp 'swiglu'). x, y [N, d]. */
  blockTail(i: number, x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor2D {
    const b = `blocks.${i}.`;
    const x1: tf.Tensor2D = tf.add(x, this.dense(`${b}attn.proj`, y));
    const h2 = this.norm(`${b}ln2`, x1);
    const f = this.config.mlp === 'swiglu' ? tf.mul(silu(this.dense(`${b}mlp.gate`, h2)), this.dense(`${b}mlp.fc`, h2)) : gelu(this.dense(`${b}mlp.fc`, h2));
    return tf.add(x1, this.dense(`${b}mlp.proj`, f as tf.Tensor2D));
  }

  ln1(i: number, x: tf.Tensor2D): tf.Tensor2D {
    return this.norm(`blocks.${i}.ln1`, x);
  }

  /** Final norm and LM head: [N, d] → logits [N, V]. */
  head(x: tf.Tensor2D): tf.Tensor2D {
    const h = this.norm('ln_f', x);
    const w = this.config.tieEmbeddings ? tf.transpose(this.p('wte.weight')) : this.p('lm_head.weight');
    return linear(h, w as tf.Tensor2D);
  }

  /**
   * Training forward over a right-padded batch ids [B, T] (int32) → logits [B, T, V].
   * Right padding needs no attention mask beyond the causal one: a real token never sees a later pad.
   * With `kv`, the per-layer keys/values [B, T, d] are pushed into it (prefill for decode.ts).
   */
  forward(ids: tf.Tensor2D, kv?: LayerKV[]): tf.Tensor3D {
    const [B, T] = ids.shape;
    const { nHeads: H, dModel: d, vocabSize: V } = this.config;
    if (T > this.config.ctx) throw new SelfcestError(`sequence of ${T} tokens exceeds the context window ${this.config.ctx}`);
    const hd = d / H;
    const pos = tf.tile(tf.range(0, T, 1, 'int32'), [B]) as tf.Tensor1D;
    let x = tf.gather(this.p('wte.weight'), tf.reshape(ids, [B * T])) as tf.Tensor2D;
    // every row holds positions 0..T-1: a slice + tile of the table (its gradient is a reshape + sum, where
    // a gather's is the slower scatter-add)
    if (this.config.positions === 'learned') x = tf.add(x, tf.tile(tf.slice(this.p('wpe.weight'), [0, 0], [T, d]), [B, 1]));
    // additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above
    const causal = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9);
    const heads = (t: tf.Tensor2D) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]), [B * H, T, hd]) as tf.Tensor3D;
    for (let i = 0; i < this.config.nLayers; i++) {
      const [q, k, v] = this.qkv(i, this.ln1(i, x), pos);
      if (kv) kv.push({ k: tf.reshape(k, [B, T, d]), v: tf.reshape(v, [B, T, d]) });
      const kT = tf.transpose(heads(k), [0, 2, 1]) as tf.Tensor3D; //       [BH, hd, T]
      const att = tf.add(tf.mul(bmm(heads(q), kT), 1 / Math.sqrt(hd)), causal); // [BH, T, T]
      const y = bmm(tf.softmax(att) as tf.Tensor3D, heads(v)); //            [BH, T, hd]
      const merged = tf.reshape(tf.transpose(tf.reshape(y, [B, H, T, hd]), [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
      x = this.blockTail(i, x, merged);
    }
    return tf.reshape(this.head(x), [B, T, V]);
  }

  /**
   * Per-token log-probs of targets [B, T] under logits/temperature, zeroed where mask [B, T] is 0.
   * Returns [B, T].
   */
  tokenLogprobs(ids: tf.Tensor2D, targets: tf.Tensor2D, mask?: tf.Tensor2D, temperature = 1): tf.Tensor2D {
    const logits = this.forward(ids);
    return logprobsOf(logits, targets, mask, temperature);
  }

  /**
   * Mean next-token NLL over mask [B, T] (1 = count this target). `denom` replaces the mask's own count: a
   * shard of a batch divides by the whole batch's count, so the shards' gradients add up to the batch's.
   */
  loss(ids: tf.Tensor2D, targets: tf.Tensor2D, mask: tf.Tensor2D, denom?: number): tf.Scalar {
    const lp = this.tokenLogprobs(ids, targets, mask);
    const d = denom ?? tf.maximum(tf.sum(mask), 1);
    return tf.div(tf.neg(tf.sum(lp)), d) as tf.Scalar;
  }
}

function toVariable(data: Float32Array, shape: number[]): tf.Variable {
  const t = tf.tensor(data, shape, 'float32');
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

/**
 * Per-position log-prob of the targets and entropy of softmax(logits / temperature). logits [B,T,V] → two [B,T].
 */
export function tokenStats(logits: tf.Tensor3D, targets: tf.Tensor2D, temperature = 1): { logprobs: tf.Tensor2D; entropy: tf.Tensor2D } {
  const [B, T, V] = logits.shape;
  const scaled = temperature === 1 ? logits : tf.div(logits, temperature);
  const logp = tf.logSoftmax(tf.reshape(scaled, [B * T, V]));
  const onehot = tf.oneHot(tf.reshape(tf.cast(targets, 'int32'), [B * T]) as tf.Tensor1D, V);
  const logprobs = tf.reshape(tf.sum(tf.mul(logp, onehot), -1), [B, T]) as tf.Tensor2D;
  const entropy = tf.reshape(tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1)), [B, T]) as tf.Tensor2D;
  return { logprobs, entropy };
}

/** log softmax(logits / temperature)[target] per position, times mask. logits [B,T,V] → [B,T]. */
export function logprobsOf(logits: tf.Tensor3D, targets: tf.Tensor2D, mask?: tf.Tensor2D, temperature = 1): tf.Tensor2D {
  const [B, T, V] = logits.shape;
  const scaled = temperature === 1 ? logits : tf.div(logits, temperature);
  const logp = tf.logSoftmax(tf.reshape(scaled, [B * T, V]));
  const onehot = tf.oneHot(tf.reshape(tf.cast(targets, 'int32'), [B * T]) as tf.Tensor1D, V);
  const lp = tf.reshape(tf.sum(tf.mul(logp, onehot), -1), [B, T]) as tf.Tensor2D;
  return mask ? tf.mul(lp, mask) : lp;
}
