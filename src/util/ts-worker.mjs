// Bootstrap for worker_threads running TypeScript sources: registers tsx's loader in this worker (loader
// hooks are per thread), then imports the entry module named in workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
