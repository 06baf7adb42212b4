/**
 * The trainer's side of the broker (`selfcest train ... --broker URL`). Each GRPO step's rollouts are one job
 * (`<run>:<step>`); a policy version's weights are uploaded once (content-addressed) and kept while a job, or the
 * last checkpoint, still names them.
 *
 *   synchronous (grpo.staleness 0)   submit step t's job with the current weights, wait for it, continue from the
 *                                    Rng state the worker stopped at: the same trajectory as local training
 *   asynchronous (staleness k ≥ 1)   step t's job is submitted at the start of step t-k with the weights of then
 *                                    (fixed lag: staleness min(t, k)) and its own sampler stream; the workers roll
 *                                    out while the trainer updates. Which worker does what, and when, changes
 *                                    nothing: the run is deterministic for its seed, like a local one
 *
 * Results are checked: a second result of a job (a worker killed after replying, a job claimed again or resent) is
 * dropped and counted; a result sampled with other weights than its job names now (from before a resume that had
 * to re-version the job) is dropped and counted as stale; a worker of another selfcest version or backend is refused
 * with the reason and the job handed out again; a malformed result is dropped with a log line. The run id is kept in
 * checkpoints, so a resumed trainer reads the results its predecessor's jobs left behind.
 */
import { createHash } from 'node:crypto';
import { encodeSafetensors } from '../checkpoint/safetensors.ts';
import type { GPT } from '../model/decoder.ts';
import { modelTensors } from '../model/io.ts';
import type { RolloutConfig } from '../rollout/protocol.ts';
import { treeFromJson } from '../rollout/trace-io.ts';
import type { Tree } from '../rollout/tree.ts';
import type { TaskItem } from '../tasks/types.ts';
import { isDefaultTokenizer, type TextTokenizer } from '../tokenizer/index.ts';
import type { Rng, RngState } from '../util/rng.ts';
import { Broker, EXPIRY_MS } from './broker.ts';
import { MESSAGE_FORMAT, parseMessage, ResultSchema, type Job, type Peer, type Result } from './messages.ts';

export interface RemoteStats {
  jobs: number;
  /** second results of a job, dropped */
  duplicates: number;
  /** results sampled with other weights than their job names, dropped */
  stale: number;
  /** jobs of a resumed run whose weights the broker no longer had: sent again with the current weights */
  reversioned: number;
  /** results of workers of another version or backend, refused (their job handed out again) */
  refused: number;
  /** malformed or foreign results, dropped */
  malformed: number;
  /** weights versions uploaded */
  uploads: number;
}

/** What a job needs besides its step and weights: the same for every step of a run. */
export interface JobContext {
  task: object;
  groupSize: number;
  rollout: RolloutConfig;
  tok: TextTokenizer;
}

/** A job submitted and not yet consumed, as a checkpoint keeps it (PendingJobSchema; the items: drawn already). */
export interface PendingJob {
  step: number;
  /** which part of the step's items (grpo.jobsPerStep), 0 when the step is one job */
  part?: number;
  policyStep: number;
  weights: string;
  items: TaskItem[];
}

interface Pending extends PendingJob {
  part: number;
  jobId: string;
  text: string;
}

/** A step's trees as they came back. */
export interface Collected {
  trees: Tree[];
  /** the trainer step whose weights sampled them */
  policyStep: number;
  /** the worker's rollout time */
  ms: number;
  /** the Rng state after them (the worker's copy of the job's stream) */
  rng: RngState;
}

export class RemoteRollouts {
  readonly stats: RemoteStats = { jobs: 0, duplicates: 0, stale: 0, reversioned: 0, refused: 0, malformed: 0, uploads: 0 };
  private after = '0-0';
  /** the weights of the versions a pending job or the last checkpoint names, and the newest, by sha256 */
  private readonly versions = new Map<string, Uint8Array>();
  private latest = '';
  /** versions a resumed run found in the store for its pending jobs (its predecessor's uploads): dropped when done */
  private readonly adopted = new Set<string>();
  private pinned = new Set<string>();
  /** by job id */
  private readonly pending = new Map<string, Pending>();
  /** results read before their step was collected (the asynchronous mode's later steps), by job id */
  private readonly early = new Map<string, Result & { entry: string }>();
  private consumedUpTo = -1;
  /** the worker's rollout time of the last trees collected */
  lastWorkerMs = 0;
  private seen: number;

