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
import { exportHf, growVocabulary, isHfDir } from '../../src/model/hf-io.ts';
import { bpeTokenizerFiles } from '../fixtures/bpe-tokenizer.ts';
import { GPT } from '../../src/model/decoder.ts';
import { loadPolicy, loadPolicyData, loadPolicyTokenizer, policyTokenizer, readPolicyState, resolvePolicyDir } from '../../src/model/io.ts';
import { isDefaultTokenizer } from '../../src/tokenizer/index.ts';
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

/** Our logits for SEQS from an HF directory, and the largest |PyTorch − ours| over PyTorch's ids (hf_forward.py). */
async function torchGap(python: string, dir: string): Promise<{ worst: number; scale: number; vocab: number }> {
  const model = loadPolicy(dir).model;
  const ours = await Promise.all(SEQS.map((s) => fullLogits(model, s)));
  model.dispose();
  const r = spawnSync(python, [path.join(ROOT, 'scripts/crosscheck/hf_forward.py'), dir, JSON.stringify(SEQS)], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const theirs = JSON.parse(r.stdout).logits as number[][][];
  let worst = 0;
  let scale = 0;
  theirs.forEach((rows, b) => rows.forEach((row, i) => row.forEach((x, v) => ((worst = Math.max(worst, Math.abs(x - ours[b][i][v]))), (scale = Math.max(scale, Math.abs(x)))))));
  return { worst, scale, vocab: theirs[0][0].length };
}

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
      const { worst, scale } = await torchGap(t.python, dir);
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

  it('refuses what our GPT cannot compute the same way, and a tokenizer that does not fit the vocabulary, naming the file and key', async () => {
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
    // another tokenizer whose id count is not config.json's vocab_size (128): refused, naming both
    const bpe = bpeTokenizerFiles();
    fs.writeFileSync(tj, bpe['tokenizer.json']);
    expect(() => loadPolicyData(out)).toThrow(/config\.json: vocab_size is 128 but .*tokenizer\.json has 263 ids$/);
    // a padded vocabulary (more rows than the tokenizer has ids) is refused with its reason
    const hfCfgFile = path.join(out, 'config.json');
    const hfCfg = JSON.parse(fs.readFileSync(hfCfgFile, 'utf8'));
    fs.writeFileSync(hfCfgFile, JSON.stringify({ ...hfCfg, vocab_size: 320 }));
    expect(() => readPolicyState(out)).toThrow(/vocab_size is 320 but .*263 ids \(a padded vocabulary, which selfcest does not import/);
    fs.writeFileSync(hfCfgFile, JSON.stringify(hfCfg));
    // a missing tensor names the file and the tensor
    fs.copyFileSync(path.join(ROOT, 'tokenizer', 'tokenizer.json'), tj);
    const sel = path.join(out, 'selfcest.json');
    fs.writeFileSync(sel, JSON.stringify({ ...JSON.parse(fs.readFileSync(sel, 'utf8')), config: { model: { ...cfg, dModel: 32 } } }));
    expect(() => loadPolicyData(out)).toThrow(/selfcest\.json: config\.model .* disagrees with/);
  });

  for (const tied of [false, true]) {
    it(`growVocabulary (${tied ? 'tied' : 'untied'} head): old ids' logits unchanged, each new id's logit the mean of the old ones`, async () => {
      const cfg = modelConfig({ vocabSize: 40, ctx: 16, dModel: 16, nLayers: 1, nHeads: 2, tieEmbeddings: tied });
      const data = loadPolicyData(await randomCheckpoint(cfg, tmp())).data;
      const arrays = new Map(data.model.map((t) => [t.name, { shape: t.shape, data: t.data as Float32Array }]));
      const grown = growVocabulary(cfg, arrays, 5);
      expect(grown.get('wte.weight')!.shape).toEqual([45, 16]);
      if (!tied) expect(grown.get('lm_head.weight')!.shape).toEqual([16, 45]);
      const before = GPT.fromArrays(cfg, arrays, 'before');
      const after = GPT.fromArrays({ ...cfg, vocabSize: 45 }, grown, 'after');
      const seq = [3, 17, 39, 0, 5, 22];
      const a = await fullLogits(before, seq);
      const b = await fullLogits(after, seq);
      before.dispose();
      after.dispose();
      let worstOld = 0;
      let worstNew = 0;
      a.forEach((row, t) => {
        const mean = row.reduce((x, y) => x + y, 0) / row.length;
        row.forEach((x, v) => (worstOld = Math.max(worstOld, Math.abs(x - b[t][v]))));
        for (let v = 40; v < 45; v++) worstNew = Math.max(worstNew, Math.abs(b[t][v] - mean));
      });
      expect(worstOld).toBeLessThan(1e-5);
      expect(worstNew).toBeLessThan(1e-4);
      expect(growVocabulary(cfg, arrays, 0)).toBe(arrays);
    });
  }

  for (const family of ['gpt2', 'llama'] as const) {
    it.skipIf('why' in torch)(`${family} with a tokenizer of its own (byte-level BPE, 263 ids, made by PyTorch): the protocol's 32 tokens added at ids 263..294, rows the mean, logits over its ids equal PyTorch's`, async () => {
      const t = torch as { python: string };
      const dir = path.join(tmp(), family);
      const made = spawnSync(t.python, [path.join(ROOT, 'scripts/crosscheck/make_hf_model.py'), dir, family, '9', '--tokenizer', 'bpe'], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
      const loaded = loadPolicyData(dir);
      expect(loaded.config.vocabSize).toBe(263 + 32);
      expect(readPolicyState(dir)).toMatchObject({ step: 0, config: { model: { vocabSize: 295 } }, importedTokens: { added: 32, firstId: 263 } });
      const tok = policyTokenizer(loaded);
      expect(isDefaultTokenizer(tok)).toBe(false);
      expect(loadPolicyTokenizer(dir).sha256).toBe(tok.sha256);
      expect([tok.vocabSize, tok.id('<pad>'), tok.id('<spawn>'), tok.id('<reserved_11>')]).toEqual([295, 263, 267, 294]);
      expect(tok.decode(tok.encode('12+34=<spawn><obj>the'))).toBe('12+34=<spawn><obj>the');
      const wte = loaded.data.model.find((x) => x.name === 'wte.weight')!.data as Float32Array;
      const mean = Array.from({ length: 16 }, (_, j) => { let m = 0; for (let v = 0; v < 263; v++) m += wte[v * 16 + j]; return m / 263; });
      for (let v = 263; v < 295; v++) for (let j = 0; j < 16; j++) expect(Math.abs(wte[v * 16 + j] - mean[j])).toBeLessThan(1e-6);
      const { worst, vocab } = await torchGap(t.python, dir);
      expect(vocab).toBe(263);
      expect(worst, 'max |PyTorch − selfcest| logit over the model\'s own ids').toBeLessThan(1e-4);
    });
  }

  it.skipIf('why' in torch)('a model with its own tokenizer: SFT from it carries the tokenizer in every checkpoint, resumes, samples, evaluates, and its export re-imports bitwise', async () => {
    const t = torch as { python: string };
    const hf = path.join(tmp(), 'llama-bpe');
    const made = spawnSync(t.python, [path.join(ROOT, 'scripts/crosscheck/make_hf_model.py'), hf, 'llama', '3', '--tokenizer', 'bpe', '--ctx', '96'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const file = path.join(tmp(), 'sft.json');
    fs.writeFileSync(file, JSON.stringify({ init: hf, optim: { lr: 1e-3, weightDecay: 0 }, train: { task: 'sft', steps: 1, batchSize: 2, workers: 1, evalItems: 0, saveEvery: 1, warmupSteps: 0 }, sft: { name: 'arith', preset: 'tiny' } }));
    const out = path.join(tmp(), 'run');
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/selfcest.mjs', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    const r = cli('train', '--backend', 'cpu', '--config', file, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/tokenizer: .*llama-bpe's own \(295 tokens\)/);
    const want = policyTokenizer(loadPolicyData(hf)).files!;
    const step1 = path.join(out, 'step-000001');
    expect(fs.readFileSync(path.join(step1, 'tokenizer.json'), 'utf8')).toBe(want['tokenizer.json']);
    expect(loadPolicyData(out).config.vocabSize).toBe(295);
    const again = cli('train', '--backend', 'cpu', '--config', file, '--out', out, '--set', 'train.steps=2', '--resume', 'auto');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resumed from .* at step 1/);
    expect(fs.readFileSync(path.join(out, 'step-000002', 'tokenizer.json'), 'utf8')).toBe(want['tokenizer.json']);
    expect(cli('info', '--checkpoint', out).stdout).toMatch(/tokenizer: its own \(295 tokens\)/);
    // tree GRPO from that SFT checkpoint speaks the same tokenizer and carries it on
    const grpo = path.join(tmp(), 'grpo');
    const g = cli('train', '--backend', 'cpu', '--config', 'configs/arith-grpo-tiny.json', '--set', `init="${out}"`, '--set', 'train.steps=1', '--set', 'grpo.prompts=1', '--set', 'grpo.groupSize=2',
      '--set', 'rollout.rootWindow=96', '--set', 'rollout.cloneWindow=96', '--set', 'rollout.rootBudget=16', '--set', 'rollout.defaultCloneBudget=8', '--out', grpo);
    expect(g.status, g.stderr).toBe(0);
    expect(g.stderr).toMatch(/tokenizer: .*'s own \(295 tokens\)/);
    expect(fs.readFileSync(path.join(grpo, 'step-000001', 'tokenizer.json'), 'utf8')).toBe(want['tokenizer.json']);
    // sampling and eval decode with that tokenizer; the eval keeps it beside its trees
    const s = cli('sample', '--checkpoint', out, '--n', '1', '--max-new', '4', '--backend', 'cpu');
    expect(s.status, s.stderr).toBe(0);
    const ev = path.join(tmp(), 'eval');
    const e = cli('eval', '--checkpoint', out, '--split', 'id', '--n', '2', '--out', ev, '--backend', 'cpu', '--set', 'rootBudget=8', '--set', 'maxCallsPerTree=0');
    expect(e.status, e.stderr).toBe(0);
    expect(fs.readFileSync(path.join(ev, 'tokenizer.json'), 'utf8')).toBe(want['tokenizer.json']);
    // its trees hold ids past selfcest's 128: trace pages and the report decode them with the eval's tokenizer
    const point = fs.readdirSync(path.join(ev, 'points'))[0];
    const trace = cli('trace', path.join(ev, 'points', point, 'trees.jsonl'), '--out', path.join(tmp(), 't.html'));
    expect(trace.status, trace.stderr).toBe(0);
    const rep = cli('compare', ev, '--out', path.join(tmp(), 'report'));
    expect(rep.status, rep.stderr).toBe(0);
    // export → import: no more tokens added, every tensor bit for bit, the same tokenizer
    const exp = path.join(tmp(), 'exported');
    const x = cli('export', '--checkpoint', out, '--out', exp);
    expect(x.status, x.stderr).toBe(0);
    expect(fs.readFileSync(path.join(exp, 'tokenizer.json'), 'utf8')).toBe(want['tokenizer.json']);
    expect(JSON.parse(fs.readFileSync(path.join(exp, 'generation_config.json'), 'utf8'))).toEqual({ bos_token_id: 266, eos_token_id: 264, pad_token_id: 263 });
    const a = loadPolicyData(out);
    const b = loadPolicyData(exp);
    expect(b.config).toEqual(a.config);
    expect(b.data.state.importedTokens).toBeUndefined();
    const byName = new Map(a.data.model.map((m) => [m.name, m]));
    for (const m of b.data.model) expect(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).equals(Buffer.from(byName.get(m.name)!.data.buffer, byName.get(m.name)!.data.byteOffset, byName.get(m.name)!.data.byteLength)), m.name).toBe(true);
    expect(policyTokenizer(b).sha256).toBe(policyTokenizer(a).sha256);
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
