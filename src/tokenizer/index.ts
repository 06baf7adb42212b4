/**
 * Tokenizers: selfcest's character-level one (tokenizer/tokenizer.json, built by scripts/build-tokenizer.ts) with the
 * clone protocol's special tokens at ids 0..31, and any Hugging Face tokenizer.json that holds the protocol's tokens
 * at ids of its own (an imported model's: withProtocolTokens adds them). See docs/tokenizer.md.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { SelfcestError } from '../util/errors.ts';

/** The clone protocol's special tokens; in selfcest's own tokenizer a token's index here is its id. */
export const SPECIAL_TOKENS = [
  '<pad>', '<eos>', '<unk>', '<bos>', '<spawn>', '</spawn>', '<obj>', '<ctx>',
  '<ret>', '</ret>', '<answer>', '<clone>', '<doc>', '<think>', '<err>', '<split>',
  '<b16>', '<b32>', '<b64>', '<b128>',
  '<reserved_0>', '<reserved_1>', '<reserved_2>', '<reserved_3>', '<reserved_4>', '<reserved_5>',
  '<reserved_6>', '<reserved_7>', '<reserved_8>', '<reserved_9>', '<reserved_10>', '<reserved_11>',
] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

export interface TextTokenizer {
  vocabSize: number;
  /** Text to ids; adds no bos/eos. Unknown characters become `<unk>` (or the tokenizer's own unk token). */
  encode(text: string): number[];
  decode(ids: readonly number[], opts?: { skipSpecial?: boolean }): string;
  id(token: SpecialToken): number;
  token(id: number): string;
  /** a protocol token, or a special token of the tokenizer's own (e.g. GPT-2's <|endoftext|>) */
  isSpecial(id: number): boolean;
  /** the id unknown text maps to, when it is not `<unk>`'s (a WordPiece's [UNK]); null: none */
  unknownId?: number | null;
  /** sha256 of tokenizer.json and tokenizer_config.json (provenance of checkpoints and evals) */
  sha256?: string;
  /** the two files that define it, as checkpoints and exports write them */
  files?: TokenizerFiles;
}

/** tokenizer.json and tokenizer_config.json, as text */
export interface TokenizerFiles {
  'tokenizer.json': string;
  'tokenizer_config.json': string;
}
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

const DEFAULT_DIR = new URL('../../tokenizer/', import.meta.url);
/** selfcest's own tokenizer directory (the one every policy trained from scratch uses) */
export const DEFAULT_TOKENIZER_DIR = fileURLToPath(DEFAULT_DIR);

/** Read a tokenizer directory's two files (a SelfcestError names a missing one). */
export function readTokenizerFiles(dir: string | URL = DEFAULT_DIR): TokenizerFiles {
  const base = dir instanceof URL ? fileURLToPath(dir) : dir;
  const read = (name: (typeof TOKENIZER_FILES)[number], what: string): string => {
    try {
      return readFileSync(join(base, name), 'utf8');
    } catch (e) {
      throw new SelfcestError(`cannot read ${join(base, name)}: expected ${what} (${(e as Error).message})${base === DEFAULT_TOKENIZER_DIR ? '; run npm run build:tokenizer' : ''}`);
    }
  };
  return { 'tokenizer.json': read('tokenizer.json', 'a Hugging Face tokenizer.json'), 'tokenizer_config.json': read('tokenizer_config.json', 'a tokenizer_config.json') };
}

/** sha256 of the two files' bytes, in order (the same as filesSha256 over the files) */
export function tokenizerSha256(files: TokenizerFiles): string {
  const h = createHash('sha256');
  for (const f of TOKENIZER_FILES) h.update(files[f]);
  return h.digest('hex');
}

let defaultSha: string | undefined;
/** Is this selfcest's own tokenizer (same bytes)? A checkpoint of another one carries its tokenizer files. */
export function isDefaultTokenizer(tok: Pick<TextTokenizer, 'sha256'>): boolean {
  defaultSha ??= tokenizerSha256(readTokenizerFiles());
  return tok.sha256 === undefined || tok.sha256 === defaultSha;
}

