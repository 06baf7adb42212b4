/**
 * Calls per delegating tree against the item's hop count, from an eval point's per-item records (docs/experiments.md,
 * multihop-chain): how many trees call fewer / as many / more times than the item has hops, how many of each
 * are right, finish reasons, trees with a malformed call, and trees that hand everything to one clone; then, by
 * hops and distractor paragraphs (paragraphs off the chain), how many trees are right and how many call more
 * times than hops.
 *
 *   npx tsx scripts/multihop-calls.ts runs/experiments/multihop-chain/eval/clones-s1-multihop-chain-ood/points/maxTreeTokens-512/examples.jsonl data/eval/multihop-chain-ood.jsonl
 */
import * as fs from 'node:fs';
import type { MultihopItem } from '../src/tasks/multihop/multihop.ts';
import { checkItem } from '../src/tasks/registry.ts';
import { readItemsJsonl } from '../src/tasks/types.ts';

const [examples, itemsFile] = process.argv.slice(2);
if (!examples || !itemsFile) throw new Error('usage: npx tsx scripts/multihop-calls.ts EXAMPLES.jsonl ITEMS.jsonl');
const meta = new Map((readItemsJsonl(itemsFile, checkItem) as MultihopItem[]).map((it) => [it.id, it.meta]));
const count = (m: Map<string, number>, k: string, by = 1) => m.set(k, (m.get(k) ?? 0) + by);
const rows = new Map<string, number>(), right = new Map<string, number>(), finish = new Map<string, number>();
const byShape = new Map<string, { trees: number; right: number; more: number }>();
let n = 0, malformed = 0, oneCall = 0;
for (const [i, line] of fs.readFileSync(examples, 'utf8').split('\n').entries()) {
  if (!line.trim()) continue;
  const r = JSON.parse(line) as { id: string; correct: number; finish: string; calls: number; malformed: number };
  const m = meta.get(r.id);
  if (m === undefined) throw new Error(`${examples}:${i + 1}: item ${r.id} is not in ${itemsFile}`);
  const h = m.hops;
  const rel = r.calls < h ? 'fewer calls than hops' : r.calls === h ? 'as many calls as hops' : 'more calls than hops';
  const key = `${h} hops, ${rel}`;
  n++; count(rows, key); count(right, key, r.correct); count(finish, r.finish);
  malformed += Number(r.malformed > 0); oneCall += Number(r.calls === 1);
  const shape = `${h} hops, ${String(m.distractors).padStart(2)} distractors`;
  const s = byShape.get(shape) ?? { trees: 0, right: 0, more: 0 };
  byShape.set(shape, { trees: s.trees + 1, right: s.right + r.correct, more: s.more + Number(r.calls > h) });
}
console.log(`${n} trees; finish ${JSON.stringify(Object.fromEntries(finish))}; with a malformed call ${malformed}; one call ${oneCall}`);
for (const k of [...rows.keys()].sort()) console.log(`  ${k}: ${rows.get(k)} trees, ${right.get(k)} right`);
console.log('by hops and distractor paragraphs:');
for (const k of [...byShape.keys()].sort()) {
  const s = byShape.get(k)!;
  console.log(`  ${k}: ${s.trees} trees, ${s.right} right, ${s.more} with more calls than hops`);
}
