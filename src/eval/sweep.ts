/**
 * Budget sweeps and the rollout config of each eval point. A point's config is resolved in this order:
 * the checkpoint's saved rollout settings (a GRPO run's `rollout` section; for other runs the defaults with
 * both windows set to the model's context, as SFT traces are built) → `--set` overrides → --temperature /
 * --top-k → the mode (allowSpawn) → the point's sweep values; then validated by RolloutConfigSchema. Pure TS.
 */
import { parseController } from '../rollout/controller.ts';
import { RolloutConfigSchema, type RolloutConfig } from '../rollout/protocol.ts';
import { applyOverrides, validate } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import type { EvalMode } from './items.ts';

export type SweepValue = number | boolean | string;

/** A sweep axis: a rollout config key (or `samples`, for sc) and the values it takes. */
export interface SweepAxis {
  key: string;
  values: SweepValue[];
}

/** Keys a sweep may vary: every rollout config key but allowSpawn (the mode sets it), `samples` (sc) and `controller` (a fixed delegation controller, src/rollout/controller.ts). */
export function sweepKeys(): string[] {
  return [...Object.keys(RolloutConfigSchema.shape).filter((k) => k !== 'allowSpawn'), 'samples', 'controller'];
}

function parseValue(raw: string): SweepValue {
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  } catch {
    // a bare word (e.g. malformed=end)
  }
  return raw;
}

/** Parse `--sweep key=v1,v2,...` flags (one axis each; a key at most once). */
export function parseSweep(specs: readonly string[]): SweepAxis[] {
  const keys = sweepKeys();
  const axes: SweepAxis[] = [];
  for (const spec of specs) {
    const m = /^([A-Za-z]+)=(.+)$/.exec(spec.trim());
    if (!m) throw new SelfcestError(`--sweep ${spec}: expected key=v1,v2,... (e.g. --sweep maxTreeTokens=64,128,256)`);
    const [, key, list] = m;
    if (!keys.includes(key)) throw new SelfcestError(`--sweep ${spec}: unknown key "${key}" (known: ${keys.join(', ')})`);
    if (axes.some((a) => a.key === key)) throw new SelfcestError(`--sweep ${spec}: key "${key}" is swept twice`);
    const parts = list.split(',').map((s) => s.trim());
    if (parts.some((s) => s === '')) throw new SelfcestError(`--sweep ${spec}: empty value in the list`);
    const values = parts.map(parseValue);
    if (key === 'samples' && values.some((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 1)) {
      throw new SelfcestError(`--sweep ${spec}: samples must be integers >= 1`);
    }
    if (key === 'controller') {
      for (const v of parts) parseController(v); // a bad rule fails here, naming itself
      values.splice(0, values.length, ...parts); // rules are words, never numbers
    }
    if (new Set(parts).size !== parts.length) throw new SelfcestError(`--sweep ${spec}: a value is listed twice`);
    axes.push({ key, values });
  }
  return axes;
}

/** One eval point: its name (a directory name) and the sweep values that define it. */
export interface SweepPoint {
  name: string;
  overrides: Record<string, SweepValue>;
}

/** Every combination of the axes (the first axis varies slowest); one point named `default` without axes. */
export function sweepPoints(axes: readonly SweepAxis[]): SweepPoint[] {
  let combos: Record<string, SweepValue>[] = [{}];
  for (const a of axes) combos = combos.flatMap((c) => a.values.map((v) => ({ ...c, [a.key]: v })));
  return combos.map((o) => ({
    name: axes.length ? Object.entries(o).map(([k, v]) => `${k}-${String(v).replace(/[^A-Za-z0-9.]/g, '_')}`).join('.') : 'default',
    overrides: o,
  }));
}

export interface RolloutBase {
  /** the checkpoint's run config (state.json `config`) */
  runConfig: unknown;
  /** the model's context window */
  ctx: number;
  /** `key=value` overrides of rollout keys (values are JSON when they parse) */
  set?: readonly string[];
  temperature?: number;
  topK?: number;
}

/** The checkpoint's rollout settings: a GRPO run's `rollout` section, else defaults with windows = ctx. */
export function savedRollout(runConfig: unknown, ctx: number): Record<string, unknown> {
  const r = (runConfig as { rollout?: unknown } | null)?.rollout;
  if (r !== null && typeof r === 'object' && !Array.isArray(r)) return { ...(r as Record<string, unknown>) };
  return { rootWindow: ctx, cloneWindow: ctx };
}

/** The rollout config of one point (see the file comment for the order); errors name the source. */
export function resolveRollout(base: RolloutBase, mode: EvalMode, overrides: Record<string, SweepValue> = {}): RolloutConfig {
  if ((base.set ?? []).some((s) => s.trim().startsWith('allowSpawn='))) {
    throw new SelfcestError('--set allowSpawn=...: spawning is chosen by --mode (clones: allowed; mono, sc: masked)');
  }
  let raw = applyOverrides(savedRollout(base.runConfig, base.ctx), base.set ?? []) as Record<string, unknown>;
  if (base.temperature !== undefined) raw = { ...raw, temperature: base.temperature };
  if (base.topK !== undefined) raw = { ...raw, topK: base.topK };
  raw = { ...raw, allowSpawn: mode === 'clones' };
  const { samples: _, controller: __, ...rolloutOverrides } = overrides;
  void _;
  void __;
  raw = { ...raw, ...rolloutOverrides };
  const where = Object.keys(overrides).length ? `rollout config (sweep point ${Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join(', ')})` : 'rollout config';
  const cfg = validate(RolloutConfigSchema, raw, where);
  if (Math.max(cfg.rootWindow, cfg.cloneWindow) > base.ctx) {
    throw new SelfcestError(`${where}: windows (rootWindow ${cfg.rootWindow}, cloneWindow ${cfg.cloneWindow}) exceed the model's context window ${base.ctx}`);
  }
  return cfg;
}
