// The CLI loads only the command it runs: `selfcest --help` (and a mistyped command) never imports tfjs, vega or
// the trainers, so it answers at once; a command's own --help loads that command. Checked by the modules the
// process resolves (a resolve hook), not by timing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compiledIsFresh } from '../../bin/entry.mjs';
import { chosenCommand, COMMANDS } from '../../src/cli/commands.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
// the CLI runs the sources (through tsx) or the compiled package (dist/, npm run build); both start the same way.
// The compiled one is checked where its build is up to date (always in CI: npm ci builds it).
const FRESH = compiledIsFresh(new URL(`file://${ROOT}/`));
const MODES = [
  { mode: 'sources', dir: 'src', ext: 'ts', env: { SELFCEST_FROM_SOURCE: '1' }, skip: false },
  { mode: 'compiled', dir: 'dist', ext: 'js', env: { SELFCEST_FROM_SOURCE: '0' }, skip: !FRESH },
];

describe.each(MODES)('CLI start-up from the $mode', ({ dir, ext, env, skip }) => {
  function run(...args: string[]) {
    const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'imports-')), 'log');
    const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'tests/cli/fixtures/import-recorder.mjs'), 'bin/selfcest.mjs', ...args], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env, SELFCEST_IMPORT_LOG: log },
    });
    const urls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
    return { ...r, urls };
  }
  const heavy = (urls: string[]) => urls.filter((u) => /@tensorflow|\/vega/.test(u) || new RegExp(`/${dir}/(train|model|rollout|eval)/`).test(u));

  it.skipIf(skip)('--help lists every command without loading tfjs, vega or any command module', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const c of Object.values(COMMANDS)) expect(r.stdout).toContain(`selfcest ${c.command}`);
    expect(r.urls.some((u) => u.endsWith(`/${dir}/cli/main.${ext}`)), 'the recorder saw the CLI').toBe(true);
    expect(heavy(r.urls)).toEqual([]);
    expect(r.urls.filter((u) => new RegExp(`/${dir}/cli/(?!main|commands)`).test(u))).toEqual([]);
  });

  it.skipIf(skip)('a mistyped command is answered with a suggestion, loading nothing; no command: one hint', () => {
    const r = run('trian');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('error: Did you mean train? (see --help)');
    expect(heavy(r.urls)).toEqual([]);
    const none = run();
    expect(none.status).toBe(1);
    expect(none.stderr.trim()).toBe('error: name a command (see --help)');
  });

  it.skipIf(skip)("a command's --help loads that command (and the recorder sees tfjs when it is loaded)", () => {
    const r = run('sample', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--checkpoint/);
    expect(r.urls.some((u) => u.endsWith(`/${dir}/cli/sample.${ext}`))).toBe(true);
    expect(r.urls.some((u) => u.includes('@tensorflow'))).toBe(true);
    expect(r.urls.some((u) => u.endsWith(`/${dir}/cli/train.${ext}`))).toBe(false);
  });
});

describe('chosenCommand', () => {
  it('chosenCommand: the first argument names the command; options before it are skipped', () => {
    expect(chosenCommand(['eval', '--label', 'train'])).toBe('eval');
    expect(chosenCommand(['--help'])).toBe(undefined);
    expect(chosenCommand(['trian'])).toBe(undefined);
    expect(chosenCommand(['data', 'gen'])).toBe('data');
    expect(chosenCommand(['constructor'])).toBe(undefined);
  });
});
