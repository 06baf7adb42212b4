/**
 * Batched generation with continuous batching: every prompt is a row of a RowDecoder; a row leaves as soon
 * as it emits a stop token, reaches maxNew tokens or fills the context window, and waiting prompts take the
 * freed rows. Token in, token out.
 */
import type { Rng } from '../util/rng.ts';
import type { GPT } from './decoder.ts';
import { LocalDecoder, type RowDecoder } from './row-decoder.ts';
import { sampleRows, type SampleOptions } from './sampling.ts';

export interface GenerateOptions extends SampleOptions {
  maxNew: number;
  stopTokens: readonly number[];
  /** rows decoded at once (prompts beyond it wait for a free row) */
  maxBatch?: number;
}

export interface Generation {
  tokens: number[];
  logprobs: number[];
  finish: 'stop' | 'length' | 'window';
}

/**
 * Generate a completion per prompt. With `decoder` (e.g. a ShardedDecoder over several threads) the rows run
 * there and the decoder stays open; without, a LocalDecoder on this thread is used and closed.
 */
export async function generate(model: GPT, prompts: number[][], opts: GenerateOptions, rng: Rng, decoder?: RowDecoder): Promise<Generation[]> {
  const out: Generation[] = prompts.map(() => ({ tokens: [], logprobs: [], finish: 'length' }));
  const V = model.config.vocabSize;
  const ctx = model.config.ctx;
  const maxBatch = opts.maxBatch ?? 64;
  const stop = new Set(opts.stopTokens);
  const dec = decoder ?? new LocalDecoder(model);
  const owner = new Map<number, number>(); // row handle → prompt index
  const pendingToken = new Map<number, number>(); // row handle → token to feed next
  let next = 0;
  try {
    while (next < prompts.length || dec.handles.length > 0) {
      // admit waiting prompts
      if (next < prompts.length && dec.handles.length < maxBatch) {
        const take = prompts.slice(next, next + (maxBatch - dec.handles.length));
        const { handles, logits } = await dec.join(take);
        handles.forEach((h, i) => owner.set(h, next + i));
        next += take.length;
        await accept(handles, logits);
      }
      if (dec.handles.length === 0) continue;
      const handles = dec.handles;
      await accept(handles, await dec.step(handles.map((h) => pendingToken.get(h)!)));
    }
  } finally {
    if (decoder) await dec.clear();
    else await dec.close();
  }
  return out;

  /** sample one token per row from logits, record it, retire finished rows */
  async function accept(handles: number[], data: Float32Array): Promise<void> {
    const s = sampleRows(data, handles.length, V, { ...opts, forbid: handles.map((h) => opts.forbid?.[owner.get(h)!]) }, rng);
    const done: number[] = [];
    handles.forEach((h, b) => {
      const g = out[owner.get(h)!];
      const tok = s.tokens[b];
      g.tokens.push(tok);
      g.logprobs.push(s.logprobs[b]);
      if (stop.has(tok)) g.finish = 'stop';
      else if (g.tokens.length >= opts.maxNew) g.finish = 'length';
      else if (dec.position(h) >= ctx) g.finish = 'window';
      else {
        pendingToken.set(h, tok);
        return;
      }
      done.push(h);
      pendingToken.delete(h);
    });
    if (done.length) await dec.leave(done);
  }
}
