/**
 * Rollout benchmark: 64 trees with the real model (random weights, spawning allowed), the continuous-batching
 * engine (every live context of every tree in one batch, spread over --threads decoder threads) against
 * decoding each tree alone in turn on one thread, as a one-request-at-a-time server would. Prints tokens/s of
 * both and the ratio (target >= 10x). Then the weight-matmul floor: the batched run's own sequence of feeds
 * (prompt prefills and decode steps, by row count) replayed as the model's weight matmuls alone (4 per layer and
 * the head, XNNPACK on one thread), i.e. the time the batched run would take if everything else (attention,
 * layer norms, GELU, residuals, sampling, bookkeeping, dispatch) were free, and the ratio that bound allows.
 *
 *   npx tsx scripts/bench/rollout.ts [--trees 64] [--threads 2] [--backend wasm]
 */
import * as tf from '@tensorflow/tfjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { modelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { kvCacheKind, LocalDecoder, type RowDecoder } from '../../src/model/row-decoder.ts';
import { ShardedDecoder } from '../../src/model/sharded-decoder.ts';
import { ModelPolicy, runTrees, type RolloutItem } from '../../src/rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import type { Tree } from '../../src/rollout/tree.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { BACKEND_OPTION, startBench, table } from './common.ts';

const a = await yargs(hideBin(process.argv))
  .option('backend', BACKEND_OPTION)
  .option('trees', { type: 'number', default: 64 })
  .option('threads', { type: 'number', default: 2, describe: 'decoder threads for continuous batching (ShardedDecoder)' })
  .strict()
  .parseAsync();

await startBench(a.backend);
const tok = loadTokenizer();
const p = protocolTokens(tok);
const model = GPT.init(modelConfig({ vocabSize: tok.vocabSize, ctx: 128 }), Rng.fromSeed(0)); // d 128, 4 layers
const cfg = RolloutConfigSchema.parse({ rootBudget: 64, defaultCloneBudget: 32, temperature: 1 });
const items: RolloutItem[] = Array.from({ length: a.trees }, (_, i) => ({ itemId: `q${i}`, prompt: tok.encode(`${100 + i}+${7 * i}=`) }));

