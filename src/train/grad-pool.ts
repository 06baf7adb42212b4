/**
 * A pool of worker_threads that compute gradients of batch shards (data parallelism across cores).
 * Each worker holds its own backend instance (wasm: one single-threaded instance per core) and its own copy
 * of the model; before every shard it receives the current weights, so it never drifts from the trainer.
 */
import { Worker } from 'node:worker_threads';
import type { ModelConfig } from '../model/config.ts';
import type { GPT } from '../model/decoder.ts';
import type { BackendChoice } from '../backend/select.ts';
import { SelfcestError } from '../util/errors.ts';
import type { TokenBatch } from './step.ts';

export interface ShardResult {
  loss: number;
  grads: Map<string, Float32Array>;
}

type Reply = { ok: true; loss: number; names: string[]; grads: Float32Array[] } | { ok: false; error: string };

const BOOT = new URL('../util/ts-worker.mjs', import.meta.url);
const ENTRY = new URL('./grad-worker.ts', import.meta.url).href;

export class GradPool {
  private readonly workers: Worker[];

  private constructor(workers: Worker[]) {
    this.workers = workers;
  }

  /** Number of worker threads (the calling thread computes one more shard itself). */
  get size(): number {
    return this.workers.length;
  }

  static async start(n: number, config: ModelConfig, backend: BackendChoice): Promise<GradPool> {
    const workers = Array.from({ length: n }, () => new Worker(BOOT, { workerData: { entry: ENTRY, config, backend } }));
    await Promise.all(workers.map((w) => call(w, { kind: 'ready' })));
    return new GradPool(workers);
  }

  /**
   * Gradients of each shard (one per worker, in order) at the model's current weights. The shards are posted
   * synchronously, before this returns, so the workers run while the caller computes its own shard.
   */
  grads(model: GPT, shards: TokenBatch[], denom: number): Promise<ShardResult[]> {
    if (shards.length > this.workers.length) throw new Error(`${shards.length} shards for ${this.workers.length} workers`);
    const names = [...model.params.keys()];
    const weights = names.map((n) => model.p(n).dataSync() as Float32Array);
    return Promise.all(
      shards.map(async (shard, k) => {
        // the last shard may take the buffers themselves
        const w = names.map((name, i) => ({ name, data: k === shards.length - 1 ? weights[i] : weights[i].slice() }));
        const r = await call(this.workers[k], { kind: 'grads', weights: w, shard, denom }, w.map((a) => a.data.buffer as ArrayBuffer));
        if (!r.ok) throw new SelfcestError(`gradient worker ${k + 1}: ${r.error}`);
        return { loss: r.loss, grads: new Map(r.names.map((n, i) => [n, r.grads[i]])) };
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function call(w: Worker, msg: unknown, transfer: ArrayBuffer[] = []): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onMessage = (r: Reply) => {
      w.off('error', onError);
      resolve(r);
    };
    const onError = (e: Error) => {
      w.off('message', onMessage);
      reject(new SelfcestError(`gradient worker failed: ${e.message}`));
    };
    w.once('message', onMessage);
    w.once('error', onError);
    w.postMessage(msg, transfer);
  });
}
