import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { experimentTask, loadExperiment } from '../../src/experiment/config.ts';
import { commandLine, planExperiment } from '../../src/experiment/plan.ts';
import { publishExperiment, shippedHref } from '../../src/experiment/publish.ts';
import { loadPolicy } from '../../src/model/io.ts';
import { selectBackend } from '../../src/backend/select.ts';
import { runStages, stageDone } from '../../src/experiment/run.ts';
import { splitFile } from '../../src/eval/items.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'exp-'));

/** A tiny experiment: a 1-layer model, a few steps, 2 eval items; `extra` merges over it. */
function tinyConfig(extra: Record<string, unknown> = {}) {
  return {
    name: 'tiny',
    seeds: [1],
    sft: {
      model: { vocabSize: 128, ctx: 128, dModel: 16, nLayers: 1, nHeads: 2 },
      train: { task: 'sft', steps: 2, batchSize: 4, evalItems: 2, heldOutEvery: 0, logEvery: 1 },
      sft: { name: 'arith', preset: 'sums' },
    },
    grpo: { grpo: { prompts: 1, groupSize: 2 }, task: { name: 'arith', preset: 'sums' }, train: { steps: 1 }, rollout: { rootBudget: 24, defaultCloneBudget: 16 } },
    eval: { splits: ['data/eval/arith-sums-id.jsonl'], n: 2, scSamples: [2], bootstrap: 20, traces: 1 },
    quick: ['grpo.train.steps=2'],
    ...extra,
  };
}

function writeConfig(value: unknown): string {
  const f = path.join(tmp(), 'exp.json');
  fs.writeFileSync(f, JSON.stringify(value));
  return f;
}

