import { commandMeta } from './commands.ts';
import * as os from 'node:os';
import type { CommandModule } from 'yargs';
import type { BackendChoice } from '../backend/select.ts';
import { activeBackend } from '../backend/select.ts';
import { Broker } from '../distributed/broker.ts';
import { peerVersion } from '../distributed/messages.ts';
import { runWorker } from '../distributed/worker.ts';
import { SelfcestError } from '../util/errors.ts';
import { logToStderr } from '../util/progress.ts';
import { provenance } from '../util/provenance.ts';
import { initBackend, withBackend } from './common.ts';

interface Args {
  broker: string;
  id?: string;
  'max-jobs'?: number;
  'claim-after': number;
  backend: BackendChoice;
}

export const workerCommand: CommandModule<object, Args> = {
  ...commandMeta('worker'),
  builder: (y) =>
    withBackend(y)
      .option('broker', { type: 'string', demandOption: true, describe: 'the Redis URL the trainer was given, e.g. redis://127.0.0.1:6379' })
      .option('id', { type: 'string', describe: 'this worker\'s name in the broker [default: <host>-<pid>]' })
      .option('max-jobs', { type: 'number', describe: 'exit after this many jobs [default: run until stopped]' })
      .option('claim-after', { type: 'number', default: 30, describe: 'seconds without a heartbeat after which another worker\'s job is taken over (its worker is presumed dead)' })
      .example('$0 worker --broker redis://127.0.0.1:6379 --backend wasm', 'serve the rollouts of trainers started with the same --broker') as never,
  handler: async (a) => {
    if (a['max-jobs'] !== undefined && (!Number.isInteger(a['max-jobs']) || a['max-jobs'] < 1)) throw new SelfcestError(`--max-jobs ${a['max-jobs']}: expected an integer >= 1`);
    if (!(a['claim-after'] > 0)) throw new SelfcestError(`--claim-after ${a['claim-after']}: expected seconds > 0`);
    const log = logToStderr;
    const broker = await Broker.connect(a.broker, { log, claimIdleMs: Math.round(a['claim-after'] * 1000) });
    await initBackend(a.backend);
    let stop = false;
    const onSignal = () => {
      if (stop) process.exit(130);
      stop = true;
      log('worker: stopping after the current job (again to stop now)');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const s = await runWorker({
        broker,
        me: { id: a.id ?? `${os.hostname()}-${process.pid}`, selfcest: peerVersion(provenance()), backend: activeBackend() },
        log,
        ...(a['max-jobs'] !== undefined ? { maxJobs: a['max-jobs'] } : {}),
        stopped: () => stop,
      });
      log(`worker: ${s.done} jobs done, ${s.rejected} rejected`);
    } finally {
      await broker.close();
    }
  },
};
