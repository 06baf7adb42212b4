/**
 * The multi-hop lookups of the committed ID set as JSON for scripts/crosscheck/torch_sft.py: per set (`drill`:
 * lookup drills; `mono`: the monolithic root's hops; `clone`: each chain clone's hop over its one paragraph) the
 * context ids and the positions of the `=` whose next token is the looked-up entity (what scripts/step-accuracy.ts
 * counts as a step).
 *
 *   npx tsx scripts/crosscheck/dump-multihop-lookups.ts /tmp/mh-eval.json
 */
import * as fs from 'node:fs';
import { RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { delegationTrace, monolithicTrace } from '../../src/tasks/traces.ts';
import { multihopDrillTrace } from '../../src/tasks/multihop/traces.ts';
import { readItemsJsonl } from '../../src/tasks/types.ts';
import { checkItem } from '../../src/tasks/registry.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';
const tok = loadTokenizer();
const cfg = RolloutConfigSchema.parse({ rootWindow: 128, cloneWindow: 128, rootBudget: 128 });
const items = readItemsJsonl('data/eval/multihop-id.jsonl', checkItem);
const [eq] = tok.encode('=');
const sets: Record<string, { ids: number[]; at: number[] }[]> = { drill: [], mono: [], clone: [] };
for (const [i, it] of items.entries()) {
  const add = (name: string, r: ReturnType<typeof monolithicTrace>, clonesOnly = false) => {
    if (!r.ok) return;
    for (const c of r.trace.tree.contexts) {
      if (clonesOnly && c.parent === null) continue;
      const first = c.lossMask.indexOf(1);
      const at = [];
      for (let t = first; t < c.ids.length - 1; t++) if (c.ids[t] === eq) at.push(t);
      if (at.length) sets[name].push({ ids: c.ids, at });
    }
  };
  add('drill', multihopDrillTrace(it, tok, cfg, Rng.fromSeed(`d${i}`)));
  add('mono', monolithicTrace(it, tok, cfg));
  add('clone', delegationTrace(it, tok, cfg, Rng.fromSeed(1), { multihopPlans: ['chain'] }), true);
}
if (!process.argv[2]) throw new Error('usage: dump-multihop-lookups.ts OUT.json');
fs.writeFileSync(process.argv[2], JSON.stringify(sets));
