/**
 * The HTML report in a real headless Chromium (Debian's chromium package, driven by playwright-core),
 * offline: a simulated history replayed under two policies with labels, report.html opened from
 * disk with every network request refused, and each chart checked to be drawn: visible, sized,
 * and holding as many marks as its data has points.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../lib/policy/load.js';
import { type Report, readLabels, replay, writeReport } from '../../lib/replay/index.js';
import { DEFAULT_POLICY, smallSimulation } from '../support/simulated-history.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let browser: Browser;
let sim: Awaited<ReturnType<typeof smallSimulation>>;
let report: Report;
let html: string;
const requests: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  sim = await smallSimulation({ people: 150, days: 4 });
  const base = loadPolicyFile(DEFAULT_POLICY);
  report = await replay({
    history: sim.history,
    policies: [
      { policy: base, file: DEFAULT_POLICY },
      { policy: { ...base, version: 'edited', holdAt: 40 }, file: 'edited.yaml' },
    ],
    labels: { ...(await readLabels(sim.labels)), source: sim.labels },
    warmupMs: 86_400_000,
  });
  html = writeReport(join(sim.dir, 'report'), report).html;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  if (sim) rmSync(sim.dir, { recursive: true, force: true });
});

interface Drawn {
  kind: string;
  width: number;
  height: number;
  points: number;
  marks: number;
  visibleMarks: number;
  series: string[];
}

describe('report.html in headless Chromium', () => {
  it('is self-contained: no script, and no request leaves the page', () => {
    const text = readFileSync(html, 'utf8');
    expect(text).not.toMatch(/<script|<link|@import|url\(/i);
    expect(text).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('draws every chart with its data: holds per day by rule, score distribution by label, loss per victim', async () => {
    const page = await browser.newPage();
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(html).href);
    expect(await page.title()).toBe(`riskhook backtest: ${report.policies[0]!.policy} vs edited`);
    const charts: Drawn[] = await page.$$eval('svg.chart', (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const marks = [...svg.querySelectorAll('.point, .bar')];
        return {
          kind: svg.getAttribute('data-chart') ?? '',
          width: box.width,
          height: box.height,
          points: Number(svg.getAttribute('data-points')),
          marks: marks.length,
          // a mark is drawn when it has an on-screen box (bars of zero height excepted)
          visibleMarks: marks.filter((m) => {
            const b = m.getBoundingClientRect();
            return b.width > 0 && b.height >= 0 && b.x >= box.x - 1 && b.x <= box.right + 1;
          }).length,
          series: [...svg.querySelectorAll('g.series')].map((g) => g.getAttribute('data-name') ?? ''),
        };
      }),
    );
    await page.close();
    expect(requests).toEqual([]);
    expect(charts.map((c) => c.kind)).toEqual(['holds-per-day', 'holds-per-day', 'score-distribution', 'score-distribution', 'loss-per-victim']);
    for (const chart of charts) {
      expect(chart.width).toBeGreaterThan(300);
      expect(chart.height).toBeGreaterThan(100);
      expect(chart.points).toBeGreaterThan(0);
      expect([chart.kind, chart.marks]).toEqual([chart.kind, chart.points]);
      expect([chart.kind, chart.visibleMarks]).toEqual([chart.kind, chart.points]);
    }
    const [holds, , scores, , losses] = charts;
    const days = report.policies[0]!.days.length;
    expect(days).toBe(4);
    expect(holds!.series[0]).toBe('all holds');
    expect(holds!.points).toBe(days * holds!.series.length);
    expect(holds!.series.length).toBeGreaterThan(2);
    expect(scores!.series).toEqual(['legit (% of legit)', 'fraud (% of fraud)']);
    expect(scores!.points).toBe(2 * 21);
    expect(losses!.series).toHaveLength(2);
    expect(losses!.points).toBe(2 * report.policies[0]!.labels!.victims);
  });
});
