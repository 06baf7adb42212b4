/** Options and helpers shared by the CLI commands (kept thin: the work lives in train/, model/, eval/). */
import type { Argv } from 'yargs';
import { BACKEND_CHOICES, selectBackend, type BackendChoice } from '../backend/select.ts';

export function withBackend<T>(y: Argv<T>) {
  return y.option('backend', {
    choices: BACKEND_CHOICES,
    default: 'auto' as BackendChoice,
    describe: 'compute backend: auto picks cuda (tfjs-node-gpu with a GPU really in use), else webgpu (a real GPU adapter), else wasm, else cpu',
  });
}

/** Select the backend and print the one line that says which and why (to stderr, so stdout stays data). */
export async function initBackend(choice: BackendChoice): Promise<void> {
  const info = await selectBackend(choice);
  process.stderr.write(info.reason + '\n');
}
