/**
 * Fixed, hand-written delegation controllers: the baselines a learned controller has to beat (issue 21). A
 * controller wraps any Policy (the model's, in eval) and decides, for each context at its first token, whether it
 * delegates, by masking the policy's choices through the requests' `forbid` lists; the policy still writes
 * everything else (objectives, steps, answers). So the same engine, model and items run every controller:
 *
 *   never           <spawn> is masked in every context (the monolithic policy)
 *   always          a context's first token is <spawn> wherever the engine allows a call there
 *   above:K         a context delegates (as `always`) iff its prompt holds more than K tokens, else never spawns
 *
 * Written `never`, `always`, `above:K`, each optionally followed by `+budget=N` and `+where=all` (parseController).
 * `budget` (optional) fixes the clone budget: every budget token but that one is masked, so each call hands out
 * the same budget. `where: 'root'` (default) decides for the root only and lets clones choose freely (unless
 * `never`), `all` applies the rule in every context. A forced token's logprob is the masked distribution's (0
 * when it is the only choice). Pure TS: no tfjs.
 */
import { SelfcestError } from '../util/errors.ts';
import type { Policy, TokenRequest } from './engine.ts';
import type { ProtocolTokens } from './protocol.ts';

export interface ControllerRule {
  delegate: 'never' | 'always' | { above: number };
  /** the one budget (in tokens: 16, 32, 64, 128) calls may name; absent: any */
  budget?: number;
  where?: 'root' | 'all';
}

/** `never`, `always` or `above:K`, with optional `+budget=N` and `+where=all`: e.g. `above:24+budget=32` (`+`, so a sweep can list several with commas). */
export function parseController(spec: string): ControllerRule {
  const [head, ...opts] = spec.split('+').map((s) => s.trim());
  const bad = (why: string) => new SelfcestError(`controller ${spec}: ${why} (expected never, always or above:K, then optionally +budget=N and +where=root|all)`);
  let delegate: ControllerRule['delegate'];
  if (head === 'never' || head === 'always') delegate = head;
  else {
    const m = /^above:(\d+)$/.exec(head);
    if (!m) throw bad(`"${head}" is no rule`);
    delegate = { above: Number(m[1]) };
  }
  const rule: ControllerRule = { delegate };
  for (const o of opts) {
    const [k, v] = o.split('=');
    if (k === 'budget' && /^\d+$/.test(v ?? '')) rule.budget = Number(v);
    else if (k === 'where' && (v === 'root' || v === 'all')) rule.where = v;
    else throw bad(`"${o}" is no option`);
  }
  return rule;
}

/** The rule in the words parseController reads (for labels and records). */
export function controllerName(r: ControllerRule): string {
  const head = typeof r.delegate === 'string' ? r.delegate : `above:${r.delegate.above}`;
  return [head, ...(r.budget !== undefined ? [`budget=${r.budget}`] : []), ...(r.where === 'all' ? ['where=all'] : [])].join('+');
}

export class ControllerPolicy implements Policy {
  private readonly inner: Policy;
  private readonly rule: ControllerRule;
  private readonly p: ProtocolTokens;
  private readonly vocab: number;
  /** per context key: whether it may spawn (decided at its first token), and whether that token is still to come */
  private readonly decided = new Map<number, { spawns: boolean; first: boolean }>();
  private readonly otherBudgets: number[];

  constructor(inner: Policy, rule: ControllerRule, p: ProtocolTokens, vocabSize: number) {
    this.inner = inner;
    this.rule = rule;
    this.p = p;
    this.vocab = vocabSize;
    const byGrant = [...p.budgets].filter(([, n]) => n === rule.budget);
    if (rule.budget !== undefined && !byGrant.length) throw new SelfcestError(`controller budget ${rule.budget}: no budget token grants ${rule.budget} tokens (known: ${[...p.budgets.values()].join(', ')})`);
    this.otherBudgets = rule.budget === undefined ? [] : [...p.budgets.keys()].filter((id) => p.budgets.get(id) !== rule.budget);
  }

  /** Whether the rule lets (and makes) this context delegate; null: the rule leaves it to the policy. */
  private decide(r: TokenRequest): boolean | null {
    const isClone = r.ids[0] === this.p.clone;
    const d = this.rule.delegate;
    if (d === 'never') return false;
    if (isClone && this.rule.where !== 'all') return null;
    if (d === 'always') return true;
    return r.ids.length > d.above;
  }

  async next(reqs: TokenRequest[]): Promise<{ token: number; logprob: number }[]> {
    const masked = reqs.map((r) => {
      let state = this.decided.get(r.key);
      if (!state) {
        const choice = this.decide(r);
        state = { spawns: choice !== false, first: choice === true && !r.forbid.includes(this.p.spawn) };
        this.decided.set(r.key, state);
      }
      const forbid = [...r.forbid, ...this.otherBudgets];
      if (!state.spawns) forbid.push(this.p.spawn);
      if (state.first) {
        // the first token is <spawn>: every other token is masked
        state.first = false;
        return { ...r, forbid: Array.from({ length: this.vocab }, (_, t) => t).filter((t) => t !== this.p.spawn) };
      }
      return { ...r, forbid };
    });
    return this.inner.next(masked);
  }

  async release(keys: number[]): Promise<void> {
    // decisions stay: a parent released while its clones run asks again after their returns, and must not be forced again
    await this.inner.release(keys);
  }
}
