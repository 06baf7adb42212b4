import { taskDocs } from '../task-docs.ts';
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkCountdownItem, countdownKnobs, type CountdownPreset, generateCountdown } from '../../src/tasks/countdown/countdown.ts';
import { readItemsJsonl, writeItemsJsonl, type Split } from '../../src/tasks/types.ts';
import { TASKS } from '../../src/tasks/registry.ts';
import { dataGen } from '../../src/cli/data.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('committed countdown evaluation sets', () => {
  it('are what the documented commands generate, byte for byte', () => {
    const doc = taskDocs();
    const commands = [...doc.matchAll(/^npm run selfcest -- (data gen --task countdown .*--out (data\/eval\/\S+\.jsonl).*)$/gm)];
    expect(commands.map((m) => m[2]).sort()).toEqual(['data/eval/countdown-id.jsonl', 'data/eval/countdown-ood.jsonl', 'data/eval/countdown-search-dev.jsonl', 'data/eval/countdown-search-id.jsonl', 'data/eval/countdown-search-ood.jsonl']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-countdown-'));
    for (const [, command, file] of commands) {
      const args = command.split(/\s+/);
      const flag = (name: string) => args[args.indexOf(`--${name}`) + 1];
      expect(args.includes('--set')).toBe(false);
      const committed = fs.readFileSync(path.join(ROOT, file));
      // what `data gen` does for countdown: the preset's knobs for the split, generate, check, write
      const split = flag('split') as Split;
      const out = path.join(dir, `direct-${path.basename(file)}`);
      const items = generateCountdown({ split, n: Number(flag('n')), seed: Number(flag('seed')), knobs: countdownKnobs(flag('preset') as CountdownPreset, split) });
      writeItemsJsonl(out, items, checkCountdownItem);
      expect(fs.readFileSync(out).equals(committed), `${file} differs from: npm run selfcest -- ${command}`).toBe(true);
      // and through the CLI itself once countdown is registered
      if (TASKS.countdown) {
        const cliOut = path.join(dir, path.basename(file));
        dataGen({ task: 'countdown', split, n: Number(flag('n')), seed: Number(flag('seed')), preset: flag('preset'), out: cliOut, set: [] });
        expect(fs.readFileSync(cliOut).equals(committed)).toBe(true);
      }
      const read = readItemsJsonl(path.join(ROOT, file), checkCountdownItem);
      expect(read).toHaveLength(Number(flag('n')));
      expect(read.every((x) => x.task === 'countdown' && x.split === split)).toBe(true);
    }
  });
});
