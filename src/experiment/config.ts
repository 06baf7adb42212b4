/**
 * An experiment: the headline recipe as typed data (docs/experiments.md). Per seed, one SFT warm start on mixed
 * traces, then one tree-GRPO run per arm from that same start (same reward, budgets, steps and seed; arms differ
 * only by their `set` overrides, e.g. spawning masked), then evaluations of every arm on the ID and OOD sets over
 * a budget sweep, self-consistency on the monolithic arm, and one comparison report.
 *
 * `quick` holds overrides of this very config for the small end-to-end version (minutes on 2 cores); the full
 * recipe ignores it.
 */
import { z } from 'zod';
import { RlConfigSchema, type RlConfig } from '../train/rl.ts';
import { runConfig, type RunConfig } from '../train/config.ts';
import { parseController } from '../rollout/controller.ts';
import { applyOverrides, readJsonFile, validate } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';

const ArmSchema = z.strictObject({
  /** directory and series name: [a-z0-9-] */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  /** overrides of the GRPO config for this arm, `key.path=value` (e.g. rollout.allowSpawn=false) */
  set: z.array(z.string()).default([]),
  /** how the arm is evaluated: clones (spawning allowed) or mono (spawning masked) */
  eval: z.enum(['clones', 'mono']),
  /** also evaluate self-consistency (majority vote over eval.scSamples monolithic samples) on this arm */
  sc: z.boolean().default(false),
  /**
   * overrides of the SFT config, `key.path=value`: the arm trains its own warm start with them (in this
   * experiment, never reused from sftFrom) and starts GRPO from it, e.g. the monolithic-only baseline
   * (sft.delegation=0, sft.monolithicOnly=true). Absent: the seed's shared warm start.
   */
  sft: z.array(z.string()).min(1).optional(),
});
export type Arm = z.infer<typeof ArmSchema>;

export const ExperimentConfigSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  seeds: z.array(z.int()).min(1),
  /** the SFT warm start: a run config (src/train/config.ts); train.seed is set per seed */
  sft: z.record(z.string(), z.unknown()),
  /** the tree-GRPO runs: an RL config without mode and init (src/train/rl.ts); train.seed is set per seed */
  grpo: z.record(z.string(), z.unknown()),
  arms: z
    .array(ArmSchema)
    .min(1)
    .default([
      { name: 'clones', set: ['rollout.allowSpawn=true'], eval: 'clones', sc: false },
      { name: 'mono', set: ['rollout.allowSpawn=false'], eval: 'mono', sc: true },
    ]),
  eval: z
    .strictObject({
      splits: z.array(z.string()).min(1).default(['id', 'ood']),
      /** only the first n items of each split (omitted: all) */
      n: z.int().min(1).optional(),
      /** budget sweep axes for the clones and mono evaluations (selfcest eval --sweep) */
      sweep: z.array(z.string()).default([]),
      /** self-consistency sample counts (one eval point each) and their temperature */
      scSamples: z.array(z.int().min(1)).default([2, 4]),
      scTemperature: z.number().gt(0).default(0.7),
      threads: z.int().min(1).default(1),
      /**
       * most trees per engine call (selfcest eval --chunk; omitted: its default). Every live context of a call holds
       * a KV cache in the 4 GiB wasm heap, so tasks whose trees run many clones at once need smaller chunks
       */
      chunk: z.int().min(1).optional(),
      bootstrap: z.int().min(1).default(1000),
      /** items whose trees each eval point keeps for trace pages */
      traces: z.int().min(0).default(2),
      /**
       * also evaluate each seed's SFT warm start, before any GRPO, once per eval mode of the arms (with the first
       * such arm's rollout settings): what GRPO added on top of the shared start
       */
      sft: z.boolean().default(false),
      /**
       * fixed delegation controllers (src/rollout/controller.ts) over each seed's SFT warm start, the baselines a
       * learned controller must beat: the rules are compared on `dev` (a split of the task's dev partition), and the
       * best is evaluated on every split like the arms (series `fixed`), under the first clones arm's rollout settings
       */
      controllers: z.strictObject({ rules: z.array(z.string()).min(1), dev: z.string().min(1) }).optional(),
    })
    .prefault({}),
  /**
   * reuse the warm starts of another experiment directory (its `seed-<s>/sft` runs) instead of training SFT
   * here, e.g. ablations from the main run's SFT; its SFT configs must equal this config's `sft` section
   */
  sftFrom: z.string().min(1).optional(),
  /** overrides of this config for the quick version, `key.path=value` (e.g. sft.train.steps=100) */
  quick: z.array(z.string()).default([]),
});
export type ExperimentConfig = z.infer<typeof ExperimentConfigSchema>;

