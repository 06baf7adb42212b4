/**
 * selfcest as a library (`import ... from 'selfcest'`): tasks (also alone, without tfjs: 'selfcest/tasks'), the
 * rollout engine, the trainers, evaluation, checkpoints, the model and backends. The CLI (bin/selfcest.mjs) is a
 * thin layer over these. docs/library.md lists them with an example.
 */
export * from './tasks/index.ts';
export { forbiddenTokens, ModelPolicy, runTrees, ScriptedPolicy, type Policy, type RunHooks, type TokenRequest } from './rollout/engine.ts';
export { clonePrompt, extractAnswer, parseCall } from './rollout/protocol.ts';
export { criticalPath, type TreeCost } from './rollout/tree.ts';
export { runConfig, loadRunConfig, RunConfigSchema, type RunConfig } from './train/config.ts';
export { trainSupervised, sftTree, type SupervisedOptions, type SupervisedResult } from './train/supervised.ts';
export { RlConfigSchema, trainRl, type RlConfig, type RlOptions } from './train/rl.ts';
export { GrpoConfigSchema, grpoStep, type GrpoConfig, type GrpoMetrics, type RolloutRewardFn } from './train/grpo.ts';
export { AdvantageConfigSchema, groupAdvantages, type AdvantageConfig, type TreeReward } from './train/advantage.ts';
export { evalTokenizer, readEvalIndex, runEval, type EvalOptions } from './eval/evaluate.ts';
export { writeReport, type ReportOptions } from './eval/report.ts';
export { findLatest, loadCheckpoint, readCheckpointState, resolveCheckpointDir, saveCheckpoint, type CheckpointState } from './checkpoint/store.ts';
export { GPT } from './model/decoder.ts';
export { loadPolicy, loadPolicyData, loadPolicyTokenizer, policyTokenizer, resolvePolicyDir } from './model/io.ts';
export { exportHf, growVocabulary, isHfDir } from './model/hf-io.ts';
export { isDefaultTokenizer, readTokenizerFiles, tokenizerFromFiles, withProtocolTokens, type TokenizerFiles } from './tokenizer/index.ts';
export { activeBackend, BACKEND_CHOICES, selectBackend, type BackendChoice } from './backend/select.ts';