describe('experiment config and plan', () => {
  it('validates every stage config up front and applies quick overrides only without --full', () => {
    const f = writeConfig(tinyConfig());
    expect(loadExperiment(f, { full: true }).grpo).toMatchObject({ train: { steps: 1 } });
    expect(loadExperiment(f, { full: false }).grpo).toMatchObject({ train: { steps: 2 } });
    expect(loadExperiment(f, { full: true, set: ['seeds=[4,5]'] }).seeds).toEqual([4, 5]);
    expect(() => loadExperiment(writeConfig(tinyConfig({ arms: [{ name: 'x', set: ['rollout.allowSpawn=false'], eval: 'clones' }] })), { full: true })).toThrow(
      /arm x is evaluated as clones but trains with rollout.allowSpawn false/,
    );
    expect(() => loadExperiment(writeConfig(tinyConfig({ arms: [{ name: 'a', eval: 'clones' }, { name: 'a', eval: 'clones' }] })), { full: true })).toThrow(/"a" appears twice/);
    const badTask = tinyConfig();
    (badTask.grpo as { task: unknown }).task = { name: 'countdown', preset: 'tiny' };
    expect(() => loadExperiment(writeConfig(badTask), { full: true })).toThrow(/grpo.task.name is "countdown" but sft.sft.name is "arith"/);
    expect(() => loadExperiment(writeConfig(tinyConfig({ seeds: [] })), { full: true })).toThrow(/seeds/);
  });

  it('eval.controllers: the rules compared on dev over the warm start (kept out of the report), the best evaluated on every split', () => {
    const controllers = { rules: ['never', 'always+budget=16', 'above:12+budget=16'], dev: 'data/eval/arith-sums-long-dev.jsonl' };
    const cfg = loadExperiment(writeConfig(tinyConfig({ eval: { ...tinyConfig().eval, controllers } })), { full: true });
    const stages = planExperiment(cfg, { dir: 'X', report: 'R', source: 'exp.json' });
    const dev = stages.find((s) => s.name === 'eval-fixed-rules-s1')!;
    expect(dev.args).toEqual(expect.arrayContaining(['--checkpoint', 'X/seed-1/sft', '--split', controllers.dev, '--mode', 'clones', '--sweep', 'controller=never,always+budget=16,above:12+budget=16']));
    expect(dev.args).toContain('--set');
    const fixed = stages.filter((s) => s.name.startsWith('eval-fixed-s1-'));
    expect(fixed.map((s) => s.name)).toEqual(['eval-fixed-s1-arith-sums-id']);
    expect(fixed[0].args).toEqual(expect.arrayContaining(['--controller-from', dev.out, '--label', 'fixed s1']));
    expect(stages.findIndex((s) => s === dev)).toBeLessThan(stages.findIndex((s) => s === fixed[0]));
    const compare = stages.find((s) => s.kind === 'compare')!;
    expect(compare.args).toContain(fixed[0].out);
    expect(compare.args).not.toContain(dev.out);
    expect(() => loadExperiment(writeConfig(tinyConfig({ eval: { ...tinyConfig().eval, controllers: { ...controllers, rules: ['sometimes'] } } })), { full: true })).toThrow(/eval\.controllers\.rules: controller sometimes: "sometimes" is no rule/);
  });

  it('every committed experiment config loads and plans, full and quick, and its eval sets exist', () => {
    const dir = path.join(import.meta.dirname, '../../configs/experiments');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files).toContain('multihop-chain.json');
    for (const f of files) {
      for (const full of [true, false]) {
        const cfg = loadExperiment(path.join(dir, f), { full });
        expect(planExperiment(cfg, { dir: 'X', report: 'R', source: f }).length, f).toBeGreaterThan(2);
        for (const split of cfg.eval.splits) expect(fs.existsSync(path.join(dir, '../..', splitFile(experimentTask(cfg), split))), `${f}: ${split}`).toBe(true);
      }
    }
  });

  it('plans SFT once per seed, every arm from that start with the same steps and seed, evals per split, one compare', () => {
    const cfg = loadExperiment(writeConfig(tinyConfig({ seeds: [1, 2] })), { full: true });
    const stages = planExperiment(cfg, { dir: 'X', report: 'R', source: 'exp.json' });
    expect(stages.map((s) => s.name)).toEqual([
      'sft-s1', 'grpo-clones-s1', 'eval-clones-s1-arith-sums-id', 'grpo-mono-s1', 'eval-mono-s1-arith-sums-id', 'eval-mono-sc-s1-arith-sums-id',
      'sft-s2', 'grpo-clones-s2', 'eval-clones-s2-arith-sums-id', 'grpo-mono-s2', 'eval-mono-s2-arith-sums-id', 'eval-mono-sc-s2-arith-sums-id',
      'compare',
    ]);
    const byName = new Map(stages.map((s) => [s.name, s]));
    const arm = (n: string) => byName.get(n)!.config!.value as { init: string; train: { seed: number; steps: number }; rollout: { allowSpawn: boolean } };
    expect(arm('grpo-clones-s2').init).toBe(path.join('X', 'seed-2', 'sft'));
    expect(arm('grpo-mono-s2').init).toBe(path.join('X', 'seed-2', 'sft'));
    expect([arm('grpo-clones-s2').train, arm('grpo-mono-s2').train].map((t) => [t.seed, t.steps])).toEqual([[2, 1], [2, 1]]);
    expect([arm('grpo-clones-s1').rollout.allowSpawn, arm('grpo-mono-s1').rollout.allowSpawn]).toEqual([true, false]);
    expect((byName.get('sft-s2')!.config!.value as { train: { seed: number } }).train.seed).toBe(2);
    expect(byName.get('eval-mono-sc-s1-arith-sums-id')!.args).toEqual(expect.arrayContaining(['--mode', 'sc', '--sweep', 'samples=2']));
    expect(byName.get('compare')!.args.filter((a) => a.startsWith('X/eval/'))).toHaveLength(6);
    expect(byName.get('compare')!.args).toContain('--pool-seeds'); // two seeds: one series per arm
    const one = planExperiment(loadExperiment(writeConfig(tinyConfig({ seeds: [1] })), { full: true }), { dir: 'X', report: 'R', source: 'exp.json' });
    expect(one.at(-1)!.args).not.toContain('--pool-seeds');
    expect(commandLine(byName.get('eval-clones-s1-arith-sums-id')!)).toContain("--label 'clones s1'");
    // eval.chunk reaches every eval stage (and only when set, so older experiments' commands are unchanged)
    expect(stages.filter((s) => s.kind === 'eval').some((s) => s.args.includes('--chunk'))).toBe(false);
    const chunked = planExperiment(loadExperiment(writeConfig(tinyConfig({ eval: { ...tinyConfig().eval, chunk: 8 } })), { full: true }), { dir: 'X', report: 'R', source: 'exp.json' });
    for (const s of chunked.filter((x) => x.kind === 'eval')) expect(s.args.join(' ')).toContain('--chunk 8');
  });

  it('a committed experiment that reuses published warm starts accepts them (configs compared with defaults filled in)', async () => {
    // the published warm starts predate keys added since with defaults (train.maxBadSteps, untilHeldOutLoss)
    const root = path.join(import.meta.dirname, '../..');
    const dir = path.join(root, 'configs/experiments');
    let checked = 0;
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      const cfg = loadExperiment(path.join(dir, f), { full: true });
      if (!cfg.sftFrom?.startsWith('checkpoints/results/')) continue;
      const reused = planExperiment(cfg, { dir: 'X', report: 'R', source: f })
        .filter((x) => x.reused)
        .map((s) => ({ ...s, out: path.join(root, s.out), config: { ...s.config!, file: path.join(root, s.config!.file) } }));
      const recs = await runStages(reused, { dir: tmp(), log: () => {} });
      expect(recs.map((r) => r.status), f).toEqual(reused.map(() => 'skipped'));
      checked += recs.length;
    }
    expect(checked).toBeGreaterThanOrEqual(6); // the headline rerun and the ablation, 3 seeds each
  });

  it('reuses a published (weights-only) warm start when its resolved config matches, and refuses one that differs or is unfinished', async () => {
    const home = tmp();
    const cfg = loadExperiment(writeConfig(tinyConfig({ sftFrom: home })), { full: true });
    const sft = planExperiment(cfg, { dir: tmp(), report: 'R', source: 'exp.json' })[0];
    expect(sft.reused).toBe(true);
    fs.mkdirSync(sft.out, { recursive: true });
    const real = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../../checkpoints/results/arith-split-gated/seed-1/sft/state.json'), 'utf8'));
    const state = { ...real, step: 2, complete: true, config: sft.config!.value };
    const write = (s: object) => fs.writeFileSync(path.join(sft.out, 'state.json'), JSON.stringify(s));
    const run = () => runStages([sft], { dir: tmp(), log: () => {} });
    write(state);
    expect((await run()).map((r) => r.status)).toEqual(['skipped']);
    const other = structuredClone(state) as typeof state & { config: { train: { steps: number } } };
    other.config.train.steps = 3;
    write(other);
    await expect(run()).rejects.toThrow(/sftFrom: .*state\.json was trained from another sft config than this experiment's/);
    write({ ...state, step: 1, complete: false });
    await expect(run()).rejects.toThrow(/sftFrom: .* has not reached step 2/);
    fs.rmSync(sft.out, { recursive: true });
    await expect(run()).rejects.toThrow(/sftFrom: .*seed-1-sft\.json does not exist/);
  });

  it('an arm with sft overrides trains its own warm start (the monolithic-only baseline), even when the others reuse one', () => {
    const arms = [
      { name: 'clones', set: ['rollout.allowSpawn=true'], eval: 'clones' },
      { name: 'mono', set: ['rollout.allowSpawn=false'], eval: 'mono' },
      { name: 'mono-sft', set: ['rollout.allowSpawn=false'], eval: 'mono', sft: ['sft.delegation=0', 'sft.monolithicOnly=true'] },
    ];
    for (const sftFrom of [undefined, 'elsewhere']) {
      const cfg = loadExperiment(writeConfig(tinyConfig({ arms, ...(sftFrom ? { sftFrom } : {}) })), { full: true });
      const stages = planExperiment(cfg, { dir: 'X', report: 'R', source: 'exp.json' });
      const own = stages.find((s) => s.name === 'sft-mono-sft-s1')!;
      expect(own).toMatchObject({ kind: 'train', out: 'X/seed-1/sft-mono-sft', config: { file: 'X/configs/seed-1-sft-mono-sft.json', value: { sft: { delegation: 0, monolithicOnly: true } } } });
      expect(own.reused).toBeUndefined();
      const grpo = (n: string) => stages.find((s) => s.name === `grpo-${n}-s1`)!.config!.value as { init: string };
      expect(grpo('mono-sft').init).toBe('X/seed-1/sft-mono-sft');
      expect(grpo('mono').init).toBe(sftFrom ? 'elsewhere/seed-1/sft' : 'X/seed-1/sft');
      // the own warm start comes before its arm's GRPO
      expect(stages.indexOf(own)).toBeLessThan(stages.findIndex((s) => s.name === 'grpo-mono-sft-s1'));
    }
    expect(() => loadExperiment(writeConfig(tinyConfig({ arms: [{ name: 'm', set: ['rollout.allowSpawn=false'], eval: 'mono', sft: ['sft.monolithicOnly=true'] }] })), { full: true })).toThrow(/arm m's sft.*monolithicOnly: needs sft\.delegation 0/);
  });

  it('with eval.sft, evaluates each warm start once per eval mode under that mode\'s GRPO rollout settings', () => {
    const cfg = loadExperiment(writeConfig(tinyConfig({ eval: { splits: ['data/eval/arith-sums-id.jsonl'], sft: true, sweep: ['maxTreeTokens=64,128'] } })), { full: true });
    const stages = planExperiment(cfg, { dir: 'X', report: 'R', source: 'exp.json' });
    expect(stages.map((s) => s.name).slice(0, 3)).toEqual(['sft-s1', 'eval-sft-clones-s1-arith-sums-id', 'eval-sft-mono-s1-arith-sums-id']);
    const clones = stages[1].args;
    expect(clones.slice(0, 3)).toEqual(['eval', '--checkpoint', path.join('X', 'seed-1', 'sft')]);
    expect(clones).toEqual(expect.arrayContaining(['--mode', 'clones', '--temperature', '0', '--label', 'sft-clones s1', '--set', 'rootBudget=24', '--set', 'defaultCloneBudget=16', '--sweep', 'maxTreeTokens=64,128']));
    expect(clones.filter((a) => /^(allowSpawn|temperature)=/.test(a))).toEqual([]);
    expect(stages[2].args).toEqual(expect.arrayContaining(['--mode', 'mono', '--label', 'sft-mono s1']));
    expect(stages.at(-1)!.args).toEqual(expect.arrayContaining([path.join('X', 'eval', 'sft-clones-s1-arith-sums-id'), path.join('X', 'eval', 'sft-mono-s1-arith-sums-id')]));
    // the --set values are what the eval command parses back to the arm's rollout settings
    expect(clones).toContain('cloneBudgets="learned"');
  });
});

