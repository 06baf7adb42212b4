#!/usr/bin/env node
// The selfcest CLI. Sources are TypeScript, run through tsx's loader (no build step).
import { writeFileSync } from 'node:fs';
import { register } from 'tsx/esm/api';

// `selfcest experiment` runs each stage as a child process and reads its CPU time (all threads) from this file.
if (process.env.SELFCEST_RUSAGE) {
  const file = process.env.SELFCEST_RUSAGE;
  process.on('exit', () => writeFileSync(file, JSON.stringify(process.resourceUsage())));
}
register();
await import('../src/cli/main.ts');
