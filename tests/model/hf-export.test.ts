// selfcest export --format hf and its import: the gpt2 layout (learned positions) and the gpt_neox layout (RoPE),
// tied and untied heads. Export → import round-trips bitwise; a PyTorch forward written from transformers' layouts
// (scripts/crosscheck/hf_forward.py, Debian's python3-torch) reproduces our logits within 1e-4.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/select.ts';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/checkpoint/store.ts';
import { modelConfig, parameterShapes, type ModelConfig } from '../../src/model/config.ts';
import { fromHfConfig, hfConfig } from '../../src/model/hf.ts';
import { exportHf, isHfDir } from '../../src/model/hf-io.ts';
import { loadPolicy, loadPolicyData, readPolicyState, resolvePolicyDir } from '../../src/model/io.ts';
import { Rng } from '../../src/util/rng.ts';
import { fullLogits } from '../helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hf-'));

/** Debian's system python with torch (a pyenv shim earlier on PATH does not see it), or why there is none. */
function findTorch(): { python: string } | { why: string } {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return { python };
  }
  return { why: 'no python3 with torch (Debian: apt-get install python3-torch)' };
}
const torch = findTorch();
if ('why' in torch) console.warn(`PyTorch cross-check of the export skipped: ${torch.why}`);

/** A checkpoint of a model whose every weight (biases and norms too) is random, so no layout slip hides. */
async function randomCheckpoint(cfg: ModelConfig, runDir: string): Promise<string> {
  const rng = Rng.fromSeed(`hf:${JSON.stringify(cfg)}`);
  const arrays = new Map(parameterShapes(cfg).map(({ name, shape }) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (name.includes('ln') && name.endsWith('.weight') ? 1 : 0) + 0.3 * rng.normal();
    return [name, { shape, data }] as const;
  }));
  return saveCheckpoint(runDir, {
    model: [...arrays].map(([name, a]) => ({ name, shape: a.shape, dtype: 'F32' as const, data: a.data })),
    optimizer: [],
    state: { format: CHECKPOINT_FORMAT, step: 7, config: { model: cfg, task: { name: 'arith', preset: 'sums' } }, rng: {}, dataCursor: {}, backend: 'cpu', metrics: {}, createdAt: new Date().toISOString() },
  });
}

const CASES: [string, Partial<ModelConfig>][] = [
  ['gpt2, untied', {}],
  ['gpt2, tied', { tieEmbeddings: true }],
  ['gpt_neox (rope), untied', { positions: 'rope', ropeBase: 500 }],
  ['gpt_neox (rope), tied', { positions: 'rope', tieEmbeddings: true }],
  ['llama (rope, rmsnorm, swiglu, no biases), untied', { positions: 'rope', norm: 'rms', mlp: 'swiglu', bias: false, ropeBase: 500, lnEps: 1e-6 }],
  ['llama with biases, tied', { positions: 'rope', norm: 'rms', mlp: 'swiglu', tieEmbeddings: true }],
];
const family = (c: ModelConfig) => (c.norm === 'rms' ? 'llama' : c.positions === 'rope' ? 'gpt_neox' : 'gpt2');
const SEQS = [
  [3, 17, 40, 41, 99, 5, 12, 127, 64, 8, 9, 30],
  [3, 50, 51, 52, 1, 0, 77, 78, 79, 80, 81, 82],
];

