import type { CommandModule } from 'yargs';
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../backend/select.ts';
import { parameterCount } from '../model/config.ts';
import { loadPolicyData } from '../model/io.ts';
import { checkpointTask } from '../eval/items.ts';
import { loadRunConfig } from '../train/config.ts';
import { RlConfigSchema } from '../train/rl.ts';
import { applyOverrides, readJsonFile, validate } from '../util/config-file.ts';
import { initBackend, withBackend } from './common.ts';

interface Args {
  checkpoint?: string;
  config?: string;
  set: string[];
  tensors: boolean;
  backend: BackendChoice;
}

export const infoCommand: CommandModule<object, Args> = {
  command: 'info',
  describe: 'Show the backend, the parameter count of a config, and what a checkpoint holds',
  builder: (y) =>
    withBackend(y)
      .option('checkpoint', { type: 'string', describe: 'a step directory or run directory to describe' })
      .option('config', { type: 'string', describe: 'a run config or GRPO config whose model to describe (default config when omitted)' })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'config overrides, as for train' })
      .option('tensors', { type: 'boolean', default: false, describe: 'list every tensor of the checkpoint' }) as never,
  handler: async (a) => {
    // check what was given (a checkpoint, or a config) before probing the backend
    const loaded = a.checkpoint ? loadPolicyData(a.checkpoint) : null;
    let configModel = null;
    if (!loaded) {
      // a GRPO config ("mode": "grpo") or a run config, validated by its own schema
      const raw = a.config ? readJsonFile(a.config) : {};
      configModel =
        (raw as { mode?: unknown } | null)?.mode === 'grpo'
          ? validate(RlConfigSchema, applyOverrides(raw, a.set), `${a.config}${a.set.length ? ' (with --set)' : ''}`).model
          : loadRunConfig(a.config, a.set).model;
    }
    await initBackend(a.backend);
    console.log(`tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}`);
    if (!loaded) {
      console.log(`model: ${JSON.stringify(configModel)}`);
      console.log(`parameters: ${parameterCount(configModel!).toLocaleString('en-US')}`);
      return;
    }
    const { dir, config: mc, data } = loaded;
    const s = data.state;
    console.log(`checkpoint: ${dir}`);
    console.log(`format ${s.format}, step ${s.step}, written ${s.createdAt} on ${s.backend}`);
    const task = checkpointTask(s.config);
    const mode = (s.config as { mode?: unknown }).mode === 'grpo' ? 'grpo' : 'sft';
    console.log(`run: ${mode} on ${task ? `${task.name}${task.preset ? ` (${task.preset})` : ''}` : 'addition'}`);
    console.log(`model: ${JSON.stringify(mc)}`);
    console.log(`parameters: ${parameterCount(mc).toLocaleString('en-US')} (${data.model.length} tensors; optimizer: ${data.optimizer.length ? `${data.optimizer.length} tensors` : 'none (weights only)'})`);
    console.log(`metrics: ${JSON.stringify(s.metrics)}`);
    if (s.provenance) console.log(`provenance: ${JSON.stringify(s.provenance)}`);
    if (a.tensors) for (const t of data.model) console.log(`  ${t.name} ${t.dtype} [${t.shape.join(', ')}]`);
  },
};
