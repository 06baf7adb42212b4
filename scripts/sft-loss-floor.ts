/**
 * The lowest held-out loss SFT can reach on a config's demonstration mix (src/train/sft-floor.ts): the entropy
 * of the trace sampler, per masked token. Use it to choose train.untilHeldOutLoss (a threshold below the floor
 * is never reached; docs/experiments.md).
 *
 *   npx tsx scripts/sft-loss-floor.ts --config runs/experiments/countdown-search/configs/seed-1-sft.json [--n 64] [--samples 400]
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadRunConfig } from '../src/train/config.ts';
import { sftLossFloor } from '../src/train/sft-floor.ts';
import { taskItems } from '../src/train/task-source.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';

const a = await yargs(hideBin(process.argv))
  .option('config', { type: 'string', demandOption: true, describe: 'an SFT run config (train.task "sft")' })
  .option('n', { type: 'number', default: 64, describe: 'items (drawn like held-out items, from their own seed)' })
  .option('samples', { type: 'number', default: 400, describe: 'trees drawn per item' })
  .strict()
  .parseAsync();

const cfg = loadRunConfig(a.config);
if (cfg.train.task !== 'sft') throw new Error(`${a.config}: train.task is ${cfg.train.task}, not sft`);
const items = taskItems(cfg.sft, 'id', a.n, `${cfg.train.seed}:floor`);
const f = sftLossFloor(cfg, loadTokenizer(), items, a.samples);
const sorted = [...f.perItem].sort((x, y) => x - y);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
console.log(`${cfg.sft.name} (${a.config}): ${items.length} items (${f.skipped} without a trace that fits), ${a.samples} trees each`);
console.log(`  masked tokens per tree ${f.maskedPerTree.toFixed(1)}, sampler entropy per tree ${f.natsPerTree.toFixed(2)} nats`);
console.log(`  distinct rows per row prompt ${f.continuations.toFixed(2)}; per item nats/token: median ${q(0.5).toFixed(4)}, 90th percentile ${q(0.9).toFixed(4)}`);
console.log(`  held-out loss floor (nats per masked token, as train.untilHeldOutLoss compares): ${f.floor.toFixed(4)}`);
