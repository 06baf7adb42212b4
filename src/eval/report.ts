/**
 * The comparison report of several eval directories (selfcest compare): a self-contained HTML page (inline
 * CSS and SVG, no scripts, no external resources), a markdown summary with the same tables, the plots as
 * SVG files, and trace pages of a few example trees (rendered by src/rollout/trace-html.ts):
 *
 *   <out>/index.html  <out>/report.md  <out>/accuracy-vs-total.svg  <out>/accuracy-vs-critical.svg
 *   <out>/traces/<eval>/<point>-<k>.html
 *
 * Every eval point is one plotted point: series = the eval's label, column = its split; a self-consistency
 * point also plots its pass@n (an upper bound, never on the frontier). The frontier of a split is taken over
 * the accuracy points of every series, once per cost axis (total tokens, critical-path tokens). With
 * `poolSeeds`, evals of several training seeds (labels `<series> s<seed>`) become one series each
 * (src/eval/pool.ts) and the per-seed points follow in their own tables.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { escapeHtml, renderTreeHtml } from '../rollout/trace-html.ts';
import { formatPoints, pairedDifferences, type PairedDifference } from './paired.ts';
import { readTreesJsonl } from '../rollout/trace-io.ts';
import type { TextTokenizer } from '../tokenizer/index.ts';
import { SelfcestError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/jsonl.ts';
import { evalTokenizer, firstRightAndWrong, readEvalIndex, type EvalIndex, type EvalPointEntry } from './evaluate.ts';
import { paretoFrontier } from './pareto.ts';
import { poolSeeds } from './pool.ts';
import { paretoSpec, renderSvg, type PlotRow } from './plots.ts';
import type { Estimate } from './stats.ts';

/** One row of the report's tables: an eval point. */
export interface ReportRow {
  eval: number;
  series: string;
  split: string;
  mode: string;
  point: string;
  /** the sweep values of the point (its budget) */
  overrides: EvalPointEntry['overrides'];
  samples: number;
  items: number;
  summary: EvalPointEntry['summary'];
  /** on the frontier of its split by total tokens / by critical-path tokens */
  frontierTotal: boolean;
  frontierCritical: boolean;
}

export interface CostAxis {
  key: 'total' | 'critical';
  title: string;
  file: string;
  cost: (s: EvalPointEntry['summary']) => number;
}

export const COST_AXES: CostAxis[] = [
  { key: 'total', title: 'mean total tokens per item (log)', file: 'accuracy-vs-total.svg', cost: (s) => s.tokens.total.mean },
  { key: 'critical', title: 'mean critical-path tokens per item (log)', file: 'accuracy-vs-critical.svg', cost: (s) => s.tokens.critical.mean },
];

/** Split columns in report order: by task prefix (if any), then id (or *-id), ood (or *-ood), the others by name. */
export function orderSplits(names: Iterable<string>): string[] {
  const parts = (s: string) => {
    const k = s.lastIndexOf(' ');
    const split = s.slice(k + 1);
    return { task: k < 0 ? '' : s.slice(0, k), rank: /(^|-)id$/.test(split) ? 0 : /(^|-)ood$/.test(split) ? 1 : 2 };
  };
  return [...new Set(names)].sort((a, b) => parts(a).task.localeCompare(parts(b).task) || parts(a).rank - parts(b).rank || a.localeCompare(b));
}

/** The column an eval is plotted in: its split, prefixed by its task when the report holds several tasks. */
export function splitColumn(e: Pick<EvalIndex, 'task' | 'splitName'>, tasks: number): string {
  return tasks > 1 ? `${e.task} ${e.splitName}` : e.splitName;
}

