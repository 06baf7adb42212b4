/**
 * A pool of worker_threads that compute gradients of batch shards (data parallelism across cores).
 * Each worker holds its own backend instance (wasm: one single-threaded instance per core) and its own copy
 * of the model; before every shard it receives the current weights, so it never drifts from the trainer.
 */
import type { Worker } from 'node:worker_threads';
import type { ModelConfig } from '../model/config.ts';
import type { GPT } from '../model/decoder.ts';
import type { BackendChoice } from '../backend/select.ts';
import { SelfcestError } from '../util/errors.ts';
import { startTsWorker } from '../util/workers.ts';
import type { TokenBatch } from './step.ts';

export interface ShardResult {
  loss: number;
  grads: Map<string, Float32Array>;
}

type Reply = { ok: true; loss: number; names: string[]; grads: Float32Array[] } | { ok: false; error: string };

const ENTRY = new URL('./grad-worker.ts', import.meta.url);

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
    const workers = Array.from({ length: n }, () => startTsWorker(ENTRY, { config, backend }));
    const pool = new GradPool(workers);
    try {
      const replies = await Promise.all(workers.map((w) => call(w, { kind: 'ready' })));
      const bad = replies.findIndex((r) => !r.ok);
      if (bad >= 0) throw new SelfcestError(`gradient worker ${bad + 1} failed to start: ${(replies[bad] as { error: string }).error}`);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /**
   * Gradients of each shard (one per worker, in order) at the model's current weights. The shards are posted
   * synchronously, before this returns, so the workers run while the caller computes its own shard.
   */
  grads(model: GPT, shards: TokenBatch[], denom: number): Promise<ShardResult[]> {
    if (shards.length > this.workers.length) throw new Error(`${shards.length} shards for ${this.workers.length} workers`);
    const names = [...model.params.keys()];
    // copies: on the cpu backend dataSync() returns the variable's own buffer, which a transfer would detach
    const weights = names.map((n) => model.p(n).dataSync() as Float32Array);
    return Promise.all(
      shards.map(async (shard, k) => {
        const w = names.map((name, i) => ({ name, data: weights[i].slice() }));
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

/** Post one message and wait for its reply; rejects if the worker fails or exits first. */
function call(w: Worker, msg: unknown, transfer: ArrayBuffer[] = []): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const done = () => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (r: Reply) => {
      done();
      resolve(r);
    };
    const onError = (e: Error) => {
      done();
      reject(new SelfcestError(`gradient worker failed: ${e.message}`));
    };
    const onExit = (code: number) => {
      done();
      reject(new SelfcestError(`gradient worker exited (code ${code}) before replying`));
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
    w.postMessage(msg, transfer);
  });
}
