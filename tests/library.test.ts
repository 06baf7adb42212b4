// selfcest as a library: the compiled package (npm run build, run by npm install / npm ci as `prepare`) exports the
// documented API by package name, 'selfcest/tasks' without tfjs, with declarations a user's TypeScript checks
// against; the CLI runs that build while it is up to date and the sources otherwise.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compiledIsFresh } from '../bin/entry.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const FRESH = compiledIsFresh(pathToFileURL(`${ROOT}/`));
const node = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });

describe('which code the CLI runs', () => {
  it('the build while no source, tsconfig or source directory is newer than dist/BUILD; else the sources', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-entry-'));
    const url = pathToFileURL(`${root}/`);
    fs.mkdirSync(path.join(root, 'src/cli'), { recursive: true });
    fs.writeFileSync(path.join(root, 'src/cli/main.ts'), '');
    fs.writeFileSync(path.join(root, 'tsconfig.json'), '{}');
    const at = (f: string, s: number) => fs.utimesSync(path.join(root, f), s, s);
    for (const f of ['src/cli/main.ts', 'src/cli', 'src', 'tsconfig.json']) at(f, 1000);
    expect(compiledIsFresh(url)).toBe(false); // never built
    fs.mkdirSync(path.join(root, 'dist'));
    fs.writeFileSync(path.join(root, 'dist/BUILD'), '');
    at('dist/BUILD', 2000);
    expect(compiledIsFresh(url)).toBe(true);
    at('src/cli/main.ts', 3000); // an edit after the build
    expect(compiledIsFresh(url)).toBe(false);
    at('src/cli/main.ts', 1000);
    at('src/cli', 3000); // a file added or removed
    expect(compiledIsFresh(url)).toBe(false);
    at('src/cli', 1000);
    at('tsconfig.json', 3000);
    expect(compiledIsFresh(url)).toBe(false);
  });
});

describe.skipIf(!FRESH)('the compiled package (skipped while dist/ is older than the sources: npm run build)', () => {
  it("exports the API by package name; 'selfcest/tasks' loads no tfjs", () => {
    const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'imports-')), 'log');
    const tasks = node(['--import', path.join(ROOT, 'tests/cli/fixtures/import-recorder.mjs'), '--input-type=module', '-e', "const t = await import('selfcest/tasks'); console.log(Object.keys(t).sort().join(' '))"], { SELFCEST_IMPORT_LOG: log });
    expect(tasks.status, tasks.stderr).toBe(0);
    expect(tasks.stdout.trim().split(' ')).toEqual(expect.arrayContaining(['TreeBuilder', 'presetGenerator', 'generatePartitioned', 'loadTaskModule', 'makeReward', 'exactScore', 'delegationTrace', 'rolloutItem', 'protocolTokens', 'Rng']));
    const urls = fs.readFileSync(log, 'utf8').split('\n');
    expect(urls.some((u) => u.endsWith('/dist/tasks/index.js'))).toBe(true);
    expect(urls.filter((u) => /@tensorflow|\/src\//.test(u))).toEqual([]);
    const all = node(['--input-type=module', '-e', "const s = await import('selfcest'); console.log(Object.keys(s).sort().join(' '))"]);
    expect(all.status, all.stderr).toBe(0);
    expect(all.stdout.trim().split(' ')).toEqual(expect.arrayContaining(['runTrees', 'ModelPolicy', 'ScriptedPolicy', 'trainSupervised', 'trainRl', 'grpoStep', 'runEval', 'writeReport', 'loadPolicy', 'saveCheckpoint', 'GPT', 'selectBackend', 'exportHf', 'TreeBuilder']));
  });

  it('a user\'s TypeScript task type-checks against the declarations (and a wrong one does not)', () => {
    const dir = path.join(ROOT, '.test-results', `consumer-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    const good = `import { exactScore, presetGenerator, type Task } from 'selfcest/tasks';
import { z } from 'zod';
const task: Task = {
  name: 'echo', describe: 'echo', check: () => null, score: exactScore,
  ...presetGenerator({ name: 'echo', presets: { a: { id: {}, ood: {} } }, schema: z.object({}), generate: () => [] }),
};
export default task;
`;
    fs.writeFileSync(path.join(dir, 'good.ts'), good);
    fs.writeFileSync(path.join(dir, 'bad.ts'), good.replace('score: exactScore,', 'score: (item: number) => item,'));
    const tsc = (f: string) => node([path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', path.join(dir, f)]);
    try {
      const ok = tsc('good.ts');
      expect(ok.status, ok.stdout).toBe(0);
      const bad = tsc('bad.ts');
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).toMatch(/bad\.ts\(4,\d+\): error TS2322: Type '\(item: number\) => number' is not assignable/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the CLI runs the build, and it loads a task module written in TypeScript', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-lib-')), 'max.jsonl');
    const r = node(['bin/selfcest.mjs', 'data', 'gen', '--task', './examples/tasks/max/task.ts', '--split', 'dev', '--n', '3', '--seed', '2', '--out', out], { SELFCEST_SHOW_ENTRY: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/running dist\/ \(compiled\)/);
    expect(r.stdout).toMatch(/wrote 3 max items/);
  });
});
