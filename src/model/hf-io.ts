/**
 * Hugging Face directories ⇄ selfcest policies (layouts in hf.ts). No tfjs: weights move as named arrays.
 *
 *   <out>/config.json              transformers' config (gpt2 or gpt_neox)
 *   <out>/model.safetensors        the weights in that layout (F32)
 *   <out>/generation_config.json   bos / eos / pad ids
 *   <out>/tokenizer.json, tokenizer_config.json, special_tokens_map.json   the policy's tokenizer (selfcest's, or the
 *                                  imported model's with the protocol tokens added), the clone protocol's tokens included
 *   <out>/selfcest.json            what transformers does not keep: the run config, step and provenance of the
 *                                  checkpoint, so that an imported export behaves as the checkpoint did
 *
 * An HF directory is accepted wherever a checkpoint is (eval, sample, rollout, info, SFT and GRPO `init`): its model
 * config comes from config.json, checked against selfcest.json when present. Its tokenizer is its tokenizer.json
 * (selfcest's when it has none). The policy reads and writes the clone protocol's tokens, so those the tokenizer lacks
 * are appended as special added tokens at the next free ids (withProtocolTokens) and the vocabulary grows by as many:
 * each new row of wte (and column of an untied lm_head) is the mean of the model's existing rows (columns), so every
 * logit over the model's own ids is unchanged and the new tokens start where an average token is. config.json's
 * vocab_size must equal the tokenizer's id count (padded vocabularies are refused: docs/tokenizer.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../checkpoint/safetensors.ts';
import { CHECKPOINT_FORMAT, MODEL_FILE, STATE_FILE, type CheckpointData, type CheckpointState } from '../checkpoint/store.ts';
import { isDefaultTokenizer, readTokenizerFiles, tokenizerFromFiles, tokenizerSha256, withProtocolTokens, type TokenizerFiles } from '../tokenizer/index.ts';
import { readJsonFile } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/jsonl.ts';
import { type ModelConfig } from './config.ts';
import { fromHf, fromHfConfig, hfConfig, hfFormatOf, toHf, type Arrays, type HfFormat } from './hf.ts';

export const HF_CONFIG_FILE = 'config.json';
export const SELFCEST_FILE = 'selfcest.json';

/** A directory in HF layout (config.json + model.safetensors, no selfcest state.json). */
export function isHfDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, HF_CONFIG_FILE)) && fs.existsSync(path.join(dir, MODEL_FILE)) && !fs.existsSync(path.join(dir, STATE_FILE));
}

const toArrays = (ts: readonly NamedTensor[]): Arrays => new Map(ts.map((t) => [t.name, { shape: t.shape, data: t.data as Float32Array }]));
const toNamed = (a: Arrays): NamedTensor[] => [...a].map(([name, x]) => ({ name, shape: x.shape, dtype: 'F32' as const, data: x.data }));

/** A checkpoint's tokenizer files: those it carries (an imported model's), else selfcest's own. */
export function checkpointTokenizerFiles(data: Pick<CheckpointData, 'files'>): TokenizerFiles {
  const f = data.files;
  return f?.['tokenizer.json'] !== undefined && f['tokenizer_config.json'] !== undefined ? { 'tokenizer.json': f['tokenizer.json'], 'tokenizer_config.json': f['tokenizer_config.json'] } : readTokenizerFiles();
}

/** Write a loaded checkpoint as an HF directory `out` (created; files written atomically). Returns its format. */
export function exportHf(ck: { dir: string; config: ModelConfig; data: CheckpointData }, out: string): HfFormat {
  const files = checkpointTokenizerFiles(ck.data);
  const tok = tokenizerFromFiles(files, ck.dir);
  if (tok.vocabSize !== ck.config.vocabSize) throw new SelfcestError(`export: ${ck.dir} has a vocabulary of ${ck.config.vocabSize} but its tokenizer has ${tok.vocabSize} tokens`);
  fs.mkdirSync(out, { recursive: true });
  const c = ck.config;
  const ids = { pad: tok.id('<pad>'), eos: tok.id('<eos>'), bos: tok.id('<bos>') };
  const hf = toHf(c, toArrays(ck.data.model));
  writeFileAtomic(path.join(out, MODEL_FILE), encodeSafetensors(toNamed(hf), { format: 'pt' }));
  writeFileAtomic(path.join(out, HF_CONFIG_FILE), JSON.stringify(hfConfig(c, ids), null, 2) + '\n');
  writeFileAtomic(path.join(out, 'generation_config.json'), JSON.stringify({ bos_token_id: ids.bos, eos_token_id: ids.eos, pad_token_id: ids.pad }, null, 2) + '\n');
  for (const [f, text] of Object.entries(files)) writeFileAtomic(path.join(out, f), text);
  const tcfg = JSON.parse(files['tokenizer_config.json']) as Record<string, unknown>;
  const map = Object.fromEntries(['bos_token', 'eos_token', 'pad_token', 'unk_token', 'additional_special_tokens'].filter((k) => k in tcfg).map((k) => [k, tcfg[k]]));
  writeFileAtomic(path.join(out, 'special_tokens_map.json'), JSON.stringify(map, null, 2) + '\n');
  const sidecar = { format: 1, source: ck.dir, step: ck.data.state.step, config: ck.data.state.config, provenance: ck.data.state.provenance ?? null, tokenizer: tokenizerSha256(files) };
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
 * An HF directory's tokenizer as the policy will use it: its tokenizer.json with the protocol tokens it lacks added
 * (`added`, at ids from `firstId`), or selfcest's own when the directory has none (nothing added).
 */
export function hfTokenizer(dir: string): { files: TokenizerFiles; added: number; firstId: number; own: boolean } {
  if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) {
    const files = readTokenizerFiles();
    return { files, added: 0, firstId: tokenizerFromFiles(files).vocabSize, own: false };
  }
  // a tokenizer.json without a tokenizer_config.json (some exports): an empty config
  const files: TokenizerFiles = {
    'tokenizer.json': fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'),
    'tokenizer_config.json': fs.existsSync(path.join(dir, 'tokenizer_config.json')) ? fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8') : '{}\n',
  };
  const grown = withProtocolTokens(files, dir);
  return { files: grown.files, added: grown.added.length, firstId: grown.firstId, own: true };
}

