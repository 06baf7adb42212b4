/** The run directory's metrics.jsonl: one JSON object per step. */
import * as fs from 'node:fs';

/** Keep the metrics lines of steps ≤ step (a crash may have logged steps after the last checkpoint, or left a torn line). */
export function truncateMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => {
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false; // empty or torn by a crash mid-write
      }
    });
  fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
}
