/**
 * The CLI's commands: name, usage and one-line description of each, and how to load it. main.ts imports only the
 * command being run (tfjs, vega and the trainers load in ~1.5 s; `selfcest --help` needs none of them); each
 * command file takes its usage and description from here (`...commandMeta('train')`), so they are written once.
 */
import type { CommandModule } from 'yargs';

export interface CommandEntry {
  /** yargs usage: the name, then positionals (`compare <dirs..>`) */
  command: string;
  describe: string;
  load: () => Promise<CommandModule>;
}

export const COMMANDS = {
  train: { command: 'train', describe: 'Train the policy: supervised on the built-in task (default), or tree GRPO when the config says "mode": "grpo"; checkpoints and resume', load: async () => (await import('./train.ts')).trainCommand as CommandModule },
  sample: { command: 'sample', describe: 'Sample completions from a checkpoint (given prompts, or dev items of its task with their gold answers; one context, no clones: see rollout)', load: async () => (await import('./sample.ts')).sampleCommand as CommandModule },
  info: { command: 'info', describe: 'Show the backend, the parameter count of a config, and what a checkpoint holds', load: async () => (await import('./info.ts')).infoCommand as CommandModule },
  rollout: { command: 'rollout', describe: "Run rollout trees of a checkpoint's policy on dev items of its task (under its own rollout settings) and write them as JSONL (see selfcest trace)", load: async () => (await import('./rollout.ts')).rolloutCommand as CommandModule },
  data: { command: 'data', describe: 'Task data: generate seeded splits, validate JSONL files', load: async () => (await import('./data.ts')).dataCommand as CommandModule },
  trace: { command: 'trace <file>', describe: 'Render one rollout tree of a trace JSONL file as a self-contained HTML page', load: async () => (await import('./trace.ts')).traceCommand as CommandModule },
  eval: { command: 'eval', describe: "Evaluate a checkpoint on a task's ID/OOD set: per-example JSONL, summary with bootstrap 95% CIs, budget sweeps (docs/eval.md)", load: async () => (await import('./eval.ts')).evalCommand as CommandModule },
  compare: { command: 'compare <dirs..>', describe: 'Build an accuracy-cost report (HTML page, markdown, Pareto plots, trace pages) from eval directories (docs/eval.md)', load: async () => (await import('./compare.ts')).compareCommand as CommandModule },
  experiment: { command: 'experiment', describe: 'Run the headline recipe end to end: SFT warm start, tree GRPO per arm (clones / spawning masked), eval over budgets, report (docs/experiments.md)', load: async () => (await import('./experiment.ts')).experimentCommand as CommandModule },
  demo: { command: 'demo', describe: 'What the shipped policies do, in minutes: evaluate SELFCEST, the monolithic arm and self-consistency (the arithmetic policies in checkpoints/results) on the ID and OOD test sets over a budget sweep, build the report, print the headline, then train a short run that learns', load: async () => (await import('./demo.ts')).demoCommand as CommandModule },
  export: { command: 'export', describe: "Write a checkpoint as a Hugging Face model directory (transformers' gpt2 layout, gpt_neox or llama for RoPE models; docs/checkpoints.md)", load: async () => (await import('./export.ts')).exportCommand as CommandModule },
  worker: { command: 'worker', describe: 'Run rollouts for tree GRPO trainers started with --broker: take jobs from a Redis broker, return the trees (docs/distributed.md)', load: async () => (await import('./worker.ts')).workerCommand as CommandModule },
} satisfies Record<string, CommandEntry>;

export type CommandName = keyof typeof COMMANDS;

/** The usage and description of a command, for its CommandModule. */
export function commandMeta(name: CommandName): { command: string; describe: string } {
  return { command: COMMANDS[name].command, describe: COMMANDS[name].describe };
}

/** The command a command line runs: the first argument that names one (undefined: none, e.g. `--help` or a typo). */
export function chosenCommand(args: readonly string[]): CommandName | undefined {
  for (const a of args) {
    if (a.startsWith('-')) continue;
    return Object.hasOwn(COMMANDS, a) ? (a as CommandName) : undefined;
  }
  return undefined;
}
