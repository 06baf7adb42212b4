/**
 * On-disk checkpoint layout (see docs/checkpoints.md):
 *
 *   <runDir>/step-000200/{model.safetensors, optimizer.safetensors, state.json}
 *                        + tokenizer.json, tokenizer_config.json when the policy's tokenizer is not selfcest's own
 *   <runDir>/latest        text file naming the newest complete step directory, written last
 *
 * Saves are crash-safe: files go into a `.tmp-*` sibling directory that is fsynced and renamed into place, then
 * `latest` is replaced atomically. Pure TypeScript on plain typed arrays; the model code converts to/from tfjs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SelfcestError } from '../util/errors.ts';
import { crashPoint } from '../util/crash.ts';
import { writeFileDurable } from '../util/jsonl.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor, type StDtype } from './safetensors.ts';

export const CHECKPOINT_FORMAT = 1;

export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'state.json';
export const LATEST_FILE = 'latest';
const TMP_PREFIX = '.tmp-';
const STEP_DIR_RE = /^step-(\d{6,})$/;

export interface CheckpointState {
  format: number;
  step: number;
  config: unknown;
  rng: unknown;
  dataCursor: unknown;
  backend: string;
  metrics: Record<string, number>;
  createdAt: string;
  [k: string]: unknown;
}

export interface CheckpointData {
  model: NamedTensor[];
  optimizer: NamedTensor[];
  state: CheckpointState;
  /** text files the step carries beside the tensors (CARRIED_FILES: an imported model's tokenizer) */
  files?: Partial<Record<CarriedFile, string>>;
}

/** The optional files a step directory may carry, written with it and read back by loadCheckpoint. */
export const CARRIED_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;
export type CarriedFile = (typeof CARRIED_FILES)[number];

/** The carried files present in a directory, as text (none: undefined). */
export function readCarriedFiles(dir: string): CheckpointData['files'] {
  const present = CARRIED_FILES.filter((f) => fs.existsSync(path.join(dir, f)));
  return present.length ? Object.fromEntries(present.map((f) => [f, readOrFail(path.join(dir, f)).toString('utf8')])) : undefined;
}

export interface ExpectedTensor {
  name: string;
  shape: number[];
  dtype: StDtype;
}

