import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/checkpoint/store.ts';
import { modelConfig, type ModelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { modelTensors } from '../../src/model/io.ts';
import { Rng } from '../../src/util/rng.ts';

/** A tiny random-weight policy saved as a checkpoint (run dir with latest); `extra` joins its run config. */
export async function writeRandomCheckpoint(runDir: string, model: Partial<ModelConfig> = {}, extra: Record<string, unknown> = {}): Promise<string> {
  const cfg = modelConfig({ vocabSize: 128, ctx: 64, dModel: 16, nLayers: 1, nHeads: 2, ...model });
  const m = GPT.init(cfg, Rng.fromSeed(3));
  const dir = saveCheckpoint(runDir, {
    model: await modelTensors(m),
    optimizer: [],
    state: { format: CHECKPOINT_FORMAT, step: 0, config: { model: cfg, ...extra }, rng: {}, dataCursor: {}, backend: 'cpu', metrics: {}, createdAt: new Date().toISOString() },
  });
  m.dispose();
  return dir;
}
