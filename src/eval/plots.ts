/**
 * Pareto plots as Vega-Lite specs, compiled to static SVG in Node at report time (vega's headless View with
 * the 'none' renderer): accuracy vs a cost axis, one colour per series, 95 % CI error bars, a column per
 * split (ID and OOD side by side), frontier points ringed and joined. The SVG needs no script to display.
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
}

/** A layered, split-faceted Vega-Lite spec of accuracy vs `costTitle`. */
export function paretoSpec(rows: readonly PlotRow[], splits: readonly string[], costTitle: string): TopLevelSpec {
  const x = { field: 'cost', type: 'quantitative' as const, title: costTitle, scale: { type: 'log' as const, nice: false, padding: 12 } };
  const y = { field: 'accuracy', type: 'quantitative' as const, title: 'accuracy', scale: { domain: [0, 1] } };
  const color = { field: 'series', type: 'nominal' as const, title: 'series' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: rows.map((r) => ({ ...r })) },
    facet: { column: { field: 'split', type: 'nominal', sort: [...splits], title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } } },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 330,
      height: 250,
      layer: [
        { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative', scale: { domain: [0, 1] } }, y2: { field: 'hi' }, color } },
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
          encoding: { x, y },
        },
        {
          mark: { type: 'point', filled: true, size: 70, opacity: 1 },
          encoding: {
            x,
            y,
            color,
            shape: { field: 'kind', type: 'nominal', title: 'metric', scale: { domain: ['accuracy', 'pass@n'], range: ['circle', 'triangle-up'] } },
            tooltip: [
              { field: 'series', type: 'nominal' },
              { field: 'point', type: 'nominal' },
              { field: 'accuracy', type: 'quantitative', format: '.3f' },
              { field: 'cost', type: 'quantitative', format: '.1f' },
            ],
          },
        },
      ],
    },
  } as TopLevelSpec;
}

/** Compile a Vega-Lite spec and render it to an SVG string (no DOM, no network). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
