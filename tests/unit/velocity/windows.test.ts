/**
 * Window and bucket arithmetic. Both stores (memory and the Lua script) depend on these formulas,
 * so the semantics are pinned here with examples worked out by hand, not read back from the code.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WINDOWS,
  type WindowSpec,
  bucketIndex,
  oldestKeptBucket,
  parseDuration,
  sumWindow,
  windowRange,
  windowSpecs,
} from '../../../lib/velocity/windows.js';

const SEC = 1_000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 22, 9, 0, 0); // 09:00:00 UTC: on a bucket boundary of every default window
const B0 = T0 / MIN; // index of the 1-minute bucket that starts at T0

const TEN_MINUTES: WindowSpec = { name: '10m', ms: 10 * MIN, bucketMs: MIN };

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
  ])('refuses %j', (config, message) => {
    expect(() => windowSpecs(config)).toThrow(RangeError);
    expect(() => windowSpecs(config)).toThrow(message);
  });
});

describe('windowRange and sumWindow', () => {
  it('covers (t - W, t]: hand-worked example with a partial oldest bucket', () => {
    // t = 09:10:15, W = 10m, buckets of 1m. The window is (09:00:15, 09:10:15].
    //   oldest bucket  = [09:00, 09:01) = B0; 45 s of its 60 s are inside -> weight 45/60 = 0.75
    //   newest bucket  = [09:10, 09:11) = B0+10 (holds t)
    // Bucket values: B0-1 = 100 (wholly before the window), B0 = 10, B0+5 = 3, B0+10 = 2,
    // B0+11 = 50 (after t). Sum = floor(10 * 0.75) + 3 + 2 = 7 + 3 + 2 = 12.
    const t = T0 + 10 * MIN + 15 * SEC;
    expect(windowRange(t, TEN_MINUTES)).toEqual({ oldest: B0, newest: B0 + 10, oldestWeight: 45 * SEC });
    const values = new Map([
      [B0 - 1, 100],
      [B0, 10],
      [B0 + 5, 3],
      [B0 + 10, 2],
      [B0 + 11, 50],
    ]);
    expect(sumWindow(values, t, TEN_MINUTES)).toBe(12);
  });

  it('rounds the weighted oldest bucket down, so a count stays an integer', () => {
    // Same window as above (oldest weight 0.75): 1 -> floor(0.75) = 0; 3 -> floor(2.25) = 2; 1000 -> 750.
    const t = T0 + 10 * MIN + 15 * SEC;
    expect(sumWindow(new Map([[B0, 1]]), t, TEN_MINUTES)).toBe(0);
    expect(sumWindow(new Map([[B0, 3]]), t, TEN_MINUTES)).toBe(2);
    expect(sumWindow(new Map([[B0, 1_000]]), t, TEN_MINUTES)).toBe(750);
    expect(Number.isInteger(sumWindow(new Map([[B0, 7]]), t + 333, TEN_MINUTES))).toBe(true);
  });

  it('counts the oldest bucket in full when the window starts on its boundary', () => {
    // t = 09:10:00: the window (09:00, 09:10] contains all of [09:00, 09:01) but its first instant.
    const t = T0 + 10 * MIN;
    expect(windowRange(t, TEN_MINUTES)).toEqual({ oldest: B0, newest: B0 + 10, oldestWeight: MIN });
    expect(sumWindow(new Map([[B0, 4], [B0 - 1, 9]]), t, TEN_MINUTES)).toBe(4);
  });

  it('drops a bucket once the window start has passed its end', () => {
    // At 09:11:00 the window is (09:01, 09:11]: bucket [09:00, 09:01) is wholly outside.
    expect(sumWindow(new Map([[B0, 4], [B0 + 1, 1]]), T0 + 11 * MIN, TEN_MINUTES)).toBe(1);
    // One millisecond earlier, 1 ms of it is inside: 4 * 1/60000 rounds down to 0 (the bucket is
    // read, not yet dropped: windowRange still names it as the oldest).
    expect(windowRange(T0 + 11 * MIN - 1, TEN_MINUTES).oldest).toBe(B0);
    expect(sumWindow(new Map([[B0, 4], [B0 + 1, 1]]), T0 + 11 * MIN - 1, TEN_MINUTES)).toBe(1);
  });

  it('weights the oldest bucket by the share inside the window, shrinking as t advances', () => {
    // Value 60 in B0 makes the weighted value equal the seconds of B0 still inside the window.
    const values = new Map([[B0, 60]]);
    for (const s of [0, 1, 15, 30, 59]) {
      expect(sumWindow(values, T0 + 10 * MIN + s * SEC, TEN_MINUTES), `at 09:10:${s}`).toBe(60 - s);
    }
  });

  it('reads the same after every bucket and t move by one bucket', () => {
    const values = new Map([[B0, 10], [B0 + 4, 5], [B0 + 10, 1]]);
    const shifted = new Map([...values].map(([k, v]) => [k + 1, v]));
    const t = T0 + 10 * MIN + 37 * SEC;
    expect(sumWindow(shifted, t + MIN, TEN_MINUTES)).toBe(sumWindow(values, t, TEN_MINUTES));
  });

  it('agrees with bucketIndex on where an event lands', () => {
    // An event at 09:00:30 lands in B0; at 09:10:15 it is in the oldest (partial) bucket.
    expect(bucketIndex(T0 + 30 * SEC, MIN)).toBe(B0);
    expect(bucketIndex(T0 + MIN - 1, MIN)).toBe(B0);
    expect(bucketIndex(T0 + MIN, MIN)).toBe(B0 + 1);
    expect(windowRange(T0 + 10 * MIN + 15 * SEC, TEN_MINUTES).oldest).toBe(bucketIndex(T0 + 30 * SEC, MIN));
  });
});

describe('oldestKeptBucket', () => {
  const windows = windowSpecs({ '10m': '1m', '30m': '1m', '24h': '1h' });
  const t = T0 + 42 * MIN + 7 * SEC;

  it('keeps every bucket the longest window of that bucket size still reads', () => {
    const thirty = windows.find((w) => w.name === '30m')!;
    // 30m at 09:42:07 reads from (09:12:07 ...]: the oldest bucket is [09:12, 09:13) = B0+12.
    expect(oldestKeptBucket(t, MIN, windows)).toBe(B0 + 12);
    expect(oldestKeptBucket(t, MIN, windows)).toBe(windowRange(t, thirty).oldest);
    // ... which is older than anything the 10m window needs.
    expect(oldestKeptBucket(t, MIN, windows)).toBeLessThan(windowRange(t, windows[0]!).oldest);
  });

  it('is per bucket size: hourly buckets are kept for the 24h window', () => {
    // 24h at 09:42:07 reaches back to 09:42:07 the day before, in the hour bucket [09:00, 10:00).
    expect(oldestKeptBucket(t, HOUR, windows)).toBe(T0 / HOUR - 24);
  });

  it('keeps nothing older than the current bucket for a bucket size no window uses', () => {
    expect(oldestKeptBucket(t, 5 * MIN, windows)).toBe(bucketIndex(t, 5 * MIN));
  });
});

describe('windowSpecs with no windows', () => {
  it('refuses an empty window list (related entities would be kept for 0 ms)', () => {
    expect(() => windowSpecs({})).toThrow(/at least one window/);
  });
});
