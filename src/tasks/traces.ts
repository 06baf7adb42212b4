/**
 * Demonstration traces for the SFT warm start, for any task (docs/tasks.md): the item's task builds them
 * (Task.monolithicTrace, Task.delegationTrace; src/tasks/<task>/traces.ts, on the shared src/tasks/trace-builder.ts).
 *
 * A trace is what a scripted policy would sample in every context of one tree (`scripts`, keyed
 * `0:<contextId>` as ScriptedPolicy expects for tree 0; context ids in creation order: root 0, then the
 * clones of its call in spec order) plus the tree the engine must produce from them (`tree`: every
 * context's ids, loss mask, calls, answer). Training reads `tree` (ids + lossMask per context); tests replay
 * `scripts` through runTrees and compare. Pure TS: no tfjs.
 */
import type { RolloutConfig, RolloutItem } from '../rollout/protocol.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import type { Rng } from '../util/rng.ts';
import { findTask } from './registry.ts';
import type { Trace, TraceOptions, TraceResult } from './task.ts';
import type { TaskItem } from './types.ts';
import { rolloutItem } from './views.ts';

export type { Trace, TraceKind, TraceOptions, TraceResult } from './task.ts';

const none = (item: TaskItem): TraceResult => ({ ok: false, reason: `no demonstration traces for task "${item.task}" yet` });

/**
 * The monolithic trace: the root solves step by step and answers. For an item with documents the root's prompt is
 * the monolithic view (views.ts rolloutItem with `view: 'inline'`, window cfg.rootWindow); replay with replayInputs.
 */
export function monolithicTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, opts: TraceOptions = {}): TraceResult {
  const build = findTask(item.task)?.monolithicTrace;
  return build ? build(item, tok, cfg, opts) : none(item);
}

/**
 * A delegation trace: the root hands parts of the work to clones and combines their returns. The task draws its
 * choices (split, clone count, budgets) with `rng` among those that fit `cfg`; refused with a reason when the item
 * has no delegation that fits.
 */
export function delegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: TraceOptions = {}): TraceResult {
  const build = findTask(item.task)?.delegationTrace;
  return build ? build(item, tok, cfg, rng, opts) : none(item);
}

/**
 * Inputs for replaying traces of several items in one runTrees call: items in order (each root's prompt is the
 * one its trace starts from, so a multi-hop monolithic trace replays with its monolithic view), scripts re-keyed
 * by tree.
 */
export function replayInputs(pairs: { item: TaskItem; trace: Trace }[], tok: TextTokenizer): { items: RolloutItem[]; scripts: Map<string, number[]> } {
  const scripts = new Map<string, number[]>();
  pairs.forEach(({ trace }, t) => {
    for (const [key, s] of trace.scripts) scripts.set(`${t}:${key.slice(key.indexOf(':') + 1)}`, s);
  });
  const items = pairs.map(({ item, trace }) => {
    const root = trace.tree.contexts[0];
    return { ...rolloutItem(item, tok), prompt: root.ids.slice(0, root.promptLength) };
  });
  return { items, scripts };
}

/**
 * A trace as text, one context after another: the prompt, then each run of sampled (`gen`) and
 * engine-injected (`eng`) tokens, special tokens written out.
 */
export function traceText(trace: Trace, tok: TextTokenizer): string {
  const lines: string[] = [`${trace.kind} trace of ${trace.itemId}`];
  for (const c of trace.tree.contexts) {
    const who = c.parent === null ? 'root' : `clone of context ${c.parent}, call ${c.callIndex}`;
    lines.push(`context ${c.id} (${who}; budget ${c.budget}; ${c.ids.length} tokens)`);
    lines.push(`  prompt  ${tok.decode(c.ids.slice(0, c.promptLength))}`);
    let i = c.promptLength;
    while (i < c.ids.length) {
      let j = i;
      while (j < c.ids.length && c.lossMask[j] === c.lossMask[i]) j++;
      lines.push(`  ${c.lossMask[i] ? 'gen' : 'eng'}     ${tok.decode(c.ids.slice(i, j))}`);
      i = j;
    }
  }
  return lines.join('\n');
}
