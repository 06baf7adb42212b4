/**
 * Run an experiment's stages in order, each as a `selfcest` child process (a crash loses at most the stage in
 * flight: train stages resume from their latest checkpoint, finished stages are skipped). Every stage's output
 * goes to the terminal with a `[k/N stage]` prefix and to logs/<stage>.log; its CPU seconds (all threads of the
 * child, from process.resourceUsage) and wall seconds go to stages.jsonl.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { findLatest, readCheckpointState, STATE_FILE } from '../checkpoint/store.ts';
import { readEvalIndex } from '../eval/evaluate.ts';
import { runConfig } from '../train/config.ts';
import { SelfcestError } from '../util/errors.ts';
import { readJsonFile, validate } from '../util/config-file.ts';
import { readJsonl, writeFileAtomic } from '../util/jsonl.ts';
import { formatDuration, logToStderr } from '../util/progress.ts';
import { commandLine, type Stage } from './plan.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/selfcest.mjs');

export const StageRecordSchema = z.object({
  stage: z.string(),
  status: z.enum(['done', 'skipped']),
  command: z.string(),
  /** null when the child could not report its CPU time */
  cpu_s: z.number().nullable(),
  wall_s: z.number(),
  finished_at: z.string(),
});
export type StageRecord = z.infer<typeof StageRecordSchema>;

/** Whether a stage's output is already complete (then it is skipped). */
export function stageDone(s: Stage): boolean {
  if (s.kind === 'train') {
    const latest = fs.existsSync(s.out) ? findLatest(s.out) : null;
    if (latest === null) return false;
    const state = readCheckpointState(latest);
    // a run that trains on until a held-out loss marks its last checkpoint complete, possibly before s.steps
    return state.complete === true || state.step >= (s.steps ?? Infinity);
  }
  if (s.kind === 'eval') {
    try {
      return readEvalIndex(s.out).complete;
    } catch {
      return false; // no index yet, or one this version cannot read: evaluate again
    }
  }
  return false;
}

export interface RunOptions {
  dir: string;
  log?: (line: string) => void;
  /** run the CLI with these extra arguments appended to every stage (e.g. --backend wasm) */
  extraArgs?: string[];
}

export async function runStages(stages: readonly Stage[], o: RunOptions): Promise<StageRecord[]> {
  const log = o.log ?? logToStderr;
  fs.mkdirSync(path.join(o.dir, 'logs'), { recursive: true });
  writeFileAtomic(path.join(o.dir, 'commands.sh'), `#!/bin/sh\n# every stage of this experiment, in order (written by selfcest experiment)\nset -e\n${stages.map(commandLine).join('\n')}\n`);
  const records: StageRecord[] = [];
  const t0 = performance.now();
  for (const [k, s] of stages.entries()) {
    const tag = `[${k + 1}/${stages.length} ${s.name}]`;
    if (s.reused) {
      checkReused(s);
      log(`${tag} reusing the complete warm start ${s.out}`);
      records.push({ stage: s.name, command: commandLine(s), status: 'skipped', cpu_s: 0, wall_s: 0, finished_at: new Date().toISOString() });
      continue;
    }
    if (s.config) {
      fs.mkdirSync(path.dirname(s.config.file), { recursive: true });
      writeFileAtomic(s.config.file, JSON.stringify(s.config.value, null, 2) + '\n');
    }
    const rec = { stage: s.name, command: commandLine(s), finished_at: '' };
    if (stageDone(s)) {
      log(`${tag} already complete in ${s.out}: skipped`);
      records.push({ ...rec, status: 'skipped', cpu_s: 0, wall_s: 0, finished_at: new Date().toISOString() });
      continue;
    }
    log(`${tag} ${rec.command}   (elapsed ${formatDuration((performance.now() - t0) / 1000)})`);
    const args = [...s.args, ...(s.kind === 'eval' ? ['--overwrite'] : []), ...(s.kind !== 'compare' ? (o.extraArgs ?? []) : [])];
    const usage = await runChild(args, path.join(o.dir, 'logs', `${s.name}.log`), tag, log);
    const r: StageRecord = { ...rec, status: 'done', cpu_s: usage.cpu, wall_s: usage.wall, finished_at: new Date().toISOString() };
    records.push(r);
    fs.appendFileSync(path.join(o.dir, 'stages.jsonl'), JSON.stringify(r) + '\n');
    log(`${tag} done: ${r.cpu_s === null ? '?' : r.cpu_s.toFixed(0)} CPU s, ${formatDuration(r.wall_s)} wall`);
  }
  return records;
}

