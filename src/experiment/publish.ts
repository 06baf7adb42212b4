/**
 * Publish a finished experiment into the repository: the report and the run records under docs/results/<name>/,
 * and each run's final weights (model.safetensors + state.json, no optimizer moments; an imported model's tokenizer files too) under
 * checkpoints/results/<name>/seed-<s>/<run>/. The report is rebuilt there from the same eval directories, its
 * appendix linking each evaluated checkpoint to the shipped weights (when they are that step), never to a run
 * directory a clone of the repository does not have. A README in the results dir lists every stage with its
 * command, CPU seconds and wall seconds (from stages.jsonl).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CARRIED_FILES, findLatest, MODEL_FILE, STATE_FILE } from '../checkpoint/store.ts';
import { writeReport } from '../eval/report.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { SelfcestError } from '../util/errors.ts';
import { readJsonl } from '../util/jsonl.ts';
import type { Stage } from './plan.ts';
import { readStageRecords } from './run.ts';

export interface PublishOptions {
  /** the experiment directory (runs/experiments/<name>) */
  dir: string;
  report: string;
  results: string;
  checkpoints: string;
}

export async function publishExperiment(stages: readonly Stage[], o: PublishOptions): Promise<string[]> {
  if (!fs.existsSync(path.join(o.report, 'index.html'))) throw new SelfcestError(`${o.report}: no report to publish (run the experiment first)`);
  const compare = stages.find((s) => s.kind === 'compare');
  if (!compare?.report) throw new SelfcestError(`${o.dir}: the experiment plan has no compare stage to publish`);
  const written: string[] = [];
  fs.rmSync(o.results, { recursive: true, force: true });
  fs.mkdirSync(o.results, { recursive: true });
  for (const f of ['experiment.json', 'commands.sh', 'stages.jsonl']) {
    if (fs.existsSync(path.join(o.dir, f))) fs.copyFileSync(path.join(o.dir, f), path.join(o.results, f));
  }
  written.push(o.results);
  /** run directory -> where its weights are shipped */
  const shipped = new Map<string, string>();
  for (const s of stages) {
    if (s.kind !== 'train') continue;
    if (s.reused) {
      // published by the experiment that trained it, beside this one: <checkpoints>/../<its name>/seed-<s>/<run>
      const rel = path.relative(path.dirname(path.dirname(s.out)), s.out); // seed-<s>/<run>
      shipped.set(path.resolve(s.out), path.join(path.dirname(o.checkpoints), path.basename(path.dirname(path.dirname(s.out))), rel));
      continue;
    }
    const latest = findLatest(s.out);
    if (!latest) throw new SelfcestError(`${s.out}: stage ${s.name} has no checkpoint to publish`);
    const to = path.join(o.checkpoints, path.relative(o.dir, s.out));
    fs.rmSync(to, { recursive: true, force: true });
    fs.mkdirSync(to, { recursive: true });
    for (const f of [MODEL_FILE, STATE_FILE]) fs.copyFileSync(path.join(latest, f), path.join(to, f));
    for (const f of CARRIED_FILES) if (fs.existsSync(path.join(latest, f))) fs.copyFileSync(path.join(latest, f), path.join(to, f)); // an imported model's tokenizer
    shipped.set(path.resolve(s.out), to);
    written.push(to);
  }
  const reportOut = path.join(o.results, 'report');
  const { dirs, poolSeeds, resamples } = compare.report;
  await writeReport(dirs, reportOut, loadTokenizer(), { poolSeeds, resamples, checkpointHref: (c) => shippedHref(c, shipped, reportOut) });
  const recs = readStageRecords(o.dir);
  // the newest record of each stage (a stage rerun after a crash appends a second line)
  const last = new Map(recs.map((r) => [r.stage, r]));
  const rows = stages.map((s) => {
    if (s.reused) return `| ${s.name} | – | – | reused: \`${s.out}\` (trained and published by that experiment) |`;
    const r = last.get(s.name);
    return `| ${s.name} | ${r?.cpu_s != null ? r.cpu_s.toFixed(0) : '–'} | ${r ? r.wall_s.toFixed(0) : '–'} | \`${(r?.command ?? '').replace(/\|/g, '\\|')}\` |`;
  });
  const curves = trainingCurves(stages);
  const cpu = [...last.values()].reduce((t, r) => t + (r.cpu_s ?? 0), 0);
  const readme = [
    `# Results: ${path.basename(o.results)}`,
    '',
    `Report: [report/index.html](report/index.html) ([markdown](report/report.md)). Final weights of every run: [${o.checkpoints}/](${encodeURI(path.relative(o.results, o.checkpoints))}/).`,
    `The resolved experiment config is experiment.json; commands.sh reruns every stage by hand.`,
    '',
    `| stage | CPU s | wall s | command |`,
    `|---|---|---|---|`,
    ...rows,
    '',
    `Total: ${cpu.toFixed(0)} CPU s over the stages recorded in stages.jsonl (CPU s count every thread of the stage's process).`,
    '',
    ...curves,
  ].join('\n');
  fs.writeFileSync(path.join(o.results, 'README.md'), readme);
  return written;
}

