/**
 * Teacher-forced accuracy of a checkpoint on multi-hop lookup drills (multihopDrillTrace over the committed ID
 * set), and how often the predicted value is a value of the queried entity (the entity found, the fact not).
 *
 *   npx tsx scripts/crosscheck/drill-accuracy.ts runs/experiments/multihop/seed-1/sft/step-003000
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/cli/common.ts';
import { loadPolicy } from '../../src/model/io.ts';
import { RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { multihopDrillTrace } from '../../src/tasks/multihop/traces.ts';
import { readItemsJsonl } from '../../src/tasks/types.ts';
import { checkItem } from '../../src/tasks/registry.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';
await initBackend('auto');
const tok = loadTokenizer();
const { model } = loadPolicy(process.argv[2]);
const cfg = RolloutConfigSchema.parse({ rootWindow: 128, cloneWindow: 128 });
const items = readItemsJsonl('data/eval/multihop-id.jsonl', checkItem);
const [eq] = tok.encode('=');
let n = 0, ok = 0, inPar = 0;
const byK: number[][] = [];
for (const [i, it] of items.entries()) {
  const r = multihopDrillTrace(it, tok, cfg, Rng.fromSeed(`d${i}`));
  if (!r.ok) continue;
  const c = r.trace.tree.contexts[0];
  const ids = c.ids;
  const pred = tf.tidy(() => Array.from(tf.argMax(model.forward(tf.tensor2d([ids], [1, ids.length], 'int32')), 2).dataSync()));
  let k = 0;
  for (let t = c.promptLength; t < ids.length - 1; t++) if (ids[t] === eq) {
    n++; const good = pred[t] === ids[t + 1]; ok += good ? 1 : 0;
    (byK[k] ??= [0, 0]); byK[k][0]++; byK[k][1] += good ? 1 : 0; k++;
    // is the prediction a value of some fact of the same entity?
    const ent = ids[t - 3];
    const vals = new Set<number>();
    for (let u = 0; u + 4 < c.promptLength; u++) if (ids[u] === ent && ids[u + 3] === eq) vals.add(ids[u + 4]);
    if (vals.has(pred[t])) inPar++;
  }
}
console.log(`drill lookups right ${(100 * ok / n).toFixed(1)}% of ${n}; prediction is a value of the same entity ${(100 * inPar / n).toFixed(1)}%`);
console.log(byK.map(([a, b], i) => `${i + 1}: ${(100 * b / a).toFixed(0)}%`).join(', '));
