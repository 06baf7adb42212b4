import { describe, it, expect } from 'vitest';
import { loadTokenizer, encodeChecked } from '../../src/tokenizer/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { arithItem, type ArithItem, arithKnobs, ArithKnobsSchema, checkArithItem, evaluate, type Expr, exprStats, generateArith, parseExpr, renderExpr, solve, stepText } from '../../src/tasks/arith/arith.ts';
import { digitCount, readInt, writeInt } from '../../src/tasks/numbers.ts';

const tok = loadTokenizer();

describe('number format', () => {
  it.each([
    [1234n, true, '4321'],
    [-1234n, true, '-4321'],
    [120n, true, '021'],
    [0n, true, '0'],
    [-7n, true, '-7'],
    [1234n, false, '1234'],
    [-120n, false, '-120'],
  ])('writeInt(%s, reversed %s) = %s and reads back', (v, rev, text) => {
    expect(writeInt(v, rev)).toBe(text);
    expect(readInt(text, rev)).toBe(v);
  });

  it('readInt accepts redundant zeros and rejects what is not an integer', () => {
    expect(readInt('0210', true)).toBe(120n);
    expect(readInt('0120', false)).toBe(120n);
    for (const bad of ['', '-', '--1', '1-', '12a', '+3', ' 1', '1.5']) expect(readInt(bad, true)).toBeNull();
  });
});

describe('expressions: parse, render, solve', () => {
  const steps = (text: string, rev = false) => solve(parseExpr(text, rev)).steps.map((s) => stepText(s, rev)).join('');
  it.each([
    // normal order: text, value, steps
    ['12*34+5', 413n, '12*34=408;408+5=413;'],
    ['7-(2+3)*4', -13n, '2+3=5;5*4=20;7-20=-13;'],
    ['-5*3+2', -13n, '-5*3=-15;-15+2=-13;'],
    ['-(1+2)', -3n, '1+2=3;'],
    ['2*(3-10)*4', -56n, '3-10=-7;2*-7=-14;-14*4=-56;'],
    ['9-(3-10)*2', 23n, '3-10=-7;-7*2=-14;9--14=23;'],
    ['8', 8n, ''],
  ])('%s = %s with steps %s', (text, value, st) => {
    const e = parseExpr(text, false);
    expect(evaluate(e)).toBe(value);
    expect(renderExpr(e, false)).toBe(text);
    expect(steps(text)).toBe(st);
  });

  it('reads and writes reversed numbers; operators and parentheses keep their order', () => {
    const e = parseExpr('12*34+5', false);
    expect(renderExpr(e, true)).toBe('21*43+5');
    expect(evaluate(parseExpr('21*43+5', true))).toBe(413n);
    expect(steps('21*43+5', true)).toBe('21*43=804;804+5=314;');
    expect(steps('7-(2+3)*4', true)).toBe('2+3=5;5*4=02;7-02=-31;');
  });

  it('one step per operation; stats count operations, parentheses and the longest operand', () => {
    const e = parseExpr('(12+3)*456-(7*8+9)', false);
    expect(exprStats(e)).toEqual({ ops: 5, digits: 3, parens: 2 });
    expect(solve(e).steps).toHaveLength(5);
  });

  it.each(['', '1+', '(1+2', '1+*2', '1 + 2', '1)', '()', 'a'])('rejects %j with the index of the problem', (bad) => {
    expect(() => parseExpr(bad, false)).toThrow(/arith: cannot parse .* at index \d+/);
  });
});

