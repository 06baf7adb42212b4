/**
 * Reading typed config files: JSON with one-line errors that name the file, the line (for syntax errors) or
 * the key path (for schema errors), and what was expected. `--set a.b=value` overrides are applied before
 * validation, so they are checked by the same schema.
 */
import * as fs from 'node:fs';
import type { z } from 'zod';
import { SelfcestError } from './errors.ts';

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new SelfcestError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split('\n').length;
      const col = pos - before.lastIndexOf('\n');
      throw new SelfcestError(`${file}:${line}:${col}: invalid JSON: ${msg.replace(/ in JSON at position \d+.*$/, '')}`);
    }
    throw new SelfcestError(`${file}: invalid JSON: ${msg}`);
  }
}

/** Parse `key.path=value`; value is JSON when it parses as JSON, else a plain string. */
export function parseOverride(spec: string): { path: string[]; value: unknown } {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new SelfcestError(`--set ${spec}: expected key=value (e.g. --set train.steps=200)`);
  const key = spec.slice(0, eq).trim();
  const raw = spec.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const path = key.split('.');
  // these would walk into Object.prototype and change every object of the process
  const bad = path.find((k) => k === '__proto__' || k === 'constructor' || k === 'prototype');
  if (bad !== undefined) throw new SelfcestError(`--set ${spec}: "${bad}" is not a config key`);
  return { path, value };
}

export function applyOverrides(obj: unknown, specs: readonly string[]): unknown {
  const root = structuredClone(obj ?? {}) as Record<string, unknown>;
  for (const spec of specs) {
    const { path, value } = parseOverride(spec);
    let node = root;
    for (const k of path.slice(0, -1)) {
      if (node[k] === undefined) node[k] = {};
      if (typeof node[k] !== 'object' || node[k] === null || Array.isArray(node[k])) {
        throw new SelfcestError(`--set ${spec}: "${k}" is not an object`);
      }
      node = node[k] as Record<string, unknown>;
    }
    node[path[path.length - 1]] = value;
  }
  return root;
}

/** Validate with a zod schema; the first issue becomes a one-line error naming the source and key path. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, source: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') msg = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : '';
  throw new SelfcestError(`${source}: ${where}: ${msg}${more}`);
}