/** The model's arrays with `k` more vocabulary entries: new wte rows [V, d] and lm_head columns [d, V] = the means. */
export function growVocabulary(c: ModelConfig, arrays: Arrays, k: number): Arrays {
  if (k === 0) return arrays;
  const V = c.vocabSize;
  const d = c.dModel;
  const out: Arrays = new Map(arrays);
  const wte = arrays.get('wte.weight')!;
  const rows = new Float32Array((V + k) * d);
  rows.set(wte.data);
  const mean = new Float64Array(d);
  for (let v = 0; v < V; v++) for (let j = 0; j < d; j++) mean[j] += wte.data[v * d + j];
  for (let i = 0; i < k; i++) for (let j = 0; j < d; j++) rows[(V + i) * d + j] = mean[j] / V;
  out.set('wte.weight', { shape: [V + k, d], data: rows });
  const head = arrays.get('lm_head.weight');
  if (head) {
    const cols = new Float32Array(d * (V + k));
    for (let j = 0; j < d; j++) {
      let m = 0;
      for (let v = 0; v < V; v++) m += head.data[j * V + v];
      cols.set(head.data.subarray(j * V, (j + 1) * V), j * (V + k));
      cols.fill(m / V, j * (V + k) + V, (j + 1) * (V + k));
    }
    out.set('lm_head.weight', { shape: [d, V + k], data: cols });
  }
  return out;
}

/**
 * An HF directory as checkpoint data in our layout: the model config from config.json (the vocabulary grown by the
 * protocol tokens its tokenizer lacked), the weights converted, the tokenizer as carried files when it is not
 * selfcest's, the run config and step from selfcest.json when present (else a state with the model config, step 0).
 */
export function loadHfPolicyData(dir: string): { dir: string; config: ModelConfig; data: CheckpointData } {
  const { config, state, tokenizer, original } = readHfStateAndTokenizer(dir);
  const weightsFile = path.join(dir, MODEL_FILE);
  const { tensors } = decodeSafetensors(fs.readFileSync(weightsFile), weightsFile);
  for (const t of tensors.values()) {
    if (t.dtype !== 'F32') throw new SelfcestError(`${weightsFile}: tensor "${t.name}" is ${t.dtype}; selfcest reads F32 weights`);
  }
  const arrays = growVocabulary(original, fromHf(original, toArrays([...tensors.values()]), weightsFile), tokenizer.added);
  for (const [name, a] of arrays) {
    if (!a.data.every(Number.isFinite)) throw new SelfcestError(`${weightsFile}: tensor for "${name}" holds a non-finite value`);
  }
  const files = isDefaultTokenizer({ sha256: tokenizerSha256(tokenizer.files) }) ? undefined : tokenizer.files;
  return { dir, config, data: { model: toNamed(arrays), optimizer: [], state, ...(files ? { files } : {}) } };
}

/**
 * An HF directory's checkpoint state without reading its weights: the model config from config.json (vocabulary
 * grown by the protocol tokens added to its tokenizer), the run config and step from selfcest.json when present
 * (else the model config alone, step 0).
 */
export function readHfState(dir: string): { config: ModelConfig; state: CheckpointState } {
  const { config, state } = readHfStateAndTokenizer(dir);
  return { config, state };
}

function readHfStateAndTokenizer(dir: string): { config: ModelConfig; original: ModelConfig; state: CheckpointState; tokenizer: ReturnType<typeof hfTokenizer> } {
  const cfgFile = path.join(dir, HF_CONFIG_FILE);
  const original = fromHfConfig(readJsonObject(cfgFile), cfgFile);
  const tokenizer = hfTokenizer(dir);
  if (tokenizer.own && original.vocabSize !== tokenizer.firstId) {
    throw new SelfcestError(
      `${cfgFile}: vocab_size is ${original.vocabSize} but ${path.join(dir, 'tokenizer.json')} has ${tokenizer.firstId} ids` +
        (original.vocabSize > tokenizer.firstId ? ' (a padded vocabulary, which selfcest does not import: docs/tokenizer.md)' : ''),
    );
  }
  const config: ModelConfig = { ...original, vocabSize: original.vocabSize + tokenizer.added };
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
  const state: CheckpointState = {
    format: CHECKPOINT_FORMAT, step, config: runConfig, rng: {}, dataCursor: {}, backend: 'hf-import', metrics: {},
    createdAt: new Date(fs.statSync(weightsFile).mtimeMs).toISOString(), imported: dir,
    ...(tokenizer.added ? { importedTokens: { added: tokenizer.added, firstId: tokenizer.firstId, init: 'mean of the existing rows' } } : {}),
  };
  return { config, original, state, tokenizer };
}
