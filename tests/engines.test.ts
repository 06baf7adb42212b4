// package.json's `engines` is true to what is installed: every package in the lockfile that states a Node range
// accepts the oldest Node of each range we claim (20.19.0 and 22.13.0), optional GPU packages included.
import * as fs from 'node:fs';
import * as path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));

describe('engines', () => {
  it('every locked package accepts the oldest Node of each range package.json claims', () => {
    const claimed: string = pkg.engines.node;
    expect(semver.validRange(claimed)).not.toBeNull();
    const floors = claimed.split('||').map((r) => semver.minVersion(r.trim())!.version);
    expect(floors).toEqual(['20.19.0', '22.13.0']);
    const bad: string[] = [];
    for (const [where, p] of Object.entries(lock.packages as Record<string, { version?: string; engines?: { node?: string } | string[] }>)) {
      const node = Array.isArray(p.engines) ? undefined : p.engines?.node;
      if (!where || !node) continue;
      for (const v of floors) if (!semver.satisfies(v, node)) bad.push(`${where}@${p.version} needs node ${node} (not ${v})`);
    }
    expect(bad).toEqual([]);
  });
});
