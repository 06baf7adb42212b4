/**
 * Multi-hop QA over a long context: a generated world of entities, one keyed paragraph per entity listing
 * some of its relations (`pal`, `boss`, ... → another entity), and a question that chains 2–4 relations from
 * a start entity ("the dad of the pal of Bo", written in hop order `Bo.p.d?`). Every entity of the world has a
 * paragraph; the ones off the question's chain are the distractors. README.md here.
 *
 * Views of one item:
 *   prompt (what the root of a delegation rollout sees)   the question and the paragraph keys (with titles
 *                                                         when the keys are codes), never the paragraphs
 *   docs                                                  the paragraphs by key; a clone receives one with `<ctx> KEY`
 *   monolithic view (multihopMonoText)                    the question and every paragraph that fits a window
 *
 * tiny (what a ~100k-parameter char-level model sees): one-letter names, facts written as steps
 *   question  B.p.d?                  prompt  B.p.d?K,B,Z,M,L              answer  M
 *   paragraph B.p=K,B.b=Z   (B's p is K, B's b is Z)
 *   a step    B.p=K;        (what a monolithic root or a clone writes for one hop)
 *
 * Everything is ASCII letters, digits and punctuation, so it round-trips through the char-level tokenizer.
 * Pure TypeScript: no tfjs.
 */
import { z } from 'zod';
import { Rng } from '../../util/rng.ts';
import { generatePartitioned } from '../splits.ts';
import { SelfcestError } from '../../util/errors.ts';
import { ITEM_FORMAT, schemaIssue, type Issue, type Split, type TaskDoc, type TaskItem } from '../types.ts';

// ---------------------------------------------------------------------------------------------------- knobs

const RELATION = /^[a-z]{1,8}$/;

export const MultihopKnobsSchema = z
  .strictObject({
    /** relations the question chains, uniform in [minHops, maxHops] */
    minHops: z.int().min(1).default(2),
    maxHops: z.int().min(1).max(12).default(4),
    /** paragraphs about entities off the question's chain, uniform in [minDistractors, maxDistractors] */
    minDistractors: z.int().min(0).default(8),
    maxDistractors: z.int().min(0).max(200).default(16),
    /**
     * optional: draw the number of paragraphs (hops + 1 + distractors) uniformly in [minParagraphs, maxParagraphs]
     * independently of the hop count, so that a prompt's length says nothing about the path; distractors are then
     * the rest and must stay within [minDistractors, maxDistractors]. Absent (the default): distractors are drawn.
     */
    minParagraphs: z.int().min(2).optional(),
    maxParagraphs: z.int().min(2).optional(),
    /** facts (relations) per paragraph, uniform in [minFacts, maxFacts]; a chain paragraph always holds its hop */
    minFacts: z.int().min(1).default(2),
    maxFacts: z.int().min(1).default(3),
    /** the relation names (lowercase words); facts of one paragraph use distinct relations */
    relations: z.array(z.string().regex(RELATION, 'a relation is 1-8 lowercase letters')).min(1).default(['pal', 'boss', 'mom', 'dad', 'kin', 'tutor']),
    /** name shape: 1 = a capital letter (`B`, 26 names), 2 = consonant + vowel (`Bo`, 75), 3 = consonant + vowel + consonant (`Bok`, 1050) */
    nameLength: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(2),
    /** the names an item draws from: the first `names` of the fixed name list for `nameLength` */
    names: z.int().min(2).default(40),
    /** paragraph keys: `name` (the key is the entity's name, also the paragraph's title), `code` (a 2-character code `q7`; the prompt lists `code:Name`) */
    keys: z.enum(['name', 'code']).default('name'),
    /**
     * text style: `facts` (question `Bo.p.d?`, paragraph `Bo.p=Ka,Bo.d=Mi`: every fact written as the step that
     * uses it), `terse` (`Bo.p.d?`, `Bo:pKa,dMi`: a title, then relation and value) or `prose`
     * (`Who is the d of the p of Bo?`, `Bo's p is Ka. Bo's d is Mi.`)
     */
    style: z.enum(['facts', 'terse', 'prose']).default('terse'),
  })
  .refine((k) => k.minHops <= k.maxHops, { message: 'minHops must be <= maxHops', path: ['minHops'] })
  .refine((k) => k.minDistractors <= k.maxDistractors, { message: 'minDistractors must be <= maxDistractors', path: ['minDistractors'] })
  .refine((k) => (k.minParagraphs === undefined) === (k.maxParagraphs === undefined), { message: 'minParagraphs and maxParagraphs go together', path: ['maxParagraphs'] })
  .refine((k) => k.minParagraphs === undefined || (k.minParagraphs <= k.maxParagraphs! && k.minParagraphs - k.maxHops - 1 >= k.minDistractors && k.maxParagraphs! - k.minHops - 1 <= k.maxDistractors), {
    message: 'paragraphs must leave every hop count distractors within [minDistractors, maxDistractors]: minParagraphs - maxHops - 1 >= minDistractors and maxParagraphs - minHops - 1 <= maxDistractors',
    path: ['minParagraphs'],
  })
  .refine((k) => k.minFacts <= k.maxFacts, { message: 'minFacts must be <= maxFacts', path: ['minFacts'] })
  .refine((k) => new Set(k.relations).size === k.relations.length, { message: 'relations must be distinct', path: ['relations'] })
  .refine((k) => k.maxFacts <= k.relations.length, { message: 'maxFacts must be <= the number of relations', path: ['maxFacts'] })
  .refine((k) => k.names <= namePool(k.nameLength).length, { message: 'more names than the name list holds (26 of length 1, 75 of length 2, 1050 of length 3)', path: ['names'] })
  .refine((k) => k.maxHops + 1 + k.maxDistractors <= k.names, { message: 'names must cover maxHops + 1 + maxDistractors entities', path: ['names'] })
  .refine((k) => k.keys === 'name' || k.maxHops + 1 + k.maxDistractors <= 260, { message: 'at most 260 paragraphs with code keys', path: ['maxDistractors'] });