function parseObject(text: string, where: string, what: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (e) {
    throw new SelfcestError(`${where} is not valid JSON: expected ${what} (${(e as Error).message})`);
  }
}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

/** Every token string → id in a tokenizer.json (model vocabulary and added tokens), and the added tokens. */
function vocabOf(json: Record<string, unknown>, where: string): { ids: Map<string, number>; added: AddedToken[] } {
  const model = json.model as { vocab?: unknown } | undefined;
  const ids = new Map<string, number>();
  const v = model?.vocab;
  // WordLevel / BPE / WordPiece: an object token → id; Unigram: a list of [token, score]
  if (Array.isArray(v)) v.forEach((e, i) => ids.set(String((e as unknown[])[0]), i));
  else if (v && typeof v === 'object') for (const [k, id] of Object.entries(v)) ids.set(k, id as number);
  else throw new SelfcestError(`${where}: model.vocab is missing: expected a Hugging Face tokenizer.json`);
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as AddedToken[]) : [];
  for (const t of added) {
    if (!Number.isInteger(t.id) || typeof t.content !== 'string') throw new SelfcestError(`${where}: added_tokens holds ${JSON.stringify(t)}: expected {id, content}`);
    ids.set(t.content, t.id);
  }
  return { ids, added };
}

/** Parse two tokenizer files (from a directory, a checkpoint or an import) into a TextTokenizer. */
export function tokenizerFromFiles(files: TokenizerFiles, where = 'tokenizer'): TextTokenizer {
  const jsonPath = join(where, 'tokenizer.json');
  const configPath = join(where, 'tokenizer_config.json');
  const json = parseObject(files['tokenizer.json'], jsonPath, 'a Hugging Face tokenizer.json');
  const config = parseObject(files['tokenizer_config.json'], configPath, 'a tokenizer_config.json');
  const { ids, added } = vocabOf(json, jsonPath);

  // the protocol's tokens, by name, each at one id
  const missing = SPECIAL_TOKENS.filter((t) => !ids.has(t));
  if (missing.length > 0) {
    throw new SelfcestError(`${jsonPath}: the clone protocol's special tokens ${missing.slice(0, 4).join(' ')}${missing.length > 4 ? ` (${missing.length} in all)` : ''} are missing; a model imported from a Hugging Face directory gets them added (docs/tokenizer.md)`);
  }
  const special = new Map(SPECIAL_TOKENS.map((t) => [t, ids.get(t)!]));
  // ids 0..V-1, each one token: the model has a row for every id and nothing else
  const vocabSize = Math.max(...ids.values()) + 1;
  const seen = new Uint8Array(vocabSize);
  for (const id of ids.values()) seen[id] = 1;
  const gap = seen.indexOf(0);
  if (gap >= 0) throw new SelfcestError(`${jsonPath}: no token has id ${gap}: expected the ids 0..${vocabSize - 1} with no gaps`);

  let hf: Tokenizer;
  try {
    // clean_up_tokenization_spaces would silently rewrite " ." etc. on decode.
    hf = new Tokenizer(json, { ...config, clean_up_tokenization_spaces: false });
  } catch (e) {
    throw new SelfcestError(`${jsonPath} is not a valid tokenizer.json: ${(e as Error).message}`);
  }
  for (const [name, id] of special) {
    const actual = hf.encode(name, { add_special_tokens: false }).ids;
    if (actual.length !== 1 || actual[0] !== id) throw new SelfcestError(`${jsonPath}: the protocol token ${name} (id ${id}) does not encode to itself (got ${JSON.stringify(actual)}): expected it among added_tokens`);
  }
  const unkToken = (json.model as { unk_token?: unknown }).unk_token;
  if (unkToken === '<unk>' && hf.encode('\u0000', { add_special_tokens: false }).ids[0] !== special.get('<unk>')) {
    throw new SelfcestError(`${configPath}: unknown characters do not map to <unk> (expected unk_token "<unk>")`);
  }
  const unknownId = typeof unkToken === 'string' && unkToken !== '<unk>' ? (ids.get(unkToken) ?? null) : null;
  const specialIds = new Set([...special.values(), ...added.filter((t) => t.special).map((t) => t.id)]);

  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new SelfcestError(`token id ${id} out of range: expected an integer in [0, ${vocabSize})`);
    }
  };

  return {
    vocabSize,
    sha256: tokenizerSha256(files),
    files,
    unknownId,
    encode: (text) => hf.encode(text, { add_special_tokens: false }).ids,
    decode(ids, opts = {}) {
      ids.forEach(checkId);
      if (ids.length === 0) return '';
      return hf.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? false, clean_up_tokenization_spaces: false });
    },
    id(token) {
      const id = special.get(token);
      if (id === undefined) throw new SelfcestError(`unknown special token ${JSON.stringify(token)}`);
      return id;
    },
    token(id) {
      checkId(id);
      return hf.id_to_token(id)!;
    },
    isSpecial: (id) => specialIds.has(id),
  };
}