/** Table rows with frontier flags (per split and cost axis, over every series). */
export function reportRows(evals: readonly EvalIndex[]): ReportRow[] {
  const tasks = new Set(evals.map((e) => e.task)).size;
  const seen = new Map<string, number>();
  evals.forEach((e, i) => {
    const key = `${e.label}\u0000${splitColumn(e, tasks)}`;
    if (seen.has(key)) throw new SelfcestError(`evals ${seen.get(key)! + 1} and ${i + 1} both have label "${e.label}" on split ${splitColumn(e, tasks)}: give one another --label`);
    seen.set(key, i);
  });
  const rows: ReportRow[] = evals.flatMap((e, i) =>
    e.points.map((p) => ({ eval: i, series: e.label, split: splitColumn(e, tasks), mode: e.mode, point: p.name, overrides: p.overrides, samples: p.samples, items: p.summary.items, summary: p.summary, frontierTotal: false, frontierCritical: false })),
  );
  for (const split of orderSplits(rows.map((r) => r.split))) {
    const mine = rows.filter((r) => r.split === split);
    for (const axis of COST_AXES) {
      const front = paretoFrontier(mine.map((r) => ({ cost: axis.cost(r.summary), accuracy: r.summary.accuracy.mean })));
      for (const k of front) mine[k][axis.key === 'total' ? 'frontierTotal' : 'frontierCritical'] = true;
    }
  }
  return rows;
}

/**
 * The budget label drawn beside a point: its sweep values, the tree budget bare (`512`), samples as `n=4`, any
 * other key as `key=value`; a self-consistency point's sample count follows when it is not swept.
 */
export function budgetLabel(overrides: EvalPointEntry['overrides'], samples: number): string {
  const parts = Object.entries(overrides).map(([k, v]) => (k === 'maxTreeTokens' ? String(v) : k === 'samples' ? `n=${v}` : `${k}=${v}`));
  if (samples > 1 && !('samples' in overrides)) parts.push(`n=${samples}`);
  return parts.join(' ');
}

/** The plotted points of one cost axis. */
export function plotRows(rows: readonly ReportRow[], axis: CostAxis): PlotRow[] {
  const out: PlotRow[] = [];
  const tip = (r: ReportRow, what: string, e: Estimate, cost: number) =>
    `${r.series} · ${r.split} · ${r.point}: ${what} ${ci(e, pct)} %, ${fmt(cost)} ${axis.key === 'total' ? 'total' : 'critical-path'} tokens per item (${r.items} items)`;
  for (const r of rows) {
    const cost = axis.cost(r.summary);
    const ok = (e: Estimate) => Number.isFinite(e.mean) && Number.isFinite(cost) && cost > 0;
    const a = r.summary.accuracy;
    const label = budgetLabel(r.overrides, r.samples);
    if (ok(a)) out.push({ split: r.split, series: r.series, kind: 'accuracy', point: r.point, accuracy: a.mean, lo: a.lo, hi: a.hi, cost, frontier: axis.key === 'total' ? r.frontierTotal : r.frontierCritical, label, tip: tip(r, 'accuracy', a, cost) });
    const p = r.summary.passAtN;
    if (r.samples > 1 && ok(p)) out.push({ split: r.split, series: r.series, kind: 'pass@n', point: `${r.point} (pass@${r.samples})`, accuracy: p.mean, lo: p.lo, hi: p.hi, cost, frontier: false, label: '', tip: tip(r, `pass@${r.samples}`, p, cost) });
  }
  // points of one series drawn at the same place (a budget the policy never reaches) share one label: `128, 256, 512`
  const at = new Map<string, PlotRow>();
  for (const r of out) {
    if (r.kind !== 'accuracy' || !r.label) continue;
    const k = `${r.split}\u0000${r.series}\u0000${r.cost}\u0000${r.accuracy}`;
    const first = at.get(k);
    if (!first) at.set(k, r);
    else {
      first.label = `${first.label}, ${r.label}`;
      r.label = '';
    }
  }
  return out;
}

