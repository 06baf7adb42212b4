/**
 * Broker benchmark: tree GRPO steps in process against the same steps with their rollouts on `selfcest worker`
 * processes through a Redis broker, synchronous (one job per step) and asynchronous (grpo.staleness --staleness),
 * with 1 and 2 workers, on this machine. Each arm trains the same run (the shipped arithmetic policy as init,
 * --steps steps of --prompts x --group trees) and reads its metrics.jsonl: per step the rollout phase (for a broker
 * arm: upload, queue, the worker's rollout, transfer; asynchronous: the wait for trees sampled ahead), the worker's
 * own rollout time, and the whole step (the sum of the phases: [submit +] rollout + reward + advantage + logprob +
 * update). Prints medians and ratios against the in-process arm measured in the same run, the asynchronous
 * target (step <= max(rollout, update) + 15 % of the synchronous step, from this run's in-process phases), and
 * checks that the synchronous arms end with the in-process weights and the asynchronous arms with each other's.
 *
 *   npx tsx scripts/bench/broker.ts [--steps 8] [--prompts 4] [--group 4] [--staleness 1] [--backend wasm]
 *
 * Needs redis-server (Debian: apt-get install redis-server). Run it alone: two timing runs on 2 cores spoil both.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { cli, grpoBenchArgs, median, ROOT, startRedis } from './common.ts';

const a = await yargs(hideBin(process.argv))
  .option('steps', { type: 'number', default: 8 })
  .option('staleness', { type: 'number', default: 1 })
  .option('prompts', { type: 'number', default: 4 })
  .option('group', { type: 'number', default: 4 })
  .option('backend', { type: 'string', default: 'wasm' })
  .strict()
  .parse();

const redis = await startRedis();
const url = redis.url;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-broker-'));

interface Arm {
  name: string;
  rollout: number;
  update: number;
  step: number;
  /** the worker's own rollout time (broker arms) */
  worker: number;
  /** sampled tokens per second of rollout (in process: of the rollout phase; broker arms: of the worker's time) */
  tokps: number;
  bytes: Buffer;
}

async function arm(name: string, workers: number, staleness = 0): Promise<Arm> {
  const out = path.join(dir, name);
  const procs: ChildProcess[] = Array.from({ length: workers }, (_, i) => spawn(process.execPath, cli(['worker', '--broker', url, '--backend', a.backend, '--id', `${name}-${i}`]), { stdio: 'ignore' }));
  const args = [...grpoBenchArgs(out, a.backend, [`train.steps=${a.steps}`, `grpo.prompts=${a.prompts}`, `grpo.groupSize=${a.group}`, `grpo.staleness=${staleness}`]), ...(workers ? ['--broker', url] : [])];
  const r = spawnSync(process.execPath, cli(args), { cwd: ROOT, encoding: 'utf8' });
  for (const p of procs) p.kill('SIGKILL');
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  type Line = { phase_ms: Record<string, number>; tok_per_s: number; broker_worker_ms?: number };
  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  const later = lines.slice(1); // the first step also warms up the worker (weights, wasm) and, asynchronously, waits for it
  const sampled = (l: Line) => (l.tok_per_s * l.phase_ms.rollout) / 1000;
  return {
    name,
    rollout: median(later.map((l) => l.phase_ms.rollout)),
    update: median(later.map((l) => Object.entries(l.phase_ms).filter(([k]) => k !== 'rollout' && k !== 'submit').reduce((x, [, y]) => x + y, 0))),
    step: median(later.map((l) => Object.values(l.phase_ms).reduce((x, y) => x + y, 0))),
    worker: workers ? median(later.map((l) => l.broker_worker_ms ?? NaN)) : NaN,
    tokps: median(later.map((l) => sampled(l) / ((workers && l.broker_worker_ms ? l.broker_worker_ms : l.phase_ms.rollout) / 1000))),
    bytes: fs.readFileSync(path.join(out, `step-${String(a.steps).padStart(6, '0')}`, 'model.safetensors')),
  };
}

try {
  const k = a.staleness;
  const arms = [await arm('in-process', 0), await arm('sync-1', 1), await arm('sync-2', 2), await arm(`async${k}-1`, 1, k), await arm(`async${k}-2`, 2, k)];
  const [base, sync1] = arms;
  console.log(`tree GRPO, ${a.prompts} x ${a.group} trees per step, ${a.steps} steps (median of steps 2..${a.steps}), ${a.backend}, ${os.cpus().length} cores`);
  console.log('arm          rollout ms  worker ms  rest ms   step ms  step / in-process  rollout tok/s  same weights as');
  for (const x of arms) {
    const ref = x.name.startsWith('async') ? arms[3] : base;
    const same = x === ref ? '-' : `${ref.name}: ${x.bytes.equals(ref.bytes)}`;
    console.log(`${x.name.padEnd(12)} ${x.rollout.toFixed(0).padStart(10)} ${(Number.isNaN(x.worker) ? '-' : x.worker.toFixed(0)).padStart(10)} ${x.update.toFixed(0).padStart(8)} ${x.step.toFixed(0).padStart(9)} ${(x.step / base.step).toFixed(2).padStart(17)}x ${x.tokps.toFixed(0).padStart(14)}  ${same}`);
  }
  const target = Math.max(base.rollout, base.update) + 0.15 * sync1.step;
  console.log(`asynchronous target: step <= max(rollout ${base.rollout.toFixed(0)}, rest ${base.update.toFixed(0)}) + 15 % of the synchronous 1-worker step (${sync1.step.toFixed(0)}) = ${target.toFixed(0)} ms`);
  for (const x of arms.slice(3)) console.log(`  ${x.name}: ${x.step.toFixed(0)} ms (${x.step <= target ? 'met' : 'not met'})`);
} finally {
  await redis.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
