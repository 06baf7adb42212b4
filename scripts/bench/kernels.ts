/**
 * Kernels per train step: the tfjs kernels (tf.profile) one supervised train step of the tiny GPT (vocab 64, d 128,
 * 4 layers, ctx 128, batch 16, Adam; the sizes of SIZE_OPTIONS) runs on a backend, by name, with our fused WGSL
 * kernels (webgpu: AdamW, LayerNorm; src/backend/webgpu-kernels.ts) and with tfjs's ops only
 * (SELFCEST_WEBGPU_FUSED=0). A count of kernels, not a timing: on lavapipe it is the same count as on a GPU.
 *
 *   npx tsx scripts/bench/kernels.ts [--backend webgpu] [--top 12]
 *
 * webgpu on a machine without a GPU: SELFCEST_WEBGPU_ALLOW_SOFTWARE=1 (lavapipe, scripts/ci/install-lavapipe.sh).
 */
import * as tf from '@tensorflow/tfjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { GPT } from '../../src/model/decoder.ts';
import { AdamW, OptimConfigSchema } from '../../src/train/optim.ts';
import { trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/rng.ts';
import { BACKEND_OPTION, SIZE_OPTIONS, lcgBatches, sizeConfig, startBench } from './common.ts';

const a = await yargs(hideBin(process.argv))
  .option('backend', { ...BACKEND_OPTION, default: 'webgpu' as const })
  .option('batch', { type: 'number', default: 16 })
  .option('top', { type: 'number', default: 12 })
  .options(SIZE_OPTIONS)
  .strict()
  .parseAsync();

const info = await startBench(a.backend);
const cfg = sizeConfig(a);
const [warm, batch] = lcgBatches(2, a.batch, cfg.ctx, cfg.vocabSize, 0);
for (const fused of [false, true]) {
  const model = GPT.init(cfg, Rng.fromSeed(0));
  process.env.SELFCEST_WEBGPU_FUSED = fused ? '1' : '0';
  const opt = new AdamW(OptimConfigSchema.parse({ lr: 1e-3, weightDecay: 0, gradClip: 1 }), model.params);
  await trainStep(model, opt, warm, 1e-3); // compiles the shaders
  const prof = await tf.profile(async () => void (await trainStep(model, opt, batch, 1e-3)));
  const by = new Map<string, number>();
  for (const k of prof.kernels) by.set(k.name, (by.get(k.name) ?? 0) + 1);
  const top = [...by].sort((x, y) => y[1] - x[1]).slice(0, a.top).map(([n, c]) => `${n} ${c}`).join(', ');
  const free = (by.get('Identity') ?? 0) + (by.get('Reshape') ?? 0);
  console.log(`${info.name}, ${fused ? 'fused kernels' : 'tfjs ops only'}: ${prof.kernels.length} kernels per step (${prof.kernels.length - free} without Identity and Reshape, which move no data on webgpu; ${model.params.size} parameter tensors); ${top}`);
  opt.dispose();
  model.dispose();
}
