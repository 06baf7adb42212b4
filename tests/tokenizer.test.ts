import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SPECIAL_TOKENS, encodeChecked, isDefaultTokenizer, loadTokenizer, tokenizerFromFiles, withProtocolTokens } from '../src/tokenizer/index.ts';
import { filesSha256 } from '../src/util/provenance.ts';
import { bpeTokenizerFiles } from './fixtures/bpe-tokenizer.ts';
import { buildTokenizerFiles, toFileText } from '../scripts/build-tokenizer.ts';
import { SelfcestError } from '../src/util/errors.ts';

const tok = loadTokenizer();
const repoFile = (name: string) => readFileSync(new URL(`../tokenizer/${name}`, import.meta.url), 'utf8');

const CORPUS = [
  '(123+45)*6-7=',
  '98765 reversed is 56789',
  'Alice met Bob; "Hi!" she said. Then: 3 apples @ $0.50 = $1.50 (50% off?)',
  'line one\nline two\n\n  indented ~ `code` {x|y} [a\\b] ^_^ #tag & <not a token>',
  ' . , ? ! leading space, and a space before punctuation .',
  '<spawn><obj>sort 3 1 2</spawn><ret>1 2 3</ret><answer>1 2 3<eos>',
  '',
];

describe('tokenizer', () => {
  it('has 128 tokens with specials at ids 0..31', () => {
    expect(tok.vocabSize).toBe(128);
    SPECIAL_TOKENS.forEach((name, i) => {
      expect(tok.id(name)).toBe(i);
      expect(tok.token(i)).toBe(name);
      expect(tok.isSpecial(i)).toBe(true);
    });
    expect(tok.isSpecial(32)).toBe(false);
  });

  it('encodes every special token to exactly one id, also glued to text', () => {
    for (const name of SPECIAL_TOKENS) {
      expect(tok.encode(name)).toEqual([tok.id(name)]);
      expect(tok.encode(`x${name}y`)).toEqual([...tok.encode('x'), tok.id(name), ...tok.encode('y')]);
    }
    expect(tok.encode('x<answer>y')).toHaveLength(3);
  });

  it('maps each printable ASCII char and newline to its own id, without bos/eos', () => {
    const chars = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('') + '\n';
    const ids = tok.encode(chars);
    expect(ids).toHaveLength(96);
    expect(new Set(ids).size).toBe(96);
    expect(ids.every((id) => id >= 32 && id < 128)).toBe(true);
  });

  it('round-trips text exactly', () => {
    for (const text of CORPUS) {
      expect(tok.decode(tok.encode(text))).toBe(text);
      expect(encodeChecked(tok, text)).toEqual(tok.encode(text));
    }
    expect(tok.decode([])).toBe('');
  });

  it('drops special tokens with skipSpecial', () => {
    const ids = tok.encode('<bos><spawn>ab</spawn><ret>c</ret><eos><pad>');
    expect(tok.decode(ids, { skipSpecial: true })).toBe('abc');
    expect(tok.decode([tok.id('<eos>')], { skipSpecial: true })).toBe('');
  });

  it('maps unknown characters to <unk>; encodeChecked names them', () => {
    const unk = tok.id('<unk>');
    expect(tok.encode('a\tb')).toEqual([tok.encode('a')[0], unk, tok.encode('b')[0]]);
    expect(tok.encode('é')).toEqual([unk]);
    expect(() => encodeChecked(tok, 'ok<answer>x\ty')).toThrow(SelfcestError);
    expect(() => encodeChecked(tok, 'ok<answer>x\ty')).toThrow(/"\\t".*index 11/);
  });

  it('rejects out-of-range ids', () => {
    expect(() => tok.decode([128])).toThrow(SelfcestError);
    expect(() => tok.token(-1)).toThrow(SelfcestError);
  });

  it('committed files equal what the build script generates', () => {
    const { tokenizer, config } = buildTokenizerFiles();
    expect(JSON.parse(repoFile('tokenizer.json'))).toEqual(tokenizer);
    expect(JSON.parse(repoFile('tokenizer_config.json'))).toEqual(config);
    expect(repoFile('tokenizer.json')).toBe(toFileText(tokenizer));
  });

  it('throws SelfcestError for missing or broken files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json/);
    writeFileSync(join(dir, 'tokenizer.json'), '{not json');
    writeFileSync(join(dir, 'tokenizer_config.json'), repoFile('tokenizer_config.json'));
    expect(() => loadTokenizer(dir)).toThrow(SelfcestError);
  });

  it('reads the protocol tokens by name: another numbering is another tokenizer, not an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    writeFileSync(join(dir, 'tokenizer_config.json'), repoFile('tokenizer_config.json'));
    const { tokenizer } = buildTokenizerFiles() as { tokenizer: any };
    const vocab = tokenizer.model.vocab;
    [vocab['<obj>'], vocab['<ctx>']] = [vocab['<ctx>'], vocab['<obj>']];
    for (const t of tokenizer.added_tokens) t.id = vocab[t.content];
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
    const swapped = loadTokenizer(dir);
    expect([swapped.id('<obj>'), swapped.id('<ctx>')]).toEqual([7, 6]);
    expect(swapped.encode('<obj>a<ctx>')).toEqual([7, tok.encode('a')[0], 6]);
    expect(isDefaultTokenizer(swapped)).toBe(false);
    expect(isDefaultTokenizer(tok)).toBe(true);
    // the sha is the files' (checkpoints and evals recorded it so before)
    expect(tok.sha256).toBe(filesSha256(fileURLToPath(new URL('../tokenizer/tokenizer.json', import.meta.url)), fileURLToPath(new URL('../tokenizer/tokenizer_config.json', import.meta.url))));
    // a gap in the ids is refused: the model has a row for every id
    delete vocab.z;
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
    expect(() => loadTokenizer(dir)).toThrow(/no token has id 69: expected the ids 0\.\.127 with no gaps/);
  });

  it("another model's tokenizer (byte-level BPE): refused without the protocol's tokens; withProtocolTokens appends them", () => {
    const bpe = bpeTokenizerFiles();
    expect(() => tokenizerFromFiles(bpe, 'their-model')).toThrow(/their-model\/tokenizer\.json: the clone protocol's special tokens <pad> <eos> <unk> <bos> \(32 in all\) are missing/);
    const { files, added, firstId } = withProtocolTokens(bpe);
    expect(firstId).toBe(263);
    expect(added).toEqual([...SPECIAL_TOKENS]);
    const t = tokenizerFromFiles(files);
    expect(t.vocabSize).toBe(263 + 32);
    SPECIAL_TOKENS.forEach((name, i) => {
      expect(t.id(name)).toBe(263 + i);
      expect(t.encode(`the${name}12`)).toEqual([116, 257, 263 + i, 261]);
      expect(t.isSpecial(263 + i)).toBe(true);
    });
    expect(t.isSpecial(262)).toBe(true); // <|endoftext|>, its own special token
    expect(t.isSpecial(116)).toBe(false);
    expect(t.unknownId).toBe(null);
    // every text has tokens (bytes), also what selfcest's tokenizer cannot encode; decode is exact
    for (const text of [...CORPUS, 'tab\there, é, 日本, \r\n']) {
      expect(t.decode(t.encode(text))).toBe(text);
      expect(encodeChecked(t, text)).toEqual(t.encode(text));
    }
    expect(t.decode(t.encode('<spawn><obj>the cat</spawn>'), { skipSpecial: true })).toBe('the cat');
    expect(JSON.parse(files['tokenizer_config.json']).additional_special_tokens).toEqual([...SPECIAL_TOKENS]);
    // adding again adds nothing: an export of the imported model re-imports as it is
    expect(withProtocolTokens(files)).toEqual({ files, added: [], firstId: 295 });
  });
});
