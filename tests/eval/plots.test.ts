// Plot points: budget labels, tooltips as SVG <title>s, one label for points drawn at one place.
import { describe, expect, it } from 'vitest';
import { budgetLabel, COST_AXES, plotRows, type ReportRow } from '../../src/eval/report.ts';
import { paretoSpec, renderSvg, svgTooltips } from '../../src/eval/plots.ts';

const est = (mean: number) => ({ mean, lo: Math.max(0, mean - 0.1), hi: Math.min(1, mean + 0.1) });
function row(series: string, budget: number, accuracy: number, cost: number, samples = 1): ReportRow {
  return {
    eval: 0, series, split: 'id', mode: samples > 1 ? 'sc' : 'clones', point: `maxTreeTokens-${budget}`, overrides: { maxTreeTokens: budget }, samples, items: 10,
    summary: { items: 10, samples, accuracy: est(accuracy), passAtN: est(Math.min(1, accuracy + 0.1)), tokens: { total: est(cost), critical: est(cost / 2), root: cost, clone: 0 } } as unknown as ReportRow['summary'],
    frontierTotal: false, frontierCritical: false,
  };
}

describe('plot points', () => {
  it('budget labels: the tree budget bare, samples as n=, other keys as key=value', () => {
    expect(budgetLabel({ maxTreeTokens: 512 }, 1)).toBe('512');
    expect(budgetLabel({ samples: 4 }, 4)).toBe('n=4');
    expect(budgetLabel({}, 3)).toBe('n=3');
    expect(budgetLabel({}, 1)).toBe('');
    expect(budgetLabel({ maxTreeTokens: 256, temperature: 0.7 }, 1)).toBe('256 temperature=0.7');
  });

  it('points of a series at one place share one label; tooltips name series, split, point, accuracy with CI and cost', () => {
    const rows = [row('mono', 128, 0.44, 81), row('mono', 256, 0.44, 81), row('mono', 512, 0.44, 81), row('clones', 512, 0.73, 148), row('sc', 128, 0.4, 160, 4)];
    const pts = plotRows(rows, COST_AXES[0]);
    expect(pts.filter((p) => p.kind === 'accuracy').map((p) => p.label)).toEqual(['128, 256, 512', '', '', '512', '128 n=4']);
    expect(pts.filter((p) => p.kind === 'pass@n').map((p) => p.label)).toEqual(['']);
    expect(pts[3].tip).toBe('clones · id · maxTreeTokens-512: accuracy 73.0 [63.0, 83.0] %, 148.0 total tokens per item (10 items)');
  });

  it('the rendered SVG carries a <title> per point and per CI bar, with the text escaped once', async () => {
    const rows = [row('a & <b>', 128, 0.5, 100), row('a & <b>', 256, 0.7, 150)];
    const svg = await renderSvg(paretoSpec(plotRows(rows, COST_AXES[0]), ['id'], 'tokens'));
    const titles = [...svg.matchAll(/<title>([^<]*)<\/title>/g)].map((m) => m[1]);
    expect(titles.filter((t) => t.startsWith('a &amp; &lt;b&gt; · id · maxTreeTokens-'))).toHaveLength(4); // 2 points + 2 bars
    const labels = svg.match(/class="mark-text role-mark[^"]*"[^>]*>(.*?)<\/g>/s)?.[1] ?? '';
    expect([...labels.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1])).toEqual(['128', '256']);
    expect(svgTooltips('<path aria-label="x" role="graphics-symbol" d="M0"/>')).toBe('<path aria-label="x" role="graphics-symbol" d="M0"><title>x</title></path>');
  });
});