const fmt = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}` : '–');
const ci = (e: Estimate, f: (x: number) => string) => `${f(e.mean)} [${f(e.lo)}, ${f(e.hi)}]`;

export const TABLE_HEAD = [
  'series',
  'mode',
  'point',
  'items',
  'accuracy % [95% CI]',
  'pass@n %',
  'total tokens [95% CI]',
  'root / clone tokens',
  'critical-path tokens [95% CI]',
  'calls',
  'clones',
  'malformed rate',
  'cost-of-pass (total)',
  'cost-of-pass (critical)',
  'items/s',
  'frontier',
];

/** The table cells of a row (plain text; escaped by the HTML writer). */
export function tableCells(r: ReportRow): string[] {
  const s = r.summary;
  const front = [r.frontierTotal ? 'total' : '', r.frontierCritical ? 'critical' : ''].filter(Boolean).join(', ');
  return [
    r.series,
    r.mode,
    r.point,
    String(r.items),
    ci(s.accuracy, pct),
    r.samples > 1 ? `${pct(s.passAtN.mean)} (n=${r.samples})` : '–',
    ci(s.tokens.total, (x) => fmt(x)),
    `${fmt(s.tokens.root)} / ${fmt(s.tokens.clone)}`,
    ci(s.tokens.critical, (x) => fmt(x)),
    fmt(s.calls, 2),
    fmt(s.clones, 2),
    fmt(s.malformedRate, 3),
    fmt(s.costOfPass),
    fmt(s.criticalCostOfPass),
    fmt(s.itemsPerSecond, 2),
    front || '–',
  ];
}

export interface TraceLink {
  series: string;
  split: string;
  point: string;
  itemId: string;
  href: string;
  /** 1 right, 0 wrong; absent for trees written before evaluations recorded outcomes */
  correct?: number;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0 1.2em; font-size: 13px; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; vertical-align: top; }
th { font-weight: 600; font-size: 12px; } table.paths td { overflow-wrap: anywhere; }
th { background: #eee; } td:nth-child(-n+3) { text-align: left; }
tr.front td { background: #f2f8ee; }
figure.plot { margin: .5em 0; } figure.plot svg { max-width: 100%; height: auto; }
figcaption, .note { color: #555; font-size: 13px; }
code { background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
`;

export interface ReportOptions {
  title?: string;
  /** trace pages per eval point (from its trees.jsonl) */
  traces?: number;
  /**
   * pool evals whose labels differ only in a seed tag (`clones s1`, `clones s2`) into one series per split
   * (src/eval/pool.ts): plots and frontiers use the pooled points, a per-seed table follows
   */
  poolSeeds?: boolean;
  /** bootstrap resamples of pooled points (default 1000) */
  resamples?: number;
  /**
   * where the appendix links an eval's checkpoint: a path relative to `out`, or null for plain text. Default:
   * the checkpoint directory itself when it exists. A published report links the weights shipped in the
   * repository instead (src/experiment/publish.ts), never a run directory a clone does not have.
   */
  checkpointHref?: (checkpoint: string) => string | null;
  log?: (line: string) => void;
}

/** The default checkpoint link of a report written to `out`: the directory, relative to `out`, when it exists. */
export function existingCheckpointHref(out: string): (checkpoint: string) => string | null {
  return (c) => (c && fs.existsSync(path.join(c, 'state.json')) ? path.relative(out, c) : null);
}

export interface ReportResult {
  html: string;
  markdown: string;
  rows: ReportRow[];
  /** with poolSeeds: the rows of every eval as given (one series per seed) */
  seedRows: ReportRow[];
  plots: string[];
  traces: TraceLink[];
}