describe('selfcest export --format hf', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  for (const [label, over] of CASES) {
    it(`${label}: round-trips bitwise, keeps the run config, and PyTorch reproduces our logits within 1e-4`, async () => {
      const cfg = modelConfig({ vocabSize: 128, ctx: 16, dModel: 16, nLayers: 2, nHeads: 2, ...over });
      const ck = await randomCheckpoint(cfg, tmp());
      const out = path.join(tmp(), 'export');
      const loaded = loadPolicyData(ck);
      expect(exportHf(loaded, out)).toBe(family(cfg));
      expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'selfcest.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
      const hfCfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
      expect(hfCfg.model_type).toBe(family(cfg));
      expect(hfCfg.tie_word_embeddings).toBe(cfg.tieEmbeddings);
      expect(fromHfConfig(hfCfg)).toEqual(cfg);

      // import: the same tensors, bit for bit, and the same run config and step
      expect(isHfDir(out)).toBe(true);
      expect(resolvePolicyDir(out)).toBe(out);
      expect(readPolicyState(out)).toMatchObject({ step: 7, config: { model: cfg, task: { name: 'arith', preset: 'sums' } } });
      const back = loadPolicyData(out);
      expect(back.config).toEqual(cfg);
      const want = new Map(loaded.data.model.map((t) => [t.name, t]));
      expect(back.data.model.map((t) => t.name).sort()).toEqual([...want.keys()].sort());
      for (const t of back.data.model) {
        expect(t.shape, t.name).toEqual(want.get(t.name)!.shape);
        expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(want.get(t.name)!.data.buffer, want.get(t.name)!.data.byteOffset, want.get(t.name)!.data.byteLength)), t.name).toBe(true);
      }
      const ours = loadPolicy(ck).model;
      const imported = loadPolicy(out).model;
      const lo = await Promise.all(SEQS.map((s) => fullLogits(ours, s)));
      expect(await Promise.all(SEQS.map((s) => fullLogits(imported, s)))).toEqual(lo);
      ours.dispose();
      imported.dispose();

      if ('why' in torch) return;
      const r = spawnSync(torch.python, [path.join(ROOT, 'scripts/crosscheck/hf_forward.py'), out, JSON.stringify(SEQS)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const theirs = JSON.parse(r.stdout).logits as number[][][];
      let worst = 0;
      theirs.forEach((rows, b) => rows.forEach((row, t) => row.forEach((x, v) => (worst = Math.max(worst, Math.abs(x - lo[b][t][v]))))));
      expect(worst, 'max |PyTorch − selfcest| logit').toBeLessThan(1e-4);
    });
  }

  for (const family of ['gpt2', 'llama'] as const) {
    it.skipIf('why' in torch)(`${family} weights written by PyTorch (no selfcest.json): imported, our logits equal PyTorch's within 1e-4`, async () => {
      const t = torch as { python: string };
      const dir = path.join(tmp(), family);
      const made = spawnSync(t.python, [path.join(ROOT, 'scripts/crosscheck/make_hf_model.py'), dir, family, '5'], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
      const loaded = loadPolicyData(dir);
      expect(loaded.config).toMatchObject(family === 'llama' ? { positions: 'rope', norm: 'rms', mlp: 'swiglu', bias: false, lnEps: 1e-6 } : { positions: 'learned' });
      expect(readPolicyState(dir)).toMatchObject({ step: 0 });
      const model = loadPolicy(dir).model;
      const ours = await Promise.all(SEQS.map((s) => fullLogits(model, s)));
      model.dispose();
      const r = spawnSync(t.python, [path.join(ROOT, 'scripts/crosscheck/hf_forward.py'), dir, JSON.stringify(SEQS)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const theirs = JSON.parse(r.stdout).logits as number[][][];
      let worst = 0;
      let scale = 0;
      theirs.forEach((rows, b) => rows.forEach((row, i) => row.forEach((x, v) => ((worst = Math.max(worst, Math.abs(x - ours[b][i][v]))), (scale = Math.max(scale, Math.abs(x)))))));
      expect(scale, 'the random model gives logits of some size').toBeGreaterThan(0.5);
      expect(worst, 'max |PyTorch − selfcest| logit').toBeLessThan(1e-4);
    });
  }

  it('SFT starts from an HF directory (config.init): its weights and model config, and resumes with the same config', async () => {
    const cfg = modelConfig({ vocabSize: 128, ctx: 96, dModel: 16, nLayers: 1, nHeads: 2, positions: 'rope', norm: 'rms', mlp: 'swiglu', bias: false });
    const hf = path.join(tmp(), 'llama');
    exportHf(loadPolicyData(await randomCheckpoint(cfg, tmp())), hf);
    const file = path.join(tmp(), 'sft.json');
    // a tiny learning rate: after a step the weights are still the init's (fresh weights from the seed would not be)
    fs.writeFileSync(file, JSON.stringify({ init: hf, optim: { lr: 1e-12, weightDecay: 0 }, train: { task: 'sft', steps: 1, batchSize: 2, workers: 1, evalItems: 0, saveEvery: 1, warmupSteps: 0 }, sft: { name: 'arith', preset: 'tiny' } }));
    const out = path.join(tmp(), 'run');
    const run = (...extra: string[]) => spawnSync(process.execPath, ['bin/selfcest.mjs', 'train', '--backend', 'cpu', '--config', file, '--out', out, ...extra], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    const r = run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/initial weights: .*llama \(1 layers, d 16\)/);
    const trained = loadPolicyData(out);
    expect(trained.config).toEqual(cfg);
    const init = new Map(loadPolicyData(hf).data.model.map((t) => [t.name, t.data]));
    for (const t of trained.data.model) {
      const a = init.get(t.name)!;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - t.data[i]));
      expect(worst, t.name).toBeLessThan(1e-6);
    }
    const again = run('--set', 'train.steps=2', '--resume', 'auto');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resumed from .* at step 1/);
  });

  it('refuses what our GPT cannot compute the same way, and a foreign tokenizer, naming the file and key', async () => {
    const base = hfConfig(modelConfig({ positions: 'rope', dModel: 16, nHeads: 2, nLayers: 1 }), { bos: 3, eos: 1, pad: 0 });
    expect(() => fromHfConfig({ ...base, use_parallel_residual: true }, 'x/config.json')).toThrow(/x\/config\.json: "use_parallel_residual" is true/);
    expect(() => fromHfConfig({ ...base, rotary_pct: 0.25 })).toThrow(/"rotary_pct" is 0\.25/);
    expect(() => fromHfConfig({ ...base, hidden_act: 'gelu' })).toThrow(/"hidden_act" is "gelu"/);
    expect(() => fromHfConfig({ model_type: 'mistral' })).toThrow(/model_type "mistral" is not supported \(selfcest reads "gpt2", "gpt_neox" and "llama"\)/);
    const ll = hfConfig(modelConfig({ positions: 'rope', norm: 'rms', mlp: 'swiglu', dModel: 16, nHeads: 2, nLayers: 1 }), { bos: 3, eos: 1, pad: 0 });
    expect(() => fromHfConfig({ ...ll, num_key_value_heads: 1 })).toThrow(/"num_key_value_heads" is 1; selfcest's GPT computes only num_attention_heads/);
    expect(() => fromHfConfig({ ...ll, mlp_bias: false })).toThrow(/"mlp_bias" is false; .* the same as attention_bias \(true\)/);
    expect(() => hfConfig(modelConfig({ norm: 'rms', dModel: 16, nHeads: 2, nLayers: 1 }), { bos: 3, eos: 1, pad: 0 })).toThrow(/no transformers layout computes this model \(positions learned, norm rms/);
    const g2 = hfConfig(modelConfig({ dModel: 16, nHeads: 2, nLayers: 1 }), { bos: 3, eos: 1, pad: 0 });
    expect(() => fromHfConfig({ ...g2, activation_function: 'relu' })).toThrow(/"activation_function" is "relu"/);

    const cfg = modelConfig({ vocabSize: 128, ctx: 16, dModel: 16, nLayers: 1, nHeads: 2 });
    const out = path.join(tmp(), 'export');
    exportHf(loadPolicyData(await randomCheckpoint(cfg, tmp())), out);
    const tj = path.join(out, 'tokenizer.json');
    const tok = JSON.parse(fs.readFileSync(tj, 'utf8'));
    tok.model.vocab = Object.fromEntries(Object.entries(tok.model.vocab as Record<string, number>).map(([k, v]) => [k === 'a' ? 'á' : k, v]));
    fs.writeFileSync(tj, JSON.stringify(tok));
    expect(() => loadPolicyData(out)).toThrow(/tokenizer\.json: not selfcest's tokenizer/);
    // a missing tensor names the file and the tensor
    fs.copyFileSync(path.join(ROOT, 'tokenizer', 'tokenizer.json'), tj);
    const sel = path.join(out, 'selfcest.json');
    fs.writeFileSync(sel, JSON.stringify({ ...JSON.parse(fs.readFileSync(sel, 'utf8')), config: { model: { ...cfg, dModel: 32 } } }));
    expect(() => loadPolicyData(out)).toThrow(/selfcest\.json: config\.model .* disagrees with/);
  });

  it('the CLI writes the directory, refuses a non-empty --out without --overwrite; sample and GRPO init take the export', () => {
    const out = path.join(tmp(), 'cli-export');
    const ck = 'checkpoints/results/arith-split-gated-sharp/seed-1/clones';
    const run = (...args: string[]) => spawnSync(process.execPath, ['bin/selfcest.mjs', ...args], { encoding: 'utf8', cwd: ROOT });
    const r = run('export', '--checkpoint', ck, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    expect(r.stderr).toMatch(/exported .* \(step 60, 4 layers, d 128, learned positions\) as gpt2/);
    const again = run('export', '--checkpoint', ck, '--out', out);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^error: --out .*: exists and is not empty \(pass --overwrite/m);
    // the export samples as the checkpoint does (greedy, the same dev items of its task)
    const a = run('sample', '--checkpoint', ck, '--n', '2', '--backend', 'wasm');
    const b = run('sample', '--checkpoint', out, '--n', '2', '--backend', 'wasm');
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout.split('\n').slice(1)).toEqual(a.stdout.split('\n').slice(1));
    // and tree GRPO starts from it (init names the export)
    const grpo = path.join(tmp(), 'grpo');
    const t = run('train', '--config', 'configs/arith-grpo-tiny.json', '--set', `init="${out}"`, '--set', 'train.steps=1', '--set', 'grpo.prompts=1', '--set', 'grpo.groupSize=2', '--set', 'task.preset="sums-long"', '--out', grpo, '--backend', 'wasm');
    expect(t.status, t.stderr).toBe(0);
    expect(t.stderr).toContain(`initial weights: ${out}`);
    expect(fs.existsSync(path.join(grpo, 'step-000001', 'model.safetensors'))).toBe(true);
  });
});
