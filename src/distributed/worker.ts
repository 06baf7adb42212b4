/**
 * A rollout worker (`selfcest worker --broker URL`): takes rollout jobs from the broker, fetches the job's policy
 * version from the broker's store (kept while the next job names the same one), runs the trees through the same
 * engine as local training, from the Rng state the job carries, and returns them with the state after them.
 * A malformed or foreign job is rejected with a log line (acknowledged, never retried), never a crash.
 */
import { decodeSafetensors } from '../checkpoint/safetensors.ts';
import { ModelConfigSchema } from '../model/config.ts';
import { GPT } from '../model/decoder.ts';
import { LocalDecoder } from '../model/row-decoder.ts';
import { ModelPolicy, runTrees } from '../rollout/engine.ts';
import { protocolTokens } from '../rollout/protocol.ts';
import { treeToJson } from '../rollout/trace-io.ts';
import { checkItem, preloadTaskModules } from '../tasks/registry.ts';
import type { TaskItem } from '../tasks/types.ts';
import { loadTokenizer, tokenizerFromFiles, type TextTokenizer } from '../tokenizer/index.ts';
import { expandGroups } from '../train/grpo.ts';
import { rlRolloutItems } from '../train/rl.ts';
import { crashPoint } from '../util/crash.ts';
import { Rng } from '../util/rng.ts';
import type { Broker } from './broker.ts';
import { JobSchema, MESSAGE_FORMAT, parseMessage, type Job, type Peer, type Result } from './messages.ts';

export interface WorkerOptions {
  broker: Broker;
  me: Peer;
  log: (line: string) => void;
  /** stop after this many jobs (tests; default: run until stopped) */
  maxJobs?: number;
  /** checked between jobs */
  stopped?: () => boolean;
}

export interface WorkerStats {
  done: number;
  rejected: number;
}

export async function runWorker(o: WorkerOptions): Promise<WorkerStats> {
  const stats: WorkerStats = { done: 0, rejected: 0 };
  let cached = null as { sha: string; model: GPT } | null;
  const toks = new Map<string, TextTokenizer>();
  o.log(`worker ${o.me.id}: selfcest ${o.me.selfcest} on ${o.me.backend}, waiting for jobs at ${o.broker.url}`);
  try {
    while (!(o.stopped?.() ?? false) && (o.maxJobs === undefined || stats.done < o.maxJobs)) {
      let e;
      try {
        e = await o.broker.nextJob(o.me.id, 1000);
      } catch (err) {
        // e.g. NOGROUP from a restarted server: the next call re-creates the group
        o.log(`worker ${o.me.id}: broker: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!e) continue;
      const reject = async (why: string) => {
        o.log(`worker ${o.me.id}: rejected job ${e.id}: ${why}`);
        stats.rejected++;
        await o.broker.finishJob(e.id);
      };
      const parsed = parseMessage(JobSchema, e.text);
      if (!parsed.ok) {
        await reject(`malformed (${parsed.why})`);
        continue;
      }
      const job = parsed.value;
      const model = ModelConfigSchema.safeParse(job.model);
      if (!model.success) {
        await reject(`model config: ${model.error.issues[0].message}`);
        continue;
      }
      if (cached?.sha !== job.weights) {
        const bytes = await o.broker.getWeights(job.weights);
        if (!bytes) {
          await reject(`weights ${job.weights.slice(0, 12)} are not in the broker's store`);
          continue;
        }
        try {
          const { tensors } = decodeSafetensors(bytes, `weights ${job.weights.slice(0, 12)}`);
          const arrays = new Map([...tensors.values()].map((t) => [t.name, { shape: t.shape, data: t.data as Float32Array }]));
          const next = GPT.fromArrays(model.data, arrays, `weights ${job.weights.slice(0, 12)}`);
          cached?.model.dispose();
          cached = { sha: job.weights, model: next };
        } catch (err) {
          await reject((err as Error).message);
          continue;
        }
      }
      const t0 = performance.now();
      let result: Result;
      const beat = setInterval(() => void o.broker.heartbeat(o.me.id, e.id).catch(() => {}), Math.max(50, o.broker.claimIdleMs / 3));
      try {
        const tok = tokenizerOf(job, toks);
        await preloadTaskModules({ task: job.task });
        const items = job.items as unknown as TaskItem[];
        const bad = items.map((it) => checkItem(it)).find((x) => x !== null);
        if (bad) throw new Error(`an item: ${bad.path.join('.')} ${bad.message}`);
        const rng = Rng.fromState(job.rng);
        const dec = new LocalDecoder(cached.model);
        let trees;
        try {
          trees = await runTrees(expandGroups(rlRolloutItems(items, tok, job.rollout), job.groupSize), new ModelPolicy(cached.model, dec, job.rollout, rng), job.rollout, protocolTokens(tok));
        } finally {
          await dec.close();
        }
        result = { format: MESSAGE_FORMAT, kind: 'trees', run: job.run, jobId: job.jobId, worker: o.me, weights: job.weights, trees: trees.map(treeToJson), rng: rng.state(), ms: performance.now() - t0 };
      } catch (err) {
        clearInterval(beat);
        await reject((err as Error).message);
        continue;
      }
      clearInterval(beat);
      // the result first, then the acknowledgement: a kill in between redelivers the job, and the trainer drops
      // the second result of a job (never counted twice)
      crashPoint('worker:before-result'); // the kill tests: a job left pending (another worker takes it over)
      await o.broker.addResult(job.run, JSON.stringify(result));
      crashPoint('worker:before-ack'); // the kill tests: a result written, its job delivered again (a second result)
      await o.broker.finishJob(e.id);
      stats.done++;
      o.log(`worker ${o.me.id}: job ${job.jobId} (step ${job.step + 1}, ${result.trees.length} trees) in ${(result.ms / 1000).toFixed(2)} s`);
    }
  } finally {
    cached?.model.dispose();
  }
  return stats;
}

function tokenizerOf(job: Job, cache: Map<string, TextTokenizer>): TextTokenizer {
  const key = job.tokenizer ? job.tokenizer['tokenizer.json'] + '\u0000' + job.tokenizer['tokenizer_config.json'] : '';
  let tok = cache.get(key);
  if (!tok) {
    tok = job.tokenizer ? tokenizerFromFiles(job.tokenizer, `job ${job.jobId}`) : loadTokenizer();
    cache.set(key, tok);
  }
  return tok;
}
