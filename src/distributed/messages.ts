/**
 * The messages between a GRPO trainer and its rollout workers (docs/distributed.md), validated on receipt: a
 * malformed or foreign message is rejected with a log line, never a crash.
 *
 *   job     trainer → workers (jobs stream): one step's rollouts: the task items, the group size, the rollout config,
 *           the policy version (sha256 of its weights in the broker's store, and the trainer step they are the
 *           weights of), the sampler's Rng state
 *   result  worker → trainer (the run's results stream): the finished trees with their sampler log-probs, the
 *           version they were sampled with, and the Rng state after them (synchronous mode: the trainer continues
 *           from it, the same trajectory as a local rollout)
 *
 * Pure TS: no tfjs, no broker client.
 */
import { z } from 'zod';
import { RolloutConfigSchema } from '../rollout/protocol.ts';
import { RngStateSchema } from '../util/rng-state.ts';

/** 2: results name the weights they were sampled with (the asynchronous mode checks the version) */
export const MESSAGE_FORMAT = 2;

const TokenizerFilesSchema = z.strictObject({ 'tokenizer.json': z.string(), 'tokenizer_config.json': z.string() });

/** Who sent a message: a worker is refused by the trainer unless its version and backend are the trainer's. */
export const PeerSchema = z.strictObject({
  id: z.string().min(1),
  selfcest: z.string().min(1),
  backend: z.string().min(1),
});
export type Peer = z.infer<typeof PeerSchema>;

export const JobSchema = z.strictObject({
  format: z.literal(MESSAGE_FORMAT),
  kind: z.literal('rollout'),
  /** the trainer run (its results stream) and this job within it */
  run: z.string().min(1),
  jobId: z.string().min(1),
  step: z.int().min(0),
  trainer: PeerSchema,
  /** sha256 of the policy's model.safetensors in the broker's store */
  weights: z.string().regex(/^[0-9a-f]{64}$/),
  /** the trainer step whose weights those are (updates applied before them); `step` minus this is the staleness */
  policyStep: z.int().min(0),
  model: z.record(z.string(), z.unknown()),
  /** the run config's task source (name, preset, module) */
  task: z.record(z.string(), z.unknown()),
  items: z.array(z.record(z.string(), z.unknown())).min(1),
  groupSize: z.int().min(1),
  rollout: RolloutConfigSchema,
  /** the policy's tokenizer when it is not selfcest's own (an imported model's) */
  tokenizer: TokenizerFilesSchema.nullable(),
  rng: RngStateSchema,
});
export type Job = z.infer<typeof JobSchema>;

export const ResultSchema = z.strictObject({
  format: z.literal(MESSAGE_FORMAT),
  kind: z.literal('trees'),
  run: z.string().min(1),
  jobId: z.string().min(1),
  worker: PeerSchema,
  /** the job's weights (sha256): the version the trees were sampled with */
  weights: z.string().regex(/^[0-9a-f]{64}$/),
  /** trees as treeToJson writes them (checked again by treeFromJson) */
  trees: z.array(z.unknown()),
  rng: RngStateSchema,
  ms: z.number().min(0),
});
export type Result = z.infer<typeof ResultSchema>;

/** A job submitted and not yet trained on, as a checkpoint keeps it (the asynchronous mode's jobs ahead). */
export const PendingJobSchema = z.strictObject({
  step: z.int().min(0),
  /** the part of the step's items (grpo.jobsPerStep > 1) */
  part: z.int().min(1).optional(),
  policyStep: z.int().min(0),
  weights: z.string().regex(/^[0-9a-f]{64}$/),
  items: z.array(z.record(z.string(), z.unknown())),
});

/** What a checkpoint of a broker run keeps: its results stream and its pending jobs. */
export const BrokerStateSchema = z.strictObject({ run: z.string().min(1), pending: z.array(PendingJobSchema) });
export type BrokerState = z.infer<typeof BrokerStateSchema>;

/** Parse a message's JSON text against a schema: the value, or why it was rejected (one line). */
export function parseMessage<T>(schema: z.ZodType<T>, text: string): { ok: true; value: T } | { ok: false; why: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, why: `not JSON (${(e as Error).message})` };
  }
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  const first = r.error.issues[0];
  return { ok: false, why: `${first.path.length ? first.path.join('.') + ': ' : ''}${first.message}` };
}

/** The version a peer reports: selfcest's version and, in a git checkout, its commit (other code, other trees). */
export function peerVersion(p: { selfcest: string; git: string | null }): string {
  return p.git ? `${p.selfcest}+${p.git.slice(0, 12)}` : p.selfcest;
}
