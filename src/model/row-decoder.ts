/**
 * Decoders that keep many independent rows in flight (continuous batching), behind one async interface:
 * `LocalDecoder` runs one DecodeBatch on this thread; `ShardedDecoder` (sharded-decoder.ts) spreads rows over
 * this thread and worker threads. Logits come back on the host ([rows, V] row-major) because sampling runs
 * there anyway.
 */
import * as tf from '@tensorflow/tfjs';
import { SelfcestError } from '../util/errors.ts';
import { DecodeBatch } from './decode.ts';
import type { GPT } from './decoder.ts';
import { HostDecodeBatch } from './host-decode.ts';

export type KvCacheKind = 'host' | 'tensor';

/**
 * Where a decoder keeps its KV cache: `host` (host-decode.ts: WebAssembly memory and a SIMD attention kernel)
 * on the CPU backends (wasm, cpu), `tensor` (decode.ts: tensors on the backend) elsewhere (GPU backends).
 * SELFCEST_KV_CACHE=host|tensor overrides.
 */
export function kvCacheKind(backend = tf.getBackend()): KvCacheKind {
  const env = process.env.SELFCEST_KV_CACHE;
  if (env !== undefined && env !== '') {
    if (env !== 'host' && env !== 'tensor') throw new SelfcestError(`SELFCEST_KV_CACHE=${env}: expected host or tensor`);
    return env;
  }
  return backend === 'wasm' || backend === 'cpu' ? 'host' : 'tensor';
}

/** The batch-decoding contract both caches implement. */
export type BatchDecode = Pick<DecodeBatch, 'size' | 'handles' | 'position' | 'join' | 'step' | 'leave' | 'clear' | 'dispose'>;

export function createDecodeBatch(model: GPT, kind: KvCacheKind = kvCacheKind()): BatchDecode {
  return kind === 'host' ? new HostDecodeBatch(model) : new DecodeBatch(model);
}

export interface RowDecoder {
  /** Row handles in the order of step()'s tokens and of the logits rows. */
  readonly handles: number[];
  /** Next position of a row (= tokens it holds). */
  position(handle: number): number;
  /** Prefill prompts as new rows; logits after each prompt's last token, [n, V]. */
  join(prompts: number[][]): Promise<{ handles: number[]; logits: Float32Array }>;
  /** One token per row (handles order) → next-token logits [B, V]. */
  step(tokens: readonly number[]): Promise<Float32Array>;
  leave(handles: readonly number[]): Promise<void>;
  /** Free every row (the decoder stays usable). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

export class LocalDecoder implements RowDecoder {
  private readonly db: BatchDecode;

  constructor(model: GPT, kind?: KvCacheKind) {
    this.db = createDecodeBatch(model, kind);
  }

  get handles(): number[] {
    return this.db.handles;
  }

  position(handle: number): number {
    return this.db.position(handle);
  }

  async join(prompts: number[][]): Promise<{ handles: number[]; logits: Float32Array }> {
    const { handles, logits } = this.db.join(prompts);
    const data = (await logits.data()) as Float32Array;
    logits.dispose();
    return { handles, logits: data };
  }

  async step(tokens: readonly number[]): Promise<Float32Array> {
    const logits = this.db.step(tokens);
    const data = (await logits.data()) as Float32Array;
    logits.dispose();
    return data;
  }

  async leave(handles: readonly number[]): Promise<void> {
    this.db.leave(handles);
  }

  async clear(): Promise<void> {
    this.db.clear();
  }

  async close(): Promise<void> {
    this.db.dispose();
  }
}
