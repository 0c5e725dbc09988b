/**
 * Window and bucket arithmetic. Both stores (memory and the Lua script) depend on these formulas,
 * so the semantics are pinned here with examples worked out by hand, not read back from the code.
 */
import { describe, expect, it } from 'vitest';
import { buildPlan, readResolution } from '../../../lib/velocity/plan.js';
import {
  DEFAULT_MAX_EVENT_LAG_MS,
  DEFAULT_WINDOWS,
  MAX_SUM,
  type WindowSpec,
  bucketIndex,
  parseDuration,
  saturatingAdd,
  velocityClock,
  windowSpecs,
} from '../../../lib/velocity/windows.js';

const SEC = 1_000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 22, 9, 0, 0); // 09:00:00 UTC: on a bucket boundary of every default window
const B0 = T0 / MIN; // index of the 1-minute bucket that starts at T0

describe('parseDuration', () => {
  it.each([
    ['1s', SEC],
    ['90s', 90 * SEC],
    ['10m', 10 * MIN],
    ['24h', 24 * HOUR],
    ['7d', 7 * 24 * HOUR],
    ['999999s', 999_999 * SEC], // six digits is the longest accepted number
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '', '10', 'm', '0m', '01m', '-5m', '1.5h', '10M', '1w', ' 10m', '10m ', '10 m', '1234567s', '1h30m',
  ])('refuses %j', (text) => {
    // Undefined (not NaN or 0) so windowSpecs can name the bad entry.
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('windowSpecs', () => {
  it('turns names and bucket sizes into milliseconds, shortest window first', () => {
    expect(windowSpecs({ '24h': '1h', '10m': '1m', '1h': '5m' })).toEqual([
      { name: '10m', ms: 10 * MIN, bucketMs: MIN },
      { name: '1h', ms: HOUR, bucketMs: 5 * MIN },
      { name: '24h', ms: 24 * HOUR, bucketMs: HOUR },
    ]);
  });

  it('accepts the default windows, each with between 2 and 60 buckets', () => {
    const specs = windowSpecs(DEFAULT_WINDOWS);
    expect(specs.map((w) => w.name).sort()).toEqual(Object.keys(DEFAULT_WINDOWS).sort());
    for (const w of specs) expect(w.ms / w.bucketMs).toBeGreaterThanOrEqual(2);
    for (const w of specs) expect(w.ms / w.bucketMs).toBeLessThanOrEqual(60);
  });

  it('accepts exactly 2 and exactly 60 buckets', () => {
    expect(windowSpecs({ '2m': '1m', '1h': '1m' })).toHaveLength(2);
  });

  it.each([
    [{ '10m': '3m' }, /window "10m": bucket 3m does not divide it evenly/],
    [{ '2h': '1m' }, /window "2h": 120 buckets of 1m; use 2 to 60/],
    [{ '10m': '10m' }, /window "10m": 1 buckets of 10m; use 2 to 60/], // one bucket cannot slide
    [{ '10m': '1h' }, /window "10m": bucket 1h does not divide it evenly/], // a bucket longer than the window
    [{ ten: '1m' }, /window "ten" is not a duration/],
    [{ '10m': 'minute' }, /window "10m": bucket "minute" is not a duration/],
    [{ '10m': '1m', '1w': '1d' }, /window "1w" is not a duration/], // one bad entry among good ones
    [{ '60d': '2d' }, /window "60d": longer than 30d/],
  ])('refuses %j', (config, message) => {
    expect(() => windowSpecs(config)).toThrow(RangeError);
    expect(() => windowSpecs(config)).toThrow(message);
  });
});

describe('velocityClock', () => {
  const received = T0;
  it('counts an event at its own time within [receivedAt - maxLag, receivedAt + 5 min]', () => {
    expect(velocityClock(T0 - 3 * HOUR, received, DEFAULT_MAX_EVENT_LAG_MS)).toBe(T0 - 3 * HOUR);
    expect(velocityClock(T0 + 4 * MIN, received, DEFAULT_MAX_EVENT_LAG_MS)).toBe(T0 + 4 * MIN);
  });

  it('clamps a backdated event to receivedAt - maxLag, and one from the future to receivedAt + 5 min', () => {
    expect(velocityClock(T0 - 30 * 24 * HOUR, received, 25 * HOUR)).toBe(T0 - 25 * HOUR);
    expect(velocityClock(T0 - 30 * 24 * HOUR, received, 30 * 24 * HOUR)).toBe(T0 - 30 * 24 * HOUR);
    expect(velocityClock(T0 + HOUR, received, 25 * HOUR)).toBe(T0 + 5 * MIN);
  });

  it('defaults to 25 h: the longest provider retry horizon among the scored ones (Alipay)', () => {
    expect(DEFAULT_MAX_EVENT_LAG_MS).toBe(25 * HOUR);
  });
});

describe('bucketIndex', () => {
  it('puts k*g <= t < (k+1)*g in bucket k', () => {
    expect(bucketIndex(T0 + 30 * SEC, MIN)).toBe(B0);
    expect(bucketIndex(T0 + MIN - 1, MIN)).toBe(B0);
    expect(bucketIndex(T0 + MIN, MIN)).toBe(B0 + 1);
  });
});

describe('saturatingAdd', () => {
  it('stops at 2^53 - 1 instead of losing precision', () => {
    expect(saturatingAdd(MAX_SUM, 1)).toBe(MAX_SUM);
    expect(saturatingAdd(MAX_SUM - 5, 3)).toBe(MAX_SUM - 2);
  });
});

describe('readResolution', () => {
  const windows = windowSpecs({ '10m': '1m', '1h': '5m', '24h': '1h' });
  const plan = buildPlan(windows, [
    { kind: 'account', metric: 'passwordFreeCount', window: '10m' },
    { kind: 'account', metric: 'count', window: '1h' },
    { kind: 'account', metric: 'passwordFreeAmount', window: '24h' },
  ]).entities.account!;
  const TEN: WindowSpec = windows[0]!;

  it('keeps rings of W / g + 1 buckets: the window and its straddling oldest bucket', () => {
    expect(plan.resolutions).toEqual([
      { bucketMs: MIN, slots: 11, amounts: false },
      { bucketMs: 5 * MIN, slots: 13, amounts: false },
      { bucketMs: HOUR, slots: 25, amounts: true },
    ]);
  });

  it('reads a window from its own bucket size while its ring holds the bucket of t - W', () => {
    expect(readResolution(plan, TEN, T0 + 30 * SEC, T0 + 30 * SEC, false)).toBe(0);
    // 16 minutes late: the 1-minute ring (11 buckets back from the newest) no longer holds t - 10m.
    expect(readResolution(plan, TEN, T0, T0 + 16 * MIN, false)).toBe(1);
    // 3 hours late: only the hourly ring still does.
    expect(readResolution(plan, TEN, T0, T0 + 3 * HOUR, false)).toBe(2);
    // Later than every ring: the longest.
    expect(readResolution(plan, TEN, T0, T0 + 30 * HOUR, false)).toBe(2);
  });

  it('reads amounts only from bucket sizes that keep them', () => {
    expect(readResolution(plan, windows[2]!, T0, T0, true)).toBe(2);
  });
});