/**
 * The link from a published report to the shipped weights of an evaluated checkpoint (a step directory or a run
 * directory): only when the shipped copy exists and holds that very step; otherwise null (plain text).
 */
export function shippedHref(checkpoint: string, shipped: ReadonlyMap<string, string>, reportDir: string): string | null {
  const c = path.resolve(checkpoint);
  const run = shipped.has(c) ? c : path.dirname(c);
  const to = shipped.get(run);
  if (!to || !fs.existsSync(path.join(to, MODEL_FILE)) || !fs.existsSync(path.join(to, STATE_FILE))) return null;
  const stepOf = (dir: string): unknown => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')) as { step?: unknown }).step;
    } catch {
      return undefined;
    }
  };
  const evaluated = run === c ? findLatest(c) : c;
  const step = evaluated ? stepOf(evaluated) : undefined;
  return step !== undefined && step === stepOf(to) ? path.relative(reportDir, to) : null;
}

const CURVE_KEYS = ['reward_mean', 'acc', 'clones_per_tree', 'calls_per_tree', 'malformed_rate', 'tokens_total', 'tokens_critical'] as const;

/**
 * GRPO training at a glance: per run, the means of the reward, accuracy, spawn rates and costs over the first and
 * the last tenth of its steps (from metrics.jsonl), so a report can say how delegation moved during training.
 */
export function trainingCurves(stages: readonly Stage[]): string[] {
  const rows: string[] = [];
  for (const s of stages) {
    const f = path.join(s.out, 'metrics.jsonl');
    if (s.kind !== 'train' || !s.name.startsWith('grpo-') || !fs.existsSync(f)) continue;
    const lines = readJsonl(f, (obj) => obj as Record<string, number>);
    if (!lines.length) continue;
    const k = Math.max(1, Math.round(lines.length / 10));
    const mean = (part: Record<string, number>[], key: string) => part.reduce((t, m) => t + (m[key] ?? NaN), 0) / part.length;
    for (const [when, part] of [[`steps 1–${k}`, lines.slice(0, k)], [`steps ${lines.length - k + 1}–${lines.length}`, lines.slice(-k)]] as const) {
      rows.push(`| ${s.name} | ${when} | ${CURVE_KEYS.map((key) => mean(part, key).toFixed(key.startsWith('tokens') ? 1 : 3)).join(' | ')} |`);
    }
  }
  if (!rows.length) return [];
  return ['## GRPO training: first and last tenth of the steps (means)', '', `| run | steps | ${CURVE_KEYS.join(' | ')} |`, `|---|---|${CURVE_KEYS.map(() => '---|').join('')}`, ...rows, ''];
}
