/**
 * A point's summary (summary.json): means over items with seeded bootstrap 95 % CIs (items resampled with
 * replacement, the same draws for every metric; accuracy and pass@n, proportions, take the Wilson interval
 * instead), cost-of-pass and speed. Pure TS.
 */
import { Rng } from '../util/rng.ts';
import type { ExampleRecord } from './run.ts';
import { bootstrapMeans, costOfPass, mean, proportionInterval, type Estimate } from './stats.ts';

export interface PointSummary {
  items: number;
  samples: number;
  /** mean of `correct` (majority vote for sc) */
  accuracy: Estimate;
  /** share of items with at least one right sample (= accuracy with one sample): the upper bound of a vote */
  passAtN: Estimate;
  reward: Estimate;
  /**
   * mean tokens per item held by all contexts (sc: summed over samples), on the critical path (sc: the longest
   * sample), and the root/clone split of the total
   */
  tokens: { total: Estimate; critical: Estimate; root: number; clone: number };
  /** mean tokens per item sampled by the policy */
  generated: { root: number; clone: number };
  /** means per item */
  calls: number;
  clones: number;
  malformed: number;
  /** malformed calls / calls (0 without calls) */
  malformedRate: number;
  /** expected total tokens per correct answer: mean total tokens / accuracy (null at accuracy 0) */
  costOfPass: number | null;
  /** the same in critical-path tokens */
  criticalCostOfPass: number | null;
  /** mean per-item latency (ms) inside its engine call, and the point's wall-clock */
  msPerItem: number;
  wallSeconds: number;
  itemsPerSecond: number;
  tokensPerSecond: number;
}

export function summarize(records: readonly ExampleRecord[], wallSeconds: number, seed: string | number, resamples = 1000): PointSummary {
  const col = (f: (r: ExampleRecord) => number) => records.map(f);
  const ci = bootstrapMeans(
    {
      accuracy: col((r) => r.correct),
      passAtN: col((r) => r.passAtN),
      reward: col((r) => r.reward),
      total: col((r) => r.tokens.total),
      critical: col((r) => r.tokens.critical),
    },
    Rng.fromSeed(`${seed}:bootstrap`),
    { resamples },
  );
  // accuracy and pass@n are proportions: the Wilson interval (the percentile bootstrap collapses at 0/n and n/n)
  ci.accuracy = proportionInterval(col((r) => r.correct)) ?? ci.accuracy;
  ci.passAtN = proportionInterval(col((r) => r.passAtN)) ?? ci.passAtN;
  const m = (f: (r: ExampleRecord) => number) => mean(col(f));
  const calls = col((r) => r.calls).reduce((a, b) => a + b, 0);
  const malformed = col((r) => r.malformed).reduce((a, b) => a + b, 0);
  const totalTokens = col((r) => r.tokens.total).reduce((a, b) => a + b, 0);
  return {
    items: records.length,
    samples: records[0]?.samples ?? 0,
    accuracy: ci.accuracy,
    passAtN: ci.passAtN,
    reward: ci.reward,
    tokens: { total: ci.total, critical: ci.critical, root: m((r) => r.tokens.root), clone: m((r) => r.tokens.clone) },
    generated: { root: m((r) => r.generated.root), clone: m((r) => r.generated.clone) },
    calls: m((r) => r.calls),
    clones: m((r) => r.clones),
    malformed: m((r) => r.malformed),
    malformedRate: calls > 0 ? malformed / calls : 0,
    costOfPass: costOfPass(ci.total.mean, ci.accuracy.mean),
    criticalCostOfPass: costOfPass(ci.critical.mean, ci.accuracy.mean),
    msPerItem: m((r) => r.ms),
    wallSeconds,
    itemsPerSecond: wallSeconds > 0 ? records.length / wallSeconds : 0,
    tokensPerSecond: wallSeconds > 0 ? totalTokens / wallSeconds : 0,
  };
}
