#!/usr/bin/env node
// The project's test command (`npm test`): type-check, run every vitest suite, and end with the line
// `N passed, N failed` (the type-check counts as one test; `, N skipped` follows when tests were skipped). Exit code 0 only when nothing failed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
let passed = 0;
let failed = 0;
let skipped = 0;

console.log('== type-check (tsc --noEmit)');
const tsc = spawnSync(bin('tsc'), ['--noEmit', '-p', root], { stdio: 'inherit', cwd: root });
if (tsc.status === 0) passed++;
else failed++;

const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-tests-')), 'vitest.json');
console.log('== vitest');
const vt = spawnSync(bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: root,
});
if (fs.existsSync(report)) {
  const r = JSON.parse(fs.readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // a suite that fails to load has no failed tests of its own: count it
  for (const f of r.testResults ?? []) if (f.status === 'failed' && (f.assertionResults ?? []).length === 0) failed++;
} else {
  console.error('vitest wrote no report');
  failed++;
}
if (vt.status !== 0 && failed === 0) failed++;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