export function loadTokenizer(dir: string | URL = DEFAULT_DIR): TextTokenizer {
  const base = dir instanceof URL ? fileURLToPath(dir) : dir;
  return tokenizerFromFiles(readTokenizerFiles(base), base);
}

/**
 * A tokenizer.json of another model (an import) with the clone protocol's tokens that it lacks appended as special
 * added tokens at the next free ids, in SPECIAL_TOKENS order, and tokenizer_config.json's additional_special_tokens
 * extended. `firstId` is the id the first added token gets (the tokenizer's id count before).
 */
export function withProtocolTokens(files: TokenizerFiles, where = 'tokenizer'): { files: TokenizerFiles; added: SpecialToken[]; firstId: number } {
  const jsonPath = join(where, 'tokenizer.json');
  const json = parseObject(files['tokenizer.json'], jsonPath, 'a Hugging Face tokenizer.json');
  const config = parseObject(files['tokenizer_config.json'], join(where, 'tokenizer_config.json'), 'a tokenizer_config.json');
  const { ids, added } = vocabOf(json, jsonPath);
  const firstId = ids.size === 0 ? 0 : Math.max(...ids.values()) + 1;
  const missing = SPECIAL_TOKENS.filter((t) => !ids.has(t));
  if (missing.length === 0) return { files, added: [], firstId };
  const extra = missing.map((content, i) => ({ id: firstId + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const prior = Array.isArray(config.additional_special_tokens) ? (config.additional_special_tokens as unknown[]) : [];
  return {
    files: {
      'tokenizer.json': JSON.stringify({ ...json, added_tokens: [...added, ...extra] }),
      'tokenizer_config.json': JSON.stringify({ ...config, additional_special_tokens: [...prior, ...missing] }, null, 2) + '\n',
    },
    added: missing,
    firstId,
  };
}

/** Like `tok.encode`, but throws SelfcestError if any character is outside the vocabulary. */
export function encodeChecked(tok: TextTokenizer, text: string): number[] {
  const ids = tok.encode(text);
  const unk = tok.id('<unk>');
  const own = tok.unknownId ?? null;
  if (!ids.includes(unk) && (own === null || !ids.includes(own))) return ids;
  // Find the offending character: re-walk the text, matching special tokens first (as the tokenizer does).
  let i = 0;
  while (i < text.length) {
    const special = SPECIAL_TOKENS.find((s) => text.startsWith(s, i));
    if (special) {
      i += special.length;
      continue;
    }
    const ch = String.fromCodePoint(text.codePointAt(i)!);
    const one = tok.encode(ch);
    if (one.includes(unk) || (own !== null && one.includes(own))) {
      throw new SelfcestError(`character ${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) at index ${i} is not in the tokenizer vocabulary`);
    }
    i += ch.length;
  }
  throw new SelfcestError(`text contains the literal token <unk>, which encodeChecked rejects`);
}
