import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/checkpoint/store.ts';
import { modelConfig, type ModelConfig } from '../../src/model/config.ts';
import { GPT } from '../../src/model/decoder.ts';
import { modelTensors } from '../../src/model/io.ts';
import { Rng } from '../../src/util/rng.ts';
import { runEval, type EvalIndex } from '../../src/eval/evaluate.ts';
import { loadEvalItems, type EvalMode } from '../../src/eval/items.ts';
import type { SweepAxis } from '../../src/eval/sweep.ts';
import { ScriptedPolicy } from '../../src/rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { taskReward } from '../../src/tasks/reward.ts';
import { delegationTrace, monolithicTrace, replayInputs } from '../../src/tasks/traces.ts';
import type { TaskItem } from '../../src/tasks/types.ts';
import { encodeChecked, type TextTokenizer } from '../../src/tokenizer/index.ts';

/** A tiny random-weight policy saved as a checkpoint (run dir with latest); `extra` joins its run config. */
export async function writeRandomCheckpoint(runDir: string, model: Partial<ModelConfig> = {}, extra: Record<string, unknown> = {}): Promise<string> {
  const cfg = modelConfig({ vocabSize: 128, ctx: 64, dModel: 16, nLayers: 1, nHeads: 2, ...model });
  const m = GPT.init(cfg, Rng.fromSeed(3));
  const dir = saveCheckpoint(runDir, {
    model: await modelTensors(m),
    optimizer: [],
    state: { format: CHECKPOINT_FORMAT, step: 0, config: { model: cfg, ...extra }, rng: {}, dataCursor: {}, backend: 'cpu', metrics: {}, createdAt: new Date().toISOString() },
  });
  m.dispose();
  return dir;
}

// ---- scripted evaluations: the engine replays demonstration traces, so correctness and cost are known

/** budgets large enough for every trace of the committed ID and OOD arithmetic sets */
const TRACE_BUDGETS = { rootWindow: 256, cloneWindow: 256, rootBudget: 256 };
export const TRACE_ROLLOUT = RolloutConfigSchema.parse(TRACE_BUDGETS);

/** Engine scripts (keyed `${tree}:${context}`) replaying each item's delegation (or monolithic) trace. */
export function traceScripts(items: readonly TaskItem[], tok: TextTokenizer, kind: 'delegate' | 'mono'): Map<string, number[]> {
  const rng = Rng.fromSeed(5);
  const pairs = items.map((item) => {
    const r = kind === 'delegate' ? delegationTrace(item, tok, TRACE_ROLLOUT, rng) : monolithicTrace(item, tok, TRACE_ROLLOUT);
    const t = r.ok ? r : monolithicTrace(item, tok, TRACE_ROLLOUT);
    if (!t.ok) throw new Error(`no trace for ${item.id}: ${t.reason}`);
    return { item, trace: t.trace };
  });
  return replayInputs(pairs, tok).scripts;
}

/** A root that answers `text` at once: <answer> text <eos>. */
export function answerScript(tok: TextTokenizer, text: string): number[] {
  const p = protocolTokens(tok);
  return [p.answer, ...encodeChecked(tok, text), p.eos];
}

/** Run a scripted evaluation into `out` (no model, no tfjs). */
export async function scriptedEval(
  tok: TextTokenizer,
  out: string,
  o: { label: string; split: 'id' | 'ood'; mode: EvalMode; scripts: Map<string, number[]>; items: TaskItem[]; samples?: number; sweep?: SweepAxis[] },
): Promise<EvalIndex> {
  return runEval(tok, {
    out,
    label: o.label,
    checkpoint: '(scripted)',
    runConfig: { rollout: TRACE_BUDGETS },
    ctx: 256,
    task: 'arith',
    split: o.split,
    splitName: o.split,
    itemsFile: `data/eval/arith-${o.split}.jsonl`,
    items: o.items,
    mode: o.mode,
    samples: o.samples ?? 1,
    seed: 1,
    temperature: o.mode === 'sc' ? 1 : 0,
    sweep: o.sweep ?? [],
    chunk: 3,
    traces: 2,
    resamples: 200,
    reward: taskReward,
    backend: 'none',
    makePolicy: () => new ScriptedPolicy(o.scripts),
    overwrite: true,
  });
}

/** Scripted eval dirs for a report: delegation and monolithic traces on ID and OOD items, a budget sweep, and self-consistency. */
/** Scripted evals of both arithmetic splits: `delegate` (clones), `mono` and `sc` (3 samples); `monoLabel` renames mono. */
export async function scriptedEvalDirs(tok: TextTokenizer, root: string, n = 6, monoLabel = 'mono'): Promise<string[]> {
  const dirs: string[] = [];
  const sweep = [{ key: 'maxTreeTokens', values: [4096, 60] }];
  for (const split of ['id', 'ood'] as const) {
    const items = loadEvalItems('arith', split, { limit: n }).items;
    for (const [label, mode, kind] of [['delegate', 'clones', 'delegate'], [monoLabel, 'mono', 'mono']] as const) {
      const out = `${root}/${kind}-${split}`;
      await scriptedEval(tok, out, { label, split, mode, scripts: traceScripts(items, tok, kind), items, sweep });
      dirs.push(out);
    }
    // self-consistency: three samples per item, the first wrong, the other two right on even items
    const scripts = new Map<string, number[]>();
    items.forEach((it, i) => {
      for (let s = 0; s < 3; s++) scripts.set(`${i * 3 + s}:0`, answerScript(tok, s > 0 && i % 2 === 0 ? it.answer : String(s + 1)));
    });
    const out = `${root}/sc-${split}`;
    await scriptedEval(tok, out, { label: 'sc', split, mode: 'sc', scripts, items, samples: 3 });
    dirs.push(out);
  }
  return dirs;
}
