import { commandMeta } from './commands.ts';
import type { CommandModule } from 'yargs';
import type { BackendChoice } from '../backend/select.ts';
import { loadPolicy, policyTokenizer, readPolicyState, resolvePolicyDir } from '../model/io.ts';
import { LocalDecoder } from '../model/row-decoder.ts';
import { ShardedDecoder } from '../model/sharded-decoder.ts';
import { ModelPolicy, runTrees, type RolloutItem } from '../rollout/engine.ts';
import { protocolTokens, RolloutConfigSchema } from '../rollout/protocol.ts';
import { writeTreesJsonl } from '../rollout/trace-io.ts';
import { additionItem } from '../tasks/addition/addition.ts';
import { savedRollout } from '../eval/sweep.ts';
import { rolloutItem } from '../tasks/views.ts';
import { encodeChecked } from '../tokenizer/index.ts';
import { applyOverrides, validate } from '../util/config-file.ts';
import { SelfcestError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { checkpointWork, initBackend, withBackend } from './common.ts';

interface Args {
  checkpoint: string;
  n: number;
  out: string;
  seed: number;
  threads: number;
  set: string[];
  backend: BackendChoice;
}

export const rolloutCommand: CommandModule<object, Args> = {
  ...commandMeta('rollout'),
  builder: (y) =>
    withBackend(y)
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'a step directory, or a run directory (uses its latest)' })
      .option('n', { type: 'number', default: 16, describe: 'number of trees (task items)' })
      .option('out', { type: 'string', default: 'trees.jsonl', describe: 'JSONL file to write' })
      .option('seed', { type: 'number', default: 1, describe: 'seed for items and sampling' })
      .option('threads', { type: 'number', default: 1, describe: 'decoder threads (rows spread over worker threads)' })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'rollout config override, e.g. --set allowSpawn=false --set temperature=0 (docs/protocol.md)' })
      .example('$0 rollout --checkpoint checkpoints/demo --n 8 --out trees.jsonl && $0 trace trees.jsonl', 'roll out, then render the first tree') as never,
  handler: async (a) => {
    for (const [flag, v] of [['--n', a.n], ['--threads', a.threads]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new SelfcestError(`${flag} ${v}: expected an integer >= 1`);
    }
    const ckDir = resolvePolicyDir(a.checkpoint);
    readPolicyState(ckDir); // a bad checkpoint is one line before the backend is probed
    await initBackend(a.backend);
    const { dir, model, data } = loadPolicy(ckDir);
    const tok = policyTokenizer({ dir, data }); // an imported model's own, else selfcest's
    const work = await checkpointWork(data.state.config, `${dir}/state.json: config`, a.n, a.seed);
    // the checkpoint's own rollout settings (a GRPO run's), else windows of the model's context; then --set
    const saved = savedRollout(data.state.config, model.config.ctx);
    const cfg = validate(RolloutConfigSchema, applyOverrides(saved, a.set), 'rollout config (--set)');
    if (Math.max(cfg.rootWindow, cfg.cloneWindow) > model.config.ctx) {
      throw new SelfcestError(`rollout windows must not exceed the model's context window ${model.config.ctx}`);
    }
    const rng = Rng.fromSeed(a.seed);
    const items: RolloutItem[] =
      'items' in work ? work.items.map((it) => rolloutItem(it, tok)) : Array.from({ length: a.n }, (_, i) => ({ itemId: `addition-${i}`, prompt: encodeChecked(tok, additionItem(rng, work.addition).prompt) }));
    process.stderr.write(`checkpoint ${dir} (step ${data.state.step}; ${work.kind}): ${'items' in work ? `${a.n} dev items of its task` : `${a.n} addition prompts`}\n`);
    const dec = a.threads > 1 ? await ShardedDecoder.start(model, a.threads - 1, a.backend) : new LocalDecoder(model);
    try {
      const trees = await runTrees(items, new ModelPolicy(model, dec, cfg, rng), cfg, protocolTokens(tok));
      writeTreesJsonl(a.out, trees);
      const sum = (f: (t: (typeof trees)[number]) => number) => trees.reduce((s, t) => s + f(t), 0);
      console.log(
        `${a.out}: ${trees.length} trees, ${sum((t) => t.cost.clones)} clones, ${sum((t) => t.cost.malformed)} malformed calls, ` +
          `mean ${(sum((t) => t.cost.processedTokens) / trees.length).toFixed(1)} tokens / ${(sum((t) => t.cost.criticalPathTokens) / trees.length).toFixed(1)} on the critical path`,
      );
    } finally {
      await dec.close();
      model.dispose();
    }
  },
};
