/**
 * Shared pieces of the speed benchmarks: the tiny-GPT config, the deterministic data of torch_gpt.py, the
 * PyTorch baseline runner (Debian's /usr/bin/python3 with python3-torch), medians and a result table.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BACKEND_CHOICES, selectBackend, type BackendChoice, type BackendInfo } from '../../src/backend/select.ts';
import { modelConfig } from '../../src/model/config.ts';
import { findRedis, TestRedis } from '../../tests/distributed/redis.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** Debian's system Python by default (a pyenv shim first on PATH cannot see python3-torch); --python overrides. */
export const DEFAULT_PYTHON = '/usr/bin/python3';

/**
 * Model-size and baseline options shared by the benchmarks. Defaults: the tiny GPT of the notes (vocab 64, d 128,
 * 4 layers, 4 heads, ctx 128: 826,112 parameters) and PyTorch on the CPU.
 */
export const SIZE_OPTIONS = {
  vocab: { type: 'number', default: 64 },
  d: { type: 'number', default: 128 },
  layers: { type: 'number', default: 4 },
  heads: { type: 'number', default: 4 },
  ctx: { type: 'number', default: 128 },
  torch: { type: 'boolean', default: true, describe: 'also run the PyTorch baseline (--no-torch to skip)' },
  'torch-device': { type: 'string', default: 'cpu', describe: 'PyTorch device for the baseline: cpu or cuda' },
  python: { type: 'string', default: DEFAULT_PYTHON, describe: 'Python with torch for the baseline' },
} as const;

export function sizeConfig(a: { vocab: number; d: number; layers: number; heads: number; ctx: number }) {
  return modelConfig({ vocabSize: a.vocab, ctx: a.ctx, dModel: a.d, nLayers: a.layers, nHeads: a.heads });
}

/** torch_gpt.py flags for the same model size and baseline device */
export function torchSizeArgs(a: { vocab: number; d: number; layers: number; heads: number; ctx: number; 'torch-device': string }): string[] {
  return ['--vocab', String(a.vocab), '--d', String(a.d), '--layers', String(a.layers), '--heads', String(a.heads), '--ctx', String(a.ctx), '--device', a['torch-device']];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The LCG row starts and x_{t+1} = (5 x_t + 3) mod V sequences of torch_gpt.py. */
export function lcgBatches(n: number, B: number, T: number, V: number, seed: number) {
  let s = BigInt(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    const ids = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      s = (1103515245n * s + 12345n) % 2147483648n;
      let x = Number(s >> 16n) % V;
      for (let t = 0; t <= T; t++) {
        if (t < T) ids[b * T + t] = x;
        if (t > 0) targets[b * T + t - 1] = x;
        x = (5 * x + 3) % V;
      }
    }
    out.push({ ids, targets, mask: new Float32Array(B * T).fill(1), B, T });
  }
  return out;
}

export interface TorchResult {
  [k: string]: unknown;
  error?: string;
}

export const TORCH_HINT =
  'PyTorch baseline skipped: install Debian\'s torch and OpenBLAS with `apt-get install -y python3-torch libopenblas0-pthread` ' +
  '(it is visible to /usr/bin/python3 only, not to a pyenv python3)';

/** Run scripts/bench/torch_gpt.py; null (with a printed reason) when PyTorch is unavailable. */
export function runTorch(args: string[], python = DEFAULT_PYTHON): TorchResult | null {
  const PY = python;
  if (PY.includes('/') && !fs.existsSync(PY)) {
    console.log(TORCH_HINT);
    return null;
  }
  const r = spawnSync(PY, [path.join(ROOT, 'scripts/bench/torch_gpt.py'), ...args], { encoding: 'utf8', timeout: 600_000 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let parsed: TorchResult | null = null;
  try {
    parsed = JSON.parse(line) as TorchResult;
  } catch {
    parsed = null;
  }
  if (!parsed || parsed.error || r.status !== 0) {
    console.log(parsed?.error ? `${TORCH_HINT} (${parsed.error})` : `PyTorch baseline failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').pop()}`);
    return null;
  }
  return parsed;
}

export function table(rows: string[][]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((x, c) => x.padEnd(w[c])).join('  ')).join('\n');
}

/** The backend option every benchmark takes (wasm by default: the CPU workhorse). */
export const BACKEND_OPTION = { choices: BACKEND_CHOICES, default: 'wasm' as BackendChoice } as const;

/** Select the backend and print the two lines every benchmark starts with: which backend and why, the machine. */
export async function startBench(backend: BackendChoice): Promise<BackendInfo> {
  const info = await selectBackend(backend);
  console.log(info.reason);
  console.log(`machine: ${machine()}`);
  return info;
}

export function machine(): string {
  const cpus = os.cpus().length;
  let model = '';
  try {
    model = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    /* not linux */
  }
  return `${model || 'unknown CPU'}, ${cpus ?? '?'} cores, Node ${process.version}`;
}

/**
 * A throwaway Redis server for the broker benchmarks (the broker tests' helper): redis-server on 127.0.0.1 at a free
 * port, no persistence. Exits with the reason when there is none.
 */
export async function startRedis(): Promise<TestRedis> {
  const found = findRedis();
  if ('why' in found) {
    console.error(found.why);
    process.exit(1);
  }
  return TestRedis.start(found.bin);
}

/** The selfcest CLI's argv for `node`. */
export const cli = (args: string[]) => [path.join(ROOT, 'bin/selfcest.mjs'), ...args];

/**
 * `selfcest train` arguments of the broker benchmarks' GRPO run: the tiny GRPO config from the shipped arithmetic
 * policy (arith-split-gated-sharp seed 1) on sums-long, no checkpoints but the last, plus `sets` (key=value).
 */
export function grpoBenchArgs(out: string, backend: string, sets: string[]): string[] {
  return ['train', '--backend', backend, '--config', 'configs/arith-grpo-tiny.json', '--out', out, '--set', 'init="checkpoints/results/arith-split-gated-sharp/seed-1/clones"',
    '--set', 'task.preset="sums-long"', '--set', 'train.saveEvery=0', ...sets.flatMap((x) => ['--set', x])];
}
