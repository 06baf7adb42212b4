// Every checkpoint and every eval index records where it came from: selfcest's version, the git commit (and whether
// the tree had changes), the tokenizer's hash; an eval also the hash of its items file.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/select.ts';
import { readCheckpointState, findLatest } from '../../src/checkpoint/store.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { runConfig } from '../../src/train/config.ts';
import { trainSupervised } from '../../src/train/supervised.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const sha = (...files: string[]) => {
  const h = createHash('sha256');
  for (const f of files) h.update(fs.readFileSync(f));
  return h.digest('hex');
};

describe('provenance', () => {
  it('a checkpoint and an eval index name version, commit, tokenizer and items hashes', async () => {
    await selectBackend('cpu');
    const tok = loadTokenizer();
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-prov-'));
    const cfg = runConfig({ model: { vocabSize: tok.vocabSize, ctx: 64, dModel: 16, nLayers: 1, nHeads: 2 }, train: { steps: 1, batchSize: 2, evalItems: 0 } });
    const r = await trainSupervised(cfg, tok, { out, log: () => {} });
    r.model.dispose();
    const state = readCheckpointState(findLatest(out)!);
    let commit: string | null = null;
    try {
      commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      /* not a git checkout */
    }
    const tokenizer = sha(path.join(ROOT, 'tokenizer/tokenizer.json'), path.join(ROOT, 'tokenizer/tokenizer_config.json'));
    expect(state.provenance).toEqual({
      selfcest: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
      git: commit,
      gitDirty: commit === null ? null : expect.any(Boolean),
      node: process.version,
      tokenizer,
    });

    const ev = path.join(out, 'ev');
    execFileSync(process.execPath, ['bin/selfcest.mjs', 'eval', '--backend', 'cpu', '--checkpoint', out, '--task', 'arith', '--split', 'data/eval/arith-id.jsonl', '--n', '2', '--bootstrap', '10', '--out', ev], { cwd: ROOT, stdio: 'pipe' });
    const index = JSON.parse(fs.readFileSync(path.join(ev, 'eval.json'), 'utf8'));
    expect(index.provenance).toMatchObject({ git: commit, tokenizer, itemsSha256: sha(path.join(ROOT, 'data/eval/arith-id.jsonl')) });
  }, 120_000);
});
