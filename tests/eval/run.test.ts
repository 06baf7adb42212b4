import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/select.ts';
import { readEvalIndex, runEval } from '../../src/eval/evaluate.ts';
import { loadEvalItems } from '../../src/eval/items.ts';
import { writeReport } from '../../src/eval/report.ts';
import { evalPoint, type ExampleRecord } from '../../src/eval/run.ts';
import { loadPolicy } from '../../src/model/io.ts';
import { LocalDecoder } from '../../src/model/row-decoder.ts';
import { ModelPolicy, runTrees, ScriptedPolicy } from '../../src/rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { readTreesJsonl } from '../../src/rollout/trace-io.ts';
import { rolloutItem } from '../../src/tasks/views.ts';
import { taskReward } from '../../src/tasks/reward.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { numTensors } from '../helpers.ts';
import { answerScript, traceScripts, TRACE_ROLLOUT, writeRandomCheckpoint } from './helpers.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const items = loadEvalItems('arith', 'id', { limit: 5 }).items;
const mono = { ...TRACE_ROLLOUT, allowSpawn: false, temperature: 0 };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-eval-'));
const readJsonl = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ExampleRecord);

describe('evalPoint with scripted policies (known correctness and cost)', () => {
  it('replayed delegation traces are all correct; records carry the trees\' costs; chunks keep tree indices', async () => {
    const scripts = traceScripts(items, tok, 'delegate');
    // the same trees straight from the engine, one call
    const ref = await runTrees(items.map((it) => rolloutItem(it, tok)), new ScriptedPolicy(scripts), TRACE_ROLLOUT, p);
    let ticks = 0;
    const res = await evalPoint(items, tok, new ScriptedPolicy(scripts), { mode: 'clones', samples: 1, rollout: TRACE_ROLLOUT, chunk: 2, reward: taskReward }, (done, total) => {
      ticks++;
      expect(done).toBe(ticks);
      expect(total).toBe(items.length);
    });
    expect(ticks).toBe(items.length);
    expect(res.records.map((r) => r.correct)).toEqual(items.map(() => 1));
    expect(res.records.map((r) => r.answer)).toEqual(items.map((it) => it.answer));
    res.records.forEach((r, i) => {
      const c = ref[i].cost;
      expect(r.id).toBe(items[i].id);
      expect(r.tokens).toEqual({ total: c.processedTokens, critical: c.criticalPathTokens, root: c.rootTokens, clone: c.cloneTokens });
      expect(r.generated).toEqual({ root: c.rootGenerated, clone: c.cloneGenerated });
      expect([r.calls, r.clones, r.malformed]).toEqual([c.calls, c.clones, c.malformed]);
      expect(r.finish).toBe('answer');
      expect([r.samples, r.right, r.passAtN]).toEqual([1, 1, 1]);
    });
    expect(res.records.some((r) => r.clones > 0 && r.tokens.critical < r.tokens.total)).toBe(true);
  });

  it('a wrong answer scores 0; mono mode needs spawning masked', async () => {
    const scripts = traceScripts(items, tok, 'mono');
    scripts.set('1:0', answerScript(tok, '999999'));
    const res = await evalPoint(items, tok, new ScriptedPolicy(scripts), { mode: 'mono', samples: 1, rollout: mono, chunk: 10, reward: taskReward });
    expect(res.records.map((r) => r.correct)).toEqual([1, 0, 1, 1, 1]);
    expect(res.records[1].answer).toBe('999999');
    expect(res.records.every((r) => r.clones === 0 && r.tokens.clone === 0)).toBe(true);
    await expect(evalPoint(items, tok, new ScriptedPolicy(scripts), { mode: 'mono', samples: 1, rollout: TRACE_ROLLOUT, chunk: 10, reward: taskReward })).rejects.toThrow(/allowSpawn false/);
  });

  it('self-consistency: majority vote, pass@n, summed cost, longest sample as critical path', async () => {
    const two = items.slice(0, 2);
    const scripts = new Map<string, number[]>([
      ['0:0', answerScript(tok, two[0].answer)],
      ['1:0', answerScript(tok, '7')],
      ['2:0', answerScript(tok, two[0].answer)],
      ['3:0', answerScript(tok, '55')],
      ['4:0', answerScript(tok, '55')],
      ['5:0', answerScript(tok, two[1].answer)],
    ]);
    const res = await evalPoint(two, tok, new ScriptedPolicy(scripts), { mode: 'sc', samples: 3, rollout: { ...mono, temperature: 1 }, chunk: 4, reward: taskReward });
    const [a, b] = res.records;
    expect([a.correct, a.right, a.passAtN, a.votes, a.answer]).toEqual([1, 2, 1, 2, two[0].answer]);
    expect([b.correct, b.right, b.passAtN, b.votes, b.answer, b.sample]).toEqual([0, 1, 1, 2, '55', 0]);
    const trees = res.trees.slice(3, 6);
    expect(b.tokens.total).toBe(trees.reduce((s, t) => s + t.cost.processedTokens, 0));
    expect(b.tokens.critical).toBe(Math.max(...trees.map((t) => t.cost.criticalPathTokens)));
    expect(b.tokens.critical).toBeLessThan(b.tokens.total);
  });
});

