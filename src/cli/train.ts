import { commandMeta } from './commands.ts';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { trainRl } from '../train/rl.ts';
import { evalAddition, trainSupervised } from '../train/supervised.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { initBackend, loadTrainConfig, withBackend } from './common.ts';
import type { BackendChoice } from '../backend/select.ts';
import { findLatest, removeRun } from '../checkpoint/store.ts';
import { SelfcestError } from '../util/errors.ts';

interface Args {
  config?: string;
  set: string[];
  out?: string;
  resume?: string;
  'stop-after'?: number;
  overwrite: boolean;
  sample: number;
  'print-config': boolean;
  backend: BackendChoice;
  broker?: string;
}

export const trainCommand: CommandModule<object, Args> = {
  ...commandMeta('train'),
  builder: (y) =>
    withBackend(y)
      .option('config', { type: 'string', describe: 'run config JSON (configs/*.json); defaults when omitted' })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'override a config key, e.g. --set train.steps=200 (repeatable)' })
      .option('out', { type: 'string', describe: 'run directory for checkpoints and metrics.jsonl [default: checkpoints/<config name>]' })
      .option('resume', { type: 'string', describe: '"auto": continue from the run directory\'s latest checkpoint if any; or a checkpoint/run directory' })
      .option('stop-after', { type: 'number', describe: 'stop (with a checkpoint) after this step, as if interrupted; resume later with --resume auto' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'start fresh even if the run directory holds checkpoints (deletes them)' })
      .option('sample', { type: 'number', default: 0, describe: 'after training, complete this many held-out prompts greedily and print them' })
      .option('broker', { type: 'string', describe: 'tree GRPO only: hand the rollouts to `selfcest worker` processes at this Redis URL (e.g. redis://127.0.0.1:6379): synchronous, the local trajectory; with grpo.staleness k >= 1 asynchronous, the workers sampling k steps ahead (docs/distributed.md)' })
      .option('print-config', { type: 'boolean', default: false, describe: 'print the resolved config (file, --set, defaults) as JSON and exit without training (schemas/*.schema.json describe it)' })
      .example('$0 train --config configs/tiny.json', 'train the default tiny policy')
      .example('$0 train --config configs/tiny.json --resume auto', 'continue an interrupted run')
      .example('$0 train --config configs/arith-grpo-tiny.json --broker redis://127.0.0.1:6379', 'tree GRPO with rollouts on `selfcest worker` processes') as never,
  handler: async (a) => {
    const out = a.out ?? path.join('checkpoints', a.config ? path.basename(a.config, '.json') : 'default');
    // validate everything before touching the run directory
    const { rl, run: cfg } = await loadTrainConfig(a.config, a.set);
    if (a['print-config']) {
      console.log(JSON.stringify(rl ?? cfg, null, 2));
      return;
    }
    for (const [flag, v] of [['--stop-after', a['stop-after']], ['--sample', a.sample]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new SelfcestError(`${flag} ${v}: expected an integer >= 0`);
    }
    if (a.broker !== undefined && !rl) throw new SelfcestError(`--broker: only tree GRPO runs ("mode": "grpo") hand rollouts to workers; this config trains supervised`);
    if (!a.resume && findLatest(out)) {
      if (!a.overwrite) {
        throw new SelfcestError(`${out} already holds checkpoints: pass --resume auto to continue that run, --overwrite to start over, or another --out`);
      }
      removeRun(out);
    }
    // the backend is probed only once everything the user gave has been checked
    await initBackend(a.backend);
    const tok = loadTokenizer();
    if (rl) {
      const r = await trainRl(rl, tok, { out, resume: a.resume, stopAfter: a['stop-after'], ...(a.broker !== undefined ? { broker: a.broker } : {}) });
      console.log(`checkpoint: ${r.checkpoint}`);
      return;
    }
    const r = await trainSupervised(cfg!, tok, { out, resume: a.resume, stopAfter: a['stop-after'] });
    console.log(`checkpoint: ${r.checkpoint}`);
    if (a.sample > 0) {
      const ev = await evalAddition(r.model, tok, r.config, a.sample);
      for (const e of ev.examples) console.log(`${e.correct ? 'ok ' : 'BAD'} ${e.prompt}${e.completion}`);
    }
    r.model.dispose();
  },
};
