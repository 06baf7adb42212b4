/**
 * How many arithmetic items of each operation count a monolithic trace and a one-call delegation trace fit
 * into, for a preset and window (the tables of docs/tasks.md):
 *
 *   npx tsx scripts/trace-fits.ts --preset sums-long [--from 2] [--to 16] [--n 200] [--window 128]
 *
 * Items are generated per operation count with the preset's ID knobs (seed = the operation count), traces as
 * SFT makes them (src/tasks/traces.ts). Prints a markdown table.
 */
import { parseArgs } from 'node:util';
import { RolloutConfigSchema } from '../src/rollout/protocol.ts';
import { ARITH_PRESETS, arithKnobs, type ArithPreset, generateArith } from '../src/tasks/arith/arith.ts';
import { delegationTrace, monolithicTrace } from '../src/tasks/traces.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';
import { Rng } from '../src/util/rng.ts';

const { values: a } = parseArgs({ options: { preset: { type: 'string', default: 'sums' }, from: { type: 'string', default: '2' }, to: { type: 'string', default: '16' }, n: { type: 'string', default: '200' }, window: { type: 'string', default: '128' } } });
if (!(a.preset! in ARITH_PRESETS)) throw new Error(`--preset ${a.preset}: expected one of ${Object.keys(ARITH_PRESETS).join(', ')}`);
const [from, to, n, window] = [a.from, a.to, a.n, a.window].map((x) => Number.parseInt(x!, 10));
const tok = loadTokenizer();
const cfg = RolloutConfigSchema.parse({ rootWindow: window, cloneWindow: window });
const rng = Rng.fromSeed(1);
const rows = [['ops'], ['monolithic trace fits'], ['mean monolithic root tokens'], ['one-call delegation trace fits'], ['mean delegation root tokens']];
for (let ops = from; ops <= to; ops++) {
  const items = generateArith({ split: 'id', n, seed: ops, knobs: arithKnobs(a.preset as ArithPreset, 'id', { minOps: ops, maxOps: ops }) });
  let [mf, mt, df, dt] = [0, 0, 0, 0];
  for (const it of items) {
    const m = monolithicTrace(it, tok, cfg);
    if (m.ok) [mf, mt] = [mf + 1, mt + m.trace.tree.contexts[0].ids.length];
    const d = delegationTrace(it, tok, cfg, rng);
    if (d.ok) [df, dt] = [df + 1, dt + d.trace.tree.contexts[0].ids.length];
  }
  const pct = (k: number) => `${Math.round((100 * k) / n)} %`;
  rows[0].push(String(ops));
  rows[1].push(pct(mf));
  rows[2].push(mf ? (mt / mf).toFixed(0) : '–');
  rows[3].push(pct(df));
  rows[4].push(df ? (dt / df).toFixed(0) : '–');
}
console.log(`preset ${a.preset}, window ${window}, ${n} items per operation count`);
rows.forEach((r, i) => console.log(`| ${r.join(' | ')} |${i === 0 ? `\n|${r.map(() => '---').join('|')}|` : ''}`));
