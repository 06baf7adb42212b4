/**
 * Rollout trees on disk: one JSON object per tree (`{format, itemId, cost, contexts, outcome?}`), many trees per JSONL
 * file. Reading validates every field and the tree's structure (equal per-position array lengths, parents and
 * calls that point at real contexts), so a bad file fails with one line naming `file:line` and the field.
 * Pure TS: no tfjs.
 */
import { z } from 'zod';
import { readJsonl, writeJsonl } from '../util/jsonl.ts';
import { validate } from '../util/config-file.ts';
import type { Context, Tree } from './tree.ts';

export const TREE_FORMAT = 1;

const count = z.int().min(0);

const CallSchema = z.strictObject({
  index: count,
  start: count,
  end: count,
  clones: z.array(count),
  malformed: z.enum(['parse', 'empty-objective', 'too-many-clones', 'unknown-ref', 'depth', 'calls-limit', 'window', 'tree-tokens', 'unsplittable']).nullable(),
  injected: count,
});

const ContextSchema = z.strictObject({
  id: count,
  parent: count.nullable(),
  depth: count,
  role: z.enum(['root', 'clone']),
  callIndex: count.nullable(),
  budget: count,
  promptLength: count,
  ids: z.array(count),
  lossMask: z.array(z.union([z.literal(0), z.literal(1)])),
  logprobs: z.array(z.number()),
  finish: z.enum(['answer', 'budget', 'window', 'malformed', 'tree-limit']).nullable(),
  answer: z.array(count).nullable(),
  calls: z.array(CallSchema),
});

const CostSchema = z.strictObject({
  rootGenerated: count,
  cloneGenerated: count,
  rootTokens: count,
  cloneTokens: count,
  processedTokens: count,
  criticalPathTokens: count,
  calls: count,
  clones: count,
  malformed: count,
  ms: z.number().min(0),
});

type Issue = { path: (string | number)[]; message: string };

/** Structural checks the per-field schema cannot express; returns the first problem found. */
function structureIssue(contexts: Context[]): Issue | null {
  for (const [i, c] of contexts.entries()) {
    const at = (field: string, message: string): Issue => ({ path: ['contexts', i, field], message });
    const n = c.ids.length;
    if (c.id !== i) return at('id', `is ${c.id}, expected ${i} (contexts are listed in id order)`);
    if (c.lossMask.length !== n) return at('lossMask', `length ${c.lossMask.length}, expected ${n} (the length of ids)`);
    if (c.logprobs.length !== n) return at('logprobs', `length ${c.logprobs.length}, expected ${n} (the length of ids)`);
    if (c.promptLength > n) return at('promptLength', `${c.promptLength} exceeds the ${n} ids`);
    if (i === 0) {
      if (c.parent !== null) return at('parent', 'expected null for the root (context 0)');
      if (c.role !== 'root') return at('role', 'expected "root" for context 0');
      if (c.depth !== 0) return at('depth', 'expected 0 for the root');
      if (c.callIndex !== null) return at('callIndex', 'expected null for the root');
    } else {
      if (c.parent === null || c.parent >= i) return at('parent', `is ${c.parent}, expected the id of an earlier context (0..${i - 1})`);
      const p = contexts[c.parent];
      if (c.role !== 'clone') return at('role', `expected "clone" for context ${i}`);
      if (c.depth !== p.depth + 1) return at('depth', `is ${c.depth}, expected ${p.depth + 1} (parent depth + 1)`);
      if (c.callIndex === null || !p.calls[c.callIndex]?.clones.includes(i)) {
        return at('callIndex', `is ${c.callIndex}, expected the index of the call of context ${c.parent} that lists clone ${i}`);
      }
    }
  }
  // Calls last, so a clone with a bad parent is reported at its own parent field.
  for (const [i, c] of contexts.entries()) {
    for (const [k, call] of c.calls.entries()) {
      const cat = (field: string, message: string): Issue => ({ path: ['contexts', i, 'calls', k, field], message });
      if (call.index !== k) return cat('index', `is ${call.index}, expected ${k}`);
      if (call.start > call.end || call.end > c.ids.length) return cat('end', `span ${call.start}..${call.end} is not within the ${c.ids.length} ids`);
      if (call.malformed !== null && call.clones.length) return cat('clones', 'expected none for a malformed call');
      for (const id of call.clones) {
        if (contexts[id]?.parent !== i) return cat('clones', `clone ${id} is not a context whose parent is ${i}`);
      }
    }
  }
  return null;
}

const OutcomeSchema = z.strictObject({
  gold: z.string(),
  answer: z.string().nullable(),
  correct: z.number(),
  reward: z.number(),
  components: z.record(z.string(), z.number()),
});

const TreeSchema = z
  .strictObject({
    format: z.literal(TREE_FORMAT),
    itemId: z.string(),
    cost: CostSchema,
    contexts: z.array(ContextSchema).min(1),
    /** optional: written by evaluations (gold, answer, right or wrong, reward) */
    outcome: OutcomeSchema.optional(),
  })
  .superRefine((t, ctx) => {
    const issue = structureIssue(t.contexts);
    if (issue) ctx.addIssue({ code: 'custom', ...issue });
  });

/** A tree as a plain JSON object (fields copied explicitly, so nothing extra leaks into the file). */
export function treeToJson(tree: Tree): object {
  return {
    format: TREE_FORMAT,
    itemId: tree.itemId,
    cost: { ...tree.cost },
    contexts: tree.contexts.map((c) => ({
      id: c.id,
      parent: c.parent,
      depth: c.depth,
      role: c.role,
      callIndex: c.callIndex,
      budget: c.budget,
      promptLength: c.promptLength,
      ids: [...c.ids],
      lossMask: [...c.lossMask],
      logprobs: [...c.logprobs],
      finish: c.finish,
      answer: c.answer ? [...c.answer] : null,
      calls: c.calls.map((k) => ({ ...k, clones: [...k.clones] })),
    })),
    ...(tree.outcome ? { outcome: { ...tree.outcome, components: { ...tree.outcome.components } } } : {}),
  };
}

/** Validate a parsed JSON object as a tree; errors name `source` and the field (e.g. `contexts.1.lossMask`). */
export function treeFromJson(obj: unknown, source: string): Tree {
  const { itemId, cost, contexts, outcome } = validate(TreeSchema, obj, source);
  return outcome ? { itemId, cost, contexts, outcome } : { itemId, cost, contexts };
}

/** Write trees as JSONL atomically (readers never see a half-written file). */
export function writeTreesJsonl(file: string, trees: readonly Tree[]): void {
  writeJsonl(file, trees.map(treeToJson));
}

/** Read every tree of a JSONL file (blank lines are skipped); errors name `file:line` and the field. */
export function readTreesJsonl(file: string): Tree[] {
  return readJsonl(file, treeFromJson);
}
