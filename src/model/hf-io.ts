/**
 * Hugging Face directories ⇄ selfcest policies (layouts in hf.ts). No tfjs: weights move as named arrays.
 *
 *   <out>/config.json              transformers' config (gpt2 or gpt_neox)
 *   <out>/model.safetensors        the weights in that layout (F32)
 *   <out>/generation_config.json   bos / eos / pad ids
 *   <out>/tokenizer.json, tokenizer_config.json, special_tokens_map.json   selfcest's tokenizer, the clone protocol's
 *                                  special tokens included (ids 0..31)
 *   <out>/selfcest.json            what transformers does not keep: the run config, step and provenance of the
 *                                  checkpoint, so that an imported export behaves as the checkpoint did
 *
 * An HF directory is accepted wherever a checkpoint is (eval, sample, rollout, info, GRPO `init`): its model config
 * comes from config.json, checked against selfcest.json when present; its tokenizer must be selfcest's (the policy
 * reads and writes the protocol's token ids).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../checkpoint/safetensors.ts';
import { CHECKPOINT_FORMAT, MODEL_FILE, STATE_FILE, type CheckpointData, type CheckpointState } from '../checkpoint/store.ts';
import { readJsonFile } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/jsonl.ts';
import { filesSha256 } from '../util/provenance.ts';
import { type ModelConfig } from './config.ts';
import { fromHf, fromHfConfig, hfConfig, hfFormatOf, toHf, type Arrays, type HfFormat } from './hf.ts';

export const HF_CONFIG_FILE = 'config.json';
export const SELFCEST_FILE = 'selfcest.json';
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;
const DEFAULT_TOKENIZER_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'tokenizer');

/** A directory in HF layout (config.json + model.safetensors, no selfcest state.json). */
export function isHfDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, HF_CONFIG_FILE)) && fs.existsSync(path.join(dir, MODEL_FILE)) && !fs.existsSync(path.join(dir, STATE_FILE));
}

const toArrays = (ts: readonly NamedTensor[]): Arrays => new Map(ts.map((t) => [t.name, { shape: t.shape, data: t.data as Float32Array }]));
const toNamed = (a: Arrays): NamedTensor[] => [...a].map(([name, x]) => ({ name, shape: x.shape, dtype: 'F32' as const, data: x.data }));

export interface ExportOptions {
  /** the tokenizer directory the policy was trained with (default: the project's tokenizer/) */
  tokenizerDir?: string;
}