export type MultihopKnobs = z.infer<typeof MultihopKnobsSchema>;
export type MultihopKnobsInput = z.input<typeof MultihopKnobsSchema>;

/**
 * Named knob settings per split (train uses the id knobs). ID: 2–4 hops; OOD: more hops and more distractors.
 * `tiny`: one-letter names from 20, 4 one-letter relations (p b m d), 2 facts per paragraph written as steps
 *   (`facts`: `B.p=K`), names as keys. One hop is one copy a tiny model can learn (the step's left side appears
 *   once in the context, followed by the answer); ID items fit one 128-token window as the monolithic view
 *   (question + every paragraph + the chain), OOD items do not (README.md here has the numbers).
 * `chain`: `tiny` with one fact per paragraph, so an entity's name alone is the key (a hop is a one-token-key
 *   lookup: pointer chasing) and more distractors: 6–10 ID (the largest ID items need more than one 128-token
 *   window as the monolithic view), 8–12 OOD. Chosen because the two-fact lookup of `tiny` is not learned at our
 *   budget (README.md here, "Learnability").
 * `chain-flat`: `chain` whose ID items draw 9–19 paragraphs independently of the 2–4 hops (4–16 distractors, 21
 *   names), so the prompt's length does not reveal the hop count (a shortcut the `chain` root learned,
 *   docs/experiments.md); OOD as `chain`.
 * `reference`: 3-character names from 300, 6 relation words, 3–4 facts per paragraph, prose, code keys, 8–16
 *   distractors (like 2WikiMultihopQA/MuSiQue's 10–20 paragraphs): every item is far beyond 128 tokens.
 */
