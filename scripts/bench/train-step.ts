/**
 * Train-step benchmark of the tiny GPT (vocab 64, d 128, 4 layers, 4 heads, ctx 128, batch 16, Adam):
 * our backend against the same model in PyTorch (torch_gpt.py), measured in the same run.
 *
 *   npm run bench:train -- [--backend wasm] [--steps 50] [--warmup 3] [--no-torch]
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { selectBackend, BACKEND_CHOICES, type BackendChoice } from '../../src/backend/select.ts';
import { GPT } from '../../src/model/decoder.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/rng.ts';
import { TINY_GPT, lcgBatches, machine, median, runTorch, table } from './common.ts';

const a = await yargs(hideBin(process.argv))
  .option('backend', { choices: BACKEND_CHOICES, default: 'wasm' as BackendChoice })
  .option('steps', { type: 'number', default: 50 })
  .option('warmup', { type: 'number', default: 3 })
  .option('batch', { type: 'number', default: 16 })
  .option('torch', { type: 'boolean', default: true, describe: 'also run the PyTorch baseline (--no-torch to skip)' })
  .strict()
  .parseAsync();

const info = await selectBackend(a.backend);
console.log(info.reason);
console.log(`machine: ${machine()}`);
const cfg = TINY_GPT;
const B = a.batch;
const T = cfg.ctx;
const model = GPT.init(cfg, Rng.fromSeed(0));
// plain Adam, as torch.optim.Adam(lr=1e-3): no weight decay, no clipping
const opt = new AdamW(OptimConfigSchema.parse({ lr: 1e-3, weightDecay: 0, gradClip: 0 }), model.params);
const batches = lcgBatches(a.warmup + a.steps, B, T, cfg.vocabSize, 0);
const times: number[] = [];
let first = NaN;
let last = NaN;
for (let i = 0; i < batches.length; i++) {
  const t0 = performance.now();
  const r = await trainStep(model, opt, batches[i], 1e-3);
  const ms = performance.now() - t0;
  if (i === 0) first = r.loss;
  last = r.loss;
  if (i >= a.warmup) times.push(ms);
}
const ours = median(times);
console.log(`ours: ${model.numParams.toLocaleString('en-US')} params, loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);

const rows = [['impl', 'ms/step (median)', 'tokens/s', 'ratio (time vs PyTorch)']];
rows.push([`tfjs ${info.name}`, ours.toFixed(1), Math.round((B * T) / (ours / 1000)).toString(), '']);
if (a.torch) {
  const pt = runTorch(['--mode', 'train', '--steps', String(a.steps), '--warmup', String(a.warmup), '--batch', String(B)]);
  if (pt) {
    const ptMs = pt.ms_per_step_median as number;
    rows[1][3] = `${(ours / ptMs).toFixed(2)}x`;
    rows.push([`pytorch ${pt.torch} (threads ${pt.threads}, blas ${pt.blas_threads})`, ptMs.toFixed(1), String(Math.round(pt.tokens_per_s as number)), '1.00x']);
    console.log(`pytorch: loss ${(pt.loss_first as number).toFixed(3)} -> ${(pt.loss_last as number).toFixed(3)}`);
  }
}
console.log(table(rows));