describe('generator', () => {
  const tiny = arithKnobs('tiny', 'id');

  it('is deterministic per seed, split and index; item i does not depend on n', () => {
    const a = generateArith({ split: 'id', n: 30, seed: 5, knobs: tiny });
    expect(generateArith({ split: 'id', n: 30, seed: 5, knobs: tiny })).toEqual(a);
    expect(generateArith({ split: 'id', n: 10, seed: 5, knobs: tiny })).toEqual(a.slice(0, 10));
    const b = generateArith({ split: 'id', n: 30, seed: 6, knobs: tiny });
    const t = generateArith({ split: 'train', n: 30, seed: 5, knobs: tiny });
    expect(b.filter((x, i) => x.prompt === a[i].prompt).length).toBeLessThan(3);
    expect(t.filter((x, i) => x.prompt === a[i].prompt).length).toBeLessThan(3);
    expect(new Set(a.map((x) => x.id)).size).toBe(30);
    expect(a[0].id).toBe('arith-id-5-0');
  });

  const inRange = (items: ArithItem[], k: ReturnType<typeof arithKnobs>) => {
    for (const it of items) {
      const e = parseExpr(it.prompt, k.reversed);
      const st = exprStats(e);
      expect(st.ops).toBeGreaterThanOrEqual(k.minOps);
      expect(st.ops).toBeLessThanOrEqual(k.maxOps);
      expect(st.digits).toBeLessThanOrEqual(k.maxDigits);
      expect(st.parens).toBeLessThanOrEqual(k.maxParens);
      const { value, steps } = solve(e);
      expect(digitCount(value)).toBeLessThanOrEqual(k.maxResultDigits);
      if (k.maxStepDigits) for (const s of steps) expect(digitCount(s.c)).toBeLessThanOrEqual(k.maxStepDigits);
      expect(checkArithItem(it)).toBeNull();
      // never the whole expression in parentheses
      expect(e.terms.length === 1 && e.terms[0].factors.length === 1).toBe(false);
    }
  };

  it.each([
    ['tiny', 'id', 2, 6],
    ['tiny', 'ood', 8, 10],
    ['reference', 'id', 3, 6],
    ['reference', 'ood', 8, 10],
  ] as const)('preset %s, split %s: %i-%i operations, every knob limit holds', (preset, split, lo, hi) => {
    const k = arithKnobs(preset, split);
    expect([k.minOps, k.maxOps]).toEqual([lo, hi]);
    const items = generateArith({ split, n: 300, seed: 1, knobs: k });
    inRange(items, k);
    expect(new Set(items.map((x) => x.meta.ops))).toEqual(new Set(Array.from({ length: hi - lo + 1 }, (_, i) => lo + i)));
  });

  it('the reference ranges: 3-10 ops, 3-7 digits (leading digit never 0), value <= 16 digits, <= 2 pairs', () => {
    const k = ArithKnobsSchema.parse({});
    expect(k).toMatchObject({ minOps: 3, maxOps: 10, minDigits: 3, maxDigits: 7, maxResultDigits: 16, maxParens: 2, weights: { add: 4, sub: 3, mul: 6 }, reversed: true });
    const items = generateArith({ split: 'train', n: 300, seed: 2, knobs: k });
    inRange(items, k);
    const lens = new Set(items.flatMap((x) => x.meta.expr.split(/[^0-9]+/).filter(Boolean).map((s) => s.length)));
    expect(lens).toEqual(new Set([3, 4, 5, 6, 7]));
    for (const x of items) expect(x.meta.expr).not.toMatch(/(^|[^0-9])0\d/);
  });

  it('draws operators with weights 4 : 3 : 6', () => {
    const k = ArithKnobsSchema.parse({ minDigits: 1, maxDigits: 1, maxResultDigits: 40, maxParens: 0 });
    const ops = generateArith({ split: 'train', n: 2000, seed: 3, knobs: k }).flatMap((x) => x.meta.expr.replace(/[0-9()]/g, '').split(''));
    const share = (o: string) => ops.filter((x) => x === o).length / ops.length;
    expect(ops.length).toBeGreaterThan(10000);
    expect(share('+')).toBeCloseTo(4 / 13, 1);
    expect(Math.abs(share('+') - 4 / 13)).toBeLessThan(0.015);
    expect(Math.abs(share('-') - 3 / 13)).toBeLessThan(0.015);
    expect(Math.abs(share('*') - 6 / 13)).toBeLessThan(0.015);
  });

  it('parentheses wrap a +/- next to a *, or a wider span holding both', () => {
    const k = ArithKnobsSchema.parse({ minDigits: 1, maxDigits: 1, maxResultDigits: 40 });
    const items = generateArith({ split: 'train', n: 500, seed: 4, knobs: k });
    let pairs = 0;
    let wide = 0;
    const visit = (e: Expr) => {
      for (const t of e.terms) {
        for (const f of t.factors) {
          if (f.kind !== 'paren') continue;
          const inner = f.expr;
          expect(inner.terms.length).toBeGreaterThanOrEqual(2); // holds a + or -
          const nums = inner.terms.reduce((n, x) => n + x.factors.length, 0);
          if (nums === 2) {
            pairs++;
            expect(t.factors.length).toBeGreaterThanOrEqual(2); // next to a *
          } else {
            wide++;
            expect(nums).toBeGreaterThanOrEqual(3);
            expect(nums).toBeLessThanOrEqual(5);
            expect(inner.terms.some((x) => x.factors.length > 1)).toBe(true); // holds a *
          }
        }
      }
    };
    for (const it of items) visit(parseExpr(it.meta.expr, false));
    expect(pairs).toBeGreaterThan(100);
    expect(wide).toBeGreaterThan(10);
  });

  it('writes numbers in normal order when reversed is false; both formats round-trip through the tokenizer', () => {
    for (const reversed of [true, false]) {
      const k = arithKnobs('tiny', 'ood', { reversed });
      for (const it of generateArith({ split: 'ood', n: 100, seed: 9, knobs: k })) {
        const e = parseExpr(it.prompt, reversed);
        expect(it.answer).toBe(writeInt(BigInt(it.meta.value), reversed));
        if (!reversed) expect(it.prompt).toBe(it.meta.expr);
        const texts = [it.prompt, it.answer, ...solve(e).steps.map((s) => stepText(s, reversed))];
        for (const t of texts) expect(tok.decode(encodeChecked(tok, t))).toBe(t);
        expect(encodeChecked(tok, it.prompt)).toHaveLength(it.prompt.length); // one token per character
      }
    }
  });

  it('gives up after `attempts` draws with a message naming the limits', () => {
    const k = ArithKnobsSchema.parse({ minOps: 8, maxOps: 8, minDigits: 5, maxDigits: 5, weights: { add: 0, sub: 0, mul: 1 }, maxResultDigits: 3, attempts: 5 });
    expect(() => arithItem(Rng.fromSeed(1), k, 'id', 'x')).toThrow(/no expression within maxResultDigits=3.*in 5 draws/);
  });

  it('rejects inconsistent knobs', () => {
    expect(ArithKnobsSchema.safeParse({ minOps: 5, maxOps: 4 }).error?.issues[0]).toMatchObject({ path: ['minOps'], message: 'minOps must be <= maxOps' });
    expect(ArithKnobsSchema.safeParse({ weights: { add: 0, sub: 0, mul: 0 } }).success).toBe(false);
  });
});

