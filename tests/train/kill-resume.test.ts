// A run killed (SIGKILL) at 20 moments, half of them inside the places a crash is hardest to survive (a checkpoint
// save, the resume truncation of metrics.jsonl, an appended metrics line), half at random times, and resumed with
// `--resume auto` after each: its metrics history equals the uninterrupted run's (minus wall-clock fields) and its
// final weights and optimizer moments are bitwise equal.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ARGS = [
  'bin/selfcest.mjs', 'train', '--backend', 'wasm', '--config', 'configs/arith-sft-tiny.json',
  '--set', 'train.batchSize=2', '--set', 'train.steps=240', '--set', 'train.saveEvery=3', '--set', 'train.evalItems=0',
  '--set', 'train.workers=1', '--set', 'train.logEvery=1000',
];

/** The run's history without its wall-clock fields. */
const history = (run: string) =>
  fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { ms: _ms, tok_per_s: _t, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return rest;
  });
const latest = (run: string) => path.join(run, fs.readFileSync(path.join(run, 'latest'), 'utf8').trim());

/** The step of the run's checkpoint `latest` names (0 before the first). */
const savedStep = (run: string) => (fs.existsSync(path.join(run, 'latest')) ? Number(/step-(\d+)/.exec(fs.readFileSync(path.join(run, 'latest'), 'utf8'))?.[1] ?? 0) : 0);
/** The step of the last whole line of the run's metrics.jsonl (0 if none). */
function loggedStep(run: string): number {
  let text: string;
  try {
    text = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8');
  } catch {
    return 0;
  }
  const lines = text.split('\n').slice(0, -1); // the part after the last newline may be half written
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return Number((JSON.parse(lines[i]) as { step: number }).step);
    } catch {
      // a torn line left by an earlier kill: look further back
    }
  }
  return 0;
}

/**
 * Start `train --resume auto` into run and SIGKILL it after delayMs, or as soon as its metrics reach step `cap`,
 * whichever comes first (null: let it run); resolve with how it ended and its output.
 */
function attempt(run: string, env: Record<string, string>, delayMs: number | null, cap = Infinity): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...ARGS, '--out', run, '--resume', 'auto'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stdout!.on('data', (d) => (stderr += d));
    p.stderr!.on('data', (d) => (stderr += d));
    const timer = delayMs === null ? null : setTimeout(() => p.kill('SIGKILL'), delayMs);
    const watch = Number.isFinite(cap) ? setInterval(() => loggedStep(run) >= cap && p.kill('SIGKILL'), 10) : null;
    p.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (watch) clearInterval(watch);
      resolve({ code, signal, stderr });
    });
  });
}

describe('kill -9 at 20 moments, then resume', () => {
  it('ends with the uninterrupted history and bitwise-equal weights and moments', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-kill-'));
    const ref = path.join(dir, 'ref');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [...ARGS, '--out', ref], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const refMs = Date.now() - t0;

    const run = path.join(dir, 'killed');
    // crash points: inside saves (after the files, after the rename, before `latest` moves, before pruning), inside
    // the resume truncation (a resume's first rewrite of metrics.jsonl) and in a half-written metrics line
    const points = [
      'save:written:2', 'rewrite:metrics.jsonl:1', 'save:renamed:3', 'metrics:append:4', 'save:latest-written:1',
      'rewrite:config.json:1', 'save:before-prune:2', 'rewrite:metrics.jsonl:1', 'metrics:append:2', 'save:written:1',
    ];
    const rng = Rng.fromSeed('kill-moments');
    const kills: string[] = [];
    // attempts alternate an injected point and a random moment; one that ends on its own (a random moment after
    // the run finished) does not count, and the loop goes on until 20 kills have landed
    for (let k = 0; kills.length < 20 && k < 30; k++) {
      const injected = k % 2 === 0 && k / 2 < points.length ? points[k / 2] : null;
      // random moments from process start (tsx + backend start, then training) to a quarter of the reference run's
      // length; but never later than a share of the steps still to train, counted in the killed run's own metrics
      // (wall time alone let a killed run that was faster than the reference finish before its 20th kill)
      const delay = injected ? null : Math.round(500 + rng.next() * 0.25 * refMs);
      const saved = savedStep(run);
      const cap = injected ? Infinity : Math.min(saved + Math.max(6, Math.floor((240 - saved) / (21 - kills.length))), 234);
      const a = await attempt(run, injected ? { SELFCEST_CRASH_AT: injected } : {}, delay, cap);
      expect(a.code === 0 || a.signal === 'SIGKILL', a.stderr).toBe(true);
      if (injected) expect(a.signal, `crash point ${injected} was not reached`).toBe('SIGKILL');
      if (a.signal === 'SIGKILL') kills.push(injected ?? `${delay} ms or step ${cap}`);
      // a run killed before its first checkpoint has nothing to resume: the next attempt starts it fresh
    }
    expect(kills.length, kills.join(', ')).toBe(20);
    const last = await attempt(run, {}, null);
    expect(last.code, last.stderr).toBe(0);
    // and the 20 kills all landed before the run was done: the last attempt still had steps to train
    const from = Number(/training sft for steps (\d+)\.\.240/.exec(last.stderr)?.[1]);
    expect(from, last.stderr).toBeLessThanOrEqual(240);

    expect(history(run)).toEqual(history(ref));
    expect(path.basename(latest(run))).toBe('step-000240');
    for (const f of ['model.safetensors', 'optimizer.safetensors']) {
      expect(fs.readFileSync(path.join(latest(run), f)).equals(fs.readFileSync(path.join(latest(ref), f))), f).toBe(true);
    }
    expect(fs.readdirSync(run).filter((n) => n.startsWith('.tmp-') || /\.tmp-\d+$/.test(n) || n === '.lock')).toEqual([]);
  }, 600_000);
});
