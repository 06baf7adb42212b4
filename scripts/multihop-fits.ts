/**
 * Context budget of committed multi-hop sets (docs/tasks.md, the `chain` preset): paragraphs per item, how many
 * items have a monolithic trace in the window, and the `chain` delegation's root and tree sizes, in tokens as
 * mean (min–max); refusal reasons of the monolithic traces, counted by shape.
 *
 *   npx tsx scripts/multihop-fits.ts data/eval/multihop-chain-id.jsonl data/eval/multihop-chain-ood.jsonl
 *
 * Windows 128, maxCallsPerTree 8 (as configs/experiments/multihop-chain.json).
 */
import { RolloutConfigSchema } from '../src/rollout/protocol.ts';
import { readItemsJsonl } from '../src/tasks/types.ts';
import { checkItem } from '../src/tasks/registry.ts';
import type { MultihopItem } from '../src/tasks/multihop/multihop.ts';
import { delegationTrace, monolithicTrace } from '../src/tasks/traces.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';
import { Rng } from '../src/util/rng.ts';
const tok = loadTokenizer();
const cfg = RolloutConfigSchema.parse({ rootWindow: 128, cloneWindow: 128, maxCallsPerTree: 8 });
const files = process.argv.slice(2);
if (!files.length) throw new Error('usage: npx tsx scripts/multihop-fits.ts SET.jsonl [SET.jsonl ...]');
for (const f of files) {
  const items = readItemsJsonl(f, checkItem) as MultihopItem[];
  const st = (a: number[]) => a.length ? `${(a.reduce((x, y) => x + y, 0) / a.length).toFixed(0)} (${Math.min(...a)}–${Math.max(...a)})` : '—';
  const paras = items.map((i) => i.docs.length), mono: number[] = [], droot: number[] = [], dtree: number[] = [], reasons: Record<string, number> = {};
  for (const [n, it] of items.entries()) {
    const m = monolithicTrace(it, tok, cfg);
    if (m.ok) mono.push(m.trace.tree.contexts[0].ids.length); else { const r = m.reason.replace(/[A-Z](, [A-Z])*/g, 'X').replace(/\d+/g, 'N'); reasons[r] = (reasons[r] ?? 0) + 1; }
    const d = delegationTrace(it, tok, cfg, Rng.fromSeed(`mh-delegate:${n}`), { multihopPlans: ['chain'] });
    if (d.ok) { droot.push(d.trace.tree.contexts[0].ids.length); dtree.push(d.trace.tree.contexts.reduce((a, c) => a + c.ids.length, 0)); }
  }
  const hops: Record<number, number> = {}; for (const i of items) hops[i.meta.hops] = (hops[i.meta.hops] ?? 0) + 1;
  console.log(f, `hops ${JSON.stringify(hops)} paragraphs ${st(paras)}; mono fits ${mono.length}/${items.length}, root ${st(mono)}; chain fits ${droot.length}, root ${st(droot)}, tree ${st(dtree)}; refusals ${JSON.stringify(reasons)}`);
}
