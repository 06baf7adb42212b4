/**
 * worker_threads running TypeScript modules, and a request/reply call over their message port.
 * From the sources, workers start through ts-worker.mjs, which registers tsx's loader in the new thread (hooks are
 * per thread); from the compiled package (dist/, `npm run build`) they start on the compiled entry directly.
 */
import { Worker } from 'node:worker_threads';
import { SelfcestError } from './errors.ts';

const BOOT = new URL('./ts-worker.mjs', import.meta.url);

/** Whether this module runs compiled (dist/*.js) rather than from its TypeScript source. */
const COMPILED = import.meta.url.endsWith('.js');

/** Start a worker running the TypeScript module `entry` (a file URL of a .ts source) with `data` as workerData. */
export function startTsWorker(entry: URL, data: Record<string, unknown>): Worker {
  const w = COMPILED ? new Worker(new URL(entry.href.replace(/\.ts$/, '.js')), { workerData: data }) : new Worker(BOOT, { workerData: { ...data, entry: entry.href } });
  // an error between calls must not become an unhandled 'error' event; calls report their own
  w.on('error', () => {});
  return w;
}

export type Reply<T> = ({ ok: true } & T) | { ok: false; error: string };

/**
 * Post one message and wait for the reply. Replies with ok:false, worker errors and worker exits all reject
 * with a SelfcestError naming `who`.
 */
export function request<T>(w: Worker, who: string, msg: unknown, transfer: ArrayBuffer[] = []): Promise<{ ok: true } & T> {
  return new Promise((resolve, reject) => {
    const done = () => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (r: Reply<T>) => {
      done();
      if (r.ok) resolve(r);
      else reject(new SelfcestError(`${who}: ${r.error}`));
    };
    const onError = (e: Error) => {
      done();
      reject(new SelfcestError(`${who} failed: ${e.message}`));
    };
    const onExit = (code: number) => {
      done();
      reject(new SelfcestError(`${who} exited (code ${code}) before replying`));
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
    w.postMessage(msg, transfer);
  });
}