describe('links from a published report to shipped weights', () => {
  it('link a run or step directory only when the shipped copy exists and holds the evaluated step', () => {
    const root = tmp();
    const run = path.join(root, 'runs', 'seed-1', 'clones');
    const step = (n: number) => {
      const d = path.join(run, `step-${String(n).padStart(6, '0')}`);
      fs.mkdirSync(d, { recursive: true });
      for (const f of ['model.safetensors', 'optimizer.safetensors']) fs.writeFileSync(path.join(d, f), 'x');
      fs.writeFileSync(path.join(d, 'state.json'), JSON.stringify({ step: n }));
      return d;
    };
    const s2 = step(2);
    const s4 = step(4);
    fs.writeFileSync(path.join(run, 'latest'), 'step-000004\n');
    const to = path.join(root, 'ckpt', 'seed-1', 'clones');
    const report = path.join(root, 'results', 'report');
    const shipped = new Map([[path.resolve(run), to]]);
    expect(shippedHref(s4, shipped, report)).toBe(null); // not shipped yet
    fs.mkdirSync(to, { recursive: true });
    fs.writeFileSync(path.join(to, 'model.safetensors'), 'x');
    fs.writeFileSync(path.join(to, 'state.json'), JSON.stringify({ step: 4 }));
    const rel = path.join('..', '..', 'ckpt', 'seed-1', 'clones');
    expect(shippedHref(s4, shipped, report)).toBe(rel);
    expect(shippedHref(run, shipped, report)).toBe(rel); // a run directory: its latest step
    expect(shippedHref(s2, shipped, report)).toBe(null); // an earlier step than the shipped one
    expect(shippedHref(path.join(root, 'runs', 'seed-1', 'mono', 'step-000004'), shipped, report)).toBe(null);
    expect(shippedHref('(scripted)', shipped, report)).toBe(null);
  });
});

