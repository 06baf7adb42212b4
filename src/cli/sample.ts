import { commandMeta } from './commands.ts';
import type { CommandModule } from 'yargs';
import type { BackendChoice } from '../backend/select.ts';
import { generate } from '../model/generate.ts';
import { loadPolicy, policyTokenizer, readPolicyState, resolvePolicyDir } from '../model/io.ts';
import { additionItem } from '../tasks/addition/addition.ts';
import { rootPromptIds } from '../tasks/types.ts';
import { encodeChecked } from '../tokenizer/index.ts';
import { Rng } from '../util/rng.ts';
import { SelfcestError } from '../util/errors.ts';
import { checkpointWork, initBackend, withBackend } from './common.ts';

interface Args {
  checkpoint: string;
  prompt: string[];
  n: number;
  temperature: number;
  'top-k': number;
  'max-new': number;
  seed: number;
  backend: BackendChoice;
}

export const sampleCommand: CommandModule<object, Args> = {
  ...commandMeta('sample'),
  builder: (y) =>
    withBackend(y)
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'a step directory, or a run directory (uses its latest)' })
      .option('prompt', { type: 'string', array: true, default: [] as string[], describe: 'prompt text (repeatable); default: --n items of the task' })
      .option('n', { type: 'number', default: 8, describe: 'number of task items to sample when no --prompt is given' })
      .option('temperature', { type: 'number', default: 0, describe: '0 = greedy' })
      .option('top-k', { type: 'number', default: 0, describe: 'sample among the k most likely tokens (0 = all)' })
      .option('max-new', { type: 'number', default: 32, describe: 'most tokens to generate per prompt' })
      .option('seed', { type: 'number', default: 1, describe: 'sampling seed' })
      .example('$0 sample --checkpoint checkpoints/tiny --prompt "120+340="', 'complete one prompt greedily') as never,
  handler: async (a) => {
    // check the arguments and the checkpoint before probing the backend
    for (const [flag, v, min] of [['--n', a.n, 1], ['--max-new', a['max-new'], 1], ['--top-k', a['top-k'], 0]] as const) {
      if (!Number.isInteger(v) || v < min) throw new SelfcestError(`${flag} ${v}: expected an integer >= ${min}`);
    }
    if (!(a.temperature >= 0)) throw new SelfcestError(`--temperature ${a.temperature}: expected a number >= 0`);
    const ckDir = resolvePolicyDir(a.checkpoint);
    readPolicyState(ckDir);
    await initBackend(a.backend);
    const { dir, model, data } = loadPolicy(ckDir);
    const tok = policyTokenizer({ dir, data }); // an imported model's own, else selfcest's
    const rng = Rng.fromSeed(a.seed);
    // given prompts as they are; else dev items of the checkpoint's task (the root's prompt: text then <think>,
    // with the gold answer shown) or addition prompts
    let prompts: { text: string; ids: number[]; gold?: string }[] = a.prompt.map((p) => ({ text: p, ids: encodeChecked(tok, p) }));
    if (prompts.length === 0) {
      const work = await checkpointWork(data.state.config, `${dir}/state.json: config`, a.n, a.seed);
      prompts =
        'items' in work
          ? work.items.map((it) => ({ text: `${it.prompt}<think>`, ids: rootPromptIds(it, tok), gold: it.answer }))
          : Array.from({ length: a.n }, () => additionItem(rng, work.addition).prompt).map((p) => ({ text: p, ids: encodeChecked(tok, p) }));
    }
    const eos = tok.id('<eos>');
    const gens = await generate(
      model,
      prompts.map((p) => p.ids),
      { temperature: a.temperature, topK: a['top-k'], maxNew: a['max-new'], stopTokens: [eos] },
      rng,
    );
    console.error(`checkpoint ${dir} (step ${data.state.step})`);
    gens.forEach((g, i) => {
      const text = tok.decode(g.tokens.filter((t) => t !== eos));
      const lp = g.logprobs.reduce((s, x) => s + x, 0);
      console.log(`${prompts[i].text}${text}\t[${g.finish}, ${g.tokens.length} tokens, logprob ${lp.toFixed(2)}${prompts[i].gold !== undefined ? `, gold ${prompts[i].gold}` : ''}]`);
    });
    model.dispose();
  },
};
