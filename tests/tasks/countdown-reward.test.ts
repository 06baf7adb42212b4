import { describe, it, expect } from 'vitest';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { countdownItemFrom, countdownKnobs } from '../../src/tasks/countdown/countdown.ts';
import { accuracyOf, makeReward, type RewardTree, taskReward } from '../../src/tasks/reward.ts';

const tok = loadTokenizer();
// target 44 from 3 5 7 12: prompt `44:3,5,7,21` (reversed digits)
const item = countdownItemFrom(44, [3, 5, 7, 12], countdownKnobs('tiny', 'id'), 'id', 'c');
const normal = countdownItemFrom(44, [3, 5, 7, 12], countdownKnobs('tiny', 'id', { reversed: false }), 'id', 'n');

describe('countdown correctness (1 for a valid expression reaching the target, else 0; no partial credit)', () => {
  it('the item', () => {
    expect(item.prompt).toBe('44:3,5,7,21');
    expect(accuracyOf(item, item.answer)).toEqual({ correct: 1, accuracy: 1 });
  });

  it.each([
    // answer text (numbers reversed), correct
    ['(3+5)*7-21', 1], // (3+5)*7-12 = 44
    [' (3+5) * 7 - 21 ', 1], // white space is ignored
    ['7*(5+3)-21', 1], // any valid expression, not only the canonical one
    ['(3+5)*7-210', 1], // 012 is a redundant zero of 12 (as arithmetic reads numbers)
    ['(3+5)*7-12', 0], // 21 is not among the numbers
    ['(3+5)*7-21+3', 0], // 3 used twice
    ['(3+3)*7+2', 0], // 3 used twice, 2 not given
    ['21*7/3', 0], // 28, not the target
    ['7/3*21+0', 0], // inexact division (and 0 not given)
    ['3-5+21*7', 0], // negative intermediate 3-5
    ['44', 0], // the target itself is not given
    ['', 0],
    ['<err>', 0],
    ['abc', 0],
  ])('answer %j: correct %i', (answer, correct) => {
    expect(accuracyOf(item, answer)).toEqual({ correct, accuracy: correct });
  });

  it('reads answers in the digit order of the item; no answer scores 0', () => {
    expect(accuracyOf(normal, '(3+5)*7-12')).toEqual({ correct: 1, accuracy: 1 });
    expect(accuracyOf(normal, '(3+5)*7-21').correct).toBe(0);
    expect(accuracyOf(item, null)).toEqual({ correct: 0, accuracy: 0 });
  });

  it('enters the reward through the root answer; cost terms still apply', () => {
    const tree = (answer: string | null, gen: number): RewardTree =>
      ({ contexts: [{ answer: answer === null ? null : tok.encode(answer), lossMask: [0, ...new Array(gen).fill(1)], calls: [] }] }) as unknown as RewardTree;
    expect(taskReward(item, tree('(3+5)*7-21', 20), tok)).toMatchObject({ reward: 1, components: { correct: 1, accuracy: 1 } });
    expect(taskReward(item, tree('(3+5)*7-12', 20), tok)).toMatchObject({ reward: 0, components: { correct: 0, accuracy: 0 } });
    // root length penalty: 96 generated tokens, free 64, scale 32, coef 0.5 -> 0.5 * (1 - e^-1) = 0.316060
    const r = makeReward({ rootLength: { coef: 0.5 } })(item, tree('(3+5)*7-21', 96), tok);
    expect(r.reward).toBeCloseTo(1 - 0.31606, 5);
  });
});
