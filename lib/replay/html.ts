/**
 * The report as one self-contained HTML page: tables and inline SVG charts drawn here (no script,
 * no stylesheet or font from the network), so it opens offline, prints, and can be mailed.
 * Charts: holds per day by rule, score distribution by label, loss per victim.
 */
import type { PolicyReport, Report } from './report.js';
import { minorUnits, moneyFormat } from './table.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
const W = 720;
const H = 260;
const PAD = { left: 56, right: 16, top: 16, bottom: 40 };

export function renderHtml(report: Report): string {
  const money = moneyFormat(report.currency);
  const h = report.history;
  const title = `riskhook backtest: ${report.policies.map((p) => p.policy).join(' vs ')}`;
  const body: string[] = [];
  body.push(`<h1>${esc(title)}</h1>`);
  body.push(
    `<p class="meta">History <code>${esc(h.source)}</code>: ${n(h.payments)} payments${h.from ? `, reported from ${esc(h.from)} to ${esc(h.to ?? '')}` : ''}` +
      `${h.warmup ? `; ${n(h.warmup)} in the warm-up (not reported)` : ''}${h.badRecords ? `; ${n(h.badRecords)} bad records skipped` : ''}` +
      `${h.duplicates ? `; ${n(h.duplicates)} repeated deliveries skipped` : ''}${h.late ? `; ${n(h.late)} records late beyond the reorder window` : ''}.` +
      `${report.labels ? ` Labels <code>${esc(report.labels.source)}</code>: ${n(report.labels.fraud)} fraud, ${n(report.labels.legit)} legit, ${n(report.labels.unlabelled)} unlabelled (counted as ${report.labels.unlabelledAs === 'legit' ? 'legit' : 'neither'}).` : ''}` +
      ` Amounts in ${esc(report.currency)}. Generated ${esc(report.generatedAt)}.</p>`,
  );
  body.push(summaryTable(report, money));

  body.push('<h2>Holds per day by rule</h2><p class="note">A held payment counts under every rule that fired on it; the black line is all holds.</p>');
  for (const p of report.policies) body.push(figure(p.policy, holdsPerDay(p)));

  body.push(`<h2>Score distribution${report.labels ? ' by label' : ''}</h2>`);
  if (report.labels) body.push('<p class="note">Share of each label\'s payments per score band (5 points wide).</p>');
  for (const p of report.policies) body.push(figure(p.policy, scoreDistribution(p, !!report.labels)));

  if (report.labels) {
    body.push('<h2>Loss per victim</h2><p class="note">Fraud money approved on each victim\'s account, victims ranked by loss (all policies on one chart).</p>');
    body.push(figure('loss per victim', lossPerVictim(report.policies, minorUnits(report.currency))));
  }

  body.push('<h2>Rules</h2>');
  body.push(rulesTable(report));
  body.push('<h2>Per provider</h2>');
  body.push(sliceTable(report.policies, (p) => p.providers, money, 'provider'));
  body.push('<h2>Per day</h2>');
  body.push(
    sliceTable(
      report.policies,
      (p) => Object.fromEntries(p.days.map((d) => [d.day, d])),
      money,
      'day',
    ),
  );
  for (const c of report.comparisons) body.push(comparison(c, money, !!report.labels));
  for (const p of report.policies) {
    if (!p.live) continue;
    body.push(`<h2>Live decisions (${esc(p.policy)})</h2><p>${n(p.live.same)} of ${n(p.live.compared)} recorded decisions reproduced exactly.</p>`);
    if (p.live.examples.length) {
      body.push(
        table(
          ['line', 'event', 'live', 'replay'],
          p.live.examples.map((e) => [String(e.line), e.eventId, `${e.live.decision} ${e.live.score} ${e.live.rules.join(', ')}`, `${e.replay.decision} ${e.replay.score} ${e.replay.rules.join(', ')}`]),
        ),
      );
    }
  }
  if (h.issues.length) body.push(`<h2>Bad records</h2>${table(['line', 'problem'], h.issues.map((i) => [String(i.line), i.message]))}`);

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;vertical-align:top}
td:first-child,th:first-child{text-align:left}th{background:#f6f6f6}code{background:#f3f3f3;padding:0 3px}
.meta,.note{color:#555}figure{margin:12px 0 20px}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{display:block;max-width:100%;height:auto;background:#fff}svg text{font:11px system-ui,sans-serif;fill:#444}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin-top:4px}.legend span::before{content:"";display:inline-block;width:10px;height:10px;margin-right:4px;background:var(--c);vertical-align:-1px}
</style></head><body>
${body.join('\n')}
</body></html>
`;
}

interface Series {
  name: string;
  values: number[];
  color: string;
  width?: number;
  dash?: boolean;
}

interface Chart {
  svg: string;
  legend: { name: string; color: string }[];
}

function figure(caption: string, chart: Chart): string {
  const legend = chart.legend.map((l) => `<span style="--c:${l.color}">${esc(l.name)}</span>`).join('');
  return `<figure><figcaption>${esc(caption)}</figcaption>${chart.svg}<div class="legend">${legend}</div></figure>`;
}

function holdsPerDay(p: PolicyReport): Chart {
  const days = p.days.map((d) => d.day.slice(5));
  const rules = p.rules
    .filter((r) => r.mode === 'active' && r.heldHits > 0)
    .sort((a, b) => b.heldHits - a.heldHits)
    .slice(0, COLORS.length - 1);
  const series: Series[] = [
    { name: 'all holds', values: p.days.map((d) => d.held), color: '#000', width: 2.5 },
    ...rules.map((r, i) => ({ name: r.rule, values: p.days.map((d) => d.holdsByRule[r.rule] ?? 0), color: COLORS[i]! })),
  ];
  return lineChart('holds-per-day', days, series, 'held payments');
}

function scoreDistribution(p: PolicyReport, labelled: boolean): Chart {
  const bins = p.scores.fraud.map((_, i) => (i * p.scores.binWidth >= 100 ? '100' : `${i * p.scores.binWidth}`));
  const share = (values: number[]) => {
    const total = values.reduce((a, b) => a + b, 0);
    return values.map((v) => (total === 0 ? 0 : (v / total) * 100));
  };
  const series: Series[] = labelled
    ? [
        { name: 'legit (% of legit)', values: share(p.scores.legit), color: COLORS[0]! },
        { name: 'fraud (% of fraud)', values: share(p.scores.fraud), color: COLORS[1]! },
      ]
    : [{ name: 'payments (%)', values: share(p.scores.unlabelled), color: COLORS[0]! }];
  return barChart('score-distribution', bins, series, '% of payments');
}

function lossPerVictim(policies: readonly PolicyReport[], perMajor: number): Chart {
  const MAX_POINTS = 400;
  const series = policies.map((p, i) => {
    const losses = p.lossPerVictim ?? [];
    // Ranked values; thinned to MAX_POINTS evenly spaced ranks for very many victims.
    const step = Math.max(1, Math.ceil(losses.length / MAX_POINTS));
    const values = losses.filter((_, k) => k % step === 0).map((v) => v / perMajor);
    return { name: `${p.policy}: ${p.labels?.victimsWithLoss ?? 0} of ${p.labels?.victims ?? 0} victims lost money`, values, color: COLORS[i % COLORS.length]! };
  });
  const longest = Math.max(0, ...series.map((s) => s.values.length));
  const labels = Array.from({ length: longest }, (_, k) => String(k + 1));
  return lineChart('loss-per-victim', labels, series, 'loss (major units)');
}

function scale(max: number): { top: number; ticks: number[] } {
  if (max <= 0) return { top: 1, ticks: [0, 1] };
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const top = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= top + step / 2; t += step) ticks.push(Math.round(t * 1e6) / 1e6);
  return { top, ticks };
}

function frame(kind: string, xLabels: string[], top: number, ticks: number[], yLabel: string, points: number, inner: string): string {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const grid = ticks
    .map((t) => `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eee"/><text x="${PAD.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${short(t)}</text>`)
    .join('');
  const every = Math.max(1, Math.ceil(xLabels.length / 14));
  const slot = plotW / Math.max(xLabels.length, 1);
  const xText = xLabels
    .map((l, i) => (i % every === 0 ? `<text x="${(PAD.left + slot * (i + 0.5)).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${esc(l)}</text>` : ''))
    .join('');
  return (
    `<svg class="chart" data-chart="${kind}" data-points="${points}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" xmlns="http://www.w3.org/2000/svg">` +
    `${grid}<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(0)}" y2="${y(0)}" stroke="#999"/>${xText}` +
    `<text x="14" y="${PAD.top + plotH / 2}" transform="rotate(-90 14 ${PAD.top + plotH / 2})" text-anchor="middle">${esc(yLabel)}</text>${inner}</svg>`
  );
}

function lineChart(kind: string, xLabels: string[], series: Series[], yLabel: string): Chart {
  const { top, ticks } = scale(Math.max(0, ...series.flatMap((s) => s.values)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(xLabels.length, 1);
  const x = (i: number) => PAD.left + slot * (i + 0.5);
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  let points = 0;
  const dots = xLabels.length <= 60;
  const inner = series
    .map((s) => {
      const coords = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
      points += s.values.length;
      const circles = dots
        ? s.values.map((v, i) => `<circle class="point" cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${s.color}"><title>${esc(s.name)} ${esc(xLabels[i] ?? '')}: ${short(v)}</title></circle>`).join('')
        : '';
      return `<g class="series" data-name="${esc(s.name)}"><polyline fill="none" stroke="${s.color}" stroke-width="${s.width ?? 1.5}" points="${coords.join(' ')}"/>${circles}</g>`;
    })
    .join('');
  return { svg: frame(kind, xLabels, top, ticks, yLabel, points, inner), legend: series.map((s) => ({ name: s.name, color: s.color })) };
}

function barChart(kind: string, xLabels: string[], series: Series[], yLabel: string): Chart {
  const { top, ticks } = scale(Math.max(0, ...series.flatMap((s) => s.values)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(xLabels.length, 1);
  const barW = (slot * 0.8) / series.length;
  let points = 0;
  const inner = series
    .map((s, k) => {
      const bars = s.values.map((v, i) => {
        const height = (v / top) * plotH;
        const bx = PAD.left + slot * i + slot * 0.1 + barW * k;
        return `<rect class="bar" x="${bx.toFixed(1)}" y="${(PAD.top + plotH - height).toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(height, 0).toFixed(1)}" fill="${s.color}"><title>${esc(s.name)} score ${esc(xLabels[i] ?? '')}: ${v.toFixed(2)}</title></rect>`;
      });
      points += s.values.length;
      return `<g class="series" data-name="${esc(s.name)}">${bars.join('')}</g>`;
    })
    .join('');
  return { svg: frame(kind, xLabels, top, ticks, yLabel, points, inner), legend: series.map((s) => ({ name: s.name, color: s.color })) };
}

function summaryTable(report: Report, money: (v: number) => string): string {
  const ps = report.policies;
  const rows: string[][] = [
    ['policy file', ...ps.map((p) => p.file)],
    ['payments', ...ps.map((p) => n(p.events))],
    ['held', ...ps.map((p) => `${n(p.held)} (${pct(p.heldPct)})`)],
    [`money held (${report.currency})`, ...ps.map((p) => money(p.heldAmount))],
  ];
  if (report.labels) {
    const l = (p: PolicyReport) => p.labels!;
    rows.push(
      ['fraud money held', ...ps.map((p) => `${money(l(p).fraudHeldAmount)} of ${money(l(p).fraudAmount)} (${pct(l(p).fraudMoneyHeldPct)})`)],
      ['fraud payments held', ...ps.map((p) => `${n(l(p).fraudHeld)} of ${n(l(p).fraudTotal)}`)],
      ['legit payments held', ...ps.map((p) => `${n(l(p).legitHeld)} of ${n(l(p).legitTotal)} (${pct(l(p).legitHeldPct)})`)],
      ['precision', ...ps.map((p) => fixed(l(p).precision))],
      ['recall', ...ps.map((p) => fixed(l(p).recall))],
      ['victims with loss', ...ps.map((p) => `${n(l(p).victimsWithLoss)} of ${n(l(p).victims)}`)],
      ['median loss per victim', ...ps.map((p) => money(l(p).medianLossPerVictim))],
      ['fraud money lost', ...ps.map((p) => money(l(p).totalLoss))],
    );
  }
  return table(['', ...ps.map((p) => p.policy)], rows);
}

function rulesTable(report: Report): string {
  const ids = [...new Set(report.policies.flatMap((p) => p.rules.map((r) => r.rule)))];
  const head = ['rule'];
  for (const p of report.policies) head.push(`${p.policy}: hits`, 'holds', 'decisive / would hold', ...(report.labels ? ['false-positive share'] : []));
  const rows = ids.map((id) => {
    const row = [id];
    for (const p of report.policies) {
      const r = p.rules.find((x) => x.rule === id);
      if (!r) row.push('-', '-', '-', ...(report.labels ? ['-'] : []));
      else row.push(`${n(r.hits)}${r.mode === 'shadow' ? ' (shadow)' : ''}`, n(r.heldHits), r.mode === 'shadow' ? `would hold ${n(r.wouldHold)}` : n(r.decisive), ...(report.labels ? [fixed(r.falsePositiveShare)] : []));
    }
    return row;
  });
  return table(head, rows);
}

function sliceTable(
  policies: readonly PolicyReport[],
  pick: (p: PolicyReport) => Record<string, { events: number; held: number; heldAmount: number }>,
  money: (v: number) => string,
  name: string,
): string {
  const keys = [...new Set(policies.flatMap((p) => Object.keys(pick(p))))].sort();
  return table(
    [name, ...policies.map((p) => `${p.policy}: held of payments, money held`)],
    keys.map((k) => [k, ...policies.map((p) => {
      const s = pick(p)[k];
      return s ? `${n(s.held)} of ${n(s.events)}, ${money(s.heldAmount)}` : '-';
    })]),
  );
}

function comparison(c: Report['comparisons'][number], money: (v: number) => string, labelled: boolean): string {
  const part = (x: { total: number; amount: number; fraud: number; legit: number }) =>
    `${n(x.total)} payments, ${money(x.amount)}${labelled ? ` (fraud ${n(x.fraud)}, legit ${n(x.legit)})` : ''}`;
  const rows = [...c.examples.approveToHold, ...c.examples.holdToApprove].map((e) => [
    e.eventId,
    e.at.slice(0, 16).replace('T', ' '),
    `${money(e.amount)} ${e.currency}`,
    e.label ?? '',
    `${e.from.decision} ${e.from.score} ${e.from.rules.join(', ')}`,
    `${e.to.decision} ${e.to.score} ${e.to.rules.join(', ')}`,
  ]);
  return (
    `<h2>Changed decisions: ${esc(c.base)} → ${esc(c.other)}</h2><p>approve → hold: ${part(c.approveToHold)}<br>hold → approve: ${part(c.holdToApprove)}</p>` +
    (rows.length ? table(['event', 'at (UTC)', 'amount', 'label', c.base, c.other], rows) : '')
  );
}

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const n = (v: number) => v.toLocaleString('en-US');
const pct = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}%`);
const fixed = (v: number | null) => (v === null ? '-' : v.toFixed(2));
const short = (v: number) => (Math.abs(v) >= 10_000 ? `${Math.round(v / 1000)}k` : String(Math.round(v * 100) / 100));

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
