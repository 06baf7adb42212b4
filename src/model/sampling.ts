/**
 * Sampling on the host from downloaded logits [B, V], with the explicit seeded Rng: the same logits and Rng
 * state give the same tokens on every backend.
 *
 * Per row: forbidden tokens (a logit mask) → temperature → top-k → softmax → one draw.
 * Returned per token:
 *   logprob        the log-prob under the distribution actually drawn from (forbidden tokens and top-k removed,
 *                  renormalised): the "old log-prob" of PPO ratios; the learner applies the same mask and top-k
 *                  (grpo.ts), so it recomputes this value from the same weights;
 *   samplerLogprob the same value (kept for callers of the earlier API);
 *   fullLogprob    log-softmax(logits / temperature)[token] over the whole vocabulary.
 * temperature 0 means greedy (argmax over allowed tokens; never used for training: GRPO refuses it); logprob and
 * fullLogprob are then the full-vocabulary log-prob at temperature 1, samplerLogprob 0 (a point mass).
 */
import { SelfcestError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';

export interface SampleOptions {
  temperature: number;
  /** keep only the k most likely allowed tokens (0 or undefined: all) */
  topK?: number;
  /** per row: token ids that must not be sampled (null/undefined: none) */
  forbid?: ReadonlyArray<ReadonlyArray<number> | null | undefined>;
}

export interface Sampled {
  tokens: number[];
  logprobs: number[];
  samplerLogprobs: number[];
  fullLogprobs: number[];
}

export function sampleRows(logits: Float32Array, rows: number, vocab: number, opts: SampleOptions, rng: Rng): Sampled {
  if (logits.length !== rows * vocab) throw new Error(`sampleRows: ${logits.length} logits for ${rows}x${vocab}`);
  const out: Sampled = { tokens: [], logprobs: [], samplerLogprobs: [], fullLogprobs: [] };
  const T = opts.temperature;
  const scaled = new Float64Array(vocab);
  const allowed = new Uint8Array(vocab);
  for (let b = 0; b < rows; b++) {
    const row = logits.subarray(b * vocab, (b + 1) * vocab);
    allowed.fill(1);
    for (const t of opts.forbid?.[b] ?? []) if (t >= 0 && t < vocab) allowed[t] = 0;
    const tFull = T > 0 ? T : 1;
    for (let v = 0; v < vocab; v++) scaled[v] = row[v] / tFull;
    const fullLse = logSumExp(scaled, null);

    let token: number;
    let samplerLp: number;
    if (T <= 0) {
      token = -1;
      for (let v = 0; v < vocab; v++) if (allowed[v] && (token < 0 || scaled[v] > scaled[token])) token = v;
      if (token < 0) throw new SelfcestError(`sampling: every token is forbidden in row ${b}`);
      samplerLp = 0;
    } else {
      if (opts.topK && opts.topK > 0 && opts.topK < vocab) restrictTopK(scaled, allowed, opts.topK);
      const lse = logSumExp(scaled, allowed);
      if (!Number.isFinite(lse)) throw new SelfcestError(`sampling: every token is forbidden in row ${b}`);
      let u = rng.next();
      token = -1;
      for (let v = 0; v < vocab; v++) {
        if (!allowed[v]) continue;
        token = v;
        u -= Math.exp(scaled[v] - lse);
        if (u < 0) break;
      }
      samplerLp = scaled[token] - lse;
    }
    out.tokens.push(token);
    out.logprobs.push(T > 0 ? samplerLp : scaled[token] - fullLse);
    out.samplerLogprobs.push(samplerLp);
    out.fullLogprobs.push(scaled[token] - fullLse);
  }
  return out;
}

/** log Σ exp(x) over the allowed entries (all when `allowed` is null); -Infinity when none is allowed */
export function logSumExp(x: Float64Array, allowed: Uint8Array | null): number {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) if ((!allowed || allowed[i]) && x[i] > m) m = x[i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < x.length; i++) if (!allowed || allowed[i]) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

/** Clear `allowed` for all but the k largest allowed entries (ties broken by lower id). */
export function restrictTopK(x: Float64Array, allowed: Uint8Array, k: number): void {
  const ids: number[] = [];
  for (let i = 0; i < x.length; i++) if (allowed[i]) ids.push(i);
  if (ids.length <= k) return;
  ids.sort((a, b) => x[b] - x[a] || a - b);
  for (let j = k; j < ids.length; j++) allowed[ids[j]] = 0;
}