/** Build the report of eval dirs into `out` (created). */
export async function writeReport(dirs: readonly string[], out: string, tok: TextTokenizer, opts: ReportOptions = {}): Promise<ReportResult> {
  if (dirs.length === 0) throw new SelfcestError('compare: name at least one eval directory');
  const evals = dirs.map((d) => readEvalIndex(d));
  evals.forEach((e, i) => {
    if (!e.complete) opts.log?.(`note: ${dirs[i]} is incomplete (${e.points.length} points written)`);
  });
  const seedRows = opts.poolSeeds ? reportRows(evals) : [];
  const rows = opts.poolSeeds ? reportRows(poolSeeds(evals, dirs, { resamples: opts.resamples }).map((p) => p.index)) : reportRows(evals);
  const tasks = new Set(evals.map((e) => e.task)).size;
  const splits = orderSplits(rows.map((r) => r.split));
  const title = opts.title ?? `Accuracy–cost report: ${[...new Set(evals.map((e) => e.task))].join(', ')}`;
  fs.mkdirSync(out, { recursive: true });

  // plots
  const svgs: string[] = [];
  for (const axis of COST_AXES) {
    const svg = await renderSvg(paretoSpec(plotRows(rows, axis), splits, axis.title));
    writeFileAtomic(path.join(out, axis.file), svg);
    svgs.push(svg);
  }

  // trace pages
  const traces: TraceLink[] = [];
  const perPoint = opts.traces ?? 2;
  fs.rmSync(path.join(out, 'traces'), { recursive: true, force: true });
  evals.forEach((e, i) => {
    const evalTok = evalTokenizer(dirs[i], tok);
    for (const p of e.points) {
      const file = path.join(dirs[i], p.dir, 'trees.jsonl');
      if (perPoint === 0 || !fs.existsSync(file)) continue;
      // up to perPoint right and perPoint wrong trees (older trees.jsonl without outcomes: the first perPoint)
      const all = readTreesJsonl(file);
      const withOutcome = all.some((t) => t.outcome);
      const kept = withOutcome ? firstRightAndWrong(all, (t) => t.outcome?.correct === 1, perPoint) : all.slice(0, perPoint);
      kept.forEach((tree, k) => {
          const href = `traces/${String(i + 1).padStart(2, '0')}-${safe(e.label)}-${safe(e.splitName)}/${safe(p.name)}-${k}.html`;
          writeFileAtomic(path.join(out, href), renderTreeHtml(tree, evalTok, { title: `${e.label} · ${e.splitName} · ${p.name} · ${tree.itemId}` }));
          traces.push({ series: e.label, split: splitColumn(e, tasks), point: p.name, itemId: tree.itemId, href, ...(tree.outcome ? { correct: tree.outcome.correct } : {}) });
        });
    }
  });

  const paired = pairedDifferences(evals, dirs, { resamples: opts.resamples });
  const href = opts.checkpointHref ?? existingCheckpointHref(out);
  const appendix = evals.map((e, i) => evalLine(e, dirs[i], href(e.checkpoint)));
  const html = reportHtml(title, rows, seedRows, splits, svgs, traces, paired, appendix);
  const markdown = reportMarkdown(title, rows, seedRows, splits, traces, paired, appendix);
  writeFileAtomic(path.join(out, 'index.html'), html);
  writeFileAtomic(path.join(out, 'report.md'), markdown);
  return { html, markdown, rows, seedRows, plots: COST_AXES.map((a) => a.file), traces };
}

/** A table cell: text, or text linked to a path relative to the report. */
type Cell = string | { text: string; href: string };

function evalLine(e: EvalIndex, dir: string, checkpointHref: string | null): Cell[] {
  const ckpt: Cell = checkpointHref === null ? e.checkpoint : { text: e.checkpoint, href: checkpointHref };
  return [e.label, e.task, e.splitName, e.mode, String(e.items), ckpt, dir, e.backend, e.sweep.map((a) => `${a.key}=${a.values.join(',')}`).join(' ') || '–'];
}
const APPENDIX_NOTE = 'Checkpoints are linked where the weights are at hand (a published report: the weights shipped under checkpoints/results/); eval directories are where the evals were written, on the machine that ran them.';
const EVAL_HEAD = ['series', 'task', 'split', 'mode', 'items', 'checkpoint', 'eval dir', 'backend', 'sweep'];