/** Write a loaded checkpoint as an HF directory `out` (created; files written atomically). Returns its format. */
export function exportHf(ck: { dir: string; config: ModelConfig; data: CheckpointData }, out: string, opts: ExportOptions = {}): HfFormat {
  const tokDir = opts.tokenizerDir ?? DEFAULT_TOKENIZER_DIR;
  fs.mkdirSync(out, { recursive: true });
  const c = ck.config;
  const ids = { pad: 0, eos: 1, bos: 3 }; // <pad>, <eos>, <bos> (src/tokenizer: SPECIAL_TOKENS)
  const hf = toHf(c, toArrays(ck.data.model));
  writeFileAtomic(path.join(out, MODEL_FILE), encodeSafetensors(toNamed(hf), { format: 'pt' }));
  writeFileAtomic(path.join(out, HF_CONFIG_FILE), JSON.stringify(hfConfig(c, ids), null, 2) + '\n');
  writeFileAtomic(path.join(out, 'generation_config.json'), JSON.stringify({ bos_token_id: ids.bos, eos_token_id: ids.eos, pad_token_id: ids.pad }, null, 2) + '\n');
  for (const f of TOKENIZER_FILES) writeFileAtomic(path.join(out, f), fs.readFileSync(path.join(tokDir, f)));
  const tcfg = JSON.parse(fs.readFileSync(path.join(tokDir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const map = Object.fromEntries(['bos_token', 'eos_token', 'pad_token', 'unk_token', 'additional_special_tokens'].filter((k) => k in tcfg).map((k) => [k, tcfg[k]]));
  writeFileAtomic(path.join(out, 'special_tokens_map.json'), JSON.stringify(map, null, 2) + '\n');
  const sidecar = { format: 1, source: ck.dir, step: ck.data.state.step, config: ck.data.state.config, provenance: ck.data.state.provenance ?? null, tokenizer: filesSha256(...TOKENIZER_FILES.map((f) => path.join(tokDir, f))) };
  writeFileAtomic(path.join(out, SELFCEST_FILE), JSON.stringify(sidecar, null, 2) + '\n');
  return hfFormatOf(c);
}

/** JSON with object keys sorted (comparisons that ignore key order). */
const canonical = (x: unknown): string => JSON.stringify(x, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));

function readJsonObject(file: string): Record<string, unknown> {
  const x = readJsonFile(file);
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new SelfcestError(`${file}: expected a JSON object`);
  return x as Record<string, unknown>;
}

/**
 * An HF directory as checkpoint data in our layout: the model config from config.json, the weights converted, the
 * run config and step from selfcest.json when present (else a state with the model config alone, step 0).
 */
export function loadHfPolicyData(dir: string, opts: ExportOptions = {}): { dir: string; config: ModelConfig; data: CheckpointData } {
  const { config, state } = readHfState(dir, opts);
  const weightsFile = path.join(dir, MODEL_FILE);
  const { tensors } = decodeSafetensors(fs.readFileSync(weightsFile), weightsFile);
  for (const t of tensors.values()) {
    if (t.dtype !== 'F32') throw new SelfcestError(`${weightsFile}: tensor "${t.name}" is ${t.dtype}; selfcest reads F32 weights`);
  }
  const arrays = fromHf(config, toArrays([...tensors.values()]), weightsFile);
  for (const [name, a] of arrays) {
    if (!a.data.every(Number.isFinite)) throw new SelfcestError(`${weightsFile}: tensor for "${name}" holds a non-finite value`);
  }
  return { dir, config, data: { model: toNamed(arrays), optimizer: [], state } };
}

/**
 * An HF directory's checkpoint state without reading its weights: the model config from config.json, the run
 * config and step from selfcest.json when present (else the model config alone, step 0); the tokenizer checked.
 */
export function readHfState(dir: string, opts: ExportOptions = {}): { config: ModelConfig; state: CheckpointState } {
  const cfgFile = path.join(dir, HF_CONFIG_FILE);
  const config = fromHfConfig(readJsonObject(cfgFile), cfgFile);
  // the policy speaks the clone protocol in selfcest's token ids: another tokenizer cannot be used
  const tokDir = opts.tokenizerDir ?? DEFAULT_TOKENIZER_DIR;
  const theirs = TOKENIZER_FILES.map((f) => path.join(dir, f));
  if (fs.existsSync(theirs[0])) {
    const a = JSON.parse(fs.readFileSync(theirs[0], 'utf8')) as { model?: unknown; added_tokens?: unknown };
    const b = JSON.parse(fs.readFileSync(path.join(tokDir, TOKENIZER_FILES[0]), 'utf8')) as { model?: unknown; added_tokens?: unknown };
    if (JSON.stringify(a.model) !== JSON.stringify(b.model) || JSON.stringify(a.added_tokens) !== JSON.stringify(b.added_tokens)) {
      throw new SelfcestError(`${theirs[0]}: not selfcest's tokenizer (vocabulary or special tokens differ); selfcest runs policies with its own tokenizer (docs/tokenizer.md), so this model cannot be used as it is`);
    }
  }
  const weightsFile = path.join(dir, MODEL_FILE);
  let runConfig: Record<string, unknown> = { model: config };
  let step = 0;
  const sidecarFile = path.join(dir, SELFCEST_FILE);
  if (fs.existsSync(sidecarFile)) {
    const s = readJsonObject(sidecarFile);
    const model = (s.config as { model?: unknown } | null)?.model;
    if (model !== undefined && canonical(model) !== canonical(config)) {
      throw new SelfcestError(`${sidecarFile}: config.model ${JSON.stringify(model)} disagrees with ${cfgFile} (${JSON.stringify(config)})`);
    }
    if (s.config && typeof s.config === 'object') runConfig = { ...(s.config as object), model: config };
    if (typeof s.step === 'number') step = s.step;
  }
  const state: CheckpointState = { format: CHECKPOINT_FORMAT, step, config: runConfig, rng: {}, dataCursor: {}, backend: 'hf-import', metrics: {}, createdAt: new Date(fs.statSync(weightsFile).mtimeMs).toISOString(), imported: dir };
  return { config, state };
}