  private constructor(
    private readonly broker: Broker,
    private readonly me: Peer,
    /** this run's results stream (kept in its checkpoints) */
    readonly run: string,
    private readonly ctx: JobContext,
    private readonly log: (line: string) => void,
  ) {
    this.seen = broker.reconnects;
  }

  static async start(url: string, me: Peer, run: string, ctx: JobContext, log: (line: string) => void, opts: { prefix?: string; staleness?: number } = {}): Promise<RemoteRollouts> {
    const broker = await Broker.connect(url, { log, ...opts });
    const k = opts.staleness ?? 0;
    log(`rollouts: jobs to the workers at ${url} (${k === 0 ? 'synchronous' : `asynchronous, staleness ${k}`}; run ${run})`);
    return new RemoteRollouts(broker, me, run, ctx, log);
  }

  /** The jobs submitted and not yet consumed (a checkpoint keeps them); their weights stay in the store until the next one. */
  pendingJobs(): PendingJob[] {
    return [...this.pending.values()].sort((a, b) => a.step - b.step || a.part - b.part).map(({ step, part, policyStep, weights, items }) => ({ step, ...(part ? { part } : {}), policyStep, weights, items }));
  }

  /** After a checkpoint: the versions its pending jobs name stay stored (a resume from it needs them). */
  async pin(): Promise<void> {
    this.pinned = new Set([...this.pending.values()].map((p) => p.weights));
    await this.prune();
    for (const sha of this.pinned) await this.broker.expireWeights(sha, EXPIRY_MS); // a day from this checkpoint
  }

  private async prune(): Promise<void> {
    const needed = new Set([this.latest, ...this.pinned, ...[...this.pending.values()].map((p) => p.weights)]);
    for (const sha of [...this.versions.keys()]) {
      if (needed.has(sha)) continue;
      this.versions.delete(sha);
      await this.broker.dropWeights(sha);
    }
    for (const sha of [...this.adopted]) {
      if (needed.has(sha) || this.versions.has(sha)) continue;
      this.adopted.delete(sha);
      await this.broker.dropWeights(sha);
    }
  }

  /** Upload the model's current weights unless that version is stored; returns its sha256. */
  private async publish(model: GPT): Promise<string> {
    const bytes = encodeSafetensors(await modelTensors(model), { format: '1' });
    const sha = createHash('sha256').update(bytes).digest('hex');
    this.latest = sha;
    if (!this.versions.has(sha)) {
      this.versions.set(sha, bytes);
      if (await this.broker.putWeights(sha, bytes)) this.stats.uploads++;
    } else await this.broker.expireWeights(sha, EXPIRY_MS);
    await this.prune();
    return sha;
  }

  private job(step: number, part: number, policyStep: number, weights: string, model: GPT, items: readonly TaskItem[], rng: RngState): Pending {
    const { task, groupSize, rollout, tok } = this.ctx;
    const jobId = part ? `${this.run}:${step}.${part}` : `${this.run}:${step}`;
    const job: Job = {
      format: MESSAGE_FORMAT, kind: 'rollout', run: this.run, jobId, step, trainer: this.me, weights, policyStep,
      model: { ...model.config }, task: { ...task }, items: items.map((it) => ({ ...it })), groupSize, rollout,
      tokenizer: tok.files && !isDefaultTokenizer(tok) ? tok.files : null, rng,
    };
    return { step, part, policyStep, weights, items: [...items], jobId, text: JSON.stringify(job) };
  }

  /**
   * Hand step `step`'s rollouts to the workers as one job per part (grpo.jobsPerStep; one part: one job), sampled
   * with the model's current weights (trainer step `policyStep`), uploaded once for all parts.
   */
  async submit(a: { step: number; policyStep: number; model: GPT; parts: readonly { items: readonly TaskItem[]; rng: RngState }[] }): Promise<void> {
    if (this.broker.reconnects !== this.seen) await this.reconnected(); // the server may have lost this version too
    const weights = await this.publish(a.model);
    for (const [part, { items, rng }] of a.parts.entries()) {
      const p = this.job(a.step, part, a.policyStep, weights, a.model, items, rng);
      this.pending.set(p.jobId, p);
      await this.send(p);
    }
  }

  /** Add a job unless its result (same weights) is in already: one a resumed run's predecessor had sent. */
  private async send(p: Pending): Promise<void> {
    if (this.early.get(p.jobId)?.weights === p.weights) return;
    await this.broker.addJob(p.text);
    this.stats.jobs++;
  }

