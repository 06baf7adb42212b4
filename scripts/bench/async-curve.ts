/**
 * Does asynchronous broker training (grpo.staleness k) learn like synchronous training? Trains the same GRPO run
 * (the shipped arithmetic policy as init, the tiny GRPO config on sums-long, --steps steps of --prompts x --group
 * trees) for each seed synchronously (in process: the same trajectory as a synchronous broker run, tested) and
 * asynchronously through a Redis broker with one `selfcest worker` process, and compares the training accuracy
 * (the rollouts' `acc`) and reward in windows of --window steps: per window the synchronous seeds' range (the
 * seed-to-seed spread) and whether each asynchronous seed's value lies inside it, plus the mean step time.
 *
 *   npx tsx scripts/bench/async-curve.ts [--seeds 1,2,3] [--steps 48] [--window 8] [--staleness 1] [--backend wasm]
 *                                        [--set key=value ...] [--keep DIR]
 *
 * Needs redis-server. Run it alone (timing).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { cli, grpoBenchArgs, ROOT, startRedis } from './common.ts';

const a = await yargs(hideBin(process.argv))
  .option('seeds', { type: 'string', default: '1,2,3' })
  .option('steps', { type: 'number', default: 48 })
  .option('window', { type: 'number', default: 8 })
  .option('staleness', { type: 'number', default: 1 })
  .option('prompts', { type: 'number', default: 4 })
  .option('group', { type: 'number', default: 4 })
  .option('backend', { type: 'string', default: 'wasm' })
  .option('set', { type: 'string', array: true, default: [] as string[], describe: 'more config overrides for every run (selfcest train --set)' })
  .option('keep', { type: 'string', describe: 'keep the runs (metrics.jsonl) in this directory' })
  .strict()
  .parse();
const seeds = a.seeds.split(',').map(Number);
const redis = await startRedis();
const url = redis.url;
const dir = a.keep ? path.resolve(a.keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'bench-async-curve-'));
fs.mkdirSync(dir, { recursive: true });

interface Line {
  acc: number;
  reward_mean: number;
  phase_ms: Record<string, number>;
}

function run(name: string, seed: number, staleness: number): Line[] {
  const out = path.join(dir, name);
  fs.rmSync(out, { recursive: true, force: true });
  const sets = [`train.steps=${a.steps}`, `train.seed=${seed}`, `grpo.prompts=${a.prompts}`, `grpo.groupSize=${a.group}`, `grpo.staleness=${staleness}`, ...a.set.map(String)];
  const args = [...grpoBenchArgs(out, a.backend, sets), ...(staleness ? ['--broker', url] : [])];
  const worker: ChildProcess | null = staleness ? spawn(process.execPath, cli(['worker', '--broker', url, '--backend', a.backend]), { stdio: 'ignore' }) : null;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, cli(args), { cwd: ROOT, encoding: 'utf8' });
  worker?.kill('SIGKILL');
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  console.error(`${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
}

const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
const windows = (ls: Line[], f: (l: Line) => number) => Array.from({ length: Math.ceil(ls.length / a.window) }, (_, w) => mean(ls.slice(w * a.window, (w + 1) * a.window).map(f)));

try {
  const sync = seeds.map((s) => run(`sync-s${s}`, s, 0));
  const lagged = seeds.map((s) => run(`async${a.staleness}-s${s}`, s, a.staleness));
  console.log(`tree GRPO, ${a.prompts} x ${a.group} trees per step, ${a.steps} steps, seeds ${seeds.join(',')}, ${a.backend}, ${os.cpus().length} cores; asynchronous: staleness ${a.staleness}, 1 worker process${a.set.length ? `; --set ${a.set.join(' ')}` : ''}`);
  for (const [label, f] of [['acc', (l: Line) => l.acc], ['reward', (l: Line) => l.reward_mean]] as const) {
    const sw = sync.map((ls) => windows(ls, f));
    const aw = lagged.map((ls) => windows(ls, f));
    console.log(`\n${label}, mean per ${a.window}-step window`);
    console.log(`steps      sync seeds            sync range        async seeds           async inside the range`);
    let inside = 0;
    let total = 0;
    for (let w = 0; w < sw[0].length; w++) {
      const col = sw.map((x) => x[w]);
      const lo = Math.min(...col);
      const hi = Math.max(...col);
      const av = aw.map((x) => x[w]);
      const ins = av.map((v) => v >= lo && v <= hi);
      inside += ins.filter(Boolean).length;
      total += ins.length;
      const fmt = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' ').padEnd(20);
      console.log(`${`${w * a.window + 1}-${Math.min(a.steps, (w + 1) * a.window)}`.padEnd(10)} ${fmt(col)}  ${`${lo.toFixed(3)}..${hi.toFixed(3)}`.padEnd(16)}  ${fmt(av)}  ${ins.map((x) => (x ? 'yes' : 'no')).join(' ')}`);
    }
    const all = (rs: Line[][]) => mean(rs.map((ls) => mean(ls.map(f))));
    console.log(`whole run: sync ${all(sync).toFixed(3)}, async ${all(lagged).toFixed(3)}; async windows inside the sync range: ${inside} of ${total}`);
  }
  const stepMs = (rs: Line[][]) => mean(rs.flatMap((ls) => ls.slice(1).map((l) => Object.values(l.phase_ms).reduce((x, y) => x + y, 0))));
  console.log(`\nmean step (steps 2..): sync in process ${stepMs(sync).toFixed(0)} ms, async ${stepMs(lagged).toFixed(0)} ms`);
} finally {
  await redis.stop();
  if (!a.keep) fs.rmSync(dir, { recursive: true, force: true });
}
