/**
 * The Countdown task (README.md here): items (countdown.ts), scoring (a valid expression over the
 * item's numbers that reaches the target; no partial credit) and the demonstration traces in the guess and search
 * styles (traces.ts). Pure TS: no tfjs.
 */
import { presetGenerator, type Task } from '../task.ts';
import { checkCdAnswer, checkCountdownItem, COUNTDOWN_PRESETS, CountdownKnobsSchema, CountdownMetaSchema, generateCountdown } from './countdown.ts';
import { countdownDelegationTrace, countdownMonoTrace, countdownSearchDelegationTrace, countdownSearchMonoTrace } from './traces.ts';

export const countdownTask: Task = {
  name: 'countdown',
  describe: 'Countdown: reach a target from 4-6 numbers with + - * / (src/tasks/countdown/)',
  ...presetGenerator({ name: 'countdown', presets: COUNTDOWN_PRESETS, schema: CountdownKnobsSchema, generate: generateCountdown }),
  check: checkCountdownItem,
  score(item, answer) {
    if (answer === null) return { correct: 0, accuracy: 0 };
    const meta = CountdownMetaSchema.parse(item.meta);
    const ok = checkCdAnswer(answer.replace(/\s+/g, ''), meta.numbers, meta.target, meta.knobs.reversed).ok;
    return { correct: ok ? 1 : 0, accuracy: ok ? 1 : 0 };
  },
  monolithicTrace: (item, tok, cfg, opts) => (opts.countdownStyle === 'search' ? countdownSearchMonoTrace(item, tok, cfg) : countdownMonoTrace(item, tok, cfg)),
  delegationTrace: (item, tok, cfg, rng, opts) => (opts.countdownStyle === 'search' ? countdownSearchDelegationTrace(item, tok, cfg, opts) : countdownDelegationTrace(item, tok, cfg, rng, opts)),
};
