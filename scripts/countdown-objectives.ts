/**
 * What a delegating Countdown policy hands its clones: for every clone the root spawned in an evaluation's trees
 * (`selfcest eval ... --traces N` writes them to points/<point>/trees.jsonl), is its objective an instance with one
 * number fewer than the root's, for the same target, and a valid one-operation reduction of the root's numbers
 * (two of them replaced by their result under one of the moves the search traces try, cdSearchMoves)? Reads the
 * tree files only: no model.
 *
 *   npx tsx scripts/countdown-objectives.ts runs/.../eval/<dir>/points/maxTreeTokens-1024/trees.jsonl [more files]
 */
import * as fs from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { cdSearchMoves, parseCountdownPrompt } from '../src/tasks/countdown/countdown.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';

const a = await yargs(hideBin(process.argv))
  .usage('$0 TREES.jsonl [...]')
  .option('reversed', { type: 'boolean', default: true, describe: 'numbers are written digit-reversed (the countdown-search preset)' })
  .demandCommand(1, 'name at least one trees.jsonl file')
  .strict()
  .parseAsync();

const tok = loadTokenizer();
const key = (xs: readonly number[]) => [...xs].sort((x, y) => x - y).join(',');

/** Every list one search move away from `numbers` (cdSearchMoves: the moves the search traces try), as sorted keys. */
const oneStepReductions = (numbers: readonly number[]) => new Set(cdSearchMoves(numbers).map((m) => key(m.rest)));

const text = (ids: number[]) => tok.decode(ids).replace(/<[^>]+>/g, '');
for (const file of a._.map(String)) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const sizes = new Map<number, number>();
  let trees = 0;
  let spawning = 0;
  let objectives = 0;
  let unparsed = 0;
  let oneFewer = 0;
  let sameTarget = 0;
  let valid = 0;
  lines.forEach((line, n) => {
    if (!line.trim()) return;
    let tree: { contexts: { parent: number | null; ids: number[]; promptLength: number }[] };
    try {
      tree = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${n + 1}: not a JSON tree (${(e as Error).message})`);
    }
    const root = tree.contexts?.[0];
    const inst = root && parseCountdownPrompt(text(root.ids.slice(0, root.promptLength)), a.reversed);
    if (!inst) throw new Error(`${file}:${n + 1}: the root prompt is not a Countdown instance (expected "target:n,n,...")`);
    trees++;
    const reductions = oneStepReductions(inst.numbers);
    const clones = tree.contexts.filter((c) => c.parent === 0);
    if (clones.length) spawning++;
    for (const c of clones) {
      objectives++;
      const o = parseCountdownPrompt(text(c.ids.slice(0, c.promptLength)), a.reversed);
      if (!o) {
        unparsed++;
        continue;
      }
      sizes.set(o.numbers.length, (sizes.get(o.numbers.length) ?? 0) + 1);
      if (o.numbers.length === inst.numbers.length - 1) oneFewer++;
      if (o.target === inst.target) sameTarget++;
      if (o.target === inst.target && reductions.has(key(o.numbers))) valid++;
    }
  });
  const pct = (x: number) => `${((100 * x) / Math.max(1, objectives)).toFixed(1)} %`;
  const bySize = [...sizes].sort((x, y) => x[0] - y[0]).map(([k, v]) => `${k}: ${v}`).join(', ');
  console.log(`${file}`);
  console.log(`  ${trees} trees, ${spawning} spawn; ${objectives} clone objectives (${unparsed} not an instance)`);
  console.log(`  numbers per objective: ${bySize}`);
  console.log(`  one number fewer than the root: ${pct(oneFewer)}; same target: ${pct(sameTarget)}; a valid one-operation reduction: ${pct(valid)}`);
}