  /**
   * A resumed run's pending jobs (from its checkpoint), sent again unless a result is already in the run's stream
   * (a job still queued then gives a second result, dropped). A job whose weights the broker lost is sent with the
   * current weights instead (logged, counted: the trajectory then differs from the uninterrupted run's).
   */
  async resume(jobs: readonly PendingJob[], model: GPT, policyStep: number, rngOf: (step: number, part: number) => RngState): Promise<void> {
    this.consumedUpTo = policyStep - 1; // the steps before the checkpoint were trained on
    this.pinned = new Set(jobs.map((j) => j.weights)); // the checkpoint resumed from names them until the next one
    while ((await this.drain(0)) > 0);
    for (const j of jobs) {
      let weights = j.weights;
      let version = j.policyStep;
      if (await this.broker.hasWeights(j.weights)) this.adopted.add(j.weights);
      else {
        weights = await this.publish(model);
        version = policyStep;
        this.stats.reversioned++;
        this.log(`rollouts: the broker no longer has step ${j.step + 1}'s weights ${j.weights.slice(0, 12)} (from trainer step ${j.policyStep}): sent with step ${policyStep}'s`);
      }
      const p = this.job(j.step, j.part ?? 0, version, weights, model, j.items, rngOf(j.step, j.part ?? 0));
      this.pending.set(p.jobId, p);
      await this.send(p);
    }
    if (jobs.length) this.log(`rollouts: resumed with ${jobs.length} pending job${jobs.length === 1 ? '' : 's'} (steps ${jobs[0].step + 1}..${jobs[jobs.length - 1].step + 1})`);
  }

  /** Wait for step `step`'s trees (submitted before; all its parts, in part order). */
  async collect(step: number): Promise<Collected> {
    const parts = [...this.pending.values()].filter((p) => p.step === step).sort((x, y) => x.part - y.part);
    if (!parts.length) throw new Error(`rollouts: no job was submitted for step ${step + 1}`);
    const got: (Collected | null)[] = parts.map(() => null);
    let waited = 0;
    for (;;) {
      for (const [i, p] of parts.entries()) got[i] ??= await this.take(p);
      if (got.every((g) => g !== null)) break;
      const n = await this.drain(5000);
      if (this.broker.reconnects !== this.seen) await this.reconnected();
      if (n === 0) {
        waited += 5;
        if (waited % 30 === 0) this.log(`rollouts: waiting ${waited} s for step ${step + 1}'s trees (${got.filter((g) => g === null).length} of ${parts.length} jobs; ${await this.broker.jobsQueued()} jobs in the queue)`);
      }
    }
    for (const p of parts) this.pending.delete(p.jobId);
    this.consumedUpTo = Math.max(this.consumedUpTo, step);
    const done = got as Collected[];
    // the parts run side by side on different workers: the step's rollout time is the slowest part's
    this.lastWorkerMs = Math.max(...done.map((g) => g.ms));
    return { trees: done.flatMap((g) => g.trees), policyStep: parts[0].policyStep, ms: this.lastWorkerMs, rng: done[done.length - 1].rng };
  }

  /** Synchronous mode: one step's trees from the workers; `rng` continues from where the worker's copy stopped. */
  async rollout(a: { step: number; model: GPT; items: readonly TaskItem[]; rng: Rng }): Promise<Tree[]> {
    await this.submit({ step: a.step, policyStep: a.step, model: a.model, parts: [{ items: a.items, rng: a.rng.state() }] });
    const got = await this.collect(a.step);
    a.rng.restore(got.rng);
    return got.trees;
  }

  /**
   * One step's trees as several jobs (grpo.jobsPerStep), each part with its own sampler stream, so that several
   * workers share the step; deterministic for the streams, not the in-process trajectory.
   */
  async rolloutParts(a: { step: number; model: GPT; parts: readonly (readonly TaskItem[])[]; rngOf: (part: number) => RngState }): Promise<Tree[]> {
    await this.submit({ step: a.step, policyStep: a.step, model: a.model, parts: a.parts.map((items, part) => ({ items, rng: a.rngOf(part) })) });
    return (await this.collect(a.step)).trees;
  }

