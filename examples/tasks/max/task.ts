/**
 * An example task of your own: the largest number of a list (docs/tasks.md "Writing a task" walks through it).
 *
 *   prompt   3,91,4,17?          answer  91
 *   mono     the root keeps a running maximum, one step per number: `3,91=91;91,4=91;91,17=91;<answer>91<eos>`
 *   delegate the root hands the two halves of the list to two clones (`<obj>3,91?<b16><obj>4,17?<b16>`), each
 *            solves its half like a monolithic root, and the root compares the two returns: `91,17=91;<answer>91<eos>`
 *
 * Out of distribution: longer lists (the monolithic trace grows with the list, a delegating root's does not).
 * Everything a task needs is here: knobs and presets, item generation on disjoint splits, the record check,
 * the score, and the two demonstration traces (built on selfcest's trace builder, so they are exactly what the
 * engine produces when a policy writes them). Use it with `--task ./examples/tasks/max/task.ts` or, in a
 * config, `"sft": {"name": "max", "module": "./examples/tasks/max/task.ts"}`.
 */
import { z } from 'zod';
import { protocolTokens, type RolloutConfig } from '../../../src/rollout/protocol.ts';
import { encodeChecked, type TextTokenizer } from '../../../src/tokenizer/index.ts';
import type { Rng } from '../../../src/util/rng.ts';
import { exactScore } from '../../../src/tasks/scoring.ts';
import { generatePartitioned } from '../../../src/tasks/splits.ts';
import { presetGenerator, type Task, type TraceOptions, type TraceResult } from '../../../src/tasks/task.ts';
import { budgetedSpecs, budgetTokens, DEFAULT_TRACE_BUDGETS, delegate, spawnRefusal, TreeBuilder } from '../../../src/tasks/trace-builder.ts';
import { ITEM_FORMAT, rootPromptIds, schemaIssue, type Issue, type Split, type TaskItem } from '../../../src/tasks/types.ts';

const KnobsSchema = z.strictObject({
  minLength: z.int().min(1).default(3),
  maxLength: z.int().min(1).default(6),
  /** numbers are drawn from 0..maxValue */
  maxValue: z.int().min(1).max(999_999).default(99),
});
type Knobs = z.infer<typeof KnobsSchema>;

const PRESETS = {
  tiny: { id: { minLength: 3, maxLength: 6, maxValue: 99 }, ood: { minLength: 8, maxLength: 12, maxValue: 99 } },
};

const MetaSchema = z.strictObject({ numbers: z.array(z.int().min(0)).min(1), knobs: KnobsSchema });
type Meta = z.infer<typeof MetaSchema>;

const prompt = (numbers: readonly number[]) => `${numbers.join(',')}?`;

function generate(o: { split: Split; n: number; seed: number; knobs: Knobs }): TaskItem[] {
  return generatePartitioned('max', o, (rng, split, id) => {
    const numbers = Array.from({ length: rng.int(o.knobs.minLength, o.knobs.maxLength) }, () => rng.int(0, o.knobs.maxValue));
    const meta: Meta = { numbers, knobs: o.knobs };
    return { format: ITEM_FORMAT, task: 'max', split, id, prompt: prompt(numbers), answer: String(Math.max(...numbers)), meta };
  });
}

function check(item: TaskItem): Issue | null {
  const bad = schemaIssue(MetaSchema, item.meta, ['meta']);
  if (bad) return bad;
  const { numbers } = item.meta as Meta;
  if (item.prompt !== prompt(numbers)) return { path: ['prompt'], message: `is ${JSON.stringify(item.prompt)}, expected ${JSON.stringify(prompt(numbers))}` };
  if (item.answer !== String(Math.max(...numbers))) return { path: ['answer'], message: `is ${item.answer}, the largest number is ${Math.max(...numbers)}` };
  return null;
}

/** What a context writes to find the largest of `numbers` alone: a running maximum, then the answer. */
function solveText(numbers: readonly number[]): { steps: string; answer: string } {
  let best = numbers[0];
  let steps = '';
  for (const v of numbers.slice(1)) {
    const next = Math.max(best, v);
    steps += `${best},${v}=${next};`;
    best = next;
  }
  return { steps, answer: String(best) };
}

function monolithicTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig): TraceResult {
  const p = protocolTokens(tok);
  const { steps, answer } = solveText((item.meta as Meta).numbers);
  const b = new TreeBuilder();
  const root = b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget);
  const ans = encodeChecked(tok, answer);
  b.sample(root, [...encodeChecked(tok, steps), p.answer, ...ans, p.eos]);
  root.finish = 'answer';
  root.answer = ans;
  return b.result('mono', item.id, cfg);
}

function delegationTrace(item: TaskItem, tok: TextTokenizer, cfg: RolloutConfig, rng: Rng, opts: TraceOptions): TraceResult {
  const noSpawn = spawnRefusal(cfg);
  if (noSpawn) return noSpawn;
  const { numbers } = item.meta as Meta;
  if (numbers.length < 4) return { ok: false, reason: `${numbers.length} numbers: too few to split in two halves of 2 or more` };
  const p = protocolTokens(tok);
  const budgets = opts.budgets ?? DEFAULT_TRACE_BUDGETS;
  const half = Math.ceil(numbers.length / 2);
  const parts = [numbers.slice(0, half), numbers.slice(half)];
  // each clone gets its half as a question of its own, and solves it like a monolithic root
  const works = parts.map((part) => {
    const { steps, answer } = solveText(part);
    const ans = encodeChecked(tok, answer);
    return { objective: encodeChecked(tok, prompt(part)), tokens: [...encodeChecked(tok, steps), p.answer, ...ans, p.eos], answer: ans };
  });
  const planned = budgetedSpecs(works, budgets, cfg, rng);
  if (!planned.ok) return planned;
  const b = new TreeBuilder();
  const root = b.add(null, null, rootPromptIds(item, tok), cfg.rootBudget);
  delegate(b, root, planned.specs, budgetTokens(p, budgets), p, cfg);
  const [x, y] = parts.map((part) => Math.max(...part));
  const ans = encodeChecked(tok, String(Math.max(x, y)));
  b.sample(root, [...encodeChecked(tok, `${x},${y}=${Math.max(x, y)};`), p.answer, ...ans, p.eos]);
  root.finish = 'answer';
  root.answer = ans;
  return b.result('delegate', item.id, cfg);
}

const task: Task = {
  name: 'max',
  describe: 'the largest number of a list (an example task: examples/tasks/max/task.ts)',
  ...presetGenerator({ name: 'max', presets: PRESETS, schema: KnobsSchema, generate }),
  check,
  score: exactScore,
  monolithicTrace: (item, tok, cfg) => monolithicTrace(item, tok, cfg),
  delegationTrace,
};

export default task;
