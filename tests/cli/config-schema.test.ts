// JSON Schemas of the config files are current (generated from the zod schemas), describe every committed config's
// keys, and `train --print-config` prints the resolved config without training.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMAS, configJsonSchema } from '../../src/cli/schemas.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('config schemas', () => {
  it('schemas/*.schema.json are what scripts/build-schemas.ts writes now', () => {
    for (const name of Object.keys(CONFIG_SCHEMAS) as (keyof typeof CONFIG_SCHEMAS)[]) {
      expect(fs.readFileSync(path.join(ROOT, 'schemas', `${name}.schema.json`), 'utf8'), `${name}: rerun npx tsx scripts/build-schemas.ts`).toBe(configJsonSchema(name));
    }
  });

  it('every committed config uses only keys its schema names (two levels deep)', () => {
    const schema = (n: string) => JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas', `${n}.schema.json`), 'utf8'));
    const check = (cfg: Record<string, unknown>, s: { properties: Record<string, { properties?: object }> }, where: string) => {
      for (const [k, v] of Object.entries(cfg)) {
        expect(Object.keys(s.properties), `${where}: ${k}`).toContain(k);
        const sub = s.properties[k].properties;
        if (sub && v && typeof v === 'object' && !Array.isArray(v)) for (const k2 of Object.keys(v)) expect(Object.keys(sub), `${where}: ${k}.${k2}`).toContain(k2);
      }
    };
    for (const f of fs.readdirSync(path.join(ROOT, 'configs')).filter((x) => x.endsWith('.json'))) {
      const cfg = JSON.parse(fs.readFileSync(path.join(ROOT, 'configs', f), 'utf8'));
      check(cfg, schema(cfg.mode === 'grpo' ? 'grpo-config' : 'run-config'), f);
    }
    for (const f of fs.readdirSync(path.join(ROOT, 'configs/experiments'))) check(JSON.parse(fs.readFileSync(path.join(ROOT, 'configs/experiments', f), 'utf8')), schema('experiment-config'), f);
  });

  it('train --print-config prints the resolved config (defaults filled, --set applied) and trains nothing', () => {
    const r = spawnSync(process.execPath, ['bin/selfcest.mjs', 'train', '--config', 'configs/arith-grpo-tiny.json', '--set', 'train.steps=7', '--print-config'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const cfg = JSON.parse(r.stdout);
    expect(cfg).toMatchObject({ mode: 'grpo', train: { steps: 7 }, grpo: { groupSize: 4 } });
    expect(cfg.rollout.maxTreeTokens).toBe(4096); // a default filled in
    expect(r.stderr).toBe(''); // no backend probed
  });
});
