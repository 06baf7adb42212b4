// The task layout as a contract: tasks see trees as data (never the engine, the trainers or tfjs), a task's
// folder depends on no other task's, and nothing outside the task folders switches on a built-in task's name.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TASKS } from '../../src/tasks/registry.ts';

const SRC = path.resolve(import.meta.dirname, '../../src');
const files = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
/** Every module a file imports, resolved to a path under src/ (or the package name). */
const importsOf = (file: string): string[] =>
  [...fs.readFileSync(file, 'utf8').matchAll(/^(?:import|export)\b[^;]*?from '([^']+)'/gms)].map((m) => (m[1].startsWith('.') ? path.relative(SRC, path.resolve(path.dirname(file), m[1])) : m[1]));

describe('src/tasks layout', () => {
  it('tasks import only the tree as data from rollout/, and nothing of the engine, model, trainers, eval, cli or tfjs', () => {
    const bad = files(path.join(SRC, 'tasks')).flatMap((f) =>
      importsOf(f)
        .filter((m) => /^@tensorflow|^(model|train|eval|cli|backend|checkpoint|experiment)\//.test(m) || (m.startsWith('rollout/') && !['rollout/protocol.ts', 'rollout/tree.ts'].includes(m)))
        .map((m) => `${path.relative(SRC, f)} imports ${m}`),
    );
    expect(bad).toEqual([]);
  });

  it("a task's folder imports no other task's folder", () => {
    const names = Object.keys(TASKS).filter((n) => fs.existsSync(path.join(SRC, 'tasks', n)));
    expect(names).toEqual(['arith', 'countdown', 'multihop']);
    const bad = names.flatMap((n) =>
      files(path.join(SRC, 'tasks', n)).flatMap((f) =>
        importsOf(f)
          .filter((m) => names.some((o) => o !== n && m.startsWith(`tasks/${o}/`)))
          .map((m) => `${path.relative(SRC, f)} imports ${m}`),
      ),
    );
    expect(bad).toEqual([]);
  });

  it("outside the task folders no code names a built-in task (only the registry's table and the config default)", () => {
    const allowed = new Map([['train/task-source.ts', "name: z.string().default('arith')"]]);
    const bad: string[] = [];
    for (const f of files(SRC)) {
      const rel = path.relative(SRC, f);
      if (/^tasks\/(arith|countdown|multihop)\//.test(rel)) continue;
      fs.readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (!/['"`](arith|countdown|multihop)['"`]/.test(line) || line.trim().startsWith('*') || line.trim().startsWith('//')) return;
          if (allowed.get(rel) && line.includes(allowed.get(rel)!)) return;
          bad.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(bad).toEqual([]);
  });
});