/**
 * The resolved stage configs of one seed: the shared SFT, one GRPO config per arm (init filled in by the plan), and
 * the own warm start of each arm with `sft` overrides.
 */
export function seedConfigs(cfg: ExperimentConfig, seed: number, source: string): { sft: RunConfig; arms: Record<string, RlConfig>; armSft: Record<string, RunConfig> } {
  const sft = runConfig(applyOverrides(cfg.sft, [`train.seed=${seed}`]), `${source}: sft`);
  if (sft.train.task !== 'sft') throw new SelfcestError(`${source}: sft.train.task is "${sft.train.task}", expected "sft"`);
  const arms: Record<string, RlConfig> = {};
  const armSft: Record<string, RunConfig> = {};
  for (const arm of cfg.arms) {
    if (arm.sft) {
      const own = runConfig(applyOverrides(cfg.sft, [`train.seed=${seed}`, ...arm.sft]), `${source}: arm ${arm.name}'s sft`);
      if (own.train.task !== 'sft' || own.sft.name !== sft.sft.name) throw new SelfcestError(`${source}: arm ${arm.name}'s sft must train SFT on the experiment's task ${sft.sft.name}`);
      armSft[arm.name] = own;
    }
    const raw = applyOverrides({ ...cfg.grpo, mode: 'grpo', init: 'PLACEHOLDER' }, [`train.seed=${seed}`, ...arm.set]);
    const rl = validate(RlConfigSchema, raw, `${source}: grpo with arm ${arm.name}'s set`);
    if (rl.task.name !== sft.sft.name) throw new SelfcestError(`${source}: grpo.task.name is "${rl.task.name}" but sft.sft.name is "${sft.sft.name}"`);
    if ((arm.eval === 'mono') === rl.rollout.allowSpawn) {
      throw new SelfcestError(`${source}: arm ${arm.name} is evaluated as ${arm.eval} but trains with rollout.allowSpawn ${rl.rollout.allowSpawn}`);
    }
    arms[arm.name] = rl;
  }
  return { sft, arms, armSft };
}

/** Load an experiment config; `quick` applies its own overrides. Every stage config is validated up front. */
export function loadExperiment(file: string, opts: { full: boolean; set?: readonly string[] }): ExperimentConfig {
  const raw = readJsonFile(file);
  let cfg = validate(ExperimentConfigSchema, raw, file);
  const extra = opts.set ?? [];
  if (!opts.full && cfg.quick.length) cfg = validate(ExperimentConfigSchema, applyOverrides(raw, cfg.quick), `${file} (quick overrides)`);
  if (extra.length) cfg = validate(ExperimentConfigSchema, applyOverrides(cfg, extra), `${file} (with --set)`);
  const names = new Set<string>();
  for (const a of cfg.arms) {
    if (names.has(a.name)) throw new SelfcestError(`${file}: arms: the name "${a.name}" appears twice`);
    names.add(a.name);
  }
  if (new Set(cfg.seeds).size !== cfg.seeds.length) throw new SelfcestError(`${file}: seeds: a seed appears twice`);
  for (const rule of cfg.eval.controllers?.rules ?? []) {
    try {
      parseController(rule);
    } catch (e) {
      throw new SelfcestError(`${file}: eval.controllers.rules: ${(e as Error).message}`);
    }
  }
  for (const s of cfg.seeds) seedConfigs(cfg, s, file);
  return cfg;
}

/** The task the experiment trains and evaluates on. */
export function experimentTask(cfg: ExperimentConfig): string {
  return runConfig(cfg.sft).sft.name;
}