describe('checkArithItem', () => {
  const [good] = generateArith({ split: 'id', n: 1, seed: 11, knobs: arithKnobs('tiny', 'id') });
  const bad = (patch: (x: ArithItem) => void) => {
    const x = structuredClone(good);
    patch(x);
    return checkArithItem(x);
  };
  it('accepts a generated item and names the field of a broken one', () => {
    expect(checkArithItem(good)).toBeNull();
    expect(bad((x) => (x.answer = '12345'))).toMatchObject({ path: ['answer'] });
    expect(bad((x) => (x.meta.value = '99999'))).toMatchObject({ path: ['meta', 'value'] });
    expect(bad((x) => (x.prompt = x.prompt + '+'))).toMatchObject({ path: ['prompt'], message: expect.stringMatching(/expected a number/) });
    // a redundant zero (trailing, in reversed order) keeps the value but is not canonical
    expect(bad((x) => (x.prompt = x.prompt.replace(/\d+/, (m) => m + '0')))).toMatchObject({ path: ['prompt'], message: expect.stringMatching(/not in canonical form/) });
    expect(bad((x) => (x.meta.expr = '1+1'))).toMatchObject({ path: ['meta', 'expr'] });
    expect(bad((x) => (x.meta.ops = 99))).toMatchObject({ path: ['meta', 'ops'] });
    expect(bad((x) => delete (x.meta as Partial<ArithItem['meta']>).digits)).toMatchObject({ path: ['meta', 'digits'] });
    expect(bad((x) => (x.meta.knobs.maxOps = 0))).toMatchObject({ path: ['meta', 'knobs', 'maxOps'] });
    expect(bad((x) => (x.docs = []))).toMatchObject({ path: ['docs'] });
  });
});
