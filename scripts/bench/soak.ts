/**
 * Memory soak: RSS, the wasm heap and tf.memory() sampled at every step of an SFT run and a GRPO run (the real
 * trainers, with checkpoints), and numTensors over rollout batches of the SFT policy. Prints first / last / max per
 * phase and the growth over each phase's second half; --json writes every sample. Defaults are the figures in
 * docs/benchmarks.md (1,000 SFT steps, 300 GRPO steps, 1,000 rollout batches); tests/train/soak.test.ts runs it
 * small and asserts its bounds.
 *
 *   npx tsx scripts/bench/soak.ts [--sft 1000] [--grpo 300] [--rollouts 1000] [--backend wasm] [--json out.json]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../../src/backend/select.ts';
import { wasmHeapBytes } from '../../src/backend/wasm-kernels.ts';
import { loadPolicy } from '../../src/model/io.ts';
import { LocalDecoder } from '../../src/model/row-decoder.ts';
import { ModelPolicy, runTrees } from '../../src/rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { runConfig } from '../../src/train/config.ts';
import { RlConfigSchema, rlRolloutItems, trainRl } from '../../src/train/rl.ts';
import { trainSupervised } from '../../src/train/supervised.ts';
import { taskItems } from '../../src/train/task-source.ts';
import { Rng } from '../../src/util/rng.ts';

export interface Sample {
  step: number;
  rssMiB: number;
  heapMiB: number;
  wasmMiB: number;
  numTensors: number;
  tfMiB: number;
}

export interface Phase {
  name: string;
  samples: Sample[];
}

const MiB = 2 ** 20;
const sample = (step: number): Sample => {
  const m = process.memoryUsage();
  const t = tf.memory();
  return { step, rssMiB: m.rss / MiB, heapMiB: m.heapUsed / MiB, wasmMiB: wasmHeapBytes() / MiB, numTensors: t.numTensors, tfMiB: t.numBytes / MiB };
};

/** A trainer's log callback that samples memory at every progress line (`step N/...`). */
const sampler = (into: Sample[]) => (line: string) => {
  const m = /^step (\d+)\//.exec(line);
  if (m) into.push(sample(Number(m[1])));
};

const MODEL = { vocabSize: 128, ctx: 128, dModel: 64, nLayers: 2, nHeads: 4 };
const ROLLOUT = { rootWindow: 128, cloneWindow: 128, rootBudget: 96, defaultCloneBudget: 32, maxTreeTokens: 512, temperature: 1 };

/** SFT (arith tiny, half delegation traces) for sftSteps, GRPO from it for grpoSteps, then rollout batches of the SFT policy. */
export async function soak(o: { sftSteps: number; grpoSteps: number; rolloutBatches: number; backend: BackendChoice; dir?: string }): Promise<Phase[]> {
  await selectBackend(o.backend);
  const tok = loadTokenizer();
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-soak-'));
  const phases: Phase[] = [];

  const sft: Sample[] = [];
  const sftCfg = runConfig({
    model: MODEL,
    optim: { lr: 0.003, gradClip: 1 },
    train: { task: 'sft', steps: o.sftSteps, batchSize: 16, workers: 1, warmupSteps: 20, saveEvery: 100, logEvery: 1, evalItems: 0 },
    sft: { name: 'arith', preset: 'tiny', delegation: 0.5 },
  });
  const sftOut = path.join(dir, 'sft');
  const r = await trainSupervised(sftCfg, tok, { out: sftOut, log: sampler(sft) });
  r.model.dispose();
  phases.push({ name: `SFT, ${o.sftSteps} steps`, samples: sft });

  if (o.grpoSteps > 0) {
    const grpo: Sample[] = [];
    const rl = RlConfigSchema.parse({
      mode: 'grpo', init: sftOut, model: MODEL, optim: { lr: 3e-4, gradClip: 1 }, rollout: ROLLOUT,
      grpo: { prompts: 2, groupSize: 4 }, task: { name: 'arith', preset: 'tiny' },
      train: { steps: o.grpoSteps, warmupSteps: 2, saveEvery: 50, logEvery: 1, seed: 1 },
    });
    await trainRl(rl, tok, { out: path.join(dir, 'grpo'), log: sampler(grpo) });
    phases.push({ name: `GRPO, ${o.grpoSteps} steps (2 prompts x 4 trees)`, samples: grpo });
  }

  if (o.rolloutBatches > 0) {
    const roll: Sample[] = [];
    const { model } = loadPolicy(sftOut);
    const cfg = RolloutConfigSchema.parse(ROLLOUT);
    const p = protocolTokens(tok);
    const rng = Rng.fromSeed('soak-rollouts');
    for (let b = 0; b < o.rolloutBatches; b++) {
      const items = rlRolloutItems(taskItems({ name: 'arith', preset: 'tiny' }, 'train', 8, b), tok, cfg);
      const dec = new LocalDecoder(model);
      try {
        await runTrees(items, new ModelPolicy(model, dec, cfg, rng), cfg, p);
      } finally {
        await dec.close();
      }
      roll.push(sample(b + 1));
    }
    model.dispose();
    phases.push({ name: `rollouts, ${o.rolloutBatches} batches of 8 trees`, samples: roll });
  }
  return phases;
}

/** First, last and max of a field, and its growth from the middle sample to the last. */
export function summary(samples: Sample[], key: keyof Sample): { first: number; last: number; max: number; secondHalfGrowth: number } {
  const v = samples.map((s) => s[key]);
  return { first: v[0], last: v[v.length - 1], max: Math.max(...v), secondHalfGrowth: v[v.length - 1] - v[Math.floor(v.length / 2)] };
}

if (process.argv[1] === import.meta.filename) {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const a = await yargs(hideBin(process.argv))
    .option('sft', { type: 'number', default: 1000 })
    .option('grpo', { type: 'number', default: 300 })
    .option('rollouts', { type: 'number', default: 1000 })
    .option('backend', { type: 'string', default: 'wasm' })
    .option('json', { type: 'string', describe: 'write every sample here' })
    .strict()
    .parse();
  const t0 = performance.now();
  const phases = await soak({ sftSteps: a.sft, grpoSteps: a.grpo, rolloutBatches: a.rollouts, backend: a.backend as BackendChoice });
  for (const ph of phases) {
    console.log(`\n${ph.name} (${ph.samples.length} samples)`);
    for (const k of ['numTensors', 'tfMiB', 'rssMiB', 'heapMiB', 'wasmMiB'] as const) {
      const s = summary(ph.samples, k);
      const f = (x: number) => (k === 'numTensors' ? String(x) : x.toFixed(1));
      console.log(`  ${k.padEnd(10)} first ${f(s.first)}  last ${f(s.last)}  max ${f(s.max)}  second-half growth ${f(s.secondHalfGrowth)}`);
    }
  }
  console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s, node ${process.version}, ${os.cpus().length} cores`);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify(phases, null, 1));
}
