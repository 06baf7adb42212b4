// maxTreeTokens is a hard limit on every token a tree holds: the root prompt, sampled tokens, clone prompts,
// injected returns and error segments. (It was a soft one: clone prompts and returns went past it, and clones
// decoding in lockstep each added a token on the step that reached it.)
import { describe, expect, it } from 'vitest';
import { loadTokenizer, type SpecialToken } from '../../src/tokenizer/index.ts';
import { docStore, protocolTokens, RolloutConfigSchema } from '../../src/rollout/protocol.ts';
import { runTrees, ScriptedPolicy, type Policy, type RolloutItem, type TokenRequest } from '../../src/rollout/engine.ts';
import type { Tree } from '../../src/rollout/tree.ts';
import { Rng } from '../../src/util/rng.ts';

const tok = loadTokenizer();
const p = protocolTokens(tok);
const T = (...parts: string[]): number[] => parts.flatMap((x) => (/^<[^>]+>$/.test(x) ? [tok.id(x as SpecialToken)] : tok.encode(x)));
const held = (t: Tree) => t.contexts.reduce((n, c) => n + c.ids.length, 0);
const docs = docStore([{ key: T('K1'), doc: T('K1: a rather long document of twelve and more tokens') }]);

describe('maxTreeTokens is a hard limit', () => {
  it('clones in lockstep stop exactly at the limit; the returns that do not fit are not injected', async () => {
    const cfg = RolloutConfigSchema.parse({ maxTreeTokens: 100, rootBudget: 96, defaultCloneBudget: 24 });
    const scripts = new Map([
      ['0:0', [...T('<spawn>', '<obj>', 'y', '<b128>', '<obj>', 'y', '<b128>', '<obj>', 'y', '<b128>', '</spawn>'), ...T('z'.repeat(50))]],
      ['0:1', T('y'.repeat(200))],
      ['0:2', T('y'.repeat(200))],
      ['0:3', T('y'.repeat(200))],
    ]);
    const [t] = await runTrees([{ itemId: 'a', prompt: T('hi') }], new ScriptedPolicy(scripts), cfg, p);
    expect(held(t)).toBe(100);
    expect(t.cost.processedTokens).toBe(100);
    expect(t.contexts.map((c) => c.finish)).toEqual(['tree-limit', 'tree-limit', 'tree-limit', 'tree-limit']);
  });

  it('a call whose clone prompts do not fit in what is left is malformed ("tree-tokens"); its error token still fits', async () => {
    const prompt = T('12+34=');
    const call = T('<spawn>', '<obj>', 'abc', '<ctx>', 'K1', '</spawn>');
    const clonePromptLength = T('<clone>', 'abc', '<doc>', 'K1: a rather long document of twelve and more tokens', '<think>').length;
    // room for the prompt, the call, the error token and the answer, not for the clone's prompt
    const limit = prompt.length + call.length + clonePromptLength - 1;
    const cfg = RolloutConfigSchema.parse({ maxTreeTokens: limit, rootBudget: 64 });
    const scripts = new Map([['0:0', [...call, ...T('<answer>', '46', '<eos>')]]]);
    const [t] = await runTrees([{ itemId: 'a', prompt, docs }], new ScriptedPolicy(scripts), cfg, p);
    expect(t.contexts).toHaveLength(1);
    expect(t.contexts[0].calls[0].malformed).toBe('tree-tokens');
    expect(t.contexts[0].ids).toEqual([...prompt, ...call, p.err, ...T('<answer>', '46', '<eos>')].slice(0, limit));
    expect(held(t)).toBeLessThanOrEqual(limit);
  });

  it('a root prompt longer than the limit ends its tree at once, holding nothing but the prompt', async () => {
    const cfg = RolloutConfigSchema.parse({ maxTreeTokens: 3 });
    const [t] = await runTrees([{ itemId: 'a', prompt: T('12+34+56=') }], new ScriptedPolicy(new Map()), cfg, p);
    expect(t.contexts[0].finish).toBe('tree-limit');
    expect(t.contexts[0].ids).toEqual(T('12+34+56='));
  });

  it('fuzz: random calls, budgets, nesting, malformed calls and babble never take a tree past its limit', async () => {
    const rng = Rng.fromSeed('tree-limit-fuzz');
    const budgets = ['<b16>', '<b32>', '<b64>', '<b128>'];
    /** each context draws a script on its first request: answer, babble, a (maybe malformed) call, then more */
    const scripts = new Map<string, number[]>();
    const draw = (): number[] => {
      const out: number[] = [];
      for (let part = 0; part < 3; part++) {
        const r = rng.next();
        if (r < 0.45) {
          const k = 1 + rng.int(0, 3);
          const specs = Array.from({ length: k }, () => T('<obj>', 'x'.repeat(1 + rng.int(0, 6)), ...(rng.next() < 0.5 ? [budgets[rng.int(0, 3)]] : []), ...(rng.next() < 0.4 ? ['<ctx>', 'K1'] : [])));
          out.push(...(rng.next() < 0.1 ? T('<spawn>', '</spawn>') : [...T('<spawn>'), ...specs.flat(), ...T('</spawn>')]));
        } else if (r < 0.75) out.push(...T('q'.repeat(rng.int(1, 40))));
        else break;
      }
      return [...out, ...T('<answer>', String(rng.int(0, 99)), '<eos>')];
    };
    const policy: Policy = {
      next: async (reqs: TokenRequest[]) =>
        reqs.map((r) => {
          const name = `${r.tree}:${r.context}`;
          if (!scripts.has(name)) scripts.set(name, draw());
          const s = scripts.get(name)!;
          return { token: s.shift() ?? p.eos, logprob: 0 };
        }),
      release: async () => {},
    };
    let atLimit = 0;
    for (const limit of [20, 37, 64, 101, 160, 256]) {
      const cfg = RolloutConfigSchema.parse({ maxTreeTokens: limit, maxDepth: 2, maxCallsPerTree: 6, rootBudget: 120, defaultCloneBudget: 24, rootWindow: 128, cloneWindow: 64 });
      const items: RolloutItem[] = Array.from({ length: 40 }, (_, i) => ({ itemId: `i${i}`, prompt: T(`${i}+${i * 7}=`), docs }));
      scripts.clear();
      const trees = await runTrees(items, policy, cfg, p);
      for (const t of trees) {
        expect(held(t), `limit ${limit}, tree ${t.itemId}`).toBeLessThanOrEqual(limit);
        expect(t.cost.processedTokens).toBe(held(t));
        if (held(t) === limit) atLimit++;
      }
    }
    expect(atLimit, 'some trees ran into the limit').toBeGreaterThan(20);
  });
});
