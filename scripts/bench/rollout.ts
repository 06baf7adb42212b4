/**
 * Rollout benchmark: 64 trees with the real model (random weights, spawning allowed), the continuous-batching
 * engine (every live context of every tree in one batch, spread over --threads decoder threads) against
 * decoding each tree alone in turn on one thread, as a one-request-at-a-time server would. Prints tokens/s of
 * both and the ratio (target >= 10x).
 *
 *   npx tsx scripts/bench/rollout.ts [--trees 64] [--threads 2] [--backend wasm]
 */
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
let t0 = performance.now();
const together = await run(items, 1, sharded);
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
