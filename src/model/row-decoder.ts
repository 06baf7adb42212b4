/**
 * Decoders that keep many independent rows in flight (continuous batching), behind one async interface:
 * `LocalDecoder` runs one DecodeBatch on this thread; `ShardedDecoder` (sharded-decoder.ts) spreads rows over
 * this thread and worker threads. Logits come back on the host ([rows, V] row-major) because sampling runs
 * there anyway.
 */
import { DecodeBatch } from './decode.ts';
import type { GPT } from './decoder.ts';

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
  private readonly db: DecodeBatch;

  constructor(model: GPT) {
    this.db = new DecodeBatch(model);
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
