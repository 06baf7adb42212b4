// The example task (examples/tasks/max/task.ts) as a user would add it: one file and no edit elsewhere. Loaded by
// path, it is a task like the built-in ones: its traces are what the engine builds when a policy writes them, and
// it goes through data gen -> data validate -> SFT -> GRPO -> eval from the command line.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTrees, ScriptedPolicy } from '../../src/rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { checkItem, loadTaskModule, TASKS } from '../../src/tasks/registry.ts';
import { taskReward } from '../../src/tasks/reward.ts';
import { delegationTrace, monolithicTrace, replayInputs } from '../../src/tasks/traces.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MODULE = './examples/tasks/max/task.ts';
const tok = loadTokenizer();

describe('the example task, loaded from its module', () => {
  it('registers under its name; loading it again is the same task; a module that is no task is refused with the reason', async () => {
    const cwd = process.cwd();
    process.chdir(ROOT);
    try {
      const task = await loadTaskModule(MODULE);
      expect(task.name).toBe('max');
      expect(TASKS.max).toBe(task);
      expect(await loadTaskModule(path.join(ROOT, MODULE))).toBe(task);
      await expect(loadTaskModule('./examples/tasks/max/missing.ts')).rejects.toThrow(/task module \.\/examples\/tasks\/max\/missing\.ts: no such file/);
      await expect(loadTaskModule('./src/util/rng.ts')).rejects.toThrow(/task module \.\/src\/util\/rng\.ts: exports no task/);
    } finally {
      process.chdir(cwd);
    }
  });

  it('its items pass their check, and its traces replay through the engine into the trees they promise, answering right', async () => {
    const task = await loadTaskModule(path.join(ROOT, MODULE));
    const cfg = RolloutConfigSchema.parse({ rootWindow: 128, cloneWindow: 128, maxDepth: 1 });
    for (const split of ['id', 'ood'] as const) {
      const items = task.generate({ split, n: 40, seed: 3 });
      expect(items.map((it) => checkItem(it))).toEqual(items.map(() => null));
      const rng = Rng.fromSeed(split);
      const pairs = items.flatMap((item) =>
        [monolithicTrace(item, tok, cfg), delegationTrace(item, tok, cfg, rng)].flatMap((r) => (r.ok ? [{ item, trace: r.trace }] : [])),
      );
      const count = (kind: string) => pairs.filter((x) => x.trace.kind === kind).length;
      const long = items.filter((it) => (it.meta as { numbers: number[] }).numbers.length >= 4).length;
      if (split === 'id') {
        // every ID item has a monolithic trace, lists of 4+ numbers a delegation one too
        expect([count('mono'), count('delegate')]).toEqual([items.length, long]);
      } else {
        // OOD lists (8-12 numbers) all delegate; the running maximum of the longest ones overflows the root's budget
        expect(count('delegate')).toBe(items.length);
        expect(count('mono')).toBeLessThan(items.length);
      }
      const { items: inputs, scripts } = replayInputs(pairs, tok);
      const trees = await runTrees(inputs, new ScriptedPolicy(scripts), cfg, protocolTokens(tok));
      trees.forEach((tree, i) => {
        expect(tree.contexts).toEqual(pairs[i].trace.tree.contexts);
        expect(taskReward(pairs[i].item, tree, tok).components.correct).toBe(1);
      });
    }
    // a wrong answer scores 0 (the reward is the task's score)
    const item = task.generate({ split: 'id', n: 1, seed: 1 })[0];
    expect(task.score(item, String(Number(item.answer) + 1))).toEqual({ correct: 0, accuracy: 0 });
    expect(task.score(item, null)).toEqual({ correct: 0, accuracy: 0 });
  });
});

