/**
 * Continuous batching across cores: rows are spread over shard 0 (a DecodeBatch on this thread) and worker
 * threads, each holding its own copy of the weights and its own KV caches. A step posts every worker its
 * rows' tokens, steps shard 0 meanwhile, then gathers all logits in handle order. New rows go to the shard
 * with the fewest rows (ties: lowest shard), so the assignment is deterministic.
 *
 * After the policy's weights change (a training step), call syncWeights() before decoding again.
 */
import type { Worker } from 'node:worker_threads';
import type { BackendChoice } from '../backend/select.ts';
import { request, startTsWorker } from '../util/workers.ts';
import type { GPT } from './decoder.ts';
import { LocalDecoder, type RowDecoder } from './row-decoder.ts';

const ENTRY = new URL('./decode-worker.ts', import.meta.url);

interface RowRef {
  shard: number;
  local: number;
  pos: number;
}

export class ShardedDecoder implements RowDecoder {
  private readonly model: GPT;
  private readonly local: LocalDecoder;
  private readonly workers: Worker[];
  private readonly rows = new Map<number, RowRef>(); // global handle → where it lives
  private order: number[] = []; // global handles, shard by shard, each in its shard's batch order
  private nextHandle = 1;

  private constructor(model: GPT, workers: Worker[]) {
    this.model = model;
    this.local = new LocalDecoder(model);
    this.workers = workers;
  }

  /** A decoder over this thread plus `workers` worker threads (0: this thread only). */
  static async start(model: GPT, workers: number, backend: BackendChoice): Promise<ShardedDecoder> {
    const d = new ShardedDecoder(model, Array.from({ length: workers }, () => startTsWorker(ENTRY, { config: model.config, backend })));
    try {
      await Promise.all(d.workers.map((w, k) => request(w, d.who(k + 1), { kind: 'ready' })));
      await d.syncWeights();
    } catch (e) {
      await d.close();
      throw e;
    }
    return d;
  }

  get shards(): number {
    return this.workers.length + 1;
  }

  get handles(): number[] {
    return [...this.order];
  }

  position(handle: number): number {
    const r = this.rows.get(handle);
    if (!r) throw new Error(`no row with handle ${handle}`);
    return r.pos;
  }

  /** Send the model's current weights to every worker. */
  async syncWeights(): Promise<void> {
    const names = [...this.model.params.keys()];
    const data = names.map((n) => this.model.p(n).dataSync() as Float32Array);
    await Promise.all(this.workers.map((w, k) => request(w, this.who(k + 1), { kind: 'weights', names, data })));
  }

  async join(prompts: number[][]): Promise<{ handles: number[]; logits: Float32Array }> {
    const load = Array.from({ length: this.shards }, (_, s) => this.countIn(s));
    const assign = prompts.map(() => {
      const s = load.indexOf(Math.min(...load));
      load[s]++;
      return s;
    });
    const per = Array.from({ length: this.shards }, (_, s) => prompts.map((p, i) => ({ p, i })).filter((_, i) => assign[i] === s));
    const results = await Promise.all(
      per.map(async (items, s) => {
        if (items.length === 0) return null;
        const ps = items.map((x) => x.p);
        return s === 0 ? this.local.join(ps) : request<{ handles: number[]; logits: Float32Array }>(this.workers[s - 1], this.who(s), { kind: 'join', prompts: ps });
      }),
    );
    const V = this.model.config.vocabSize;
    const logits = new Float32Array(prompts.length * V);
    const handles = new Array<number>(prompts.length);
    per.forEach((items, s) => {
      const r = results[s];
      if (!r) return;
      items.forEach(({ p, i }, j) => {
        const h = this.nextHandle++;
        this.rows.set(h, { shard: s, local: r.handles[j], pos: p.length });
        handles[i] = h;
        logits.set(r.logits.subarray(j * V, (j + 1) * V), i * V);
      });
    });
    this.reorder();
    return { handles, logits };
  }

  async step(tokens: readonly number[]): Promise<Float32Array> {
    if (tokens.length !== this.order.length) throw new Error(`step: ${tokens.length} tokens for ${this.order.length} rows`);
    const per: number[][] = Array.from({ length: this.shards }, () => []);
    this.order.forEach((h, i) => per[this.rows.get(h)!.shard].push(tokens[i]));
    // workers first (posted synchronously inside request), then this thread's shard
    const remote = per.map((t, s) => (s > 0 && t.length ? request<{ logits: Float32Array }>(this.workers[s - 1], this.who(s), { kind: 'step', tokens: t }) : null));
    const mine = per[0].length ? await this.local.step(per[0]) : null;
    const parts = await Promise.all(remote.map((p, s) => (s === 0 ? mine : p ? p.then((r) => r.logits) : null)));
    const V = this.model.config.vocabSize;
    const out = new Float32Array(tokens.length * V);
    let o = 0;
    for (const part of parts) {
      if (!part) continue;
      out.set(part, o);
      o += part.length;
    }
    for (const h of this.order) this.rows.get(h)!.pos++;
    return out;
  }

  async leave(handles: readonly number[]): Promise<void> {
    const per: number[][] = Array.from({ length: this.shards }, () => []);
    for (const h of handles) {
      const r = this.rows.get(h);
      if (!r) throw new Error(`no row with handle ${h}`);
      per[r.shard].push(r.local);
      this.rows.delete(h);
    }
    await Promise.all(
      per.map((ls, s) => (ls.length === 0 ? null : s === 0 ? this.local.leave(ls) : request(this.workers[s - 1], this.who(s), { kind: 'leave', handles: ls }))),
    );
    this.reorder();
  }

  async clear(): Promise<void> {
    await Promise.all([this.local.clear(), ...this.workers.map((w, k) => request(w, this.who(k + 1), { kind: 'clear' }))]);
    this.rows.clear();
    this.order = [];
  }

  async close(): Promise<void> {
    await this.local.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private who(shard: number): string {
    return `decode worker ${shard}`;
  }

  private countIn(shard: number): number {
    let n = 0;
    for (const r of this.rows.values()) if (r.shard === shard) n++;
    return n;
  }

  /** Handle order = shard 0's batch order, then shard 1's, ...: the order of the concatenated logits. */
  private reorder(): void {
    const byLocal = new Map<string, number>();
    for (const [h, r] of this.rows) byLocal.set(`${r.shard}:${r.local}`, h);
    this.order = [];
    // shard 0's batch order is known here; workers keep join order, which leave() preserves
    for (const l of this.local.handles) this.order.push(byLocal.get(`0:${l}`)!);
    for (let s = 1; s < this.shards; s++) {
      const hs = [...this.rows].filter(([, r]) => r.shard === s).sort((a, b) => a[1].local - b[1].local);
      for (const [h] of hs) this.order.push(h);
    }
  }
}
