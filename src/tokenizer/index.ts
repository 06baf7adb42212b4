/**
 * Character-level tokenizer (tokenizer/tokenizer.json, built by scripts/build-tokenizer.ts) with the clone
 * protocol's special tokens at ids 0..31. See docs/tokenizer.md.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { SelfcestError } from '../util/errors.ts';
import { filesSha256 } from '../util/provenance.ts';

/** Special tokens; a token's index here is its id. */
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
  /** Text to ids; adds no bos/eos. Unknown characters become `<unk>`. */
  encode(text: string): number[];
  decode(ids: readonly number[], opts?: { skipSpecial?: boolean }): string;
  id(token: SpecialToken): number;
  token(id: number): string;
  isSpecial(id: number): boolean;
  /** sha256 of tokenizer.json and tokenizer_config.json (provenance of checkpoints and evals) */
  sha256?: string;
}

const DEFAULT_DIR = new URL('../../tokenizer/', import.meta.url);

function readJson(path: string, what: string): object {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SelfcestError(`cannot read ${path}: expected ${what} (${(e as Error).message}); run npm run build:tokenizer`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed;
  } catch (e) {
    throw new SelfcestError(`${path} is not valid JSON: expected ${what} (${(e as Error).message})`);
  }
}

export function loadTokenizer(dir: string | URL = DEFAULT_DIR): TextTokenizer {
  const base = dir instanceof URL ? fileURLToPath(dir) : dir;
  const jsonPath = join(base, 'tokenizer.json');
  const configPath = join(base, 'tokenizer_config.json');
  const json = readJson(jsonPath, 'a Hugging Face tokenizer.json');
  const config = readJson(configPath, 'a tokenizer_config.json');

  let hf: Tokenizer;
  try {
    // clean_up_tokenization_spaces would silently rewrite " ." etc. on decode.
    hf = new Tokenizer(json, { ...config, clean_up_tokenization_spaces: false });
  } catch (e) {
    throw new SelfcestError(`${jsonPath} is not a valid tokenizer.json: ${(e as Error).message}`);
  }

  SPECIAL_TOKENS.forEach((name, expected) => {
    const actual = hf.token_to_id(name);
    if (actual !== expected) {
      throw new SelfcestError(`${jsonPath}: special token ${name} has id ${actual}, expected ${expected}`);
    }
  });
  const unkId = SPECIAL_TOKENS.indexOf('<unk>');
  if (hf.encode('\u0000', { add_special_tokens: false }).ids[0] !== unkId) {
    throw new SelfcestError(`${configPath}: unknown characters do not map to <unk> (expected unk_token "<unk>")`);
  }

  const vocabSize = hf.get_vocab(true).size;
  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new SelfcestError(`token id ${id} out of range: expected an integer in [0, ${vocabSize})`);
    }
  };

  return {
    vocabSize,
    sha256: filesSha256(jsonPath, configPath),
    encode: (text) => hf.encode(text, { add_special_tokens: false }).ids,
    decode(ids, opts = {}) {
      ids.forEach(checkId);
      if (ids.length === 0) return '';
      return hf.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? false, clean_up_tokenization_spaces: false });
    },
    id(token) {
      const id = SPECIAL_TOKENS.indexOf(token);
      if (id < 0) throw new SelfcestError(`unknown special token ${JSON.stringify(token)}`);
      return id;
    },
    token(id) {
      checkId(id);
      return hf.id_to_token(id)!;
    },
    isSpecial: (id) => Number.isInteger(id) && id >= 0 && id < SPECIAL_TOKENS.length,
  };
}

/** Like `tok.encode`, but throws SelfcestError if any character is outside the vocabulary. */
export function encodeChecked(tok: TextTokenizer, text: string): number[] {
  const ids = tok.encode(text);
  const unk = tok.id('<unk>');
  if (!ids.includes(unk)) return ids;
  // Find the offending character: re-walk the text, matching special tokens first (as the tokenizer does).
  let i = 0;
  while (i < text.length) {
    const special = SPECIAL_TOKENS.find((s) => text.startsWith(s, i));
    if (special) {
      i += special.length;
      continue;
    }
    const ch = String.fromCodePoint(text.codePointAt(i)!);
    if (tok.encode(ch)[0] === unk) {
      throw new SelfcestError(`character ${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) at index ${i} is not in the tokenizer vocabulary`);
    }
    i += ch.length;
  }
  throw new SelfcestError(`text contains the literal token <unk>, which encodeChecked rejects`);
}
