/**
 * selfcest CLI entry: one yargs command per file, thin handlers. Errors a user can cause, and errors of the
 * environment (full disk, unwritable path), print one line (`error: ...`) and exit 1; anything else is a bug and
 * keeps its stack.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { environmentError, isSelfcestError, SelfcestError } from '../util/errors.ts';
import { wasmCrashNote, wasmHeapBytes } from '../backend/wasm-kernels.ts';
import { infoCommand } from './info.ts';
import { sampleCommand } from './sample.ts';
import { trainCommand } from './train.ts';
import { traceCommand } from './trace.ts';
import { rolloutCommand } from './rollout.ts';
import { dataCommand } from './data.ts';
import { evalCommand } from './eval.ts';
import { compareCommand } from './compare.ts';
import { experimentCommand } from './experiment.ts';
import { demoCommand } from './demo.ts';
import { exportCommand } from './export.ts';

try {
  await yargs(hideBin(process.argv))
    .scriptName('selfcest')
    .usage('$0 <command> [options]\n\nTrain a small decoder policy that delegates to its own clones (SELFCEST) on TensorFlow.js.')
    .command(trainCommand)
    .command(sampleCommand)
    .command(infoCommand)
    .command(rolloutCommand)
    .command(dataCommand)
    .command(traceCommand)
    .command(evalCommand)
    .command(compareCommand)
    .command(experimentCommand)
    .command(demoCommand)
    .command(exportCommand)
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .strict()
    .fail((msg, err) => {
      if (err) throw err;
      throw new SelfcestError(`${msg} (see --help)`);
    })
    .help()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .parseAsync();
} catch (e) {
  if (isSelfcestError(e)) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  }
  // a full disk or an unwritable path: one line too (checkpoints are written to temporaries first, so the
  // previous checkpoint and `latest` stay valid; resume once the cause is fixed)
  const env = environmentError(e);
  if (env) {
    console.error(`error: ${env}`);
    process.exit(1);
  }
  console.error(e);
  const note = wasmCrashNote(e, wasmHeapBytes());
  if (note) console.error(note);
  process.exit(2);
}
