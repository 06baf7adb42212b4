/**
 * Lengths of Countdown's search-style traces (docs/tasks.md "Countdown search traces") on generated items of
 * the `search` preset:
 *
 *   npx tsx scripts/countdown-search-stats.ts [--n 200] [--seed 1] [--clones 4] [--max-depth 2] [--calls 64]
 *                                             [--tree-tokens 100000] [--root-budget 128] [--window 128]
 *
 * For the ID and the OOD split: the item's first moves (cdSearchMoves), the monolithic root's length (prompt, the whole search, the answer; measured on
 * every item, also those it does not fit) and how many monolithic traces fit; for the delegation traces that
 * fit, tree tokens, critical path and the largest context; and why the others were refused. Prints markdown.
 */
import { parseArgs } from 'node:util';
import { RolloutConfigSchema } from '../src/rollout/protocol.ts';
import { cdSearchMoves, countdownKnobs, generateCountdown, renderCd } from '../src/tasks/countdown/countdown.ts';
import { cdSearchText } from '../src/tasks/countdown/traces.ts';
import { delegationTrace, monolithicTrace } from '../src/tasks/traces.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';
import { Rng } from '../src/util/rng.ts';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    clones: { type: 'string', default: '4' },
    'max-depth': { type: 'string', default: '2' },
    calls: { type: 'string', default: '64' },
    'tree-tokens': { type: 'string', default: '100000' },
    'root-budget': { type: 'string', default: '128' },
    window: { type: 'string', default: '128' },
  },
});
const int = (s: string | undefined) => Number.parseInt(s!, 10);
const tok = loadTokenizer();
const cfg = RolloutConfigSchema.parse({
  rootWindow: int(a.window),
  cloneWindow: int(a.window),
  rootBudget: int(a['root-budget']),
  maxClonesPerCall: int(a.clones),
  maxDepth: int(a['max-depth']),
  maxCallsPerTree: int(a.calls),
  maxTreeTokens: int(a['tree-tokens']),
});
const { rootWindow, cloneWindow, rootBudget, maxClonesPerCall, maxDepth, maxCallsPerTree, maxTreeTokens } = cfg;
console.log(`search preset, ${a.n} items per split (seed ${a.seed}); RolloutConfig ${JSON.stringify({ rootWindow, cloneWindow, rootBudget, maxClonesPerCall, maxDepth, maxCallsPerTree, maxTreeTokens })}\n`);

const stats = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const mean = s.reduce((t, x) => t + x, 0) / Math.max(1, s.length);
  return s.length ? `${mean.toFixed(1)} / ${s[Math.floor((s.length - 1) / 2)]} / ${s[s.length - 1]}` : '–';
};
const meanMax = (xs: number[]) => (xs.length ? `${(xs.reduce((t, x) => t + x, 0) / xs.length).toFixed(1)} / ${Math.max(...xs)}` : '–');
const rows: string[][] = [['', 'ID', 'OOD']];
const row = (name: string, v: string, col: number) => {
  let r = rows.find((x) => x[0] === name);
  if (!r) rows.push((r = [name, '', '']));
  r[col] = v;
};
const refusals: string[] = [];
for (const [col, split] of [[1, 'id'], [2, 'ood']] as const) {
  const items = generateCountdown({ split, n: int(a.n), seed: int(a.seed), knobs: countdownKnobs('search', split) });
  const moves: number[] = [];
  const mono: number[] = [];
  let monoFits = 0;
  let onlyDelegation = 0;
  const tree: number[] = [];
  const critical: number[] = [];
  const largest: number[] = [];
  const calls: number[] = [];
  const why = new Map<string, number>();
  for (const item of items) {
    const rev = item.meta.knobs.reversed;
    moves.push(cdSearchMoves(item.meta.numbers).length);
    const s = cdSearchText(item.meta.numbers, item.meta.target, rev);
    // the root holds its prompt and <think>, the search, then <answer> EXPR <eos>
    mono.push(tok.encode(item.prompt).length + 1 + tok.encode(s.text).length + 2 + tok.encode(renderCd(s.expr!, rev)).length);
    const m = monolithicTrace(item, tok, cfg, { countdownStyle: 'search' });
    if (m.ok) monoFits++;
    const d = delegationTrace(item, tok, cfg, Rng.fromSeed(1), { countdownStyle: 'search' });
    if (d.ok && !m.ok) onlyDelegation++;
    if (d.ok) {
      const { cost, contexts } = d.trace.tree;
      tree.push(cost.processedTokens);
      critical.push(cost.criticalPathTokens);
      largest.push(Math.max(...contexts.map((c) => c.ids.length)));
      calls.push(cost.calls);
    } else {
      const key = d.reason.replace(/\d+/g, 'N');
      why.set(key, (why.get(key) ?? 0) + 1);
    }
  }
  row('first moves in the canonical order: mean / median / max', stats(moves), col);
  row('monolithic root tokens: mean / median / max', stats(mono), col);
  row(`monolithic traces that fit ${rootWindow}`, `${monoFits} of ${items.length}`, col);
  row('items with a delegation trace', `${tree.length} of ${items.length}`, col);
  row('items with a delegation trace and no monolithic one', String(onlyDelegation), col);
  row('delegation tree tokens: mean / max', meanMax(tree), col);
  row('delegation critical path: mean / max', meanMax(critical), col);
  row('delegation largest context: mean / max', meanMax(largest), col);
  row('delegation calls per tree: mean / max', meanMax(calls), col);
  for (const [k, v] of [...why].sort((x, y) => y[1] - x[1])) refusals.push(`- ${split}: ${v} × ${k}`);
}
rows.forEach((r, i) => console.log(`| ${r.join(' | ')} |${i === 0 ? '\n|---|---|---|' : ''}`));
console.log(`\ndelegation traces refused (numbers shown as N):\n${refusals.join('\n') || '- none'}`);
