// A full disk or an unwritable directory is the user's environment, not a bug: one line naming the path and the
// cause, exit 1, no stack trace.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { environmentError } from '../../src/util/errors.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

const sysErr = (code: string, syscall: string, p: string) => Object.assign(new Error(`${code}: x, ${syscall} '${p}'`), { code, syscall, path: p, errno: -1 });

describe('environment errors', () => {
  it('a full disk, a read-only or unwritable path read as one line naming the path and the cause', () => {
    expect(environmentError(sysErr('ENOSPC', 'write', '/r/metrics.jsonl'))).toBe('/r/metrics.jsonl: no space left on device (ENOSPC, write)');
    expect(environmentError(sysErr('EACCES', 'open', '/r/x'))).toBe('/r/x: permission denied (EACCES, open)');
    expect(environmentError(sysErr('EROFS', 'mkdir', '/r'))).toBe('/r: read-only file system (EROFS, mkdir)');
    expect(environmentError(new Error('a bug'))).toBeNull();
    expect(environmentError(sysErr('EINVAL', 'read', '/r'))).toBeNull(); // not the environment: keep the stack
  });

  it('train into a directory it may not write: exit 1, one line, nothing else', () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-ro-'));
    fs.chmodSync(parent, 0o555);
    const out = path.join(parent, 'run');
    // root may write anywhere: run the CLI as nobody then (the repository and node must be readable by it)
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/selfcest.mjs'), 'train', '--backend', 'cpu', '--config', path.join(ROOT, 'configs/arith-sft-tiny.json'), '--set', 'train.steps=1', '--out', out], {
      cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, HOME: parent, TMPDIR: os.tmpdir() }, ...asUser,
    });
    fs.chmodSync(parent, 0o755);
    expect(r.status, r.stderr).toBe(1);
    const errors = r.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:'));
    expect(errors).toEqual([`error: ${out}: permission denied (EACCES, mkdir)`]);
  }, 120_000);
});
