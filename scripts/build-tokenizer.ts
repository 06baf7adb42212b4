/**
 * Generates tokenizer/tokenizer.json and tokenizer/tokenizer_config.json (deterministic; both are committed).
 *
 * Character-level WordLevel tokenizer: 32 special tokens (ids 0..31) then every printable ASCII character
 * plus newline (ids 32..127). The JSON follows the Hugging Face `tokenizers` schema so it also loads in Python.
 *
 *   npm run build:tokenizer
 *
 * Importing this module writes nothing; only running it directly does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SPECIAL_TOKENS } from '../src/tokenizer/index.ts';

const DIGITS = '0123456789';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const PUNCT = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** Every vocabulary entry in id order. */
export function vocabTokens(): string[] {
  return [...SPECIAL_TOKENS, ' ', '\n', ...DIGITS, ...LOWER, ...UPPER, ...PUNCT];
}

export function buildTokenizerFiles(): { tokenizer: object; config: object } {
  const tokens = vocabTokens();
  if (new Set(tokens).size !== tokens.length) throw new Error('duplicate vocabulary entry');
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));

  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: '[\\s\\S]' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };

  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<bos>',
    eos_token: '<eos>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    additional_special_tokens: SPECIAL_TOKENS.filter((t) => !['<pad>', '<eos>', '<unk>', '<bos>'].includes(t)),
    clean_up_tokenization_spaces: false,
    model_max_length: 1_000_000_000,
  };
  return { tokenizer, config };
}

/** The exact file text written for a JSON object. */
export function toFileText(obj: object): string {
  return JSON.stringify(obj, null, 2) + '\n';
}

function main(): void {
  const dir = fileURLToPath(new URL('../tokenizer/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const { tokenizer, config } = buildTokenizerFiles();
  const size = vocabTokens().length;
  for (const [name, obj] of [['tokenizer.json', tokenizer], ['tokenizer_config.json', config]] as const) {
    const path = dir + name;
    writeFileSync(path, toFileText(obj));
    console.log(`wrote ${path}`);
  }
  console.log(`vocab size ${size}: ${SPECIAL_TOKENS.length} special tokens, ${size - SPECIAL_TOKENS.length} characters`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