/**
 * A reused SFT stage (sftFrom) must be complete and made from the same config; it is never trained from here. It is
 * either another experiment's run directory (with its configs/seed-<s>-sft.json) or a published warm start, weights
 * only (checkpoints/results/<name>/seed-<s>/sft, as `--publish` writes it), whose state.json holds the config it was
 * trained with. Configs are compared resolved (defaults filled in), so a key added later with a default does not
 * make an older warm start "differ".
 */
function checkReused(s: Stage): void {
  const file = s.config!.file;
  const published = path.join(s.out, STATE_FILE);
  const same = (theirs: unknown, where: string) => isDeepStrictEqual(runConfig(theirs, where), runConfig(s.config!.value));
  if (!fs.existsSync(file) && fs.existsSync(published)) {
    const state = readCheckpointState(s.out);
    if (!same(state.config, published)) {
      throw new SelfcestError(`sftFrom: ${published} was trained from another sft config than this experiment's (seed included): the warm start would not be the same`);
    }
    if (state.complete !== true && state.step < (s.steps ?? Infinity)) throw new SelfcestError(`sftFrom: ${s.out} has not reached step ${s.steps} (it is at ${state.step})`);
    return;
  }
  if (!fs.existsSync(file)) {
    throw new SelfcestError(`sftFrom: ${file} does not exist (nor a published warm start ${published}): run that experiment's SFT first (its ${s.name} stage)`);
  }
  if (!same(readJsonFile(file), file)) throw new SelfcestError(`sftFrom: ${file} differs from this experiment's sft section (seed included): the warm start would not be the same`);
  if (!stageDone(s)) throw new SelfcestError(`sftFrom: ${s.out} has not reached step ${s.steps}: finish that experiment's SFT first (${commandLine(s)})`);
}

/** Run `selfcest <args>`, teeing its output; resolves with CPU seconds (user + system, all threads) and wall seconds. */
function runChild(args: string[], logFile: string, tag: string, log: (l: string) => void): Promise<{ cpu: number | null; wall: number }> {
  const usageFile = `${logFile}.rusage.json`;
  fs.rmSync(usageFile, { force: true });
  const out = fs.createWriteStream(logFile);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, SELFCEST_RUSAGE: usageFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    const pipe = (stream: NodeJS.ReadableStream) => {
      let buf = '';
      stream.on('data', (d: Buffer) => {
        out.write(d);
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) if (!l.startsWith('var Module')) log(`${tag} ${l.slice(0, 400)}`);
      });
      stream.on('end', () => buf && log(`${tag} ${buf.slice(0, 400)}`));
    };
    pipe(child.stdout!);
    pipe(child.stderr!);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      out.end();
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) {
        reject(new SelfcestError(`stage ${tag} failed (${signal ?? `exit ${code}`}); its output is in ${logFile}. Fix the cause and rerun: finished stages are skipped, train stages resume.`));
        return;
      }
      let cpu: number | null = null;
      try {
        const u = JSON.parse(fs.readFileSync(usageFile, 'utf8')) as { userCPUTime: number; systemCPUTime: number };
        cpu = (u.userCPUTime + u.systemCPUTime) / 1e6;
      } catch {
        /* the child could not report: CPU time unknown */
      }
      resolve({ cpu, wall });
    });
  });
}

/** The stage records of an experiment directory (stages.jsonl), checked line by line. */
export function readStageRecords(dir: string): StageRecord[] {
  const f = path.join(dir, 'stages.jsonl');
  return fs.existsSync(f) ? readJsonl(f, (obj, where) => validate(StageRecordSchema, obj, where)) : [];
}
