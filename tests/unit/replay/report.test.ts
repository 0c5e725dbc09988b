/**
 * The report on a hand-computed example: two small policies over nine payments (one in the
 * warm-up), labels with one payment left unlabelled. Every figure below is worked out by hand
 * from the rules, not read back from the code.
 *
 *   policy a (holdAt 50): big = amount > 10,000 (+60); pf = password-free (+30); pf-shadow = password-free (+25, shadow)
 *   policy b: the same with big = amount > 20,000
 *
 *   id  day  provider  amount  pf   label       account   a: score decision       b: decision
 *   e0  d0   alipay    99,999  yes  -           W         warm-up (not reported)
 *   e1  d1   alipay    15,000  no   fraud       V1        60 hold                  approve
 *   e2  d1   alipay    15,000  yes  legit       L1        90 hold                  approve (30)
 *   e3  d1   alipay    30,000  no   fraud       V1        60 hold                  hold
 *   e4  d1   alipay     5,000  yes  fraud       V2        30 approve               approve
 *   e5  d2   generic   60,000  no   legit       L2        60 hold                  hold
 *   e6  d2   generic    2,000  no   legit       L3         0 approve               approve
 *   e7  d2   generic    8,000  yes  (none)      L4        30 approve               approve
 *   e8  d2   generic   40,000  yes  fraud       V3        90 hold                  hold
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePolicy } from '../../../lib/policy/load.js';
import { type Report, readLabels, renderTable, replay } from '../../../lib/replay/index.js';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const policy = (version: string, big: number) =>
  compilePolicy({
    version,
    holdAt: 50,
    rules: [
      { id: 'big', when: { feature: 'event.amount', gt: big }, score: 60, message: 'big' },
      { id: 'pf', when: { feature: 'event.passwordFree', eq: true }, score: 30, message: 'password-free' },
      { id: 'pf-shadow', mode: 'shadow', when: { feature: 'event.passwordFree', eq: true }, score: 25, message: 'shadow' },
    ],
  });

const D0 = Date.UTC(2026, 9, 31);
const DAY = 86_400_000;
const rows: [string, number, string, number, boolean, string | undefined, string][] = [
  ['e0', 0, 'alipay', 99_999, true, undefined, 'W'],
  ['e1', 1, 'alipay', 15_000, false, 'fraud', 'V1'],
  ['e2', 1, 'alipay', 15_000, true, 'legit', 'L1'],
  ['e3', 1, 'alipay', 30_000, false, 'fraud', 'V1'],
  ['e4', 1, 'alipay', 5_000, true, 'fraud', 'V2'],
  ['e5', 2, 'generic', 60_000, false, 'legit', 'L2'],
  ['e6', 2, 'generic', 2_000, false, 'legit', 'L3'],
  ['e7', 2, 'generic', 8_000, true, undefined, 'L4'],
  ['e8', 2, 'generic', 40_000, true, 'fraud', 'V3'],
];

/** Optional segments on the label lines (an attack strategy, a kind of customer). */
const SEGMENTS: Record<string, string[]> = {
  e1: ['drip'], e3: ['drip'], e4: ['burst'], e8: ['burst'], e2: ['app-store', 'gamer'], e5: ['everyday'], e6: ['everyday'],
};

let report: Report;

beforeAll(async () => {
  const history = join(dir, 'history.jsonl');
  writeFileSync(
    history,
    rows
      .map(([id, day, provider, minor, pf, , account], i) =>
        JSON.stringify({
          id,
          provider,
          kind: 'authorization',
          occurredAt: D0 + day * DAY + i * 60_000,
          amount: { minor, currency: 'CNY' },
          account: { id: account },
          merchant: { id: 'm' },
          authMethod: pf ? 'password_free' : 'biometric',
        }),
      )
      .join('\n'),
  );
  const labelsPath = join(dir, 'labels.jsonl');
  writeFileSync(labelsPath, rows.filter((r) => r[5]).map(([id, , , , , label]) => JSON.stringify({ id, label, ...(SEGMENTS[id] && { segments: SEGMENTS[id] }) })).join('\n'));
  report = await replay({
    history,
    policies: [
      { policy: policy('a', 10_000), file: 'a.yaml' },
      { policy: policy('b', 20_000), file: 'b.yaml' },
    ],
    labels: { ...(await readLabels(labelsPath)), source: labelsPath },
    warmupMs: DAY,
  });
});

