/**
 * JSON Schemas of the config files, generated from the zod schemas that validate them (so editors and other tools
 * can check a config before selfcest runs it). `npx tsx scripts/build-schemas.ts` writes them to schemas/; a test
 * checks the committed files are current. Input form: keys with defaults are optional.
 */
import { z } from 'zod';
import { ExperimentConfigSchema } from '../experiment/config.ts';
import { RunConfigSchema } from '../train/config.ts';
import { RlConfigSchema } from '../train/rl.ts';

export const CONFIG_SCHEMAS = {
  /** `selfcest train --config` without "mode" (SFT, the addition warm-up) */
  'run-config': RunConfigSchema,
  /** `selfcest train --config` with "mode": "grpo" */
  'grpo-config': RlConfigSchema,
  /** `selfcest experiment --config` */
  'experiment-config': ExperimentConfigSchema,
} as const;

export function configJsonSchema(name: keyof typeof CONFIG_SCHEMAS): string {
  const schema = z.toJSONSchema(CONFIG_SCHEMAS[name], { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return JSON.stringify({ ...schema, title: `selfcest ${name}` }, null, 2) + '\n';
}