  /** The pending job's result if one has come (checked now; refused and malformed ones send the job out again). */
  private async take(p: Pending): Promise<Collected | null> {
    const r = this.early.get(p.jobId);
    if (!r) return null;
    this.early.delete(p.jobId);
    if (r.weights !== p.weights) {
      this.stats.stale++;
      this.log(`rollouts: dropped a stale result of job ${p.jobId} (weights ${r.weights.slice(0, 12)}, the job's are ${p.weights.slice(0, 12)})`);
      return null;
    }
    const why =
      r.worker.selfcest !== this.me.selfcest ? `runs selfcest ${r.worker.selfcest}, the trainer ${this.me.selfcest}` :
      r.worker.backend !== this.me.backend ? `runs on ${r.worker.backend}, the trainer on ${this.me.backend} (its trees would not be the local trajectory)` : null;
    if (why) {
      this.stats.refused++;
      this.log(`rollouts: refused worker ${r.worker.id}: it ${why}; job ${p.jobId} handed out again`);
      await this.broker.addJob(p.text);
      return null;
    }
    const n = p.items.length * this.ctx.groupSize;
    let trees: Tree[];
    try {
      trees = r.trees.map((t, i) => treeFromJson(t, `result ${r.entry} tree ${i}`));
      if (trees.length !== n) throw new Error(`${trees.length} trees, the job has ${n}`);
      const G = this.ctx.groupSize;
      const wrong = trees.findIndex((t, i) => t.itemId !== `${p.items[Math.floor(i / G)].id}#${i % G}`);
      if (wrong >= 0) throw new Error(`tree ${wrong} is of item ${trees[wrong].itemId}, not ${p.items[Math.floor(wrong / G)].id}#${wrong % G}`);
    } catch (err) {
      this.stats.malformed++;
      this.log(`rollouts: dropped result ${r.entry}: ${(err as Error).message}; job ${p.jobId} handed out again`);
      await this.broker.addJob(p.text);
      return null;
    }
    return { trees, policyStep: p.policyStep, ms: r.ms, rng: r.rng };
  }

  /** Read the run's new results (waiting up to blockMs for the first) into `early`; returns how many came. */
  private async drain(blockMs: number): Promise<number> {
    let entries;
    try {
      entries = await this.broker.readResults(this.run, this.after, blockMs);
    } catch (err) {
      this.log(`rollouts: broker: ${(err as Error).message}; retrying`);
      await new Promise((r) => setTimeout(r, 500));
      return 0;
    }
    for (const e of entries) {
      this.after = e.id;
      const r = parseMessage(ResultSchema, e.text);
      if (!r.ok || r.value.run !== this.run) {
        this.stats.malformed++;
        this.log(`rollouts: dropped result ${e.id}: ${r.ok ? `of run ${r.value.run}` : `malformed (${r.why})`}`);
        continue;
      }
      const step = Number(r.value.jobId.slice(this.run.length + 1).split('.')[0]); // <run>:<step> or <run>:<step>.<part>
      if (!r.value.jobId.startsWith(`${this.run}:`) || !Number.isInteger(step) || step <= this.consumedUpTo || this.early.has(r.value.jobId)) {
        this.stats.duplicates++;
        this.log(`rollouts: dropped a second result of job ${r.value.jobId} (worker ${r.value.worker.id})`);
        continue;
      }
      this.early.set(r.value.jobId, { ...r.value, entry: e.id });
    }
    return entries.length;
  }

  /** A restarted server may have lost the jobs and the weights: every pending job without a result again, with its weights. */
  private async reconnected(): Promise<void> {
    this.seen = this.broker.reconnects;
    for (const [sha, bytes] of this.versions) await this.broker.putWeights(sha, bytes);
    const again = [...this.pending.values()].filter((p) => !this.early.has(p.jobId));
    for (const p of again) await this.broker.addJob(p.text);
    this.log(`rollouts: broker reconnected: ${again.length === 1 ? `job ${again[0].jobId}` : `${again.length} jobs`} and ${this.versions.size === 1 ? 'its weights' : `${this.versions.size} weights versions`} sent again`);
  }

  /**
   * Done: without pending jobs every stored version and the results stream are deleted; with pending jobs (a run
   * stopped before its end, to be resumed) the pinned versions and the stream stay, expiring in a day.
   */
  async close(): Promise<void> {
    if (this.pending.size === 0) {
      for (const sha of [...this.versions.keys(), ...this.adopted]) await this.broker.dropWeights(sha);
      await this.broker.dropResults(this.run);
    } else {
      this.latest = '';
      this.pending.clear();
      await this.prune();
      for (const sha of this.pinned) await this.broker.expireWeights(sha, EXPIRY_MS);
    }
    await this.broker.close();
  }
}