describe('report on a hand-computed example', () => {
  it('keeps the warm-up out of the figures', () => {
    expect(report.history).toMatchObject({ payments: 9, warmup: 1, badRecords: 0 });
    expect(report.labels).toEqual({ source: expect.any(String), fraud: 4, legit: 3, unlabelledAs: 'legit', unlabelled: 1 });
  });

  it('policy a: decisions, money held and the label metrics', () => {
    const a = report.policies[0]!;
    expect(a).toMatchObject({ policy: 'a', events: 8, held: 5, heldPct: 62.5, heldAmount: 160_000, amount: 175_000 });
    expect(a.labels).toEqual({
      fraudTotal: 4,
      fraudAmount: 90_000,
      fraudHeld: 3,
      fraudHeldAmount: 85_000,
      fraudMoneyHeldPct: 94.44,
      legitTotal: 4,
      legitHeld: 2,
      legitHeldPct: 50,
      precision: 0.6,
      recall: 0.75,
      victims: 3,
      victimsWithLoss: 1,
      medianLossPerVictim: 0,
      totalLoss: 5_000,
    });
    expect(a.lossPerVictim).toEqual([5_000, 0, 0]);
  });

  it('policy a: hits, decisive hits, shadow would-be holds and false-positive shares per rule', () => {
    const rules = Object.fromEntries(report.policies[0]!.rules.map((r) => [r.rule, r]));
    expect(rules.big).toMatchObject({ hits: 5, heldHits: 5, decisive: 5, fraudHits: 3, legitHits: 2, falsePositiveShare: 0.4 });
    expect(rules.pf).toMatchObject({ hits: 4, heldHits: 2, decisive: 0, falsePositiveShare: 0.5 });
    expect(rules['pf-shadow']).toMatchObject({ mode: 'shadow', hits: 4, wouldHold: 2, falsePositiveShare: 0.5 });
  });

  it('policy a: per provider, per day (holds by rule) and score bins', () => {
    const a = report.policies[0]!;
    expect(a.providers).toEqual({
      alipay: { events: 4, held: 3, amount: 65_000, heldAmount: 60_000 },
      generic: { events: 4, held: 2, amount: 110_000, heldAmount: 100_000 },
    });
    expect(a.days.map((d) => [d.day, d.events, d.held, d.holdsByRule, d.fraudHeld, d.legitHeld])).toEqual([
      ['2026-11-01', 4, 3, { big: 3, pf: 1 }, 2, 1],
      ['2026-11-02', 4, 2, { big: 2, pf: 1 }, 1, 1],
    ]);
    const bins = (values: number[]) => Object.fromEntries(values.flatMap((v, i) => (v ? [[i * 5, v]] : [])));
    expect(bins(a.scores.fraud)).toEqual({ 60: 2, 30: 1, 90: 1 });
    expect(bins(a.scores.legit)).toEqual({ 90: 1, 60: 1, 0: 1, 30: 1 });
  });

  it('policy b: its own figures', () => {
    const b = report.policies[1]!;
    expect(b).toMatchObject({ policy: 'b', held: 3, heldAmount: 130_000 });
    expect(b.labels).toMatchObject({ fraudHeld: 2, fraudHeldAmount: 70_000, recall: 0.5, legitHeld: 1, precision: 0.6667, victimsWithLoss: 2, medianLossPerVictim: 5_000, totalLoss: 20_000 });
  });

  it('the comparison lists the decisions that changed, with examples', () => {
    expect(report.comparisons).toHaveLength(1);
    const c = report.comparisons[0]!;
    expect(c).toMatchObject({
      base: 'a',
      other: 'b',
      approveToHold: { total: 0, amount: 0, fraud: 0, legit: 0 },
      holdToApprove: { total: 2, amount: 30_000, fraud: 1, legit: 1 },
    });
    expect(c.examples.holdToApprove).toEqual([
      { eventId: 'e1', provider: 'alipay', at: new Date(D0 + DAY + 60_000).toISOString(), amount: 15_000, currency: 'CNY', label: 'fraud', from: { decision: 'hold', score: 60, rules: ['big'] }, to: { decision: 'approve', score: 0, rules: [] } },
      { eventId: 'e2', provider: 'alipay', at: new Date(D0 + DAY + 120_000).toISOString(), amount: 15_000, currency: 'CNY', label: 'legit', from: { decision: 'hold', score: 90, rules: ['big', 'pf'] }, to: { decision: 'approve', score: 30, rules: ['pf'] } },
    ]);
  });

  it('per segment named in the labels: payments and money held, by label', () => {
    const [a, b] = report.policies;
    expect(a!.segments).toEqual({
      'app-store': { events: 1, held: 1, amount: 15_000, heldAmount: 15_000, fraud: 0, legit: 1, heldPct: 100, heldAmountPct: 100 },
      burst: { events: 2, held: 1, amount: 45_000, heldAmount: 40_000, fraud: 2, legit: 0, heldPct: 50, heldAmountPct: 88.89 },
      drip: { events: 2, held: 2, amount: 45_000, heldAmount: 45_000, fraud: 2, legit: 0, heldPct: 100, heldAmountPct: 100 },
      everyday: { events: 2, held: 1, amount: 62_000, heldAmount: 60_000, fraud: 0, legit: 2, heldPct: 50, heldAmountPct: 96.77 },
      gamer: { events: 1, held: 1, amount: 15_000, heldAmount: 15_000, fraud: 0, legit: 1, heldPct: 100, heldAmountPct: 100 },
    });
    expect(b!.segments!.drip).toMatchObject({ held: 1, heldAmount: 30_000, heldAmountPct: 66.67 });
    expect(renderTable(report)).toMatch(/drip \(fraud\)\s+2 of 2 \(100\.00%\), 450\.00 \(100\.00%\)\s+1 of 2 \(50\.00%\), 300\.00 \(66\.67%\)/);
  });

  it('the printed table shows both policies side by side', () => {
    const table = renderTable(report);
    expect(table).toMatch(/held\s+5 \(62\.50%\)\s+3 \(37\.50%\)/);
    expect(table).toMatch(/fraud money held\s+850\.00 \(94\.44%\)\s+700\.00 \(77\.78%\)/);
    expect(table).toMatch(/precision \/ recall\s+0\.60 \/ 0\.75\s+0\.67 \/ 0\.50/);
    expect(table).toMatch(/hold -> approve\s+2 \(fraud 1, legit 1\), 300\.00 CNY/);
  });
});

