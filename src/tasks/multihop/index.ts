/**
 * The multi-hop QA task (README.md here): items with keyed paragraphs (multihop.ts), exact-match
 * scoring, the monolithic view (paragraphs inlined as far as they fit), and the demonstration traces, lookup
 * drills included (traces.ts). Pure TS: no tfjs.
 */
import { exactScore } from '../scoring.ts';
import { presetGenerator, type Task } from '../task.ts';
import { checkMultihopItem, generateMultihop, MULTIHOP_PRESETS, MultihopKnobsSchema } from './multihop.ts';
import { multihopDelegationTrace, multihopDrillTrace, multihopMonoTrace, multihopMonoView } from './traces.ts';

export const multihopTask: Task = {
  name: 'multihop',
  describe: 'multi-hop QA over keyed paragraphs of a generated world: 2-4 hops, distractors (src/tasks/multihop/)',
  ...presetGenerator({ name: 'multihop', presets: MULTIHOP_PRESETS, schema: MultihopKnobsSchema, generate: generateMultihop }),
  check: checkMultihopItem,
  score: exactScore,
  monolithicView: multihopMonoView,
  monolithicTrace: multihopMonoTrace,
  delegationTrace: multihopDelegationTrace,
  drillTrace: (item, tok, cfg, rng) => multihopDrillTrace(item, tok, cfg, rng),
};
