/** Worker entry of GradPool: holds a model copy and returns the gradients of the shards it is sent. */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../backend/select.ts';
import type { ModelConfig } from '../model/config.ts';
import { GPT } from '../model/decoder.ts';
import { Rng } from '../util/rng.ts';
import { batchGrads, type TokenBatch } from './step.ts';

const { config, backend } = workerData as { config: ModelConfig; backend: BackendChoice };
const port = parentPort!;
let model: GPT | null = null;

type Msg = { kind: 'ready' } | { kind: 'grads'; weights: { name: string; data: Float32Array }[]; shard: TokenBatch; denom: number };

port.on('message', async (m: Msg) => {
  try {
    if (m.kind === 'ready') {
      await selectBackend(backend);
      model = GPT.init(config, Rng.fromSeed(0)); // weights arrive with every shard
      port.postMessage({ ok: true });
      return;
    }
    const mdl = model!;
    tf.tidy(() => {
      for (const { name, data } of m.weights) mdl.p(name).assign(tf.tensor(data, mdl.p(name).shape, 'float32'));
    });
    const out = tf.tidy(() => {
      const { loss, grads } = batchGrads(mdl, m.shard, m.denom);
      return { loss, grads: Object.fromEntries(grads) };
    });
    const names = Object.keys(out.grads);
    const grads = names.map((n) => out.grads[n].dataSync() as Float32Array);
    const loss = out.loss.dataSync()[0];
    tf.dispose([out.loss, ...Object.values(out.grads)]);
    port.postMessage({ ok: true, loss, names, grads }, grads.map((g) => g.buffer as ArrayBuffer));
  } catch (e) {
    port.postMessage({ ok: false, error: (e as Error).message });
  }
});
