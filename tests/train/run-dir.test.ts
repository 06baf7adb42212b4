// A run directory left by an interrupted save is cleaned when the run starts again (both trainers), with a log line.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../../src/backend/select.ts';
import { findLatest } from '../../src/checkpoint/store.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { runConfig } from '../../src/train/config.ts';
import { RlConfigSchema, trainRl } from '../../src/train/rl.ts';
import { trainSupervised } from '../../src/train/supervised.ts';
import { resumedConfig } from '../../src/train/training-state.ts';

const tok = loadTokenizer();
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-rundir-'));
const model = { vocabSize: tok.vocabSize, ctx: 64, dModel: 16, nLayers: 1, nHeads: 2 };

/** A tiny GRPO run from `init`. */
const tinyRl = (init: string, train: object) =>
  RlConfigSchema.parse({
    mode: 'grpo', init, model, optim: { lr: 0.01 },
    rollout: { rootWindow: 64, cloneWindow: 64, rootBudget: 8, defaultCloneBudget: 4, maxTreeTokens: 100 },
    grpo: { prompts: 1, groupSize: 2 }, train: { warmupSteps: 0, ...train },
  });

/** What an interrupted save leaves: a temp step directory, a temp `latest`, a step directory without its weights. */
function plantLeftovers(run: string): void {
  fs.mkdirSync(path.join(run, '.tmp-step-000009-4242'));
  fs.writeFileSync(path.join(run, '.tmp-step-000009-4242', 'model.safetensors'), 'partial');
  fs.writeFileSync(path.join(run, '.tmp-latest-4242'), 'step-000009\n');
  fs.mkdirSync(path.join(run, 'step-000009'));
  fs.writeFileSync(path.join(run, 'step-000009', 'state.json'), '{}');
}
const leftovers = (run: string) => fs.readdirSync(run).filter((n) => n.startsWith('.tmp-') || n === 'step-000009');

