import { describe, it, expect } from 'vitest';
import { loadRunConfig } from '../../src/train/config.ts';
import { RlConfigSchema, rlRolloutItems } from '../../src/train/rl.ts';
import { sftBatch, sftTree } from '../../src/train/supervised.ts';
import { taskItems, TaskSourceSchema } from '../../src/train/task-source.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';

describe('task sources of training runs', () => {
  it('accepts registered tasks and presets and names the bad field otherwise', () => {
    expect(TaskSourceSchema.parse({ name: 'countdown' })).toEqual({ name: 'countdown', preset: 'tiny' });
    expect(() => loadRunConfig(undefined, ['sft.name="sudoku"'])).toThrow(/sft\.name.*unknown task "sudoku" \(known: arith, countdown/);
    expect(() => loadRunConfig(undefined, ['sft.name="countdown"', 'sft.preset="huge"'])).toThrow(/sft\.preset.*no preset "huge"/);
    expect(() => RlConfigSchema.parse({ mode: 'grpo', task: { name: 'nope' } })).toThrow(/unknown task/);
  });

  it('draws the same items for the same seed (numbers and strings) and different ones otherwise', () => {
    const src = TaskSourceSchema.parse({ name: 'countdown' });
    const a = taskItems(src, 'train', 3, 'x:eval');
    expect(taskItems(src, 'train', 3, 'x:eval')).toEqual(a);
    expect(taskItems(src, 'train', 3, 'y:eval').map((i) => i.prompt)).not.toEqual(a.map((i) => i.prompt));
    expect(a.every((i) => i.task === 'countdown' && i.split === 'train')).toBe(true);
  });

  it('builds SFT batches from the traces of any task (countdown here), with delegation rows when asked', () => {
    const tok = loadTokenizer();
    const cfg = loadRunConfig(undefined, ['train.task="sft"', 'train.batchSize=6', 'sft.name="countdown"', 'sft.delegation=1']);
    const b = sftBatch(cfg, tok, Rng.fromSeed(3), 'train');
    // delegation traces have clone rows, so a batch holds more rows than items
    expect(b.B).toBeGreaterThan(6);
    expect(b.T).toBeLessThanOrEqual(cfg.model.ctx);
    const mono = sftBatch({ ...cfg, sft: { ...cfg.sft, delegation: 0 } }, tok, Rng.fromSeed(3), 'train');
    expect(mono.B).toBe(6);
  });

  it('shows multi-hop lookup drills for a share sft.drills of the items; without drills it draws nothing extra', () => {
    const tok = loadTokenizer();
    const base = ['train.task="sft"', 'train.batchSize=32', 'sft.name="multihop"', 'sft.delegation=0'];
    const plain = loadRunConfig(undefined, base);
    const drilled = loadRunConfig(undefined, [...base, 'sft.drills=0.5']);
    const zero = loadRunConfig(undefined, [...base, 'sft.drills=0']);
    const items = taskItems(plain.sft, 'train', 32, 5);
    const roots = (cfg: typeof plain, seed: number) =>
      items.map((it, i) => tok.decode(sftTree(cfg, tok, it, Rng.fromSeed(`${seed}:${i}`))!.contexts[0].ids).split('?')[0]);
    // drills: 0 and no drills draw the same stream, so older runs keep their batches
    expect(roots(zero, 7)).toEqual(roots(plain, 7));
    // a drill's question lists one-hop queries (`B.b,H.m`), a real question is one chain (`B.b.m`)
    const drills = roots(drilled, 7).filter((q) => q.includes(',')).length;
    expect(drills).toBeGreaterThan(8);
    expect(drills).toBeLessThan(24);
    expect(roots(plain, 7).some((q) => q.includes(','))).toBe(false);
    expect(() => loadRunConfig(undefined, ['train.task="sft"', 'sft.name="arith"', 'sft.drills=0.5'])).toThrow(/sft\.drills.*task arith has no drill traces/);
  });

  it('demonstrates a delegation when the monolithic trace does not fit the window, even with delegation 0', () => {
    const tok = loadTokenizer();
    // sums-long ID items (2–11 operations): ~19 % have no monolithic trace within 128 tokens, all a delegation
    const cfg = loadRunConfig(undefined, ['train.task="sft"', 'train.batchSize=64', 'sft.name="arith"', 'sft.preset="sums-long"', 'sft.delegation=0']);
    const b = sftBatch(cfg, tok, Rng.fromSeed(3), 'train');
    // every item is kept (64 roots) and the long ones bring clone rows; dropping them would leave B < 64
    expect(b.B).toBeGreaterThan(64);
    expect(b.T).toBeLessThanOrEqual(cfg.model.ctx);
  });

  it('sft.monolithicOnly: no delegation demonstration at all, items without a monolithic trace are left out', () => {
    const tok = loadTokenizer();
    const cfg = loadRunConfig(undefined, ['train.task="sft"', 'train.batchSize=64', 'sft.name="arith"', 'sft.preset="sums-long"', 'sft.delegation=0', 'sft.monolithicOnly=true']);
    const items = taskItems(cfg.sft, 'train', 64, 9);
    const trees = items.map((it, i) => sftTree(cfg, tok, it, Rng.fromSeed(i)));
    expect(trees.every((t) => t === null || t.contexts.length === 1)).toBe(true);
    const left = trees.filter((t) => t === null).length;
    expect(left).toBeGreaterThan(0); // the long items: ~19 % have no monolithic trace within 128 tokens
    expect(left).toBeLessThan(32);
    expect(sftBatch(cfg, tok, Rng.fromSeed(3), 'train').B).toBeLessThan(64);
    expect(() => loadRunConfig(undefined, ['train.task="sft"', 'sft.delegation=0.5', 'sft.monolithicOnly=true'])).toThrow(/sft\.monolithicOnly: needs sft\.delegation 0/);
  });

  it('split-style delegations recurse as deep as sft.maxDepth allows', () => {
    const tok = loadTokenizer();
    const base = ['train.task="sft"', 'train.batchSize=16', 'sft.name="arith"', 'sft.preset="sums-long"', 'sft.delegation=1', 'sft.delegationStyle="split"'];
    const rows = (depth: number) => sftBatch(loadRunConfig(undefined, [...base, `sft.maxDepth=${depth}`]), tok, Rng.fromSeed(5), 'train').B;
    // depth 1: root + 2 halves per item; depth 2: halves of more than 4 terms split again
    expect(rows(1)).toBeLessThanOrEqual(16 * 3);
    expect(rows(2)).toBeGreaterThan(rows(1));
    expect(() => loadRunConfig(undefined, [...base, 'sft.delegationStyle="paste"'])).toThrow(/delegationStyle/);
  });
});

describe('GRPO rollout items', () => {
  it('give a document task the keys view with spawning allowed and the inline (monolithic) view with it masked', () => {
    const tok = loadTokenizer();
    const items = taskItems(TaskSourceSchema.parse({ name: 'multihop' }), 'train', 2, 5);
    const doc = items[0].docs![0].text;
    const cfg = RlConfigSchema.parse({ mode: 'grpo', task: { name: 'multihop' } });
    const [keys] = rlRolloutItems(items, tok, cfg.rollout);
    const [inline] = rlRolloutItems(items, tok, { ...cfg.rollout, allowSpawn: false });
    expect(tok.decode(keys.prompt)).not.toContain(doc);
    expect(keys.docs).toBeDefined();
    expect(tok.decode(inline.prompt)).toContain(doc);
    expect(inline.prompt.length).toBeLessThanOrEqual(cfg.rollout.rootWindow);
  });
});
