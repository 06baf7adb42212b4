/**
 * Broker benchmark: tree GRPO steps in process against the same steps with their rollouts on `selfcest worker`
 * processes through a Redis broker (synchronous mode: one job per step), on this machine. Each arm trains the same
 * run (the shipped arithmetic policy as init, --steps steps of --prompts x --group trees) and reads its
 * metrics.jsonl: per step the rollout phase (for a broker arm: upload, queue, the worker's rollout, transfer) and
 * the whole step (rollout + reward + advantage + logprob + update). Prints medians and ratios against the
 * in-process arm measured in the same run, and checks that every arm ends with the same weights.
 *
 *   npx tsx scripts/bench/broker.ts [--steps 6] [--prompts 4] [--group 4] [--backend wasm]
 *
 * Needs redis-server (Debian: apt-get install redis-server). Run it alone: two timing runs on 2 cores spoil both.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { median, ROOT } from './common.ts';

const a = await yargs(hideBin(process.argv))
  .option('steps', { type: 'number', default: 6 })
  .option('prompts', { type: 'number', default: 4 })
  .option('group', { type: 'number', default: 4 })
  .option('backend', { type: 'string', default: 'wasm' })
  .strict()
  .parse();

const port = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.error('redis-server not found (Debian: apt-get install redis-server)');
  process.exit(1);
}
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));
const url = `redis://127.0.0.1:${port}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-broker-'));
const cli = (args: string[]) => [path.join(ROOT, 'bin/selfcest.mjs'), ...args];

async function arm(name: string, workers: number): Promise<{ name: string; rollout: number; step: number; bytes: Buffer }> {
  const out = path.join(dir, name);
  const procs: ChildProcess[] = Array.from({ length: workers }, (_, i) => spawn(process.execPath, cli(['worker', '--broker', url, '--backend', a.backend, '--id', `${name}-${i}`]), { stdio: 'ignore' }));
  const args = ['train', '--backend', a.backend, '--config', 'configs/arith-grpo-tiny.json', '--out', out, '--set', 'init="checkpoints/results/arith-split-gated-sharp/seed-1/clones"', '--set', 'task.preset="sums-long"',
    '--set', `train.steps=${a.steps}`, '--set', 'train.saveEvery=0', '--set', `grpo.prompts=${a.prompts}`, '--set', `grpo.groupSize=${a.group}`, ...(workers ? ['--broker', url] : [])];
  const r = spawnSync(process.execPath, cli(args), { cwd: ROOT, encoding: 'utf8' });
  for (const p of procs) p.kill('SIGKILL');
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { phase_ms: Record<string, number> });
  const later = lines.slice(1); // the first step also warms up the worker (weights, wasm)
  return {
    name,
    rollout: median(later.map((l) => l.phase_ms.rollout)),
    step: median(later.map((l) => Object.values(l.phase_ms).reduce((x, y) => x + y, 0))),
    bytes: fs.readFileSync(path.join(out, `step-${String(a.steps).padStart(6, '0')}`, 'model.safetensors')),
  };
}

try {
  const arms = [await arm('in-process', 0), await arm('1-worker', 1), await arm('2-workers', 2)];
  const base = arms[0];
  console.log(`tree GRPO, ${a.prompts} x ${a.group} trees per step, ${a.steps} steps (median of steps 2..${a.steps}), ${a.backend}, ${os.cpus().length} cores`);
  console.log('arm          rollout ms   step ms   step / in-process   same weights');
  for (const x of arms) console.log(`${x.name.padEnd(12)} ${x.rollout.toFixed(0).padStart(10)} ${x.step.toFixed(0).padStart(9)} ${(x.step / base.step).toFixed(2).padStart(19)}x   ${x.bytes.equals(base.bytes)}`);
} finally {
  redis.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
}