describe('labels file', () => {
  const labels = (name: string, lines: unknown[]) => {
    const path = join(dir, name);
    writeFileSync(path, lines.map((l) => JSON.stringify(l)).join('\n'));
    return readLabels(path);
  };

  it('reads optional segments per line', async () => {
    const read = await labels('seg-ok.jsonl', [{ id: 'x', label: 'fraud', segments: ['drip'] }, { id: 'y', label: 'legit' }]);
    expect(read.segments.get('x')).toEqual(['drip']);
    expect(read.segments.has('y')).toBe(false);
    expect(read).toMatchObject({ fraud: 1, legit: 1 });
  });

  it('keeps one list per distinct set of segments, in the order the line gives', async () => {
    const read = await labels('seg-shared.jsonl', [
      { id: 'a', label: 'legit', segments: ['gamer', 'no-2fa'] },
      { id: 'b', label: 'legit', segments: ['gamer', 'no-2fa'] },
      { id: 'c', label: 'legit', segments: ['no-2fa', 'gamer'] },
    ]);
    expect(read.segments.get('a')).toEqual(['gamer', 'no-2fa']);
    expect(read.segments.get('b')).toBe(read.segments.get('a'));
    expect(read.segments.get('c')).toEqual(['no-2fa', 'gamer']);
  });

  it('refuses a name holding a comma even after the same names as a list (no mix-up of the two)', async () => {
    await expect(
      labels('seg-comma.jsonl', [{ id: 'x', label: 'fraud', segments: ['drip', 'gamer'] }, { id: 'y', label: 'legit', segments: ['drip,gamer'] }]),
    ).rejects.toThrow(/line 2.*segments: expected a list/);
  });

  it('refuses segments that are not a short list of names, naming the line and the field', async () => {
    for (const segments of ['drip', [1], ['has space'], Array(17).fill('a')]) {
      await expect(labels('seg-bad.jsonl', [{ id: 'x', label: 'fraud' }, { id: 'y', label: 'legit', segments }])).rejects.toThrow(/line 2.*segments: expected a list|segments: expected a list/);
    }
  });
});