describe('document tasks (multi-hop QA)', () => {
  it('mono and sc give the root the inline view, clones the keys view: replayed traces are right in both', async () => {
    const mh = loadEvalItems('multihop', 'id', { limit: 4 }).items;
    const cfg = { ...TRACE_ROLLOUT, temperature: 0 };
    for (const [mode, kind, rollout] of [['clones', 'delegate', cfg], ['mono', 'mono', { ...cfg, allowSpawn: false }]] as const) {
      const scripts = traceScripts(mh, tok, kind);
      const res = await evalPoint(mh, tok, new ScriptedPolicy(scripts), { mode, samples: 1, rollout, chunk: 3, reward: taskReward });
      expect(res.records.map((r) => r.correct), mode).toEqual([1, 1, 1, 1]);
      const prompt = res.trees[0].contexts[0].ids.slice(0, res.trees[0].contexts[0].promptLength);
      expect(tok.decode(prompt).includes('|'), `${mode}: paragraphs inline`).toBe(mode === 'mono');
      if (mode === 'clones') expect(res.records.every((r) => r.clones > 0)).toBe(true);
    }
  });
});

describe('selfcest eval end to end on a tiny random-weight model', () => {
  let ck = '';
  beforeAll(async () => {
    await selectBackend('cpu');
    ck = await writeRandomCheckpoint(path.join(tmp(), 'run'), {}, { rollout: { rootWindow: 64, cloneWindow: 64, rootBudget: 20, defaultCloneBudget: 8, maxTreeTokens: 200 } });
  });

  async function evalDir(mode: 'clones' | 'mono', out: string) {
    const { model, dir, data } = loadPolicy(ck);
    const dec = new LocalDecoder(model);
    try {
      return await runEval(tok, {
        out,
        label: mode,
        checkpoint: dir,
        runConfig: data.state.config,
        ctx: model.config.ctx,
        task: 'arith',
        split: 'id',
        splitName: 'id',
        itemsFile: 'data/eval/arith-id.jsonl',
        items: items.slice(0, 4),
        mode,
        samples: 1,
        seed: 3,
        temperature: 1,
        sweep: [{ key: 'rootBudget', values: [6, 20] }],
        chunk: 3,
        traces: 2,
        resamples: 100,
        reward: taskReward,
        backend: 'cpu',
        makePolicy: (cfg, rng) => new ModelPolicy(model, dec, cfg, rng),
      });
    } finally {
      await dec.close();
      model.dispose();
    }
  }

  it('writes examples, summaries, trees and the index for spawning allowed and masked; seeded; no tensor leak', async () => {
    const root = tmp();
    const before = numTensors();
    const a = await evalDir('clones', path.join(root, 'clones'));
    const m = await evalDir('mono', path.join(root, 'mono'));
    expect(numTensors()).toBe(before);
    for (const [ix, out, spawn] of [[a, 'clones', true], [m, 'mono', false]] as const) {
      const dir = path.join(root, out);
      expect(readEvalIndex(dir)).toEqual(ix);
      expect(ix.complete).toBe(true);
      expect(ix.points.map((pt) => pt.name)).toEqual(['rootBudget-6', 'rootBudget-20']);
      for (const pt of ix.points) {
        expect(pt.rollout.allowSpawn).toBe(spawn);
        expect(pt.rollout.maxTreeTokens).toBe(200); // from the checkpoint's rollout section
        const recs = readJsonl(path.join(dir, pt.dir, 'examples.jsonl'));
        expect(recs.map((r) => r.id)).toEqual(items.slice(0, 4).map((it) => it.id));
        for (const r of recs) {
          expect(r.generated.root).toBeLessThanOrEqual(pt.rollout.rootBudget);
          expect(r.tokens.total).toBe(r.tokens.root + r.tokens.clone);
          if (!spawn) expect([r.clones, r.calls, r.tokens.clone]).toEqual([0, 0, 0]);
        }
        const s = JSON.parse(fs.readFileSync(path.join(dir, pt.dir, 'summary.json'), 'utf8'));
        expect(s).toEqual(JSON.parse(JSON.stringify(pt.summary)));
        expect(s.items).toBe(4);
        expect(s.tokens.total.mean).toBeCloseTo(recs.reduce((x, r) => x + r.tokens.total, 0) / 4, 10);
        expect(s.accuracy.lo).toBeLessThanOrEqual(s.accuracy.mean);
        expect(readTreesJsonl(path.join(dir, pt.dir, 'trees.jsonl')).map((t) => t.itemId)).toEqual(recs.slice(0, 2).map((r) => r.id));
      }
      // a smaller root budget costs fewer tokens
      expect(ix.points[0].summary.generated.root).toBeLessThan(ix.points[1].summary.generated.root);
    }
    // the same seed gives the same trees
    const again = await evalDir('mono', path.join(root, 'mono2'));
    const strip = (f: string) => readJsonl(f).map(({ ms: _, ...r }) => r);
    expect(strip(path.join(root, 'mono2/points/rootBudget-20/examples.jsonl'))).toEqual(strip(path.join(root, 'mono/points/rootBudget-20/examples.jsonl')));
    expect(again.points[1].summary.tokens).toEqual(m.points[1].summary.tokens);

    // an eval dir is not overwritten by accident
    await expect(evalDir('mono', path.join(root, 'mono'))).rejects.toThrow(/already holds an evaluation/);

    // and the report of both
    const rep = await writeReport([path.join(root, 'clones'), path.join(root, 'mono')], path.join(root, 'report'), tok, { traces: 1 });
    expect(rep.rows).toHaveLength(4);
    expect((rep.html.match(/<svg/g) ?? []).length).toBe(2);
    expect(rep.traces).toHaveLength(4);
    for (const t of rep.traces) expect(fs.existsSync(path.join(root, 'report', t.href))).toBe(true);

    // labels and the title are plain text in report.md too: no raw HTML, no links or emphasis made from them
    const evil = path.join(root, 'evil');
    fs.cpSync(path.join(root, 'mono'), evil, { recursive: true });
    const ixFile = path.join(evil, 'eval.json');
    fs.writeFileSync(ixFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(ixFile, 'utf8')), label: '<script>x</script> [a](http://e) *b* |c' }));
    const md = (await writeReport([evil], path.join(root, 'evil-report'), tok, { traces: 1, title: '<img src=x onerror=y> [t](http://t)' })).markdown;
    expect(md).not.toMatch(/<script|<img|[^\\]\]\(http|[^\\]\*b/);
    expect(md).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(md).toContain('\\*b\\* \\|c');
  });

  it('greedy decoding through the model gives the same trees as the engine called directly', async () => {
    const { model, data } = loadPolicy(ck);
    const cfg = RolloutConfigSchema.parse({ ...(data.state.config as { rollout: object }).rollout, temperature: 0, allowSpawn: false });
    const dec = new LocalDecoder(model);
    try {
      const { Rng } = await import('../../src/util/rng.ts');
      const direct = await runTrees(items.map((it) => rolloutItem(it, tok)), new ModelPolicy(model, dec, cfg, Rng.fromSeed(0)), cfg, p);
      const res = await evalPoint(items, tok, new ModelPolicy(model, dec, cfg, Rng.fromSeed(0)), { mode: 'mono', samples: 1, rollout: cfg, chunk: 2, reward: taskReward });
      expect(res.trees.map((t) => t.contexts[0].ids)).toEqual(direct.map((t) => t.contexts[0].ids));
    } finally {
      await dec.close();
      model.dispose();
    }
  });
});
