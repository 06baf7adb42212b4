/** Worker entry of ShardedDecoder: one LocalDecoder (host or tensor KV cache, as on the main thread) over its own model copy, driven by messages. */
import { parentPort, workerData } from 'node:worker_threads';
import { selectBackend, type BackendChoice } from '../backend/select.ts';
import type { ModelConfig } from './config.ts';
import { GPT } from './decoder.ts';
import { LocalDecoder } from './row-decoder.ts';
import { Rng } from '../util/rng.ts';

const { config, backend } = workerData as { config: ModelConfig; backend: BackendChoice };
const port = parentPort!;
let model: GPT | null = null;
let dec: LocalDecoder | null = null;

type Msg =
  | { kind: 'ready' }
  | { kind: 'weights'; names: string[]; data: Float32Array[] }
  | { kind: 'join'; prompts: number[][] }
  | { kind: 'step'; tokens: number[] }
  | { kind: 'leave'; handles: number[] }
  | { kind: 'clear' };

port.on('message', async (m: Msg) => {
  try {
    switch (m.kind) {
      case 'ready':
        await selectBackend(backend);
        model = GPT.init(config, Rng.fromSeed(0)); // weights arrive next
        dec = new LocalDecoder(model);
        return port.postMessage({ ok: true });
      case 'weights':
        model!.load(new Map(m.names.map((n, i) => [n, { shape: model!.p(n).shape, data: m.data[i] }])));
        return port.postMessage({ ok: true });
      case 'join': {
        const r = await dec!.join(m.prompts);
        return port.postMessage({ ok: true, handles: r.handles, logits: r.logits }, [r.logits.buffer as ArrayBuffer]);
      }
      case 'step': {
        const logits = await dec!.step(m.tokens);
        return port.postMessage({ ok: true, logits }, [logits.buffer as ArrayBuffer]);
      }
      case 'leave':
        await dec!.leave(m.handles);
        return port.postMessage({ ok: true });
      case 'clear':
        await dec!.clear();
        return port.postMessage({ ok: true });
    }
  } catch (e) {
    port.postMessage({ ok: false, error: (e as Error).message });
  }
});
