/** The report as a terminal table: one column per policy, then rules, providers, days and changes. */
import type { PolicyReport, Report } from './report.js';

export function renderTable(report: Report, options: { examples?: number; title?: string } = {}): string {
  const out: string[] = [];
  const h = report.history;
  const policies = report.policies;
  const money = moneyFormat(report.currency);
  out.push(
    `${options.title ?? `replay of ${h.source}`}: ${n(h.payments)} payments${h.from ? `, ${h.from.slice(0, 16).replace('T', ' ')} to ${h.to!.slice(0, 16).replace('T', ' ')} UTC` : ''}`,
  );
  const notes = [
    h.warmup > 0 && `${n(h.warmup)} in the warm-up (not reported)`,
    h.bindings > 0 && `${n(h.bindings)} bindings`,
    h.duplicates > 0 && `${n(h.duplicates)} repeated deliveries skipped`,
    h.otherLogLines > 0 && `${n(h.otherLogLines)} other log lines skipped`,
    h.badRecords > 0 && `${n(h.badRecords)} bad records skipped`,
    h.late > 0 && `${n(h.late)} records more than the reorder window late`,
  ].filter(Boolean);
  if (notes.length) out.push(`  ${notes.join('; ')}`);
  out.push('');

  const rows: string[][] = [['', ...policies.map((p) => p.policy)]];
  rows.push(['payments', ...policies.map((p) => n(p.events))]);
  rows.push(['held', ...policies.map((p) => `${n(p.held)} (${percent(p.heldPct)})`)]);
  rows.push([`money held (${report.currency})`, ...policies.map((p) => money(p.heldAmount))]);
  if (policies.some((p) => p.degraded > 0)) rows.push(['degraded', ...policies.map((p) => n(p.degraded))]);
  if (report.labels) {
    const l = (p: PolicyReport) => p.labels!;
    rows.push(['fraud money held', ...policies.map((p) => `${money(l(p).fraudHeldAmount)} (${percent(l(p).fraudMoneyHeldPct)})`)]);
    rows.push(['fraud payments held', ...policies.map((p) => `${n(l(p).fraudHeld)} of ${n(l(p).fraudTotal)}`)]);
    rows.push(['legit payments held', ...policies.map((p) => `${n(l(p).legitHeld)} (${percent(l(p).legitHeldPct)})`)]);
    rows.push(['precision / recall', ...policies.map((p) => `${fixed(l(p).precision)} / ${fixed(l(p).recall)}`)]);
    rows.push(['victims with loss', ...policies.map((p) => `${n(l(p).victimsWithLoss)} of ${n(l(p).victims)}`)]);
    rows.push(['median loss per victim', ...policies.map((p) => money(l(p).medianLossPerVictim))]);
    rows.push(['fraud money lost', ...policies.map((p) => money(l(p).totalLoss))]);
  }
  for (const p of policies) {
    if (p.live) rows.push([`live decisions reproduced`, ...policies.map((q) => (q === p ? `${n(p.live!.same)} of ${n(p.live!.compared)}` : ''))]);
  }
  out.push(grid(rows));

  const segments = [...new Set(policies.flatMap((p) => Object.keys(p.segments ?? {})))];
  if (segments.length) {
    out.push('', 'held per segment: payments held of payments (%), money held (% of the money)');
    const cell = (p: PolicyReport, name: string) => {
      const s = p.segments?.[name];
      return s ? `${n(s.held)} of ${n(s.events)} (${percent(s.heldPct)}), ${money(s.heldAmount)} (${percent(s.heldAmountPct)})` : '-';
    };
    // Fraud segments (attack strategies) first, then the customers'.
    const fraudFirst = (name: string) => (policies.some((p) => (p.segments?.[name]?.fraud ?? 0) > 0) ? 0 : 1);
    const ordered = [...segments].sort((a, b) => fraudFirst(a) - fraudFirst(b) || a.localeCompare(b));
    out.push(grid([['segment', ...policies.map((p) => p.policy)], ...ordered.map((name) => [`${name}${fraudFirst(name) === 0 ? ' (fraud)' : ''}`, ...policies.map((p) => cell(p, name))])]));
  }

  out.push('', `rules: hits / holds / decisive${report.labels ? ' / false-positive share' : ''} (shadow: hits / would hold)`);
  const ruleIds = [...new Set(policies.flatMap((p) => p.rules.map((r) => r.rule)))];
  const ruleRows: string[][] = [['rule', ...policies.map((p) => p.policy)]];
  for (const id of ruleIds) {
    ruleRows.push([
      id,
      ...policies.map((p) => {
        const r = p.rules.find((x) => x.rule === id);
        if (!r) return '-';
        const fp = report.labels ? ` / ${fixed(r.falsePositiveShare)}` : '';
        return r.mode === 'shadow' ? `shadow ${n(r.hits)} / ${n(r.wouldHold)}${fp}` : `${n(r.hits)} / ${n(r.heldHits)} / ${n(r.decisive)}${fp}`;
      }),
    ]);
  }
  out.push(grid(ruleRows));

  const providers = [...new Set(policies.flatMap((p) => Object.keys(p.providers)))].sort();
  if (providers.length > 1) {
    out.push('', 'held per provider');
    out.push(grid([['provider', ...policies.map((p) => p.policy)], ...providers.map((pr) => [pr, ...policies.map((p) => slice(p.providers[pr], money))])]));
  }
  const days = [...new Set(policies.flatMap((p) => p.days.map((d) => d.day)))].sort();
  if (days.length > 1 && days.length <= 62) {
    out.push('', 'held per day');
    out.push(grid([['day', ...policies.map((p) => p.policy)], ...days.map((day) => [day, ...policies.map((p) => slice(p.days.find((d) => d.day === day), money))])]));
  }

  for (const c of report.comparisons) {
    out.push('', `${c.base} -> ${c.other}: decisions changed`);
    const label = (x: { fraud: number; legit: number }) => (report.labels ? ` (fraud ${n(x.fraud)}, legit ${n(x.legit)})` : '');
    out.push(`  approve -> hold  ${n(c.approveToHold.total)}${label(c.approveToHold)}, ${money(c.approveToHold.amount)} ${report.currency}`);
    out.push(`  hold -> approve  ${n(c.holdToApprove.total)}${label(c.holdToApprove)}, ${money(c.holdToApprove.amount)} ${report.currency}`);
    const examples = [...c.examples.approveToHold, ...c.examples.holdToApprove].slice(0, options.examples ?? 6);
    for (const e of examples) {
      out.push(
        `    ${e.eventId}  ${e.at.slice(0, 16).replace('T', ' ')}  ${money(e.amount)} ${e.currency}${e.label ? `  ${e.label}` : ''}  ` +
          `${e.from.decision} ${e.from.score} [${e.from.rules.join(', ')}] -> ${e.to.decision} ${e.to.score} [${e.to.rules.join(', ')}]`,
      );
    }
  }
  for (const p of policies) {
    if (!p.live || p.live.differ === 0) continue;
    out.push('', `${p.policy}: ${n(p.live.differ)} live decisions not reproduced, e.g.`);
    for (const e of p.live.examples.slice(0, 5)) {
      out.push(`    line ${e.line} ${e.eventId}: live ${e.live.decision} ${e.live.score} [${e.live.rules.join(', ')}], replay ${e.replay.decision} ${e.replay.score} [${e.replay.rules.join(', ')}]`);
    }
  }
  if (h.issues.length) {
    out.push('', 'bad records (skipped):');
    for (const issue of h.issues.slice(0, 5)) out.push(`    ${issue.message}`);
  }
  return out.join('\n');
}

function slice(s: { held: number; events: number; heldAmount: number } | undefined, money: (v: number) => string): string {
  return s ? `${n(s.held)} of ${n(s.events)}, ${money(s.heldAmount)}` : '-';
}

function grid(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   ').trimEnd()).join('\n');
}

const n = (v: number) => v.toLocaleString('en-US');
const percent = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}%`);
const fixed = (v: number | null) => (v === null ? '-' : v.toFixed(2));

/** Minor units per major unit: 100 for CNY, 1 for JPY (two decimals for a code Intl does not know). */
export function minorUnits(currency: string): number {
  try {
    return 10 ** (new Intl.NumberFormat('en-US', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2);
  } catch {
    return 100;
  }
}

/** Minor units as the currency's major units (2 decimals for CNY, none for JPY). */
export function moneyFormat(currency: string): (minor: number) => string {
  const per = minorUnits(currency);
  const digits = Math.round(Math.log10(per));
  const format = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return (minor) => format.format(minor / per);
}