const PAIRED_HEAD = ['split', 'point', 'difference', 'seeds', 'items', 'accuracy difference, points [95% CI]'];
const pairedCells = (d: PairedDifference) => [d.split, d.point, `${d.a} − ${d.b}`, String(d.seeds), String(d.items), formatPoints(d.diff)];
const PAIRED_NOTE =
  'Summary: accuracy of the series with clones minus the same-named monolithic series (clones − mono, selfcest − mono), per item of the same split and budget point, in percentage points; 95% CI: percentile bootstrap over seeds, then items within each seed (paired: both series resampled at the same items), widened to cover the Newcombe score interval of all the pairs (so it never collapses to [0, 0] when no item differs). A CI that excludes 0 separates the two.';

const NOTES = [
  'Accuracy: share of items answered correctly (self-consistency: the majority answer over n samples; pass@n: any sample right, an upper bound). 95% CIs: percentile bootstrap over items (1,000 resamples unless set otherwise).',
  'Total tokens: tokens held by every context of the tree (prompt + sampled + injected), summed over samples for self-consistency. Critical path: the root plus, per call, the longest clone (recursively); for self-consistency the longest sample.',
  'Cost-of-pass: mean tokens per item / accuracy, the expected tokens per correct answer. Frontier: no other point of the split is at least as cheap and as accurate and strictly better in one.',
];
const POOL_NOTE =
  'Pooled series (“(k seeds)”): evals whose labels differ only in the seed tag, one point per sweep point; means are the mean over seeds of the per-seed means, 95% CIs a two-level bootstrap (seeds with replacement, then items within each seed); items counts every seed’s items. The per-seed tables list each seed’s own points.';

/** Trace links as (heading, links): Successes and Failures when outcomes are known, else one unnamed group. */
function traceGroups(traces: readonly TraceLink[]): [string, TraceLink[]][] {
  const known = traces.filter((t) => t.correct !== undefined);
  if (known.length === 0) return [['', [...traces]]];
  const groups: [string, TraceLink[]][] = [
    ['Successes', traces.filter((t) => t.correct === 1)],
    ['Failures', traces.filter((t) => t.correct === 0)],
    ['Outcome not recorded', traces.filter((t) => t.correct === undefined)],
  ];
  return groups.filter(([, ts]) => ts.length > 0);
}

const mark = (t: TraceLink) => (t.correct === undefined ? '' : t.correct === 1 ? '✓ ' : '✗ ');

function reportHtml(title: string, rows: ReportRow[], seedRows: ReportRow[], splits: string[], svgs: string[], traces: TraceLink[], paired: PairedDifference[], appendix: Cell[][]): string {
  const esc = escapeHtml;
  const td = (c: Cell) => (typeof c === 'string' ? `<td>${esc(c)}</td>` : `<td><a href="${esc(encodeURI(c.href))}">${esc(c.text)}</a></td>`);
  const table = (head: string[], body: Cell[][], cls: (i: number) => string = () => '', tableClass = '') =>
    `<table${tableClass ? ` class="${tableClass}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.map((r, i) => `<tr${cls(i) ? ` class="${cls(i)}"` : ''}>${r.map(td).join('')}</tr>`).join('')}</tbody></table>`;
  const parts = [
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    ...(paired.length ? [`<h2>Summary: with clones minus monolithic, paired by item</h2>`, table(PAIRED_HEAD, paired.map(pairedCells)), `<p class="note">${esc(PAIRED_NOTE)}</p>`] : []),
    ...COST_AXES.map(
      (a, i) =>
        `<h2>Accuracy vs ${a.key === 'total' ? 'total' : 'critical-path'} tokens</h2><figure class="plot" data-axis="${a.key}">${svgs[i]}<figcaption>One point per eval point, bars: 95% CI; ringed and joined by the dashed line: the Pareto frontier of the split (${splits.map(esc).join(', ')}).</figcaption></figure>`,
    ),
    ...splits.map((s) => {
      const mine = rows.filter((r) => r.split === s);
      return `<h2>Split ${esc(s)}</h2>` + table(TABLE_HEAD, mine.map(tableCells), (i) => (mine[i].frontierTotal || mine[i].frontierCritical ? 'front' : ''));
    }),
    ...splits.filter((s) => seedRows.some((r) => r.split === s)).map((s) => `<h2>Split ${esc(s)}, per seed</h2>` + table(TABLE_HEAD, seedRows.filter((r) => r.split === s).map(tableCells))),
    `<h2>Example traces</h2>`,
    traces.length
      ? traceGroups(traces)
          .map(([h, ts]) => `${h ? `<h3>${esc(h)}</h3>` : ''}<ul>${ts.map((t) => `<li><a href="${esc(t.href)}">${esc(`${mark(t)}${t.series} · ${t.split} · ${t.point} · ${t.itemId}`)}</a></li>`).join('')}</ul>`)
          .join('')
      : '<p class="note">No trees were written by these evals.</p>',
    `<h2>Definitions</h2><ul class="note">${[...NOTES, ...(seedRows.length ? [POOL_NOTE] : [])].map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`,
    `<details><summary>Appendix: evaluations (checkpoints, eval directories, backends)</summary>${table(EVAL_HEAD, appendix, undefined, 'paths')}<p class="note">${esc(APPENDIX_NOTE)}</p></details>`,
    '</body></html>\n',
  ];
  return parts.join('\n');
}