export function stepDirName(step: number): string {
  if (!Number.isSafeInteger(step) || step < 0) throw new SelfcestError(`checkpoint step must be an integer >= 0, got ${step}`);
  return `step-${String(step).padStart(6, '0')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Durable file system helpers

/** fsync a directory so that renames/creations inside it survive a crash. Not possible on Windows; skipped there. */
function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isCompleteStepDir(dir: string): boolean {
  return [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE].every((f) => isFile(path.join(dir, f)));
}

/** Complete step directories of a run, newest (highest step) first. */
function listStepDirs(runDir: string): { name: string; step: number }[] {
  let names: string[];
  try {
    names = fs.readdirSync(runDir);
  } catch {
    return [];
  }
  const out: { name: string; step: number }[] = [];
  for (const name of names) {
    const m = STEP_DIR_RE.exec(name);
    if (m && isCompleteStepDir(path.join(runDir, name))) out.push({ name, step: Number(m[1]) });
  }
  return out.sort((a, b) => b.step - a.step);
}

function readLatestName(runDir: string): string | null {
  try {
    const name = fs.readFileSync(path.join(runDir, LATEST_FILE), 'utf8').trim();
    return STEP_DIR_RE.test(name) ? name : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Save

/**
 * Write a checkpoint for `data.state.step` under `runDir` and point `latest` at it. Afterwards keep only the newest
 * `keep` step directories (default 3; keep <= 0 keeps all); the directory `latest` names is never deleted.
 * Returns the step directory.
 */
export function saveCheckpoint(runDir: string, data: CheckpointData, opts: { keep?: number } = {}): string {
  const name = stepDirName(data.state.step);
  validateState(data.state, `${path.join(runDir, name, STATE_FILE)} (being saved)`);
  for (const f of Object.keys(data.files ?? {})) {
    if (!(CARRIED_FILES as readonly string[]).includes(f)) throw new SelfcestError(`saveCheckpoint: cannot carry "${f}" (expected one of ${CARRIED_FILES.join(', ')})`);
  }
  fs.mkdirSync(runDir, { recursive: true });
  cleanRunDir(runDir);

  const finalDir = path.join(runDir, name);
  const tmpDir = path.join(runDir, `${TMP_PREFIX}${name}-${process.pid}`);
  fs.mkdirSync(tmpDir);
  const meta = { format: String(CHECKPOINT_FORMAT), step: String(data.state.step) };
  writeFileDurable(path.join(tmpDir, MODEL_FILE), encodeSafetensors(data.model, meta));
  writeFileDurable(path.join(tmpDir, OPTIMIZER_FILE), encodeSafetensors(data.optimizer, meta));
  writeFileDurable(path.join(tmpDir, STATE_FILE), JSON.stringify(data.state, null, 2) + '\n');
  for (const [name, text] of Object.entries(data.files ?? {})) writeFileDurable(path.join(tmpDir, name), text!);
  fsyncDir(tmpDir);
  crashPoint('save:written');

  // Re-save of the same step: move the old directory aside (as a .tmp-* that findLatest ignores), then swap.
  // If we crash in between, findLatest falls back to the newest complete step directory.
  let oldDir: string | null = null;
  if (fs.existsSync(finalDir)) {
    oldDir = path.join(runDir, `${TMP_PREFIX}old-${name}-${process.pid}`);
    fs.renameSync(finalDir, oldDir);
  }
  fs.renameSync(tmpDir, finalDir);
  fsyncDir(runDir);
  if (oldDir) fs.rmSync(oldDir, { recursive: true, force: true });
  crashPoint('save:renamed');

  const tmpLatest = path.join(runDir, `${TMP_PREFIX}${LATEST_FILE}-${process.pid}`);
  writeFileDurable(tmpLatest, name + '\n');
  crashPoint('save:latest-written');
  fs.renameSync(tmpLatest, path.join(runDir, LATEST_FILE));
  fsyncDir(runDir);
  crashPoint('save:before-prune');

  prune(runDir, opts.keep ?? 3, name);
  return finalDir;
}

/**
 * Remove what interrupted saves leave in a run directory: `.tmp-*` entries, `<file>.tmp-<pid>` temporaries of
 * atomic rewrites, and step directories missing one of their files (findLatest and resume already skip them).
 * Returns the names removed, sorted; [] for a missing directory. One writer per run directory (lockRun): the
 * trainers call it when a run starts, and every save and removeRun call it too.
 */
export function cleanRunDir(runDir: string): string[] {
  if (!isDir(runDir)) return [];
  const removed: string[] = [];
  // the TensorBoard directory's atomic rewrites leave <file>.tmp-<pid> there too
  const tb = path.join(runDir, 'tb');
  if (isDir(tb)) {
    for (const name of fs.readdirSync(tb)) {
      if (/\.tmp-\d+$/.test(name)) {
        fs.rmSync(path.join(tb, name), { force: true });
        removed.push(`tb/${name}`);
      }
    }
  }
  for (const name of fs.readdirSync(runDir)) {
    const p = path.join(runDir, name);
    // .tmp-* (checkpoint saves), <file>.tmp-<pid> (atomic rewrites of metrics.jsonl and config.json), incomplete step dirs
    if (name.startsWith(TMP_PREFIX) || /\.tmp-\d+$/.test(name) || (STEP_DIR_RE.test(name) && isDir(p) && !isCompleteStepDir(p))) {
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed.sort();
}

export const LOCK_FILE = '.lock';

/** Whether a process with this pid exists (EPERM: it exists, under another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take a run directory for one writer: `<runDir>/.lock` holds the writer's pid. A lock whose process is gone
 * (a killed run) is taken over with a log line; a live one is refused, naming its pid. Returns the release
 * function (removes the lock if it is still ours).
 */
export function lockRun(runDir: string, log: (line: string) => void): () => void {
  fs.mkdirSync(runDir, { recursive: true });
  const file = path.join(runDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
    }
    const text = fs.readFileSync(file, 'utf8').trim();
    const pid = Number(text);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
      throw new SelfcestError(`${file}: this run directory is in use by pid ${pid} (another trainer); wait for it to end or stop it, or train into another --out`);
    }
    log(`note: ${file}: stale lock of pid ${text || '?'} (no such process): taken over`);
    fs.rmSync(file, { force: true });
  }
  return () => {
    try {
      if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file, { force: true });
    } catch {
      /* already gone */
    }
  };
}

function prune(runDir: string, keep: number, latestName: string): void {
  if (keep <= 0) return;
  const dirs = listStepDirs(runDir);
  for (const d of dirs.slice(keep)) {
    if (d.name !== latestName) fs.rmSync(path.join(runDir, d.name), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Locate

/**
 * The newest complete checkpoint of a run: the step directory `latest` names if it is complete, otherwise the
 * complete step directory with the highest step. `.tmp-*` leftovers are ignored. Null when there is none.
 */
/**
 * Start a run directory over: delete its step directories, `latest`, leftover temporaries and the run's
 * metrics (JSONL, CSV, TensorBoard) and config files. Other files are left alone.
 */
export function removeRun(runDir: string): void {
  if (!isDir(runDir)) return;
  for (const name of fs.readdirSync(runDir)) {
    if (STEP_DIR_RE.test(name)) fs.rmSync(path.join(runDir, name), { recursive: true, force: true });
  }
  cleanRunDir(runDir);
  for (const f of [LATEST_FILE, 'metrics.jsonl', 'metrics.csv', 'config.json', 'tb']) fs.rmSync(path.join(runDir, f), { recursive: true, force: true });
}

export function findLatest(runDir: string): string | null {
  if (!isDir(runDir)) return null;
  const named = readLatestName(runDir);
  if (named && isCompleteStepDir(path.join(runDir, named))) return path.join(runDir, named);
  const dirs = listStepDirs(runDir);
  return dirs.length > 0 ? path.join(runDir, dirs[0].name) : null;
}

/** Accept a step directory (contains state.json) or a run directory (follows `latest`). */
export function resolveCheckpointDir(pathOrRun: string): string {
  if (!fs.existsSync(pathOrRun)) throw new SelfcestError(`${pathOrRun}: no such checkpoint or run directory`);
  if (!isDir(pathOrRun)) throw new SelfcestError(`${pathOrRun}: not a directory (expected a step directory or a run directory)`);
  if (isFile(path.join(pathOrRun, STATE_FILE))) return pathOrRun;
  const latest = findLatest(pathOrRun);
  if (latest) return latest;
  throw new SelfcestError(
    `${pathOrRun}: no checkpoint found (expected a step directory with ${STATE_FILE}, or a run directory with complete step-* directories)`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Load + validate

/** A step directory's validated state.json alone (step, config, rngs, metrics), without reading any tensors. */
export function readCheckpointState(dir: string): CheckpointState {
  const statePath = path.join(dir, STATE_FILE);
  const stateText = readOrFail(statePath).toString('utf8');
  let state: unknown;
  try {
    state = JSON.parse(stateText);
  } catch (e) {
    throw new SelfcestError(`${statePath}: invalid JSON: ${(e as Error).message}`);
  }
  validateState(state, statePath);
  // JSON has no NaN/Infinity: a diverged metric was written as null. Read it back as NaN.
  for (const [k, v] of Object.entries(state.metrics)) if (v === null) state.metrics[k] = NaN;
  return state;
}

/**
 * Load and validate a step directory. `optimizer: 'optional'` also accepts a weights-only checkpoint (no
 * optimizer.safetensors, as `selfcest experiment --publish` writes them): its optimizer list is empty.
 */
export function loadCheckpoint(
  dir: string,
  expect: { model?: ExpectedTensor[]; optimizer?: ExpectedTensor[] } = {},
  opts: { optimizer?: 'required' | 'optional' } = {},
): CheckpointData {
  const state = readCheckpointState(dir);
  const model = loadTensors(path.join(dir, MODEL_FILE), expect.model);
  const optFile = path.join(dir, OPTIMIZER_FILE);
  const optimizer = opts.optimizer === 'optional' && !fs.existsSync(optFile) ? [] : loadTensors(optFile, expect.optimizer);
  const files = readCarriedFiles(dir);
  return { model, optimizer, state, ...(files ? { files } : {}) };
}

function readOrFail(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SelfcestError(`${file}: missing (incomplete or not a checkpoint directory?)`);
    throw new SelfcestError(`${file}: cannot read: ${(e as Error).message}`);
  }
}

function loadTensors(file: string, expected?: ExpectedTensor[]): NamedTensor[] {
  const { tensors } = decodeSafetensors(readOrFail(file), file);
  if (expected) checkExpected(file, tensors, expected);
  for (const t of tensors.values()) checkFinite(file, t);
  return [...tensors.values()];
}

/** Weights or optimizer moments holding NaN or ±Inf make every later computation garbage: refuse them by name. */
function checkFinite(file: string, t: NamedTensor): void {
  if (!(t.data instanceof Float32Array)) return;
  let first = -1;
  let count = 0;
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i])) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count > 0) {
    throw new SelfcestError(
      `${file}: tensor "${t.name}" holds ${count} non-finite value${count > 1 ? 's' : ''} (first at index ${first}): the run had diverged when this checkpoint was written; use an earlier step directory`,
    );
  }
}

const fmt = (shape: number[], dtype: string) => `${JSON.stringify(shape)} ${dtype}`;

function checkExpected(file: string, found: Map<string, NamedTensor>, expected: ExpectedTensor[]): void {
  const problems: string[] = [];
  const expectedNames = new Set<string>();
  for (const e of expected) {
    expectedNames.add(e.name);
    const t = found.get(e.name);
    if (!t) {
      problems.push(`tensor "${e.name}" is missing (expected ${fmt(e.shape, e.dtype)})`);
    } else if (t.dtype !== e.dtype || t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`tensor "${e.name}": expected ${fmt(e.shape, e.dtype)}, found ${fmt(t.shape, t.dtype)}`);
    }
  }
  for (const t of found.values()) {
    if (!expectedNames.has(t.name)) problems.push(`unexpected tensor "${t.name}" (${fmt(t.shape, t.dtype)})`);
  }
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new SelfcestError(`${file}: ${problems[0]}${more}`);
  }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Throws a SelfcestError naming `file` and the field at fault unless `x` is a valid CheckpointState. */
export function validateState(x: unknown, file: string): asserts x is CheckpointState {
  const fail = (msg: string): never => {
    throw new SelfcestError(`${file}: ${msg}`);
  };
  if (!isPlainObject(x)) return fail('expected a JSON object');
  const field = (key: string, ok: (v: unknown) => boolean, what: string) => {
    if (!(key in x) || x[key] === undefined) fail(`missing required field "${key}"`);
    if (!ok(x[key])) fail(`field "${key}" must be ${what}, found ${JSON.stringify(x[key])}`);
  };
  field('format', (v) => typeof v === 'number', 'a number');
  if (x.format !== CHECKPOINT_FORMAT) {
    fail(`field "format" is ${x.format} but this version of selfcest reads format ${CHECKPOINT_FORMAT}`);
  }
  field('step', (v) => Number.isSafeInteger(v) && (v as number) >= 0, 'an integer >= 0');
  field('config', isPlainObject, 'an object');
  field('rng', () => true, 'present');
  field('dataCursor', () => true, 'present');
  field('backend', (v) => typeof v === 'string', 'a string');
  field('metrics', (v) => isPlainObject(v) && Object.values(v).every((m) => typeof m === 'number' || m === null), 'an object of numbers');
  field('createdAt', (v) => typeof v === 'string', 'a string');
}