export type MultihopPreset = 'tiny' | 'chain' | 'chain-flat' | 'reference';
const CHAIN: { id: MultihopKnobsInput; ood: MultihopKnobsInput } = {
  id: { minHops: 2, maxHops: 4, minDistractors: 6, maxDistractors: 10, minFacts: 1, maxFacts: 1, relations: ['p', 'b', 'm', 'd'], nameLength: 1, names: 20, keys: 'name', style: 'facts' },
  ood: { minHops: 5, maxHops: 6, minDistractors: 8, maxDistractors: 12, minFacts: 1, maxFacts: 1, relations: ['p', 'b', 'm', 'd'], nameLength: 1, names: 20, keys: 'name', style: 'facts' },
};
export const MULTIHOP_PRESETS: Record<MultihopPreset, { id: MultihopKnobsInput; ood: MultihopKnobsInput }> = {
  tiny: {
    id: { minHops: 2, maxHops: 4, minDistractors: 1, maxDistractors: 2, minFacts: 2, maxFacts: 2, relations: ['p', 'b', 'm', 'd'], nameLength: 1, names: 20, keys: 'name', style: 'facts' },
    ood: { minHops: 5, maxHops: 6, minDistractors: 3, maxDistractors: 6, minFacts: 2, maxFacts: 2, relations: ['p', 'b', 'm', 'd'], nameLength: 1, names: 20, keys: 'name', style: 'facts' },
  },
  chain: CHAIN,
  'chain-flat': { id: { ...CHAIN.id, minDistractors: 4, maxDistractors: 16, minParagraphs: 9, maxParagraphs: 19, names: 21 }, ood: CHAIN.ood },
  reference: {
    id: { minHops: 2, maxHops: 4, minDistractors: 8, maxDistractors: 16, minFacts: 3, maxFacts: 4, nameLength: 3, names: 300, keys: 'code', style: 'prose' },
    ood: { minHops: 5, maxHops: 6, minDistractors: 16, maxDistractors: 24, minFacts: 3, maxFacts: 4, nameLength: 3, names: 300, keys: 'code', style: 'prose' },
  },
};

export function multihopKnobs(preset: MultihopPreset, split: Split, overrides: Record<string, unknown> = {}): MultihopKnobs {
  return MultihopKnobsSchema.parse({ ...MULTIHOP_PRESETS[preset][split === 'ood' ? 'ood' : 'id'], ...overrides });
}

// ---------------------------------------------------------------------------------------------------- names

const CONSONANTS = 'BDFGHKLMNPRSTVZ';
const VOWELS = 'aeiou';
const FINALS = 'bdgklmnprstvxz';
const pools = new Map<number, string[]>();

