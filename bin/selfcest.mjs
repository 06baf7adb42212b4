#!/usr/bin/env node
// The selfcest CLI. It runs the compiled package (dist/, made by `npm run build`, which `npm install` and `npm ci`
// run as `prepare`) while that is up to date with the sources; otherwise (no build yet, or a source edited since)
// the TypeScript sources through tsx's loader, so an edit is never hidden behind a stale build.
import { writeFileSync } from 'node:fs';
import { compiledIsFresh } from './entry.mjs';

// `selfcest experiment` runs each stage as a child process and reads its CPU time (all threads) from this file.
if (process.env.SELFCEST_RUSAGE) {
  const file = process.env.SELFCEST_RUSAGE;
  process.on('exit', () => writeFileSync(file, JSON.stringify(process.resourceUsage())));
}

const root = new URL('../', import.meta.url);
const compiled = process.env.SELFCEST_FROM_SOURCE !== '1' && compiledIsFresh(root);
if (process.env.SELFCEST_SHOW_ENTRY === '1') process.stderr.write(`selfcest: running ${compiled ? 'dist/ (compiled)' : 'src/ (through tsx)'}\n`);
if (compiled) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
