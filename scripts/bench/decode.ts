/**
 * KV-cache decoding benchmark of the tiny GPT at batch 1 and 64 (128 new tokens from a 1-token prompt),
 * our decoder + host sampling against torch_gpt.py --mode decode, measured in the same run. With --threads 2
 * the rows are spread over this thread and a worker thread (ShardedDecoder).
 *
 *   npm run bench:decode -- [--backend wasm] [--batches 1,64] [--threads 1,2] [--no-torch]
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { GPT } from '../../src/model/decoder.ts';
import type { RowDecoder } from '../../src/model/row-decoder.ts';
import { ShardedDecoder } from '../../src/model/sharded-decoder.ts';
import { sampleRows } from '../../src/model/sampling.ts';
import { Rng } from '../../src/util/rng.ts';
import { BACKEND_OPTION, SIZE_OPTIONS, median, startBench, runTorch, sizeConfig, table, torchSizeArgs } from './common.ts';

const a = await yargs(hideBin(process.argv))
  .option('backend', BACKEND_OPTION)
  .option('batches', { type: 'string', default: '1,64' })
  .option('new-tokens', { type: 'number', default: 128 })
  .option('threads', { type: 'string', default: '1,2', describe: 'decoder threads to compare' })
  .options(SIZE_OPTIONS)
  .strict()
  .parseAsync();

const info = await startBench(a.backend);
const cfg = sizeConfig(a);
const model = GPT.init(cfg, Rng.fromSeed(0));
const rng = Rng.fromSeed(1);

/** one generation of n tokens per row: prefill the 1-token prompts, then n-1 decode steps */
async function generation(dec: RowDecoder, B: number, n: number): Promise<number> {
  const t0 = performance.now();
  const { logits } = await dec.join(Array.from({ length: B }, () => [0]));
  let toks = sampleRows(logits, B, cfg.vocabSize, { temperature: 1 }, rng).tokens;
  for (let i = 1; i < n; i++) {
    const data = await dec.step(toks);
    toks = sampleRows(data, B, cfg.vocabSize, { temperature: 1 }, rng).tokens;
  }
  await dec.clear();
  return performance.now() - t0;
}

const rows = [['batch', 'impl', 'ms/generation (median of 3)', 'tokens/s', 'ratio (throughput vs PyTorch)']];
for (const B of a.batches.split(',').map(Number)) {
  const ours: { row: string[]; tps: number }[] = [];
  for (const threads of a.threads.split(',').map(Number)) {
    if (threads > B) continue;
    const dec = await ShardedDecoder.start(model, threads - 1, a.backend);
    await generation(dec, B, 8); // warm-up
    const times = [];
    for (let i = 0; i < 3; i++) times.push(await generation(dec, B, a['new-tokens']));
    await dec.close();
    const ms = median(times);
    const tps = (B * a['new-tokens']) / (ms / 1000);
    const row = [String(B), `tfjs ${info.name}, ${threads} thread(s)`, ms.toFixed(0), Math.round(tps).toString(), ''];
    rows.push(row);
    ours.push({ row, tps });
  }
  if (a.torch) {
    const pt = runTorch(['--mode', 'decode', '--batch', String(B), '--new-tokens', String(a['new-tokens']), ...torchSizeArgs(a)], a.python);
    if (pt) {
      for (const o of ours) o.row[4] = `${(o.tps / (pt.tokens_per_s as number)).toFixed(2)}x`;
      rows.push([String(B), `pytorch ${pt.torch} ${pt.device}`, (pt.ms_per_generation_median as number).toFixed(0), String(Math.round(pt.tokens_per_s as number)), '1.00x']);
    }
  }
}
console.log(table(rows));
