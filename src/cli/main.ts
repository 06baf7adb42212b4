/**
 * selfcest CLI entry: one yargs command per file, thin handlers. Errors a user can cause, and errors of the
 * environment (full disk, unwritable path), print one line (`error: ...`) and exit 1; anything else is a bug and
 * keeps its stack.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { environmentError, isSelfcestError, SelfcestError } from '../util/errors.ts';
import { chosenCommand, COMMANDS } from './commands.ts';

/**
 * Every command is listed (for --help and suggestions for a mistyped name), but only the one being run is loaded:
 * the others stay a usage line and a description (src/cli/commands.ts).
 */
async function withCommands(y: Argv, args: readonly string[]): Promise<Argv> {
  const chosen = chosenCommand(args);
  for (const [name, c] of Object.entries(COMMANDS)) {
    y = name === chosen ? y.command(await c.load()) : y.command(c.command, c.describe);
  }
  return y;
}

try {
  const args = hideBin(process.argv);
  const y = yargs(args)
    .scriptName('selfcest')
    .usage('$0 <command> [options]\n\nTrain a small decoder policy that delegates to its own clones (SELFCEST) on TensorFlow.js.');
  await (await withCommands(y, args))
    .demandCommand(1, 'name a command')
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
  const { wasmCrashNote, wasmHeapBytes } = await import('../backend/wasm-kernels.ts');
  const note = wasmCrashNote(e, wasmHeapBytes());
  if (note) console.error(note);
  process.exit(2);
}
