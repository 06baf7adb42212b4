/**
 * The arithmetic task (README.md here): items (arith.ts), scoring with the reference's partial credit
 * and clone-local scores for clones whose objective is an expression, the split call's splitter, and the
 * demonstration traces (traces.ts). Pure TS: no tfjs.
 */
import { encodeChecked } from '../../tokenizer/index.ts';
import { intScore } from '../scoring.ts';
import { presetGenerator, type Task } from '../task.ts';
import { ARITH_PRESETS, ArithKnobsSchema, ArithMetaSchema, checkArithItem, evaluate, generateArith, parseExpr } from './arith.ts';
import { arithDelegationTrace, arithMonoTrace, arithSplitter } from './traces.ts';

export const arithTask: Task = {
  name: 'arith',
  describe: 'arithmetic expressions over + - * with parentheses (src/tasks/arith/)',
  ...presetGenerator({ name: 'arith', presets: ARITH_PRESETS, schema: ArithKnobsSchema, generate: generateArith }),
  check: checkArithItem,
  score(item, answer) {
    const meta = ArithMetaSchema.parse(item.meta);
    return intScore(answer, BigInt(meta.value), meta.knobs.reversed);
  },
  /** every clone whose objective (its prompt between <clone> and <think>) is an expression: its answer against the expression's value */
  cloneScores(item, tree, tok, partial) {
    const out = new Map<number, number>();
    const reversed = ArithMetaSchema.parse(item.meta).knobs.reversed;
    const think = tok.id('<think>');
    for (const c of tree.contexts) {
      if (c.parent === null) continue;
      const end = c.ids.indexOf(think);
      if (end < 1 || end > c.promptLength) continue;
      let value: bigint;
      try {
        value = evaluate(parseExpr(tok.decode(c.ids.slice(1, end)), reversed));
      } catch {
        continue; // not an expression (e.g. documents): no clone-local reward
      }
      const a = intScore(c.answer === null ? null : tok.decode(c.answer), value, reversed);
      out.set(c.id, partial ? a.accuracy : a.correct);
    }
    return out;
  },
  splitter(item, tok) {
    const meta = ArithMetaSchema.safeParse(item.meta); // the split call needs the digit order
    return meta.success ? { question: encodeChecked(tok, item.prompt), split: arithSplitter(tok, meta.data.knobs.reversed) } : null;
  },
  monolithicTrace: (item, tok, cfg) => arithMonoTrace(item, tok, cfg),
  delegationTrace: arithDelegationTrace,
};