describe('selfcest experiment (child processes, end to end)', () => {
  it('runs every stage, records CPU time, writes the report, and skips finished stages on a rerun', async () => {
    const dir = tmp();
    const f = writeConfig(tinyConfig());
    // stage progress on stderr, the summary lines on stdout
    const run = () => {
      const r = spawnSync(process.execPath, ['bin/selfcest.mjs', 'experiment', '--config', f, '--full', '--out', dir, '--backend', 'wasm'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return { out: r.stdout, err: r.stderr };
    };
    const first = run();
    expect(first.err).toMatch(/\[1\/7 sft-s1\] .*step 2\/2/);
    expect(first.out).toMatch(new RegExp(`report: ${path.join(dir, 'report', 'index.html')}`));
    expect(fs.existsSync(path.join(dir, 'report', 'index.html'))).toBe(true);
    const recs = fs.readFileSync(path.join(dir, 'stages.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(recs.map((r) => r.stage)).toHaveLength(7);
    expect(recs.every((r) => r.cpu_s > 0 && r.wall_s > 0)).toBe(true);
    const stages = planExperiment(loadExperiment(f, { full: true }), { dir, report: path.join(dir, 'report'), source: f });
    expect(stages.filter((s) => s.kind !== 'compare').every(stageDone)).toBe(true);
    // an SFT that trains on until a held-out loss (stage steps = maxSteps) is done once its last checkpoint says complete
    const longer = { ...stages[0], steps: 99 };
    expect(stageDone(longer)).toBe(true); // a finished run says so in its last checkpoint
    const stateFile = path.join(longer.out, fs.readFileSync(path.join(longer.out, 'latest'), 'utf8').trim(), 'state.json');
    expect(JSON.parse(fs.readFileSync(stateFile, 'utf8')).complete).toBe(true);
    fs.writeFileSync(stateFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(stateFile, 'utf8')), complete: false }));
    expect(stageDone(longer)).toBe(false);
    fs.writeFileSync(stateFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(stateFile, 'utf8')), complete: true }));
    expect(stageDone(longer)).toBe(true);
    const gated = tinyConfig();
    Object.assign((gated.sft as { train: object }).train, { untilHeldOutLoss: 0.1, maxSteps: 9, heldOutEvery: 1 });
    expect(planExperiment(loadExperiment(writeConfig(gated), { full: true }), { dir: 'X', report: 'R', source: 'exp.json' })[0].steps).toBe(9);
    // a rerun skips the 6 finished stages and rebuilds only the report
    const again = run();
    expect(again.err.match(/skipped/g)).toHaveLength(6);
    expect(fs.readFileSync(path.join(dir, 'commands.sh'), 'utf8')).toContain('selfcest -- eval');
    // publishing: the report and records, and each run's weights without optimizer moments
    const pub = tmp();
    await publishExperiment(stages, { dir, report: path.join(dir, 'report'), results: path.join(pub, 'results'), checkpoints: path.join(pub, 'ckpt') });
    expect(fs.existsSync(path.join(pub, 'results', 'report', 'index.html'))).toBe(true);
    // the published report links every evaluated checkpoint to its shipped weights, and nothing in the run dir
    const pubHtml = fs.readFileSync(path.join(pub, 'results', 'report', 'index.html'), 'utf8');
    const ckptLinks = [...pubHtml.matchAll(/<td><a href="([^"]+)">/g)].map((m) => m[1]);
    expect(new Set(ckptLinks)).toEqual(new Set(['seed-1/clones', 'seed-1/mono'].map((r) => path.join('..', '..', 'ckpt', r))));
    for (const l of ckptLinks) expect(fs.existsSync(path.join(pub, 'results', 'report', l, 'model.safetensors'))).toBe(true);
    expect(fs.readFileSync(path.join(pub, 'results', 'report', 'report.md'), 'utf8')).toContain(`](${path.join('..', '..', 'ckpt', 'seed-1', 'clones')})`);
    // the run's own report links the run directories (they are there)
    const ownHtml = fs.readFileSync(path.join(dir, 'report', 'index.html'), 'utf8');
    for (const m of ownHtml.matchAll(/<td><a href="([^"]+)">/g)) expect(fs.existsSync(path.join(dir, 'report', m[1], 'state.json'))).toBe(true);
    expect([...ownHtml.matchAll(/<td><a href=/g)].length).toBe(ckptLinks.length);
    const readme = fs.readFileSync(path.join(pub, 'results', 'README.md'), 'utf8');
    expect(readme).toMatch(/\| sft-s1 \| \d+ \| \d+ \| `npm run -s selfcest -- train/);
    expect(fs.readdirSync(path.join(pub, 'ckpt', 'seed-1', 'mono')).sort()).toEqual(['model.safetensors', 'state.json']);
    // the GRPO curves table: one row per run for its first and its last tenth of the steps
    expect(readme).toMatch(/\| grpo-clones-s1 \| steps 1–1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/);
    expect(readme.match(/^\| grpo-(clones|mono)-s1 \| steps/gm)).toHaveLength(4);
    expect(fs.existsSync(path.join(pub, 'ckpt', 'seed-1', 'sft', 'model.safetensors'))).toBe(true);
    // a weights-only checkpoint loads as a policy (eval, sample, rollout, GRPO init take it)
    await selectBackend('cpu');
    const { model, data } = loadPolicy(path.join(pub, 'ckpt', 'seed-1', 'mono'));
    expect(model.config.dModel).toBe(16);
    expect(data.optimizer).toEqual([]);
    model.dispose();

    // another experiment (e.g. ablations) reuses this one's warm start instead of training SFT again
    const abl = tmp();
    const arms = [{ name: 'bc', set: ['rollout.allowSpawn=true', 'grpo.advantage.assigner="broadcast"'], eval: 'clones' }];
    // the runner's progress goes to stderr (stdout: the summary lines)
    const reuse = spawnSync(process.execPath, ['bin/selfcest.mjs', 'experiment', '--config', writeConfig(tinyConfig({ sftFrom: dir, arms })), '--full', '--out', abl, '--backend', 'wasm'], { encoding: 'utf8' });
    expect(reuse.status, reuse.stderr).toBe(0);
    expect(reuse.stderr).toMatch(/\[1\/4 sft-s1\] reusing the complete warm start/);
    expect(reuse.stdout).toMatch(/^report: /m);
    expect(fs.existsSync(path.join(abl, 'seed-1', 'sft'))).toBe(false);
    expect(fs.existsSync(path.join(abl, 'seed-1', 'bc', 'latest'))).toBe(true);
    // publishing it copies its own runs only: the reused warm start belongs to the experiment that trained it
    const ablFile = writeConfig(tinyConfig({ sftFrom: dir, arms }));
    const pubAbl = tmp();
    await publishExperiment(planExperiment(loadExperiment(ablFile, { full: true }), { dir: abl, report: path.join(abl, 'report'), source: ablFile }), {
      dir: abl, report: path.join(abl, 'report'), results: path.join(pubAbl, 'results'), checkpoints: path.join(pubAbl, 'ckpt'),
    });
    expect(fs.readdirSync(pubAbl).sort()).toEqual(['ckpt', 'results']);
    expect(fs.readdirSync(path.join(pubAbl, 'ckpt'))).toEqual(['seed-1']);
    expect(fs.readdirSync(path.join(pubAbl, 'ckpt', 'seed-1'))).toEqual(['bc']);
    expect(fs.readFileSync(path.join(pubAbl, 'results', 'README.md'), 'utf8')).toContain(`| sft-s1 | – | – | reused: \`${path.join(dir, 'seed-1', 'sft')}\``);
    // a warm start made from another SFT config is refused, naming the file
    const other = tinyConfig({ sftFrom: dir, arms });
    (other.sft as { train: { steps: number } }).train.steps = 3;
    const bad = (() => {
      try {
        execFileSync(process.execPath, ['bin/selfcest.mjs', 'experiment', '--config', writeConfig(other), '--full', '--out', tmp(), '--backend', 'wasm'], { encoding: 'utf8', stdio: 'pipe' });
        return '';
      } catch (e) {
        return String((e as { stderr: string }).stderr);
      }
    })();
    expect(bad).toMatch(/sftFrom: .*seed-1-sft\.json differs from this experiment's sft section/);
  }, 300_000);
});
