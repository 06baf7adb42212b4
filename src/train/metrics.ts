/**
 * The run directory's metrics.jsonl: one JSON object per step, appended as steps finish. It is the run's history,
 * so no write ever truncates it in place: a rewrite (the resume truncation, a fresh start) goes through a
 * temporary file and a rename, and the appended lines are fsynced before every checkpoint save.
 */
import * as fs from 'node:fs';
import { crashPoint } from '../util/crash.ts';
import { writeFileAtomic } from '../util/jsonl.ts';
import { exportMetrics, readMetricsLines } from './metrics-export.ts';

/** Keep the metrics lines of steps ≤ step (a crash may have logged steps after the last checkpoint, or left a torn line). */
export function truncateMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = readMetricsLines(file).filter((l) => typeof l.value.step === 'number' && l.value.step <= step);
  writeFileAtomic(file, kept.map((l) => l.text + '\n').join(''));
}

/** Start a run's history empty (atomically: a kill leaves the old file or the empty one). */
export function resetMetrics(file: string): void {
  writeFileAtomic(file, '');
}

/** Append one step's metrics line. */
export function appendMetrics(file: string, line: object): void {
  const text = JSON.stringify(line) + '\n';
  crashPoint('metrics:append', () => fs.appendFileSync(file, text.slice(0, text.length >> 1))); // a torn line
  fs.appendFileSync(file, text);
}

/**
 * Flush the appended lines to disk (called before each checkpoint save, so a saved step's history is on disk too),
 * then rebuild metrics.csv and the TensorBoard event file from them (metrics-export.ts).
 */
export function syncMetrics(file: string): void {
  if (!fs.existsSync(file)) return; // nothing logged yet
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  exportMetrics(file);
}
