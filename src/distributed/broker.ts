/**
 * The broker: Redis (or Valkey) through ioredis, with Redis Streams for work and a key per weights version
 * (docs/distributed.md; why Redis: docs/architecture.md). Keys, under a prefix (default `selfcest`):
 *
 *   <p>:jobs               stream of rollout jobs; consumer group `workers` (each job goes to one worker; a job whose
 *                          worker died is claimed again by another after `claimIdleMs` without a heartbeat)
 *   <p>:results:<run>      stream of results for one trainer run
 *   <p>:weights:<sha256>   one policy version's model.safetensors (content-addressed: uploaded once)
 *
 * ioredis reconnects by itself; lost and regained connections are logged. Commands issued while disconnected wait
 * in its offline queue.
 */
import { Redis } from 'ioredis';
import { SelfcestError } from '../util/errors.ts';

const GROUP = 'workers';
/** a stored version, and a run's results stream, expire a day after their last upload or use */
export const EXPIRY_MS = 86_400_000;

export interface BrokerOptions {
  prefix?: string;
  log?: (line: string) => void;
  /** a pending job with no heartbeat for this long is handed to another worker */
  claimIdleMs?: number;
}

/** A stream entry: its id and the message text. */
export interface Entry {
  id: string;
  text: string;
}

export class Broker {
  readonly prefix: string;
  readonly claimIdleMs: number;
  /** times the connection came back after being lost (a restarted server may have lost every key) */
  reconnects = 0;
  private constructor(
    readonly url: string,
    private readonly redis: Redis,
    opts: BrokerOptions,
  ) {
    this.prefix = opts.prefix ?? 'selfcest';
    this.claimIdleMs = opts.claimIdleMs ?? 30_000;
  }

  /** Connect (and check the server answers); the job stream and its consumer group are created when missing. */
  static async connect(url: string, opts: BrokerOptions = {}): Promise<Broker> {
    if (!/^rediss?:\/\//.test(url)) throw new SelfcestError(`--broker ${url}: expected a redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379)`);
    const log = opts.log ?? (() => {});
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(200 * n, 2000) });
    let up = false;
    let b: Broker | null = null;
    redis.on('ready', () => {
      if (up) {
        log(`broker ${url}: reconnected`);
        if (b) b.reconnects++;
      }
      up = true;
    });
    redis.on('close', () => {
      if (up) log(`broker ${url}: connection lost; reconnecting`);
    });
    let lastError = '';
    redis.on('error', (e: Error) => void (lastError = e.message)); // reported through close/ready; ioredis retries
    try {
      await redis.connect();
      await redis.ping();
    } catch (e) {
      redis.disconnect();
      throw new SelfcestError(`--broker ${url}: cannot connect (${lastError || (e as Error).message}); is a Redis server running there?`);
    }
    b = new Broker(url, redis, opts);
    await b.ensureGroup();
    return b;
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.key('jobs'), GROUP, '0', 'MKSTREAM');
    } catch (e) {
      if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  // ---- weights (content-addressed)

  /**
   * Store a version's weights under their sha256 unless already there; returns true when uploaded now. Every version
   * expires EXPIRY_MS after its last upload or refresh (a trainer killed leaves nothing behind for good).
   */
  async putWeights(sha: string, bytes: Uint8Array): Promise<boolean> {
    const r = await this.redis.set(this.key('weights', sha), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'PX', EXPIRY_MS, 'NX');
    if (r !== 'OK') await this.expireWeights(sha, EXPIRY_MS);
    return r === 'OK';
  }

  /** The stored versions and how long each has left (ms; -1: no expiry), for diagnostics and tests. */
  async storedWeights(): Promise<{ sha: string; ttlMs: number }[]> {
    const keys = await this.redis.keys(this.key('weights', '*'));
    return Promise.all(keys.map(async (k) => ({ sha: k.slice(this.key('weights', '').length), ttlMs: await this.redis.pttl(k) })));
  }

  async getWeights(sha: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.key('weights', sha));
  }

  async hasWeights(sha: string): Promise<boolean> {
    return (await this.redis.exists(this.key('weights', sha))) === 1;
  }

  /** The server deletes this version after ms (refreshed on every upload and use; see EXPIRY_MS). */
  async expireWeights(sha: string, ms: number): Promise<void> {
    await this.redis.pexpire(this.key('weights', sha), ms);
  }

  async dropWeights(sha: string): Promise<void> {
    await this.redis.del(this.key('weights', sha));
  }

  // ---- jobs

  async addJob(text: string): Promise<string> {
    return (await this.redis.xadd(this.key('jobs'), '*', 'm', text))!;
  }

  /**
   * The next job for `consumer`: first one whose worker stopped sending heartbeats (pending longer than
   * claimIdleMs), else a new one, waiting up to blockMs. null: none came.
   */
  async nextJob(consumer: string, blockMs: number): Promise<Entry | null> {
    await this.ensureGroup(); // a broker restarted without persistence has lost the group
    const claimed = (await this.redis.xautoclaim(this.key('jobs'), GROUP, consumer, this.claimIdleMs, '0-0', 'COUNT', 1)) as [string, [string, string[]][]];
    const stale = claimed[1].filter((e) => e && e[1]);
    if (stale.length) return entry(stale[0]);
    const r = (await this.redis.xreadgroup('GROUP', GROUP, consumer, 'COUNT', 1, 'BLOCK', blockMs, 'STREAMS', this.key('jobs'), '>')) as [string, [string, string[]][]][] | null;
    return r && r[0][1].length ? entry(r[0][1][0]) : null;
  }

  /** Keep a job this consumer works on from being handed to another (resets its idle time). */
  async heartbeat(consumer: string, id: string): Promise<void> {
    await this.redis.xclaim(this.key('jobs'), GROUP, consumer, 0, id, 'JUSTID');
  }

  /** Done with a job (processed or rejected): acknowledged and deleted from the stream. */
  async finishJob(id: string): Promise<void> {
    await this.redis.xack(this.key('jobs'), GROUP, id);
    await this.redis.xdel(this.key('jobs'), id);
  }

  /** Jobs in the stream (waiting or pending). */
  async jobsQueued(): Promise<number> {
    return this.redis.xlen(this.key('jobs'));
  }

  // ---- results

  /** A result for `run`; the stream expires a day after its last result (a trainer killed leaves it behind). */
  async addResult(run: string, text: string): Promise<void> {
    await this.redis.xadd(this.key('results', run), '*', 'm', text);
    await this.redis.pexpire(this.key('results', run), EXPIRY_MS);
  }

  /** Results of `run` after stream id `after`, waiting up to blockMs for the first (0: not waiting). */
  async readResults(run: string, after: string, blockMs: number): Promise<Entry[]> {
    const key = this.key('results', run);
    // BLOCK 0 would wait forever
    const r = (await (blockMs > 0 ? this.redis.xread('BLOCK', blockMs, 'STREAMS', key, after) : this.redis.xread('STREAMS', key, after))) as [string, [string, string[]][]][] | null;
    return r ? r[0][1].map(entry) : [];
  }

  async dropResults(run: string): Promise<void> {
    await this.redis.del(this.key('results', run));
  }
}

function entry([id, fields]: [string, string[]]): Entry {
  const i = fields.indexOf('m');
  return { id, text: i >= 0 && i + 1 < fields.length ? fields[i + 1] : '' };
}