describe('leftovers of interrupted saves', () => {
  it('SFT and GRPO remove them on the next start of the run and say so', async () => {
    await selectBackend('cpu');
    const sftOut = tmp();
    const sft = runConfig({ model, train: { steps: 2, batchSize: 2, evalItems: 0, saveEvery: 1 } });
    await trainSupervised(sft, tok, { out: sftOut, stopAfter: 1, log: () => {} });
    plantLeftovers(sftOut);
    const logs: string[] = [];
    await trainSupervised(sft, tok, { out: sftOut, resume: 'auto', log: (l) => logs.push(l) });
    expect(logs.join('\n')).toMatch(/removed 3 leftovers of an interrupted save in .*: \.tmp-latest-4242, \.tmp-step-000009-4242, step-000009/);
    expect(leftovers(sftOut)).toEqual([]);
    expect(findLatest(sftOut)).toBe(path.join(sftOut, 'step-000002'));
    // the history's CSV and TensorBoard copies are there and hold every step
    expect(fs.readFileSync(path.join(sftOut, 'metrics.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(fs.statSync(path.join(sftOut, 'tb', 'events.out.tfevents.0.selfcest')).size).toBeGreaterThan(0);

    const rlOut = tmp();
    const rl = tinyRl(sftOut, { steps: 2, saveEvery: 1 });
    await trainRl(rl, tok, { out: rlOut, stopAfter: 1, log: () => {} });
    plantLeftovers(rlOut);
    const rlLogs: string[] = [];
    await trainRl(rl, tok, { out: rlOut, resume: 'auto', log: (l) => rlLogs.push(l) });
    expect(rlLogs.join('\n')).toMatch(/removed 3 leftovers of an interrupted save/);
    expect(leftovers(rlOut)).toEqual([]);
  }, 120_000);
});

describe('one trainer per run directory', () => {
  it('a second trainer into a run directory in use is refused naming the holder; a dead holder\'s lock is taken over; none is left after a run', async () => {
    await selectBackend('cpu');
    const out = tmp();
    const sft = runConfig({ model, train: { steps: 1, batchSize: 2, evalItems: 0 } });
    // held by a live process (this one): refused, nothing written
    fs.writeFileSync(path.join(out, '.lock'), `${process.pid}\n`);
    await expect(trainSupervised(sft, tok, { out, log: () => {} })).rejects.toThrow(new RegExp(`${out}/\\.lock: this run directory is in use by pid ${process.pid}`));
    expect(fs.readdirSync(out)).toEqual(['.lock']);
    // held by a process that has exited: taken over with a note
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim();
    fs.writeFileSync(path.join(out, '.lock'), `${dead}\n`);
    const logs: string[] = [];
    await trainSupervised(sft, tok, { out, log: (l) => logs.push(l) });
    expect(logs.join('\n')).toMatch(new RegExp(`stale lock of pid ${dead} \\(no such process\\): taken over`));
    expect(fs.existsSync(path.join(out, '.lock'))).toBe(false);
    // GRPO takes the same lock
    const rlOut = tmp();
    fs.writeFileSync(path.join(rlOut, '.lock'), `${process.pid}\n`);
    const rl = tinyRl(out, { steps: 1 });
    await expect(trainRl(rl, tok, { out: rlOut, log: () => {} })).rejects.toThrow(/this run directory is in use by pid/);
    fs.rmSync(path.join(rlOut, '.lock'));
    await trainRl(rl, tok, { out: rlOut, log: () => {} });
    expect(fs.existsSync(path.join(rlOut, '.lock'))).toBe(false);
  }, 120_000);
});

describe('resume with another config', () => {
  it('is refused naming the changed keys, unless only keys the resume rules allow changed', () => {
    const saved = { optim: { lr: 0.01 }, train: { steps: 4, seed: 1 } };
    expect(() => resumedConfig(saved, { optim: { lr: 0.5 }, train: { steps: 8, seed: 2 } }, ['train.steps'])).toThrow(
      /resume: the config differs from the checkpoint's in optim\.lr, train\.seed \(only train\.steps may change on resume\)/,
    );
    expect(resumedConfig(saved, { optim: { lr: 0.01 }, train: { steps: 8, seed: 1 } }, ['train.steps'])).toEqual({ optim: { lr: 0.01 }, train: { steps: 8, seed: 1 } });
  });
});

describe('the metrics history survives kill -9', () => {
  it('inside the resume truncation: the file is always the old or the new history, never a torn or empty one', async () => {
    const dir = tmp();
    const file = path.join(dir, 'metrics.jsonl');
    const n = 2_000;
    const text = Array.from({ length: n }, (_, i) => JSON.stringify({ step: i + 1, loss: 1 / (i + 1), pad: 'x'.repeat(4_000) }) + '\n').join('');
    fs.writeFileSync(file, text);
    // a child rewrites the file over and over (truncation to a step past the end keeps every line) until killed
    const child = [
      `import { truncateMetrics } from ${JSON.stringify(path.join(import.meta.dirname, '../../src/train/metrics.ts'))};`,
      `process.stdout.write('go\\n'); for (;;) truncateMetrics(${JSON.stringify(file)}, ${n + 1});`,
    ].join('\n');
    const script = path.join(dir, 'child.ts');
    fs.writeFileSync(script, child);
    const { spawn } = await import('node:child_process');
    for (let k = 0; k < 24; k++) {
      const p = spawn(process.execPath, ['--import', 'tsx', script], { cwd: path.join(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
      const started = await new Promise<boolean>((resolve) => {
        p.stdout!.once('data', () => resolve(true));
        p.once('exit', () => resolve(false));
      });
      expect(started, 'the child started its loop').toBe(true);
      await new Promise((r) => setTimeout(r, 5 + ((k * 37) % 120)));
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
      expect(fs.readFileSync(file, 'utf8').length, `kill ${k + 1}`).toBe(text.length);
    }
    // what a killed rewrite leaves next to the file is cleaned when the run starts
    const { cleanRunDir } = await import('../../src/checkpoint/store.ts');
    cleanRunDir(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(['child.ts', 'metrics.jsonl']);
  }, 120_000);
});