/** The fixed name list for a length (shuffled once with a fixed seed, so the first N names are varied). */
export function namePool(length: 1 | 2 | 3): string[] {
  let pool = pools.get(length);
  if (!pool) {
    const all: string[] = length === 1 ? [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'] : [];
    if (length > 1) for (const c of CONSONANTS) for (const v of VOWELS) {
      if (length === 2) all.push(c + v);
      else for (const f of FINALS) all.push(c + v + f);
    }
    pool = shuffle(Rng.fromSeed(`multihop:names:${length}`), all);
    pools.set(length, pool);
  }
  return pool;
}

function shuffle<T>(rng: Rng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- text

/** One entity of the world: its paragraph's key, its name (the paragraph's title) and its facts `[relation, value]`. */
export interface Entity {
  key: string;
  name: string;
  facts: [string, string][];
}

/** The question: terse and facts `Bo.p.d?` (hop order), prose `Who is the d of the p of Bo?`. */
export function multihopQuestion(start: string, path: readonly string[], style: MultihopKnobs['style']): string {
  if (style !== 'prose') return `${[start, ...path].join('.')}?`;
  return `Who is ${[...path].reverse().map((r) => `the ${r} of `).join('')}${start}?`;
}

/** A paragraph: facts `Bo.p=Ka,Bo.d=Mi`, terse `Bo:pKa,dMi`, prose `Bo's p is Ka. Bo's d is Mi.` */
export function multihopParagraph(e: Pick<Entity, 'name' | 'facts'>, style: MultihopKnobs['style']): string {
  if (style === 'facts') return e.facts.map(([r, v]) => `${e.name}.${r}=${v}`).join(',');
  if (style === 'terse') return `${e.name}:${e.facts.map(([r, v]) => r + v).join(',')}`;
  return e.facts.map(([r, v]) => `${e.name}'s ${r} is ${v}.`).join(' ');
}

/** The key list the root sees: `Ka,Bo,Zu` (name keys) or `q7:Ka,a3:Bo` (code keys, with titles); prose puts ` Keys: ` before it and spaces after commas. */
export function multihopKeyList(world: readonly Entity[], keys: MultihopKnobs['keys'], style: MultihopKnobs['style']): string {
  const parts = world.map((e) => (keys === 'name' ? e.key : `${e.key}:${e.name}`));
  return style !== 'prose' ? parts.join(',') : ` Keys: ${parts.join(', ')}.`;
}

/** The root's prompt of a delegation rollout: the question, then the keys. */
export function multihopPrompt(start: string, path: readonly string[], world: readonly Entity[], k: Pick<MultihopKnobs, 'keys' | 'style'>): string {
  return multihopQuestion(start, path, k.style) + multihopKeyList(world, k.keys, k.style);
}

/** What a context writes for one hop (monolithic root or clone): `Bo.p=Ka;`. */
export function multihopStep(entity: string, relation: string, value: string): string {
  return `${entity}.${relation}=${value};`;
}

/** A clone's objective for one hop: `Bo.p` (the entity and the relation; the paragraph comes with `<ctx> KEY`). */
export function multihopObjective(entity: string, relation: string): string {
  return `${entity}.${relation}`;
}

/** Separator before each paragraph in the monolithic view. */
export const MONO_DOC_SEPARATOR = '|';

/**
 * The monolithic view's text: the question, then `|PARAGRAPH` for the paragraphs in item order, as long as
 * `fits(text)` holds (a prefix: the first paragraph that does not fit ends the list). Returns the text and how
 * many paragraphs it holds.
 */
export function multihopMonoText(item: MultihopItem, fits: (text: string) => boolean): { text: string; included: number } {
  const m = item.meta;
  let text = multihopQuestion(m.chain[0], m.path, m.knobs.style);
  let included = 0;
  for (const d of item.docs) {
    const next = text + MONO_DOC_SEPARATOR + d.text;
    if (!fits(next)) break;
    text = next;
    included++;
  }
  return { text, included };
}

// ---------------------------------------------------------------------------------------------------- solver

export type MultihopSolution = { ok: true; chain: string[] } | { ok: false; reason: string };

/** Follow the path from `start` through the world's paragraphs: the entities visited (start first, answer last). */
export function solveMultihop(world: readonly Pick<Entity, 'name' | 'facts'>[], start: string, path: readonly string[]): MultihopSolution {
  const byName = new Map(world.map((e) => [e.name, e]));
  const chain = [start];
  for (const r of path) {
    const at = chain[chain.length - 1];
    const e = byName.get(at);
    if (!e) return { ok: false, reason: `no paragraph about ${at}` };
    const fact = e.facts.find(([rel]) => rel === r);
    if (!fact) return { ok: false, reason: `${at}'s paragraph has no ${r}` };
    chain.push(fact[1]);
  }
  return { ok: true, chain };
}

// ---------------------------------------------------------------------------------------------------- generator

const EntitySchema = z.strictObject({
  key: z.string().min(1),
  name: z.string().min(1),
  facts: z.array(z.tuple([z.string(), z.string()])).min(1),
});

export const MultihopMetaSchema = z.strictObject({
  /** relations the question chains */
  hops: z.int().min(1),
  /** the question's relations in hop order */
  path: z.array(z.string()).min(1),
  /** the entities the chain visits: the start, then one per hop (the last is the answer) */
  chain: z.array(z.string()).min(2),
  /** paragraphs about entities off the chain */
  distractors: z.int().min(0),
  /** every entity, in paragraph (docs) order */
  world: z.array(EntitySchema).min(2),
  knobs: MultihopKnobsSchema,
});
export type MultihopMeta = z.infer<typeof MultihopMetaSchema>;
export type MultihopItem = TaskItem<MultihopMeta> & { docs: TaskDoc[] };

/** The record for a world and question (docs and prompt rendered from them). */
export function multihopItemFrom(world: Entity[], start: string, path: string[], k: MultihopKnobs, split: Split, id: string): MultihopItem {
  const sol = solveMultihop(world, start, path);
  if (!sol.ok) throw new SelfcestError(`multihop: ${id}: ${sol.reason}`);
  return {
    format: ITEM_FORMAT,
    task: 'multihop',
    split,
    id,
    prompt: multihopPrompt(start, path, world, k),
    answer: sol.chain[sol.chain.length - 1],
    docs: world.map((e) => ({ key: e.key, text: multihopParagraph(e, k.style) })),
    meta: { hops: path.length, path, chain: sol.chain, distractors: world.length - path.length - 1, world, knobs: k },
  };
}

/**
 * One item: h hops and D distractors from the knobs; h + 1 + D distinct names; the chain is the first h + 1;
 * each hop's relation is drawn (repeats allowed); every entity gets F distinct relations (a chain entity's
 * include its hop, whose value is the next chain entity; other values are any other entity); paragraphs in
 * random order; code keys drawn without repeats.
 */
export function multihopItem(rng: Rng, k: MultihopKnobs, split: Split, id: string): MultihopItem {
  const hops = rng.int(k.minHops, k.maxHops);
  const distractors = k.minParagraphs === undefined ? rng.int(k.minDistractors, k.maxDistractors) : rng.int(k.minParagraphs, k.maxParagraphs!) - hops - 1;
  const names = shuffle(rng, namePool(k.nameLength).slice(0, k.names)).slice(0, hops + 1 + distractors);
  const chain = names.slice(0, hops + 1);
  const path = Array.from({ length: hops }, () => rng.pick(k.relations));
  const entities: Entity[] = names.map((name, i) => {
    const count = rng.int(k.minFacts, k.maxFacts);
    const must = i < hops ? path[i] : null;
    const others = shuffle(rng, k.relations.filter((r) => r !== must));
    const rels = must ? [must, ...others.slice(0, count - 1)] : others.slice(0, count);
    const ordered = shuffle(rng, rels);
    const facts = ordered.map((r): [string, string] => {
      if (r === must) return [r, chain[i + 1]];
      const pool = names.filter((n) => n !== name);
      return [r, rng.pick(pool)];
    });
    return { key: name, name, facts };
  });
  const world = shuffle(rng, entities);
  if (k.keys === 'code') {
    const codes = shuffle(rng, Array.from({ length: 260 }, (_, i) => `${String.fromCharCode(97 + Math.floor(i / 10))}${i % 10}`));
    world.forEach((e, i) => (e.key = codes[i]));
  }
  return multihopItemFrom(world, chain[0], path, k, split, id);
}

/** `n` items of a split, from its partition and without repeats (src/tasks/splits.ts): item i draws from `Rng.fromSeed("multihop:<split>:<seed>:<i>")`, redrawn while it falls outside. */
export function generateMultihop(opts: { split: Split; n: number; seed: number | string; knobs: MultihopKnobs }): MultihopItem[] {
  const { split, n, seed, knobs } = opts;
  return generatePartitioned('multihop', { split, n, seed }, (rng, sp, id) => multihopItem(rng, knobs, sp, id));
}

// ---------------------------------------------------------------------------------------------------- checks

const NAME = { 1: /^[A-Z]$/, 2: /^[A-Z][a-z]$/, 3: /^[A-Z][a-z][a-z]$/ } as const;

/**
 * Task-level check of a record: meta fields; the world (names from the knobs' list, distinct; keys distinct and
 * of the knobs' format; facts per paragraph within the knobs, distinct known relations, values other entities
 * of the world); docs and prompt are the world and question rendered; the path solves to meta.chain, whose
 * entities are distinct and whose last is the answer; hops and distractors within the knobs.
 */
export function checkMultihopItem(item: TaskItem): Issue | null {
  const metaIssue = schemaIssue(MultihopMetaSchema, item.meta, ['meta']);
  if (metaIssue) return metaIssue;
  const m = MultihopMetaSchema.parse(item.meta);
  const k = m.knobs;
  if (m.path.length !== m.hops) return { path: ['meta', 'path'], message: `has ${m.path.length} relations, meta.hops is ${m.hops}` };
  if (m.hops < k.minHops || m.hops > k.maxHops) return { path: ['meta', 'hops'], message: `${m.hops} is outside [${k.minHops}, ${k.maxHops}]` };
  const badRel = m.path.findIndex((r) => !k.relations.includes(r));
  if (badRel >= 0) return { path: ['meta', 'path', badRel], message: `"${m.path[badRel]}" is not one of the relations ${k.relations.join(', ')}` };
  if (m.distractors !== m.world.length - m.hops - 1) return { path: ['meta', 'distractors'], message: `is ${m.distractors}, but the world has ${m.world.length} paragraphs for ${m.hops + 1} chain entities` };
  if (m.distractors < k.minDistractors || m.distractors > k.maxDistractors) return { path: ['meta', 'distractors'], message: `${m.distractors} is outside [${k.minDistractors}, ${k.maxDistractors}]` };
  if (k.minParagraphs !== undefined && (m.world.length < k.minParagraphs || m.world.length > k.maxParagraphs!)) {
    return { path: ['meta', 'world'], message: `${m.world.length} paragraphs is outside [${k.minParagraphs}, ${k.maxParagraphs}]` };
  }
  const pool = new Set(namePool(k.nameLength).slice(0, k.names));
  const names = new Set<string>();
  const keys = new Set<string>();
  for (const [i, e] of m.world.entries()) {
    const at = (...p: (string | number)[]) => ['meta', 'world', i, ...p];
    if (!NAME[k.nameLength].test(e.name) || !pool.has(e.name)) return { path: at('name'), message: `"${e.name}" is not among the first ${k.names} names of length ${k.nameLength}` };
    if (names.has(e.name)) return { path: at('name'), message: `"${e.name}" has two paragraphs` };
    names.add(e.name);
    if (k.keys === 'name' ? e.key !== e.name : !/^[a-z][0-9]$/.test(e.key)) return { path: at('key'), message: `"${e.key}" is not a ${k.keys === 'name' ? `name key (expected "${e.name}")` : 'code key (a letter and a digit)'}` };
    if (keys.has(e.key)) return { path: at('key'), message: `"${e.key}" is used twice` };
    keys.add(e.key);
    if (e.facts.length < k.minFacts || e.facts.length > k.maxFacts) return { path: at('facts'), message: `has ${e.facts.length} facts, knobs allow ${k.minFacts}-${k.maxFacts}` };
    const rels = new Set<string>();
    for (const [j, [r]] of e.facts.entries()) {
      if (!k.relations.includes(r)) return { path: at('facts', j, 0), message: `"${r}" is not one of the relations ${k.relations.join(', ')}` };
      if (rels.has(r)) return { path: at('facts', j, 0), message: `${e.name} has two facts "${r}"` };
      rels.add(r);
    }
  }
  for (const [i, e] of m.world.entries()) {
    for (const [j, [, v]] of e.facts.entries()) {
      if (!names.has(v) || v === e.name) return { path: ['meta', 'world', i, 'facts', j, 1], message: `"${v}" is not another entity of the world` };
    }
  }
  const docs = item.docs ?? [];
  if (docs.length !== m.world.length) return { path: ['docs'], message: `has ${docs.length} paragraphs, meta.world has ${m.world.length}` };
  for (const [i, e] of m.world.entries()) {
    if (docs[i].key !== e.key) return { path: ['docs', i, 'key'], message: `is "${docs[i].key}", expected "${e.key}" (meta.world[${i}].key)` };
    const text = multihopParagraph(e, k.style);
    if (docs[i].text !== text) return { path: ['docs', i, 'text'], message: `is ${JSON.stringify(docs[i].text)}, expected ${JSON.stringify(text)} (meta.world[${i}] written ${k.style})` };
  }
  const sol = solveMultihop(m.world, m.chain[0], m.path);
  if (!sol.ok) return { path: ['meta', 'path'], message: `does not solve: ${sol.reason}` };
  if (sol.chain.join(',') !== m.chain.join(',')) return { path: ['meta', 'chain'], message: `is ${m.chain.join(',')}, but the path visits ${sol.chain.join(',')}` };
  if (new Set(m.chain).size !== m.chain.length) return { path: ['meta', 'chain'], message: `visits an entity twice (${m.chain.join(',')})` };
  const prompt = multihopPrompt(m.chain[0], m.path, m.world, k);
  if (item.prompt !== prompt) return { path: ['prompt'], message: `is ${JSON.stringify(item.prompt)}, expected ${JSON.stringify(prompt)} (the question and the keys)` };
  const answer = m.chain[m.chain.length - 1];
  if (item.answer !== answer) return { path: ['answer'], message: `is "${item.answer}", expected "${answer}" (the end of the chain)` };
  return null;
}
