/**
 * Where a checkpoint or an evaluation came from: selfcest's version, the git commit of the source tree (and whether
 * it had uncommitted changes; null outside a git checkout or without git), the Node version. Computed once per
 * process. Tokenizer and items-file hashes are added by the callers (sha256 of the files' bytes).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Provenance {
  selfcest: string;
  git: string | null;
  gitDirty: boolean | null;
  node: string;
}

let cached: Provenance | null = null;

export function provenance(): Provenance {
  if (cached) return cached;
  const git = (args: string[]) => {
    const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit === null ? null : git(['status', '--porcelain', '--untracked-files=no']);
  let version = 'unknown';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    /* not in a package */
  }
  cached = { selfcest: version, git: commit, gitDirty: status === null ? null : status.length > 0, node: process.version };
  return cached;
}

/** sha256 (hex) of the files' bytes, in order. */
export function filesSha256(...files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(fs.readFileSync(f));
  return h.digest('hex');
}