describe('the example task through the CLI', () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['bin/selfcest.mjs', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  const ok = (args: string[]) => {
    const r = run(args);
    expect(r.status, `${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };

  it('data gen -> data validate -> SFT -> GRPO -> eval, and a config naming another task for the module is refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-max-'));
    const items = path.join(dir, 'id.jsonl');
    expect(ok(['data', 'gen', '--task', MODULE, '--split', 'id', '--n', '6', '--seed', '1', '--out', items]).stdout).toMatch(/wrote 6 max items/);
    // a file of the user's task is checked once its module is named, and refused (with the reason) otherwise
    expect(ok(['data', 'validate', items, '--task', MODULE]).stdout).toMatch(/^OK .*: 6 items \(max\/id 6\)/);
    expect(run(['data', 'validate', items]).stderr).toMatch(/task: unknown task "max"/);

    const model = { vocabSize: 128, ctx: 64, dModel: 32, nLayers: 1, nHeads: 2 };
    const sftCfg = path.join(dir, 'sft.json');
    fs.writeFileSync(sftCfg, JSON.stringify({ model, train: { task: 'sft', steps: 6, batchSize: 4, workers: 1, saveEvery: 3, logEvery: 3, evalItems: 2 }, sft: { name: 'max', module: MODULE, delegation: 0.5 } }));
    const sft = path.join(dir, 'sft');
    ok(['train', '--backend', 'wasm', '--config', sftCfg, '--out', sft]);
    expect(fs.existsSync(path.join(sft, 'latest'))).toBe(true);

    const grpoCfg = path.join(dir, 'grpo.json');
    const grpo = { mode: 'grpo', init: sft, model, rollout: { rootWindow: 64, cloneWindow: 64, rootBudget: 40, defaultCloneBudget: 16 }, grpo: { prompts: 2, groupSize: 2 }, task: { name: 'max', module: MODULE }, train: { steps: 2, saveEvery: 1, logEvery: 1 } };
    fs.writeFileSync(grpoCfg, JSON.stringify(grpo));
    const rl = path.join(dir, 'grpo');
    ok(['train', '--backend', 'wasm', '--config', grpoCfg, '--out', rl]);
    expect(fs.readFileSync(path.join(rl, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);

    // eval takes the task from the checkpoint's config (its module is loaded from there)
    const ev = path.join(dir, 'eval');
    ok(['eval', '--backend', 'wasm', '--checkpoint', rl, '--split', items, '--n', '6', '--bootstrap', '10', '--out', ev]);
    expect(JSON.parse(fs.readFileSync(path.join(ev, 'eval.json'), 'utf8'))).toMatchObject({ task: 'max' });
    // --task may name the module too; info describes the checkpoint's task (its module loaded from the config)
    ok(['eval', '--backend', 'wasm', '--checkpoint', rl, '--task', MODULE, '--split', items, '--n', '2', '--bootstrap', '10', '--mode', 'mono', '--out', path.join(dir, 'eval-mono')]);
    expect(ok(['info', '--backend', 'wasm', '--checkpoint', rl]).stdout).toMatch(/^run: grpo on max \(tiny\)$/m);
    // a fixed controller over the same policy: every root delegates first, recorded in the index; only with --mode clones
    const fixed = path.join(dir, 'eval-always');
    ok(['eval', '--backend', 'wasm', '--checkpoint', rl, '--split', items, '--n', '4', '--bootstrap', '10', '--controller', 'always+budget=16', '--out', fixed]);
    const index = JSON.parse(fs.readFileSync(path.join(fixed, 'eval.json'), 'utf8'));
    expect(index.controller).toBe('always+budget=16');
    expect(index.points[0].summary.calls).toBeGreaterThan(0); // forced to open a call (an untrained policy may not close it)
    expect(run(['eval', '--checkpoint', rl, '--split', items, '--mode', 'mono', '--controller', 'always']).stderr).toMatch(/controller always: a controller decides when to delegate, so it needs --mode clones \(not mono\)/);
    // rules as a sweep: one point each (choose on dev, then evaluate the chosen rule on test)
    const swept = path.join(dir, 'eval-rules');
    ok(['eval', '--backend', 'wasm', '--checkpoint', rl, '--split', items, '--n', '2', '--bootstrap', '10', '--sweep', 'controller=never,above:6+budget=16', '--out', swept]);
    expect(JSON.parse(fs.readFileSync(path.join(swept, 'eval.json'), 'utf8')).points.map((p: { name: string }) => p.name)).toEqual(['controller-never', 'controller-above_6_budget_16']);
    // the best rule of that sweep, evaluated on (here the same) items: --controller-from
    const chosen = path.join(dir, 'eval-chosen');
    const c = ok(['eval', '--backend', 'wasm', '--checkpoint', rl, '--split', items, '--n', '2', '--bootstrap', '10', '--controller-from', swept, '--out', chosen]);
    expect(c.stderr).toMatch(/^controller (never|above:6\+budget=16): the best of 2 rules on id /m);
    expect(['never', 'above:6+budget=16']).toContain(JSON.parse(fs.readFileSync(path.join(chosen, 'eval.json'), 'utf8')).controller);
    expect(run(['eval', '--checkpoint', rl, '--split', items, '--controller-from', ev]).stderr).toMatch(/swept no controller/);

    fs.writeFileSync(grpoCfg, JSON.stringify({ ...grpo, task: { name: 'arith', module: MODULE } }));
    expect(run(['train', '--backend', 'wasm', '--config', grpoCfg, '--out', path.join(dir, 'bad')]).stderr).toMatch(/task\.name: the task module \.\/examples\/tasks\/max\/task\.ts defines task "max", not "arith": set name to "max"/);
  }, 600_000);

  it('experiment: SFT, GRPO arms, fixed controllers chosen on dev, evals and the report for a task of your own', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-max-exp-'));
    const items = path.join(dir, 'id.jsonl');
    ok(['data', 'gen', '--task', MODULE, '--split', 'id', '--n', '4', '--seed', '1', '--out', items]);
    const dev = path.join(dir, 'dev.jsonl');
    ok(['data', 'gen', '--task', MODULE, '--split', 'dev', '--n', '4', '--seed', '1', '--out', dev]);
    const source = { name: 'max', module: MODULE };
    const exp = {
      name: 'max-tiny',
      seeds: [1],
      sft: { model: { vocabSize: 128, ctx: 64, dModel: 16, nLayers: 1, nHeads: 2 }, train: { task: 'sft', steps: 2, batchSize: 4, evalItems: 2, heldOutEvery: 0, logEvery: 1 }, sft: source },
      grpo: { grpo: { prompts: 1, groupSize: 2 }, task: source, train: { steps: 1 }, rollout: { rootWindow: 64, cloneWindow: 64, rootBudget: 40, defaultCloneBudget: 16 } },
      eval: { splits: [items], n: 4, scSamples: [2], bootstrap: 20, traces: 1, controllers: { rules: ['never', 'always+budget=16'], dev } },
    };
    const file = path.join(dir, 'exp.json');
    fs.writeFileSync(file, JSON.stringify(exp));
    ok(['experiment', '--config', file, '--full', '--out', path.join(dir, 'run'), '--backend', 'wasm']);
    const evals = fs.readdirSync(path.join(dir, 'run', 'eval')).sort();
    expect(evals).toEqual(['clones-s1-id', 'fixed-rules-s1-dev', 'fixed-s1-id', 'mono-s1-id', 'mono-sc-s1-id']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'run', 'eval', 'fixed-s1-id', 'eval.json'), 'utf8')).controller).toMatch(/^(never|always\+budget=16)$/);
    expect(fs.existsSync(path.join(dir, 'run', 'report', 'index.html'))).toBe(true);
  }, 600_000);
});