/** Passes every call through and records how many token rows each prefill or decode step feeds. */
class FeedRecorder implements RowDecoder {
  readonly feeds: number[] = [];
  constructor(private readonly inner: RowDecoder) {}
  get handles(): number[] {
    return this.inner.handles;
  }
  position(handle: number): number {
    return this.inner.position(handle);
  }
  join(prompts: number[][]): Promise<{ handles: number[]; logits: Float32Array }> {
    this.feeds.push(prompts.reduce((n, q) => n + q.length, 0));
    return this.inner.join(prompts);
  }
  step(tokens: readonly number[]): Promise<Float32Array> {
    this.feeds.push(tokens.length);
    return this.inner.step(tokens);
  }
  leave(handles: readonly number[]): Promise<void> {
    return this.inner.leave(handles);
  }
  clear(): Promise<void> {
    return this.inner.clear();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Milliseconds the model's weight matmuls alone take for a sequence of feeds of `feeds[i]` token rows: per layer
 * [N,d]·[d,3d], [N,d]·[d,d], [N,d]·[d,f], [N,f]·[f,d], then the head [N,d]·[d,V], read back once per feed as
 * the decoder does. Inputs are made before the clock starts. Best of `reps` replays.
 */
function matmulFloorMs(feeds: readonly number[], reps = 3): number {
  const c = model.config;
  const W = (n: string) => model.p(n) as tf.Tensor2D;
  const head = c.tieEmbeddings ? tf.transpose(W('wte.weight')) : W('lm_head.weight');
  const layers = Array.from({ length: c.nLayers }, (_, l) => ['attn.qkv', 'attn.proj', 'mlp.fc', 'mlp.proj'].map((m) => W(`blocks.${l}.${m}.weight`)));
  const inputs = new Map<number, { x: tf.Tensor2D; h: tf.Tensor2D }>();
  for (const n of new Set(feeds)) {
    inputs.set(n, { x: tf.randomUniform([n, c.dModel], -1, 1, 'float32', 1), h: tf.randomUniform([n, layers[0][2].shape[1]], -1, 1, 'float32', 2) });
  }
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (const n of feeds) {
      const { x, h } = inputs.get(n)!;
      const out: tf.Tensor[] = [];
      for (const [qkv, proj, fc, mproj] of layers) out.push(tf.matMul(x, qkv), tf.matMul(x, proj), tf.matMul(x, fc), tf.matMul(h, mproj));
      const logits = tf.matMul(x, head);
      logits.dataSync();
      tf.dispose([...out, logits]);
    }
    best = Math.min(best, performance.now() - t0);
  }
  for (const { x, h } of inputs.values()) tf.dispose([x, h]);
  if (c.tieEmbeddings) head.dispose();
  return best;
}

async function run(batch: RolloutItem[], seed: number, dec: RowDecoder): Promise<Tree[]> {
  return runTrees(batch, new ModelPolicy(model, dec, cfg, Rng.fromSeed(seed)), cfg, p);
}
const single = new LocalDecoder(model);
console.log(`KV cache: ${kvCacheKind()} (SELFCEST_KV_CACHE=host|tensor to choose)`);
const sharded = await ShardedDecoder.start(model, a.threads - 1, a.backend);
const sampled = (ts: Tree[]) => ts.reduce((n, t) => n + t.cost.rootGenerated + t.cost.cloneGenerated, 0);

// warm-up: each decoder once at the shape it is measured at, so one-time costs (the host cache growing its
// WebAssembly memory to 64 pages, first touches of that memory) stay out of both timings, as in a training run,
// where one decoder serves every GRPO step
await run(items.slice(0, 2), 0, single);
await run(items, 0, sharded);
const recorder = new FeedRecorder(sharded);
let t0 = performance.now();
const together = await run(items, 1, recorder);
const msTogether = performance.now() - t0;
t0 = performance.now();
const alone: Tree[] = [];
for (const [i, it] of items.entries()) alone.push(...(await run([it], 100 + i, single)));
const msAlone = performance.now() - t0;
await sharded.close();
await single.close();

const tpsT = sampled(together) / (msTogether / 1000);
const tpsA = sampled(alone) / (msAlone / 1000);
console.log(
  table([
    ['mode', 'trees', 'contexts', 'sampled tokens', 'seconds', 'sampled tokens/s', 'ratio'],
    [`continuous batching (all trees, ${a.threads} thread(s))`, String(together.length), String(together.reduce((n, t) => n + t.contexts.length, 0)), String(sampled(together)), (msTogether / 1000).toFixed(1), tpsT.toFixed(0), `${(tpsT / tpsA).toFixed(1)}x`],
    ['one tree at a time (1 thread)', String(alone.length), String(alone.reduce((n, t) => n + t.contexts.length, 0)), String(sampled(alone)), (msAlone / 1000).toFixed(1), tpsA.toFixed(0), '1.0x'],
  ]),
);

const msFloor = matmulFloorMs(recorder.feeds);
const tpsFloor = sampled(together) / (msFloor / 1000);
const rowsFed = recorder.feeds.reduce((n, f) => n + f, 0);
console.log(
  `weight-matmul floor of the batched run (its ${recorder.feeds.length} feeds, ${rowsFed} token rows, replayed as the weight matmuls alone on one thread): ` +
    `${msFloor.toFixed(0)} ms of its ${msTogether.toFixed(0)} ms (${((100 * msFloor) / msTogether).toFixed(0)} %); ` +
    `with everything else free, at most ${tpsFloor.toFixed(0)} sampled tok/s, a ratio of at most ${(tpsFloor / tpsA).toFixed(1)}x`,
);
