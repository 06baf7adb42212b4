/**
 * What the engine gets for an item: the root's prompt ids (the task's prompt, or the monolithic view with its
 * documents inlined), the item's documents as the DocStore `<ctx> KEY` reads, and the split call's splitter when
 * the task has one. Used by SFT's evaluation, GRPO and eval through the item's task (src/tasks/task.ts).
 * Pure TS: no tfjs.
 */
import { docStore, type DocStore, type RolloutItem } from '../rollout/protocol.ts';
import { encodeChecked, type TextTokenizer } from '../tokenizer/index.ts';
import { findTask } from './registry.ts';
import { MONO_VIEW_RESERVE } from './task.ts';
import { rootPromptIds, type TaskItem } from './types.ts';

export interface RolloutViewOptions {
  /**
   * `keys` (default): the root's prompt is the item's prompt (for multi-hop QA: the question and the paragraph
   * keys, never the paragraphs), and clones get paragraphs through `<ctx> KEY`. `inline`: the monolithic view,
   * for the baseline without clones: the question and every paragraph that fits `window − reserve` tokens
   * (monolithicPromptIds). Items without documents look the same in both views.
   */
  view?: 'keys' | 'inline';
  /** the root window the inline view must fit (default 128, the RolloutConfig default rootWindow) */
  window?: number;
  /** tokens the inline view leaves free for the root to write (default MONO_VIEW_RESERVE) */
  reserve?: number;
}

/**
 * The monolithic view's prompt ids of an item: for an item with documents its task's monolithicView (multi-hop
 * QA: the question, then `|PARAGRAPH` for the paragraphs while they fit `window − reserve` tokens, then <think>);
 * `included` counts the documents it holds. Any other item: its prompt (rootPromptIds), all of it.
 */
export function monolithicPromptIds(item: TaskItem, tok: TextTokenizer, opts: Pick<RolloutViewOptions, 'window' | 'reserve'> = {}): { ids: number[]; included: number } {
  if (!item.docs?.length) return { ids: rootPromptIds(item, tok), included: 0 };
  const view = findTask(item.task)?.monolithicView;
  if (!view) throw new Error(`monolithicPromptIds: no monolithic view for task "${item.task}" with documents`);
  return view(item, tok, { window: opts.window ?? 128, reserve: opts.reserve ?? MONO_VIEW_RESERVE });
}

/** The documents of an item as the engine's store (keys and texts as token ids); undefined without documents. */
export function itemDocStore(item: TaskItem, tok: TextTokenizer): DocStore | undefined {
  if (!item.docs?.length) return undefined;
  return docStore(item.docs.map((d) => ({ key: encodeChecked(tok, d.key), doc: encodeChecked(tok, d.text) })));
}

/**
 * The root's rollout input for an item: prompt ids (the prompt text then <think>, or the monolithic view with
 * `view: 'inline'`), the item's documents as the DocStore that `<ctx> KEY` references read, and the root's
 * question with the task's splitter when it has one (the split call).
 */
export function rolloutItem(item: TaskItem, tok: TextTokenizer, opts: RolloutViewOptions = {}): RolloutItem {
  const prompt = opts.view === 'inline' ? monolithicPromptIds(item, tok, opts).ids : rootPromptIds(item, tok);
  const docs = itemDocStore(item, tok);
  const split = findTask(item.task)?.splitter?.(item, tok) ?? {};
  return { itemId: item.id, prompt, ...(docs ? { docs } : {}), ...split };
}