/**
 * Text from labels, split names, titles and paths as inert markdown: HTML special characters as entities, and the
 * characters that make emphasis, code, tables or links backslash-escaped (a `]` only where a link could follow,
 * so intervals like `45.0 [41.7, 50.2]` stay as they are).
 */
export function mdText(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_|]/g, '\\$&')
    .replace(/\](?=[([:])/g, '\\]');
}

function reportMarkdown(title: string, rows: ReportRow[], seedRows: ReportRow[], splits: string[], traces: TraceLink[], paired: PairedDifference[], appendix: Cell[][]): string {
  const cell = (c: Cell) => (typeof c === 'string' ? mdText(c) : `[${mdText(c.text).replace(/[[\]]/g, '\\$&')}](${encodeURI(c.href)})`);
  const table = (head: string[], body: Cell[][]) => [`| ${head.map(cell).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
  return [
    `# ${mdText(title)}`,
    '',
    ...(paired.length ? ['## Summary: with clones minus monolithic, paired by item', '', table(PAIRED_HEAD, paired.map(pairedCells)), '', PAIRED_NOTE, ''] : []),
    ...COST_AXES.flatMap((a) => [`![accuracy vs ${a.key} tokens](${a.file})`, '']),
    ...splits.flatMap((s) => [`## Split ${mdText(s)}`, '', table(TABLE_HEAD, rows.filter((r) => r.split === s).map(tableCells)), '']),
    ...splits.filter((s) => seedRows.some((r) => r.split === s)).flatMap((s) => [`## Split ${mdText(s)}, per seed`, '', table(TABLE_HEAD, seedRows.filter((r) => r.split === s).map(tableCells)), '']),
    '## Example traces',
    '',
    ...(traces.length
      ? traceGroups(traces).flatMap(([h, ts]) => [
          ...(h ? [`### ${h}`, ''] : []),
          ...ts.map((t) => `- [${mdText(`${mark(t)}${t.series} · ${t.split} · ${t.point} · ${t.itemId}`).replace(/[[\]]/g, '\\$&')}](${encodeURI(t.href)})`),
          '',
        ])
      : ['No trees were written by these evals.']),
    '',
    '## Definitions',
    '',
    ...[...NOTES, ...(seedRows.length ? [POOL_NOTE] : [])].map((n) => `- ${n}`),
    '',
    '## Appendix: evaluations',
    '',
    table(EVAL_HEAD, appendix),
    '',
    APPENDIX_NOTE,
    '',
  ].join('\n');
}
