import { commandMeta } from './commands.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { exportHf } from '../model/hf-io.ts';
import { loadPolicyData } from '../model/io.ts';
import { SelfcestError } from '../util/errors.ts';
import { logToStderr } from '../util/progress.ts';

interface Args {
  checkpoint: string;
  format: string;
  out: string;
  overwrite: boolean;
}

export const exportCommand: CommandModule<object, Args> = {
  ...commandMeta('export'),
  builder: (y) =>
    y
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'a step directory, or a run directory (uses its latest)' })
      .option('format', { type: 'string', default: 'hf', choices: ['hf'], describe: 'hf: config.json + model.safetensors + tokenizer files + selfcest.json' })
      .option('out', { type: 'string', demandOption: true, describe: 'the directory to write (created)' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace the files of an existing non-empty --out' })
      .example('$0 export --checkpoint checkpoints/results/arith-split-gated-sharp/seed-1/clones --out exports/arith-clones', 'the headline policy in gpt2 layout') as never,
  handler: (a) => {
    const ck = loadPolicyData(a.checkpoint);
    if (fs.existsSync(a.out) && fs.readdirSync(a.out).length > 0 && !a.overwrite) {
      throw new SelfcestError(`--out ${a.out}: exists and is not empty (pass --overwrite to replace its files)`);
    }
    if (path.resolve(a.out) === path.resolve(ck.dir)) throw new SelfcestError(`--out ${a.out}: is the checkpoint itself`);
    const format = exportHf(ck, a.out);
    logToStderr(`exported ${ck.dir} (step ${ck.data.state.step}, ${ck.config.nLayers} layers, d ${ck.config.dModel}, ${ck.config.positions} positions) as ${format}`);
    console.log(a.out);
  },
};
