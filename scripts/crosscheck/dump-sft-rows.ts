/**
 * SFT batches of a run config (sftBatch, the stream a training run draws, from its own seed) as JSONL, one batch
 * per line ({B, T, ids, targets, mask}), for the PyTorch cross-check scripts/crosscheck/torch_sft.py.
 *
 *   npx tsx scripts/crosscheck/dump-sft-rows.ts runs/experiments/multihop/configs/seed-1-sft.json 4000 /tmp/mh-rows.jsonl
 */
import * as fs from 'node:fs';
import { loadRunConfig } from '../../src/train/config.ts';
import { sftBatch } from '../../src/train/supervised.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';
const [file, n, outFile] = process.argv.slice(2);
if (!file || !n || !outFile) throw new Error('usage: dump-sft-rows.ts CONFIG STEPS OUT.jsonl');
const cfg = loadRunConfig(file);
const steps = Number(n);
const out = fs.createWriteStream(outFile);
const tok = loadTokenizer();
const rng = Rng.fromSeed('dump');
for (let s = 0; s < steps; s++) {
  const b = sftBatch(cfg, tok, rng, 'train');
  out.write(JSON.stringify({ B: b.B, T: b.T, ids: Array.from(b.ids), targets: Array.from(b.targets), mask: Array.from(b.mask) }) + '\n');
}
out.end();
