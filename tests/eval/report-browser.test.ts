/**
 * The report in a real browser: headless Chromium (Debian's `chromium`, driven by puppeteer-core, no browser
 * download) opens the generated page; every plot must have rendered with marks, the page and a trace page must
 * log no console errors and load nothing from outside the report. A screenshot goes to
 * artifacts/eval-report.png (CI artifact). Without Chromium the test is skipped with the reason printed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeReport } from '../../src/eval/report.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { scriptedEvalDirs } from './helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter((x): x is string => !!x);
const chromium = CANDIDATES.find((f) => fs.existsSync(f));
if (!chromium) console.warn(`report browser test skipped: no Chromium at ${CANDIDATES.join(', ')} (apt-get install -y chromium, or set CHROMIUM_PATH)`);

describe('the eval report in headless Chromium', () => {
  it.skipIf(!chromium)('at 1280 px: every plot with marks, budget labels and tooltips, no horizontal overflow, every legend label whole and visible, no console errors, nothing external; screenshot saved', async () => {
    const { default: puppeteer } = await import('puppeteer-core');
    const tok = loadTokenizer();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-report-'));
    // a long series label: Vega shortens legend labels past 160 px unless told not to
    const dirs = await scriptedEvalDirs(tok, root, 6, 'monolithic, SFT on monolithic traces only (3 seeds)');
    const out = path.join(root, 'report');
    const rep = await writeReport(dirs, out, tok, { traces: 1 });
    const accuracyRows = rep.rows.length;
    // the scripted evals have a known shape: full delegation/mono traces are right, truncated ones (60 tokens) mostly not
    expect(rep.rows.filter((r) => r.series === 'delegate' && r.point === 'maxTreeTokens-4096').every((r) => r.summary.accuracy.mean === 1)).toBe(true);
    expect(rep.rows.filter((r) => r.series === 'sc').map((r) => r.summary.accuracy.mean)).toEqual([0.5, 0.5]);
    expect(rep.rows.some((r) => r.frontierTotal) && rep.rows.some((r) => r.frontierCritical)).toBe(true);

    const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${String(e)}`));
      page.on('requestfailed', (r) => problems.push(`failed request: ${r.url()}`));
      page.on('request', (r) => {
        if (!r.url().startsWith('file://') && !r.url().startsWith('data:')) problems.push(`external request: ${r.url()}`);
      });
      await page.goto(`file://${path.join(out, 'index.html')}`, { waitUntil: 'load' });
      const plots = await page.$$eval('figure.plot', (figs) =>
        figs.map((f) => {
          const svg = f.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          return {
            axis: f.getAttribute('data-axis'),
            width: box?.width ?? 0,
            height: box?.height ?? 0,
            symbols: f.querySelectorAll('g.mark-symbol path').length,
            rules: f.querySelectorAll('g.mark-rule line').length,
            lines: f.querySelectorAll('g.mark-line path').length,
            texts: [...f.querySelectorAll('text')].map((t) => t.textContent ?? ''),
            budgetLabels: [...f.querySelectorAll('g.mark-text.role-mark text')].map((t) => t.textContent ?? ''),
            tooltips: [...f.querySelectorAll('g.mark-symbol path > title')].map((t) => t.textContent ?? ''),
            legends: [...f.querySelectorAll('g.role-legend')].map((g) => ({
              title: g.querySelector('g.role-legend-title text')?.textContent ?? '',
              labels: [...g.querySelectorAll('g.role-legend-label text')].map((t) => {
                const b = t.getBoundingClientRect();
                return { text: t.textContent ?? '', left: b.left, right: b.right };
              }),
            })),
            scrolls: f.scrollWidth > f.clientWidth,
          };
        }),
      );
      const width = () => page.$eval('html', (h) => ({ scroll: h.scrollWidth, client: h.clientWidth }));
      const pageWidth = await width();
      expect(pageWidth.scroll, 'page wider than the 1280 px window').toBeLessThanOrEqual(pageWidth.client);
      const series = [...new Set(rep.rows.map((r) => r.series))].sort();
      // the scripted sweep is over maxTreeTokens (drawn bare); the self-consistency eval has one point and 3 samples
      const budgets = new Set(rep.rows.map((r) => (r.point === 'default' ? `n=${r.samples}` : r.point.replace(/^maxTreeTokens-/, ''))));
      expect(plots.map((p) => p.axis)).toEqual(['total', 'critical']);
      for (const p of plots) {
        expect(p.width, `${p.axis} width`).toBeGreaterThan(300);
        expect(p.height, `${p.axis} height`).toBeGreaterThan(150);
        expect(p.symbols, `${p.axis} points`).toBeGreaterThanOrEqual(accuracyRows);
        expect(p.rules, `${p.axis} CI bars`).toBeGreaterThanOrEqual(accuracyRows);
        expect(p.lines, `${p.axis} series lines`).toBeGreaterThan(0);
        expect(p.texts, `${p.axis} split headers`).toEqual(expect.arrayContaining(['id', 'ood']));
        expect(p.scrolls, `${p.axis} plot scrolls inside its box`).toBe(false);
        // a budget label beside every accuracy point (the sweep is over maxTreeTokens: the bare number)
        expect(p.budgetLabels.length, `${p.axis} budget labels`).toBe(accuracyRows);
        expect(new Set(p.budgetLabels)).toEqual(budgets);
        // a tooltip on every point (accuracy and pass@n) naming series, budget and accuracy with its CI
        expect(p.tooltips.length, `${p.axis} tooltips`).toBeGreaterThanOrEqual(p.symbols - rep.rows.filter((r) => r.frontierTotal || r.frontierCritical).length);
        for (const r of rep.rows) expect(p.tooltips.some((t) => t.startsWith(`${r.series} · ${r.split} · ${r.point}: accuracy `) && /\[\d/.test(t)), `${p.axis} tooltip of ${r.series} ${r.point}`).toBe(true);
        expect(p.legends.map((l) => l.title).sort()).toEqual(['metric', 'series']);
        expect(p.legends.find((l) => l.title === 'series')!.labels.map((l) => l.text).sort(), `${p.axis} legend labels whole`).toEqual(series);
        expect(p.legends.find((l) => l.title === 'metric')!.labels.map((l) => l.text).sort()).toEqual(['accuracy', 'pass@n']);
        for (const l of p.legends.flatMap((g) => g.labels)) {
          expect(l.left, `legend label ${l.text} on screen`).toBeGreaterThanOrEqual(0);
          expect(l.right, `legend label ${l.text} on screen`).toBeLessThanOrEqual(pageWidth.client);
        }
      }
      const tables = await page.$$eval('table', (ts) => ts.length);
      expect(tables).toBe(3); // evals, split id, split ood
      // the appendix, opened, fits too; its checkpoints link what exists (here: the scripted evals have none)
      await page.$$eval('details', (ds) => ds.forEach((d) => d.setAttribute('open', '')));
      const opened = await width();
      expect(opened.scroll, 'page with the appendix open wider than the window').toBeLessThanOrEqual(opened.client);
      fs.mkdirSync(path.join(ROOT, 'artifacts'), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, 'artifacts', 'eval-report.png'), fullPage: true });

      const links = await page.$$eval('a[href^="traces/"]', (as) => as.map((a) => a.getAttribute('href')!));
      expect(links.length).toBe(rep.traces.length);
      await page.goto(`file://${path.join(out, links[0])}`, { waitUntil: 'load' });
      expect(await page.$$eval('details.ctx', (d) => d.length)).toBeGreaterThan(0);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
