import { commandMeta } from './commands.ts';
import type { CommandModule } from 'yargs';
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../backend/select.ts';
import { parameterCount } from '../model/config.ts';
import { loadPolicyData, policyTokenizer } from '../model/io.ts';
import { preloadTaskModules } from '../tasks/registry.ts';
import { initBackend, loadTrainConfig, runKind, withBackend } from './common.ts';

interface Args {
  checkpoint?: string;
  config?: string;
  set: string[];
  tensors: boolean;
  backend: BackendChoice;
}

export const infoCommand: CommandModule<object, Args> = {
  ...commandMeta('info'),
  builder: (y) =>
    withBackend(y)
      .option('checkpoint', { type: 'string', describe: 'a step directory or run directory to describe' })
      .option('config', { type: 'string', describe: 'a run config or GRPO config whose model to describe (default config when omitted)' })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'config overrides, as for train' })
      .option('tensors', { type: 'boolean', default: false, describe: 'list every tensor of the checkpoint' }) as never,
  handler: async (a) => {
    // check what was given (a checkpoint, or a config) before probing the backend
    const loaded = a.checkpoint ? loadPolicyData(a.checkpoint) : null;
    const config = loaded ? null : await loadTrainConfig(a.config, a.set);
    const configModel = config ? (config.rl ?? config.run).model : null;
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
    await preloadTaskModules(s.config);
    console.log(`run: ${runKind(s.config)}`);
    console.log(`model: ${JSON.stringify(mc)}`);
    console.log(`parameters: ${parameterCount(mc).toLocaleString('en-US')} (${data.model.length} tensors; optimizer: ${data.optimizer.length ? `${data.optimizer.length} tensors` : 'none (weights only)'})`);
    console.log(`metrics: ${JSON.stringify(s.metrics)}`);
    const tok = policyTokenizer(loaded!);
    console.log(`tokenizer: ${data.files ? `its own (${tok.vocabSize} tokens${s.importedTokens ? `; ${JSON.stringify(s.importedTokens)}` : ''})` : `selfcest's (${tok.vocabSize} tokens)`}`);
    if (s.provenance) console.log(`provenance: ${JSON.stringify(s.provenance)}`);
    if (a.tensors) for (const t of data.model) console.log(`  ${t.name} ${t.dtype} [${t.shape.join(', ')}]`);
  },
};
