/**
 * Reading history: formats detected per record, JSON arrays streamed, gzip by magic bytes, bad
 * records reported with their line numbers (or fatal with strict), and time order restored within
 * the reorder window with memory bounded by the window.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { type HistoryError, type HistoryItem, emptyCounts, parseRecord, readHistory, records } from '../../../lib/replay/history.js';
import { inRecordedOrder } from '../../../lib/replay/order.js';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (id: string, occurredAt: number, extra: object = {}) => ({
  id,
  provider: 'generic',
  kind: 'authorization',
  occurredAt,
  amount: { minor: 1_000, currency: 'CNY' },
  account: { id: `acct_${id}` },
  merchant: { id: 'm1' },
  authMethod: 'password_free',
  ...extra,
});

const logLine = (id: string, receivedAt: number, extra: object = {}) => ({
  level: 'INFO',
  message: 'decision',
  timestamp: new Date(receivedAt).toISOString(),
  service: 'riskhook',
  provider: 'generic',
  eventId: id,
  decision: 'approve',
  score: 0,
  reasons: [],
  features: {},
  policyVersion: 'v1',
  degraded: false,
  duplicate: false,
  receivedAt,
  latencyMs: 3,
  event: event(id, receivedAt - 500, { account: { id: 'AbCdEfGhIjKlMnOp' }, ip: 'QrStUvWxYz012345' }),
  ...extra,
});

async function read(name: string, content: string | Buffer, strict = false) {
  const path = join(dir, name);
  writeFileSync(path, content);
  const counts = emptyCounts();
  const bad: HistoryError[] = [];
  const items: HistoryItem[] = [];
  for await (const batch of readHistory(path, counts, { strict, onBadRecord: (e) => bad.push(e) })) items.push(...batch);
  return { items, counts, bad };
}

async function collect<T>(source: AsyncIterable<readonly T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const batch of source) out.push(...batch);
  return out;
}

describe('history formats', () => {
  it('reads canonical events, decision log lines and CloudWatch exports in one JSONL file, each with its clock', async () => {
    const lines = [
      JSON.stringify(event('e1', 1_000)),
      JSON.stringify(logLine('e2', 5_000)),
      JSON.stringify({ timestamp: 6_000, message: JSON.stringify(logLine('e3', 6_000)), logStreamName: 'x', eventId: '1' }),
      JSON.stringify({ '@timestamp': '2026-11-01', '@message': JSON.stringify(logLine('e4', 7_000)) }),
    ];
    const { items, counts, bad } = await read('mixed.jsonl', lines.join('\n'));
    expect(bad).toEqual([]);
    expect(items.map((i) => [i.kind, i.kind === 'payment' ? i.event.id : '', i.clock])).toEqual([
      ['payment', 'e1', 1_000],
      ['payment', 'e2', 5_000],
      ['payment', 'e3', 6_000],
      ['payment', 'e4', 7_000],
    ]);
    const e2 = items[1]!;
    expect(e2.kind === 'payment' && e2.recorded).toEqual({ decision: 'approve', score: 0, rules: [], policyVersion: 'v1', degraded: false });
    expect(e2.kind === 'payment' && e2.event.ip).toBe('QrStUvWxYz012345');
    expect(counts).toMatchObject({ records: 4, payments: 4, badRecords: 0 });
  });

  it('skips repeated deliveries (duplicate: true) and log lines that are not decisions, counting them', async () => {
    const lines = [
      logLine('e1', 1_000),
      logLine('e1', 2_000, { duplicate: true }),
      { level: 'INFO', message: 'riskhook ready', timestamp: 'x', service: 'riskhook' },
      { level: 'INFO', message: 'request refused', status: 401 },
    ].map((l) => JSON.stringify(l));
    const { items, counts } = await read('skips.jsonl', lines.join('\n'));
    expect(items).toHaveLength(1);
    expect(counts).toMatchObject({ records: 4, payments: 1, duplicates: 1, otherLogLines: 2, badRecords: 0 });
  });

  it('reads a JSON array (pretty-printed, strings with brackets, commas and escapes), naming each element by the line it starts on', async () => {
    const tricky = event('a,]}{"\\', 2_000, { merchant: { id: 'm[1],{x}' } });
    const text = `[\n  ${JSON.stringify(event('e1', 1_000), null, 2).replace(/\n/g, '\n  ')},\n  ${JSON.stringify(tricky)}\n]\n`;
    const { items, bad } = await read('array.json', text);
    expect(bad).toEqual([]);
    expect(items.map((i) => (i.kind === 'payment' ? [i.event.id, i.event.merchant.id, i.line] : []))).toEqual([
      ['e1', 'm1', 2],
      ['a,]}{"\\', 'm[1],{x}', text.split('\n').findIndex((l) => l.includes('m[1]')) + 1],
    ]);
  });

  it('splits a JSON array correctly whatever the chunk boundaries', async () => {
    const text = JSON.stringify([event('e1', 1), logLine('e2', 2), event('e"3', 3)]);
    async function* chunks(size: number) {
      for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
    }
    for (const size of [1, 2, 3, 7, 64]) {
      const got = (await collect(records(chunks(size)))).map((r) => JSON.parse(r.text).id ?? JSON.parse(r.text).eventId);
      expect([size, got]).toEqual([size, ['e1', 'e2', 'e"3']]);
    }
  });

  it('reads gzip, detected by its magic bytes whatever the file name', async () => {
    const text = [event('e1', 1), event('e2', 2)].map((e) => JSON.stringify(e)).join('\n');
    const { items } = await read('history.jsonl', gzipSync(text));
    expect(items.map((i) => i.kind === 'payment' && i.event.id)).toEqual(['e1', 'e2']);
  });
});

describe('damaged files', () => {
  it('a truncated gzip file is an error naming the file', async () => {
    const whole = gzipSync([event('e1', 1), event('e2', 2)].map((e) => JSON.stringify(e)).join('\n'));
    await expect(read('cut.jsonl.gz', whole.subarray(0, whole.length - 12))).rejects.toThrow(/cut\.jsonl\.gz: the gzip data is damaged or truncated/);
  });
});

describe('bad records', () => {
  const lines = [
    JSON.stringify(event('ok1', 1)),
    '{"id": "broken", ', // not JSON
    '[1, 2]', // not an object
    JSON.stringify({ hello: 'world' }), // neither format
    JSON.stringify(event('bad-amount', 2, { amount: { minor: 1.5, currency: 'CNY' } })),
    JSON.stringify(logLine('no-clock', 3_000, { receivedAt: 'yesterday' })),
    JSON.stringify({ message: '{"level": "INFO", "message": "decision", ' }),
    '',
    JSON.stringify(event('ok2', 4)),
  ];

  it('are reported with their line number and what is wrong, and skipped', async () => {
    const { items, bad, counts } = await read('bad.jsonl', lines.join('\n'));
    expect(items.map((i) => i.kind === 'payment' && i.event.id)).toEqual(['ok1', 'ok2']);
    expect(counts).toMatchObject({ records: 8, payments: 2, badRecords: 6 });
    expect(bad.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(bad[0]!.message).toMatch(/^line 2: not JSON/);
    expect(bad[1]!.message).toBe('line 3: expected a JSON object');
    expect(bad[2]!.message).toMatch(/^line 4: neither a PaymentEvent/);
    expect(bad[3]!.message).toMatch(/^line 5: not a PaymentEvent: amount\.minor/);
    expect(bad[4]!.message).toBe('line 6: decision log line: receivedAt: expected epoch milliseconds');
    expect(bad[5]!.message).toMatch(/^line 7: the exported log message is not JSON/);
  });

  it('stop the read with --strict at the first one', async () => {
    await expect(read('strict.jsonl', lines.join('\n'), true)).rejects.toThrow(/^line 2: not JSON/);
  });

  it('a truncated JSON array is an error naming the line', async () => {
    await expect(read('truncated.json', `[${JSON.stringify(event('e1', 1))},\n{"id": "e2"`)).rejects.toThrow(/line 2: the JSON array is not closed/);
  });

  it('parseRecord names the field of a bad event inside a decision log line', () => {
    expect(() => parseRecord(JSON.stringify(logLine('x', 1, { event: { id: 'x' } })), 9)).toThrow(/^line 9: decision log line: event: /);
  });
});

describe('recorded time order', () => {
  /** One record per batch: ordering must not depend on how records are batched. */
  async function* from<T>(items: T[]) {
    for (const item of items) yield [item];
  }
  const at = (clock: number, n: number) => ({ clock, n });

  it('restores order within the window, keeps file order for equal times, and holds at most a window of records', async () => {
    // Records 10 apart, each pair swapped (5 behind at most), with a 30 window.
    const input = Array.from({ length: 1_000 }, (_, i) => at((i ^ 1) * 10, i));
    input.push(at(9_990, 2_000)); // same clock as one before it: after it, in file order
    const counts = { late: 0, peakBuffered: 0 };
    const out = await collect(inRecordedOrder(from(input), 30, counts));
    expect(out.map((x) => x.clock)).toEqual([...input.map((x) => x.clock)].sort((a, b) => a - b));
    expect(out.filter((x) => x.clock === 9_990).map((x) => x.n)).toEqual([998, 2_000]);
    expect(counts.late).toBe(0);
    expect(counts.peakBuffered).toBeLessThanOrEqual(6);
  });

  it('a record further behind than the window is replayed at once and counted late', async () => {
    const counts = { late: 0, peakBuffered: 0 };
    const late: number[] = [];
    const out = await collect(inRecordedOrder(from([at(0, 0), at(100, 1), at(200, 2), at(10, 3), at(300, 4)]), 50, counts, (item, behind) => late.push(item.n, behind)));
    expect(out.map((x) => x.n)).toEqual([0, 1, 3, 2, 4]);
    expect(counts.late).toBe(1);
    expect(late).toEqual([3, 90]);
  });
});
