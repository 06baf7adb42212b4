/**
 * Policy weights ⇄ checkpoints: converts between the GPT's variables and the store's named arrays, and loads
 * a policy (config + weights) from a checkpoint directory with full validation.
 */
import type { NamedTensor } from '../checkpoint/safetensors.ts';
import { loadCheckpoint, readCarriedFiles, readCheckpointState, resolveCheckpointDir, MODEL_FILE, type CheckpointData } from '../checkpoint/store.ts';
import { loadTokenizer, tokenizerFromFiles, type TextTokenizer } from '../tokenizer/index.ts';
import { validate } from '../util/config-file.ts';
import { ModelConfigSchema, parameterShapes, type ModelConfig } from './config.ts';
import { GPT } from './decoder.ts';
import { checkpointTokenizerFiles, hfTokenizer, isHfDir, loadHfPolicyData, readHfState } from './hf-io.ts';
import type { CheckpointState } from '../checkpoint/store.ts';

export async function modelTensors(model: GPT): Promise<NamedTensor[]> {
  return (await model.toArrays()).map((a) => ({ ...a, dtype: 'F32' as const }));
}

export function expectedModelTensors(c: ModelConfig) {
  return parameterShapes(c).map((p) => ({ ...p, dtype: 'F32' as const }));
}

/** The model config stored in a checkpoint's state.json (`config.model`). */
export function checkpointModelConfig(data: Pick<CheckpointData, 'state'>, dir: string): ModelConfig {
  const cfg = (data.state.config as { model?: unknown } | null)?.model;
  return validate(ModelConfigSchema, cfg, `${dir}/state.json: config.model`);
}

export interface LoadedPolicy {
  dir: string;
  model: GPT;
  data: CheckpointData;
}

/**
 * A checkpoint's tensors and state, validated the one way every command uses: the model tensors against the
 * model config in its state.json (names, shapes, dtypes), every float finite. Weights-only checkpoints work too, and
 * Hugging Face directories in the gpt2 / gpt_neox layout (hf-io.ts; e.g. made by `selfcest export`).
 */
export function loadPolicyData(pathOrRun: string): { dir: string; config: ModelConfig; data: CheckpointData } {
  if (isHfDir(pathOrRun)) return loadHfPolicyData(pathOrRun);
  const dir = resolveCheckpointDir(pathOrRun);
  const config = checkpointModelConfig({ state: readCheckpointState(dir) }, dir);
  return { dir, config, data: loadCheckpoint(dir, { model: expectedModelTensors(config) }, { optimizer: 'optional' }) };
}

/** The directory a policy argument names: a step directory, a run directory's latest step, or an HF directory. */
export function resolvePolicyDir(pathOrRun: string): string {
  return isHfDir(pathOrRun) ? pathOrRun : resolveCheckpointDir(pathOrRun);
}

/** A policy directory's state (step, run config) without its weights; an HF directory's from config.json + selfcest.json. */
export function readPolicyState(dir: string): CheckpointState {
  return isHfDir(dir) ? readHfState(dir).state : readCheckpointState(dir);
}

/** Load a policy from a step directory or a run directory (its `latest`); weights-only checkpoints work too. */
export function loadPolicy(pathOrRun: string): LoadedPolicy {
  const { dir, config, data } = loadPolicyData(pathOrRun);
  const arrays = new Map(data.model.map((t) => [t.name, { shape: t.shape, data: t.data as Float32Array }]));
  return { dir, model: GPT.fromArrays(config, arrays, `${dir}/${MODEL_FILE}`), data };
}

/** The tokenizer a loaded policy speaks: the one its checkpoint carries (an imported model's), else selfcest's own. */
export function policyTokenizer(p: { dir: string; data: Pick<CheckpointData, 'files'> }): TextTokenizer {
  return p.data.files ? tokenizerFromFiles(checkpointTokenizerFiles(p.data), p.dir) : loadTokenizer();
}

/** The tokenizer of a policy directory (step, run or HF directory) without reading its weights. */
export function loadPolicyTokenizer(pathOrRun: string): TextTokenizer {
  const dir = resolvePolicyDir(pathOrRun);
  if (isHfDir(dir)) return tokenizerFromFiles(hfTokenizer(dir).files, dir);
  const files = readCarriedFiles(dir);
  return files ? tokenizerFromFiles(checkpointTokenizerFiles({ files }), dir) : loadTokenizer();
}
