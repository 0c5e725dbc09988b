/** isoTime is toISOString: same text for any time, same error for an invalid one. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoTime } from '../../lib/iso-time.js';

const MAX = 8.64e15; // the largest valid Date

function same(ms: number): void {
  let expected: string | Error;
  try {
    expected = new Date(ms).toISOString();
  } catch (error) {
    expected = error as Error;
  }
  if (expected instanceof Error) expect(() => isoTime(ms)).toThrow(expected.constructor as typeof Error);
  else expect(isoTime(ms)).toBe(expected);
}

describe('isoTime', () => {
  it('matches toISOString on whole milliseconds across every valid date, in any order (day cache)', () => {
    fc.assert(fc.property(fc.integer({ min: -MAX, max: MAX }), same), { numRuns: 20_000, seed: 5 });
    fc.assert(fc.property(fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }), same), { numRuns: 20_000, seed: 6 });
  });

  it('matches at the edges: day and year boundaries, before 1970, beyond year 9999, out of range, fractions, NaN', () => {
    const edges = [0, -1, 1, 86_399_999, 86_400_000, -86_400_000, -86_400_001, 253_402_300_799_999, 253_402_300_800_000, -62_167_219_200_000, -62_167_219_200_001, MAX, -MAX, MAX + 1, -MAX - 1, 1.5, -0.5, 1_793_491_266_186.7, Number.NaN, Infinity];
    for (const ms of edges) same(ms);
    // Consecutive times within a day and across midnight reuse and renew the cached day.
    for (let ms = 1_793_491_199_990; ms < 1_793_491_200_010; ms++) same(ms);
    // The same time twice in a row (the last-time cache), then others, then an invalid one after a cached valid one.
    for (const ms of [1_793_491_266_186, 1_793_491_266_186, 0, -0, 0, 1_793_491_266_187, 1_793_491_266_186, Number.NaN, Number.NaN, 1.5, 1.5]) same(ms);
  });
});
