// A disk that fills during training, and a run directory that turns read-only, on a real small tmpfs: one line
// naming the path and the cause, exit 1, and the previous checkpoint and `latest` still valid and loadable.
// The tmpfs lives in a private mount namespace (unshare -m as root, unshare -rm otherwise); where neither is
// allowed the test is skipped and says why.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The unshare arguments that give this process a private mount namespace it may mount in, or null. */
function mountNamespace(): string[] | null {
  for (const args of process.getuid?.() === 0 ? [['-m'], ['-rm']] : [['-rm']]) {
    const r = spawnSync('unshare', [...args, 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" && umount "$d" && rmdir "$d"'], { encoding: 'utf8' });
    if (r.status === 0) return args;
  }
  return null;
}
const ns = mountNamespace();

describe.skipIf(!ns)(`full disk and read-only run directory (tmpfs)${ns ? '' : ': skipped, this machine allows no private mount namespace (unshare -m / -rm)'}`, () => {
  it('train on a full disk, resume on it, resume on it read-only: one line each, exit 1; latest intact, loads; the history matches it', () => {
    const host = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-fulldisk-'));
    const mnt = path.join(host, 'mnt');
    const copy = path.join(host, 'copy');
    const run = path.join(mnt, 'run');
    const train = `"${process.execPath}" bin/selfcest.mjs train --backend wasm --config configs/arith-sft-tiny.json --set train.batchSize=2 --set train.steps=6 --set train.saveEvery=1 --set train.evalItems=0 --set train.workers=1 --out "${run}"`;
    // ~1.45 MB per checkpoint (weights + Adam moments): a 3 MiB disk holds two, the third save runs out of space
    const script = [
      `mkdir -p "${mnt}" && mount -t tmpfs -o size=3m tmpfs "${mnt}" || exit 99`,
      `${train} 2>"${host}/train.err"; echo $? >"${host}/train.rc"`,
      `${train} --resume auto 2>"${host}/resume.err"; echo $? >"${host}/resume.rc"`,
      `mount -o remount,ro "${mnt}" || exit 98`,
      `${train} --resume auto 2>"${host}/ro.err"; echo $? >"${host}/ro.rc"`,
      `"${process.execPath}" bin/selfcest.mjs info --backend cpu --checkpoint "${run}" >"${host}/info.out" 2>&1; echo $? >"${host}/info.rc"`,
      `cp -a "${run}" "${copy}"`,
    ].join('\n');
    const r = spawnSync('unshare', [...ns!, 'sh', '-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const read = (f: string) => fs.readFileSync(path.join(host, f), 'utf8');
    const errorLines = (f: string) => read(f).trim().split('\n').filter((l) => l.startsWith('error:') || !/^(backend|model|resumed|removed|note)[: ]/.test(l));

    for (const stage of ['train', 'resume']) {
      expect(read(`${stage}.rc`).trim(), read(`${stage}.err`)).toBe('1');
      expect(errorLines(`${stage}.err`), stage).toEqual([expect.stringMatching(new RegExp(`^error: ${run}/\\S+: no space left on device \\(ENOSPC, \\w+\\)$`))]);
    }
    expect(read('ro.rc').trim(), read('ro.err')).toBe('1');
    expect(errorLines('ro.err')).toEqual([expect.stringMatching(new RegExp(`^error: ${run}/\\S*: read-only file system \\(EROFS, \\w+\\)$`))]);
    expect(read('info.rc').trim(), read('info.out')).toBe('0');

    // latest names a complete step directory, and the history holds exactly the steps up to it (or more: resume truncates)
    const latest = fs.readFileSync(path.join(copy, 'latest'), 'utf8').trim();
    const step = Number(/^step-(\d+)$/.exec(latest)![1]);
    expect(step).toBeGreaterThanOrEqual(2);
    expect(read('info.out')).toContain(`checkpoint: ${run}/${latest}`);
    for (const f of ['model.safetensors', 'optimizer.safetensors', 'state.json']) expect(fs.existsSync(path.join(copy, latest, f)), f).toBe(true);
    const steps = fs.readFileSync(path.join(copy, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps.slice(0, step)).toEqual(Array.from({ length: step }, (_, i) => i + 1));
  }, 300_000);
});
