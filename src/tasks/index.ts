/**
 * selfcest's task API (`import ... from 'selfcest/tasks'`): everything a task of your own is written against,
 * pure TypeScript (no tfjs). docs/tasks.md "Writing a task"; examples/tasks/max/task.ts uses exactly this.
 */
export type { GenerateOptions, RewardTree, Score, Task, Trace, TraceKind, TraceOptions, TraceResult, ViewWindow } from './task.ts';
export { MONO_VIEW_RESERVE, presetGenerator } from './task.ts';
export { checkItem, findTask, isTaskModuleSpec, loadTaskModule, preloadTaskModules, resolveTask, taskDef, TASKS } from './registry.ts';
export type { Issue, ItemCheck, Split, TaskDoc, TaskItem } from './types.ts';
export { ITEM_FORMAT, readItemsJsonl, rootPromptIds, schemaIssue, SPLITS, TaskItemSchema, writeItemsJsonl } from './types.ts';
export { generatePartitioned, itemKey, partitionOf, splitPartition, type Partition } from './splits.ts';
export { exactScore, intScore, normalizeText, partialCredit } from './scoring.ts';
export { readInt, writeInt } from './numbers.ts';
export { accuracyOf, cloneRewards, costTerms, makeReward, RewardConfigSchema, rolloutReward, taskReward } from './reward.ts';
export type { Reward, RewardComponents, RewardConfig, RewardConfigInput, RewardFn } from './reward.ts';
export { budgetedSpecs, budgetTokens, DEFAULT_TRACE_BUDGETS, delegate, grantedBudget, scheduleTree, shuffled, spawnRefusal, TreeBuilder, treeFits } from './trace-builder.ts';
export type { CloneSpec, CloneWork, PlannedContext } from './trace-builder.ts';
export { delegationTrace, monolithicTrace, replayInputs, traceText } from './traces.ts';
export { itemDocStore, monolithicPromptIds, rolloutItem, type RolloutViewOptions } from './views.ts';
// what traces are made of: the protocol's tokens and limits, and the tree as data
export { protocolTokens, RolloutConfigSchema, returnSegment, type DocStore, type ProtocolTokens, type RolloutConfig, type RolloutItem, type Splitter } from '../rollout/protocol.ts';
export { appendTokens, newContext, treeCost, type CallRecord, type Context, type Tree } from '../rollout/tree.ts';
export { encodeChecked, loadTokenizer, type TextTokenizer } from '../tokenizer/index.ts';
export { Rng } from '../util/rng.ts';
