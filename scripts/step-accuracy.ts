/**
 * Per-step skill of a checkpoint, teacher-forced: for each item of a JSONL split, the monolithic trace is fed to
 * the model and every step's result (the tokens after `=` up to and including `;`, and the final answer up to
 * `<eos>`) counts as right when the greedy (argmax) prediction of each of its tokens is right given the true
 * prefix. This is the number ../shared/notes/tiny-scale-calibration.md says must be high before RL can see
 * reward: a tree of k steps is right at greedy decoding only about (per-step)^k of the time.
 * Countdown's search-style traces (`--countdown-style search`) end a step's result at `;` or `[`; there the move
 * itself (the tokens from the previous mark up to `=`: which pair and operation comes next in the canonical
 * order, docs/tasks.md) is also counted, as "moves".
 *
 *   npx tsx scripts/step-accuracy.ts --checkpoint DIR --items data/eval/arith-sums-id.jsonl [--n 200]
 *   npx tsx scripts/step-accuracy.ts --checkpoint DIR --items data/eval/countdown-search-id.jsonl --countdown-style search
 *   npx tsx scripts/step-accuracy.ts --checkpoint DIR --items data/eval/multihop-id.jsonl   (a hop: `X.r=` then the entity)
 */
import * as tf from '@tensorflow/tfjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { initBackend } from '../src/cli/common.ts';
import { loadPolicy } from '../src/model/io.ts';
import { protocolTokens, RolloutConfigSchema } from '../src/rollout/protocol.ts';
import { checkItem } from '../src/tasks/registry.ts';
import { delegationTrace, monolithicTrace } from '../src/tasks/traces.ts';
import { readItemsJsonl } from '../src/tasks/types.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';
import { Rng } from '../src/util/rng.ts';

const a = await yargs(hideBin(process.argv))
  .option('checkpoint', { type: 'string', demandOption: true })
  .option('items', { type: 'string', demandOption: true, describe: 'JSONL file of task items' })
  .option('n', { type: 'number', default: 200 })
  .option('countdown-style', { choices: ['guess', 'search'] as const, default: 'guess' as const, describe: 'Countdown trace style (sft.countdownStyle)' })
  .option('trace', { choices: ['mono', 'delegate'] as const, default: 'mono' as const, describe: 'score the monolithic trace, or every context (root and clones) of a delegation trace' })
  .option('plans', { type: 'array', string: true, choices: ['chain', 'whole', 'chain-rest'], describe: 'multi-hop delegation plans to draw from (default: all that fit)' })
  .strict()
  .parseAsync();

await initBackend('auto');
const tok = loadTokenizer();
const p = protocolTokens(tok);
const { model, dir } = loadPolicy(a.checkpoint);
const big = RolloutConfigSchema.parse({ rootWindow: model.config.ctx, cloneWindow: model.config.ctx, rootBudget: model.config.ctx });
const [semi, open, close] = tok.encode(';[]');
const [eq] = tok.encode('=');
/** where a step's result ends, and what ends one step's text before the next move */
const resultEnd = new Set([semi, open]);
const marks = new Set([semi, open, close, p.think]);
let moves = 0;
let movesRight = 0;
const items = readItemsJsonl(a.items, checkItem).slice(0, a.n);
let steps = 0;
let right = 0;
let answers = 0;
let answersRight = 0;
let traces = 0;
const byIndex: { n: number; ok: number }[] = [];
const rng = Rng.fromSeed('step-accuracy');
for (const it of items) {
  const style = { countdownStyle: a['countdown-style'], multihopPlans: a.plans as ('chain' | 'whole' | 'chain-rest')[] | undefined };
  const r = a.trace === 'mono' ? monolithicTrace(it, tok, big, style) : delegationTrace(it, tok, big, rng, style);
  if (!r.ok) continue;
  traces++;
  for (const c of r.trace.tree.contexts) {
    const ids = c.ids;
    // only what the policy writes: a multi-hop prompt's paragraphs hold `=` too
    const firstSampled = c.lossMask.indexOf(1);
    if (firstSampled < 0) continue;
    const pred = tf.tidy(() => Array.from(tf.argMax(model.forward(tf.tensor2d([ids], [1, ids.length], 'int32')), 2).dataSync()));
    // pred[t] is the prediction for ids[t + 1]
    const ok = (from: number, to: number) => {
      for (let t = from; t <= to; t++) if (pred[t - 1] !== ids[t]) return false;
      return true;
    };
    let k = 0;
    for (let t = firstSampled; t < ids.length; t++) {
      if (ids[t] === eq) {
        let start = t;
        while (start > 0 && !marks.has(ids[start - 1])) start--;
        moves++;
        movesRight += ok(start, t) ? 1 : 0;
        let end = t + 1;
        while (end < ids.length && !resultEnd.has(ids[end])) end++;
        const good = ok(t + 1, end);
        steps++;
        right += good ? 1 : 0;
        byIndex[k] ??= { n: 0, ok: 0 };
        byIndex[k].n++;
        byIndex[k].ok += good ? 1 : 0;
        k++;
      }
      if (ids[t] === p.answer) {
        let end = t + 1;
        while (end < ids.length && ids[end] !== p.eos) end++;
        answers++;
        answersRight += ok(t + 1, end) ? 1 : 0;
      }
    }
  }
}
console.log(`${dir}: ${traces} ${a.trace === 'mono' ? 'monolithic' : 'delegation'} traces of ${a.items}`);
console.log(`per-step accuracy (teacher-forced, greedy): ${((100 * right) / steps).toFixed(1)}% of ${steps} steps`);
console.log(`by step index: ${byIndex.map((b, i) => `${i + 1}: ${((100 * b.ok) / b.n).toFixed(0)}%`).join(', ')}`);
console.log(`moves written right (teacher-forced, the tokens from the previous mark to "="): ${((100 * movesRight) / moves).toFixed(1)}% of ${moves}`);
console.log(`answers copied right (teacher-forced, every context): ${((100 * answersRight) / answers).toFixed(1)}% of ${answers}`);
