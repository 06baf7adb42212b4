/**
 * Pareto plots as Vega-Lite specs, compiled to static SVG in Node at report time (vega's headless View with
 * the 'none' renderer): accuracy vs a cost axis, one colour per series, 95 % CI error bars, a panel per
 * split (ID and OOD side by side, two panels a row), frontier points ringed and joined, each point labelled with
 * its budget and carrying a tooltip (an SVG <title>: series, split, point, accuracy with CI, cost). The SVG
 * needs no script to display; legend labels are never shortened.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One plotted point: an eval point (or the pass@n of a self-consistency point). */
export interface PlotRow {
  split: string;
  series: string;
  /** vote: the eval's accuracy (majority vote for sc); pass@n: the sc upper bound (never on a frontier) */
  kind: 'accuracy' | 'pass@n';
  point: string;
  accuracy: number;
  lo: number;
  hi: number;
  cost: number;
  frontier: boolean;
  /** the budget drawn beside the point (e.g. `512`, `512 n=4`); empty: none */
  label: string;
  /** the tooltip text */
  tip: string;
}

/** Panels per row: the plot of a report with several tasks wraps instead of growing sideways. */
export const PANELS_PER_ROW = 2;

/** A layered, split-faceted Vega-Lite spec of accuracy vs `costTitle`. */
export function paretoSpec(rows: readonly PlotRow[], splits: readonly string[], costTitle: string): TopLevelSpec {
  const x = { field: 'cost', type: 'quantitative' as const, title: costTitle, scale: { type: 'log' as const, nice: false, padding: 12 } };
  const y = { field: 'accuracy', type: 'quantitative' as const, title: 'accuracy', scale: { domain: [0, 1] } };
  const color = { field: 'series', type: 'nominal' as const, title: 'series', legend: { labelLimit: 0 } };
  const description = { field: 'tip', type: 'nominal' as const };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: rows.map((r) => ({ ...r })) },
    facet: { field: 'split', type: 'nominal', sort: [...splits], title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } },
    columns: PANELS_PER_ROW,
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 330,
      height: 250,
      layer: [
        { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] } }, y2: { field: 'hi' }, color, description } },
        {
          transform: [{ filter: "datum.kind === 'accuracy'" }],
          mark: { type: 'line', strokeWidth: 1, opacity: 0.6 },
          encoding: { x, y, color, order: { field: 'cost', type: 'quantitative' } },
        },
        {
          transform: [{ filter: 'datum.frontier' }],
          mark: { type: 'line', strokeDash: [4, 3], color: 'black', strokeWidth: 1 },
          encoding: { x, y, order: { field: 'cost', type: 'quantitative' } },
        },
        {
          transform: [{ filter: 'datum.frontier' }],
          mark: { type: 'point', shape: 'circle', size: 260, filled: false, color: 'black', strokeWidth: 1.5 },
          encoding: { x, y, description },
        },
        {
          transform: [{ filter: "datum.kind === 'accuracy' && datum.label !== ''" }],
          mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 5, dy: -4, fontSize: 9 },
          encoding: { x, y, color, text: { field: 'label', type: 'nominal' } },
        },
        {
          mark: { type: 'point', filled: true, size: 70, opacity: 1 },
          encoding: {
            x,
            y,
            color,
            shape: { field: 'kind', type: 'nominal', title: 'metric', scale: { domain: ['accuracy', 'pass@n'], range: ['circle', 'triangle-up'] } },
            description,
          },
        },
      ],
    },
  } as TopLevelSpec;
}

/** Compile a Vega-Lite spec and render it to an SVG string (no DOM, no network), marks with tooltips. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return svgTooltips(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Vega's SVG writer puts a mark's `description` in its aria-label and leaves tooltips to a script; a browser
 * shows an element's <title> child on hover with no script, so each self-closed graphics-symbol element (a point,
 * a CI bar) gets its aria-label as a <title> (the attribute text is already escaped, and valid as text).
 */
export function svgTooltips(svg: string): string {
  return svg.replace(/<(path|line|rect)( aria-label="([^"]*)" role="graphics-symbol"[^>]*?)\/>/g, '<$1$2><title>$3</title></$1>');
}
