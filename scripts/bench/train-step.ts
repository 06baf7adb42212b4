/**
 * Train-step benchmark of the tiny GPT (vocab 64, d 128, 4 layers, 4 heads, ctx 128, batch 16, Adam):
 * our backend against the same model in PyTorch (torch_gpt.py), measured in the same run.
 *
 *   npm run bench:train -- [--backend wasm] [--steps 50] [--warmup 3] [--no-torch]
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { GPT } from '../../src/model/decoder.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { trainStep } from '../../src/train/step.ts';
import { GradPool } from '../../src/train/grad-pool.ts';
import { Rng } from '../../src/util/rng.ts';
import { BACKEND_OPTION, SIZE_OPTIONS, lcgBatches, median, startBench, runTorch, sizeConfig, table, torchSizeArgs } from './common.ts';

const a = await yargs(hideBin(process.argv))
  .option('backend', BACKEND_OPTION)
  .option('steps', { type: 'number', default: 50 })
  .option('warmup', { type: 'number', default: 3 })
  .option('batch', { type: 'number', default: 16 })
  .option('workers', { type: 'string', default: '1,2', describe: 'gradient threads to compare (1 = this thread only)' })
  .options(SIZE_OPTIONS)
  .strict()
  .parseAsync();

const info = await startBench(a.backend);
const cfg = sizeConfig(a);
const B = a.batch;
const T = cfg.ctx;
const batches = lcgBatches(a.warmup + a.steps, B, T, cfg.vocabSize, 0);
const rows = [['impl', 'ms/step (median)', 'tokens/s', 'ratio (time vs PyTorch)']];
const ours: { row: string[]; ms: number }[] = [];
for (const threads of a.workers.split(',').map(Number)) {
  const model = GPT.init(cfg, Rng.fromSeed(0));
  // plain Adam, as torch.optim.Adam(lr=1e-3): no weight decay, no clipping
  const opt = new AdamW(OptimConfigSchema.parse({ lr: 1e-3, weightDecay: 0, gradClip: 0 }), model.params);
  const pool = threads > 1 ? await GradPool.start(threads - 1, cfg, a.backend) : undefined;
  const times: number[] = [];
  let first = NaN;
  let last = NaN;
  for (let i = 0; i < batches.length; i++) {
    const t0 = performance.now();
    const r = await trainStep(model, opt, batches[i], 1e-3, pool);
    const ms = performance.now() - t0;
    if (i === 0) first = r.loss;
    last = r.loss;
    if (i >= a.warmup) times.push(ms);
  }
  await pool?.close();
  const ms = median(times);
  console.log(`ours, ${threads} thread(s): ${model.numParams.toLocaleString('en-US')} params, loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  const row = [`tfjs ${info.name}, ${threads} thread(s)`, ms.toFixed(1), Math.round((B * T) / (ms / 1000)).toString(), ''];
  rows.push(row);
  ours.push({ row, ms });
  opt.dispose();
  model.dispose();
}
if (a.torch) {
  const pt = runTorch(['--mode', 'train', '--steps', String(a.steps), '--warmup', String(a.warmup), '--batch', String(B), ...torchSizeArgs(a)], a.python);
  if (pt) {
    const ptMs = pt.ms_per_step_median as number;
    for (const o of ours) o.row[3] = `${(o.ms / ptMs).toFixed(2)}x`;
    rows.push([`pytorch ${pt.torch} ${pt.device} (threads ${pt.threads}, blas ${pt.blas_threads})`, ptMs.toFixed(1), String(Math.round(pt.tokens_per_s as number)), '1.00x']);
    console.log(`pytorch: loss ${(pt.loss_first as number).toFixed(3)} -> ${(pt.loss_last as number).toFixed(3)}`);
  }
}
console.log(table(rows));
