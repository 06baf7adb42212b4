import * as fs from 'node:fs';
import * as path from 'node:path';

/** The task docs as one text: docs/tasks.md, then each built-in task's README (src/tasks/<task>/README.md). */
export function taskDocs(): string {
  const root = path.resolve(import.meta.dirname, '..');
  const readmes = ['arith', 'countdown', 'multihop'].map((t) => `src/tasks/${t}/README.md`);
  return ['docs/tasks.md', ...readmes].map((f) => fs.readFileSync(path.join(root, f), 'utf8')).join('\n');
}
