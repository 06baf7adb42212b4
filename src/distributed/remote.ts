/**
 * The trainer's side of the broker (`selfcest train ... --broker URL`, synchronous mode): each GRPO step's
 * rollouts become one job; the current weights are uploaded once per version (content-addressed), the trainer
 * waits for the job's result and continues from the Rng state the worker stopped at, so the run is the same
 * trajectory as local training on the same backend. Results are checked: a second result of a job (a worker killed
 * after replying, or a job claimed again) is dropped and counted; a worker of another selfcest version or backend
 * is refused with the reason and the job handed out again; a malformed result is dropped with a log line.
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
import type { Rng } from '../util/rng.ts';
import { Broker } from './broker.ts';
import { MESSAGE_FORMAT, parseMessage, ResultSchema, type Job, type Peer } from './messages.ts';

export interface RemoteStats {
  jobs: number;
  /** second results of a job, dropped */
  duplicates: number;
  /** results of workers of another version or backend, refused (their job handed out again) */
  refused: number;
  /** malformed or foreign results, dropped */
  malformed: number;
  /** weights versions uploaded */
  uploads: number;
}

export class RemoteRollouts {
  readonly stats: RemoteStats = { jobs: 0, duplicates: 0, refused: 0, malformed: 0, uploads: 0 };
  private after = '0-0';
  private readonly kept: string[] = [];
  private readonly done = new Set<string>();

  private constructor(
    private readonly broker: Broker,
    private readonly me: Peer,
    /** this trainer process's results stream */
    readonly run: string,
    private readonly log: (line: string) => void,
  ) {}

  static async start(url: string, me: Peer, run: string, log: (line: string) => void, opts: { prefix?: string } = {}): Promise<RemoteRollouts> {
    const broker = await Broker.connect(url, { log, ...opts });
    log(`rollouts: jobs to the workers at ${url} (synchronous; run ${run})`);
    return new RemoteRollouts(broker, me, run, log);
  }

  /** Upload the model's current weights unless that version is stored; the two newest versions are kept. */
  private async publish(model: GPT): Promise<string> {
    const bytes = encodeSafetensors(await modelTensors(model), { format: '1' });
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (!this.kept.includes(sha)) {
      if (await this.broker.putWeights(sha, bytes)) this.stats.uploads++;
      this.kept.push(sha);
      while (this.kept.length > 2) await this.broker.dropWeights(this.kept.shift()!);
    }
    return sha;
  }

  /** One step's trees from the workers; `rng` continues from where the worker's copy stopped. */
  async rollout(a: { step: number; model: GPT; items: readonly TaskItem[]; task: object; groupSize: number; rollout: RolloutConfig; tok: TextTokenizer; rng: Rng }): Promise<Tree[]> {
    const job: Job = {
      format: MESSAGE_FORMAT, kind: 'rollout', run: this.run, jobId: `${this.run}:${a.step}`, step: a.step, trainer: this.me,
      weights: await this.publish(a.model), model: { ...a.model.config }, task: { ...a.task }, items: a.items.map((it) => ({ ...it })),
      groupSize: a.groupSize, rollout: a.rollout, tokenizer: a.tok.files && !isDefaultTokenizer(a.tok) ? a.tok.files : null, rng: a.rng.state(),
    };
    const text = JSON.stringify(job);
    await this.broker.addJob(text);
    this.stats.jobs++;
    let seen = this.broker.reconnects;
    let waited = 0;
    for (;;) {
      let entries;
      try {
        entries = await this.broker.readResults(this.run, this.after, 5000);
      } catch (err) {
        this.log(`rollouts: broker: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (this.broker.reconnects !== seen) {
        // a restarted server may have lost the job and the weights: both again (a job it kept gives a second
        // result, which is dropped)
        seen = this.broker.reconnects;
        this.kept.length = 0;
        await this.publish(a.model);
        await this.broker.addJob(text);
        this.log(`rollouts: broker reconnected: job ${job.jobId} and its weights sent again`);
      }
      if (entries.length === 0) {
        waited += 5;
        if (waited % 30 === 0) this.log(`rollouts: waiting ${waited} s for step ${a.step + 1}'s trees (${await this.broker.jobsQueued()} jobs in the queue)`);
        continue;
      }
      for (const e of entries) {
        this.after = e.id;
        const r = parseMessage(ResultSchema, e.text);
        if (!r.ok || r.value.run !== this.run) {
          this.stats.malformed++;
          this.log(`rollouts: dropped result ${e.id}: ${r.ok ? `of run ${r.value.run}` : `malformed (${r.why})`}`);
          continue;
        }
        const res = r.value;
        if (res.jobId !== job.jobId || this.done.has(res.jobId)) {
          this.stats.duplicates++;
          this.log(`rollouts: dropped a second result of job ${res.jobId} (worker ${res.worker.id})`);
          continue;
        }
        const why =
          res.worker.selfcest !== this.me.selfcest ? `runs selfcest ${res.worker.selfcest}, the trainer ${this.me.selfcest}` :
          res.worker.backend !== this.me.backend ? `runs on ${res.worker.backend}, the trainer on ${this.me.backend} (its trees would not be the local trajectory)` : null;
        if (why) {
          this.stats.refused++;
          this.log(`rollouts: refused worker ${res.worker.id}: it ${why}; job ${job.jobId} handed out again`);
          await this.broker.addJob(text);
          continue;
        }
        let trees: Tree[];
        try {
          trees = res.trees.map((t, i) => treeFromJson(t, `result ${e.id} tree ${i}`));
        } catch (err) {
          this.stats.malformed++;
          this.log(`rollouts: dropped result ${e.id}: ${(err as Error).message}; job ${job.jobId} handed out again`);
          await this.broker.addJob(text);
          continue;
        }
        this.done.add(res.jobId);
        a.rng.restore(res.rng);
        return trees;
      }
    }
  }

  async close(): Promise<void> {
    for (const sha of this.kept.splice(0)) await this.broker.dropWeights(sha);
    await this.broker.dropResults(this.run);
    await this.broker.close();
  }
}
