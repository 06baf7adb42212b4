/**
 * Batched generation with continuous batching: every prompt is a row of one DecodeBatch; a row leaves as soon
 * as it emits a stop token, reaches maxNew tokens or fills the context window. Token in, token out.
 */
import type { Rng } from '../util/rng.ts';
import type { GPT } from './decoder.ts';
import { DecodeBatch } from './decode.ts';
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

export async function generate(model: GPT, prompts: number[][], opts: GenerateOptions, rng: Rng): Promise<Generation[]> {
  const out: Generation[] = prompts.map(() => ({ tokens: [], logprobs: [], finish: 'length' }));
  const V = model.config.vocabSize;
  const ctx = model.config.ctx;
  const maxBatch = opts.maxBatch ?? 64;
  const stop = new Set(opts.stopTokens);
  const db = new DecodeBatch(model);
  const owner = new Map<number, number>(); // row handle → prompt index
  const pendingToken = new Map<number, number>(); // row handle → token to feed next
  let next = 0;
  try {
    while (next < prompts.length || db.size > 0) {
      // admit waiting prompts
      if (next < prompts.length && db.size < maxBatch) {
        const take = prompts.slice(next, next + (maxBatch - db.size));
        const { handles, logits } = db.join(take);
        const data = (await logits.data()) as Float32Array;
        logits.dispose();
        handles.forEach((h, i) => owner.set(h, next + i));
        next += take.length;
        accept(handles, data);
      }
      if (db.size === 0) continue;
      const handles = db.handles;
      const logits = db.step(handles.map((h) => pendingToken.get(h)!));
      const data = (await logits.data()) as Float32Array;
      logits.dispose();
      accept(handles, data);
    }
  } finally {
    db.dispose();
  }
  return out;

  /** sample one token per row from logits, record it, retire finished rows */
  function accept(handles: number[], data: Float32Array): void {
    const s = sampleRows(data, handles.length, V, { ...opts, forbid: handles.map((h) => opts.forbid?.[owner.get(h)!]) }, rng);
    const done: number[] = [];
    handles.forEach((h, b) => {
      const g = out[owner.get(h)!];
      const tok = s.tokens[b];
      g.tokens.push(tok);
      g.logprobs.push(s.logprobs[b]);
      if (stop.has(tok)) g.finish = 'stop';
      else if (g.tokens.length >= opts.maxNew) g.finish = 'length';
      else if (db.position(h) >= ctx) g.finish = 'window';
      else {
        pendingToken.set(h, tok);
        return;
      }
      done.push(h);
      pendingToken.delete(h);
    });
    if (done.length) db.leave(done);
  }
}
