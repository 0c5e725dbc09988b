/**
 * The memory store's distinct-count set against a plain model of a Redis sorted set (member ->
 * last seen, ZADD GT, ZCOUNT, ZREMRANGEBYSCORE, ZREMRANGEBYRANK from the front): same members,
 * same times, same counts after every step, in and out of time order, with ties.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecencySet } from '../../../lib/velocity/recency-set.js';

type Step = { op: 'touch'; member: string; t: number } | { op: 'forget'; cutoff: number } | { op: 'drop'; excess: number };

/** Members by (last, member): the order a Redis sorted set keeps. */
function sorted(model: Map<string, number>): [string, number][] {
  return [...model].sort(([ka, va], [kb, vb]) => va - vb || (ka < kb ? -1 : ka > kb ? 1 : 0));
}

function apply(model: Map<string, number>, step: Step): void {
  if (step.op === 'touch') model.set(step.member, Math.max(model.get(step.member) ?? -Infinity, step.t));
  else if (step.op === 'forget') {
    for (const [m, last] of [...model]) if (last <= step.cutoff) model.delete(m);
  } else {
    for (const [m] of sorted(model).slice(0, Math.max(0, step.excess))) model.delete(m);
  }
}

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('touch' as const), member: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'ab', 'B'), t: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('forget' as const), cutoff: fc.integer({ min: -1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), excess: fc.integer({ min: -1, max: 4 }) }) },
);

/** Sets past SCANNED (8) members, where a map finds a member and its place comes from its time. */
const MANY = 'abcdefghijklmnop'.split('');
const busyStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ op: fc.constant('touch' as const), member: fc.constantFrom(...MANY), t: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('forget' as const), cutoff: fc.integer({ min: -1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), excess: fc.integer({ min: -1, max: 4 }) }) },
);

describe('RecencySet', () => {
  it.each([
    // Many short runs (fast-check's default size: about ten steps each), as before the long ones were added.
    ['up to 10 members', step, 60, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'ab', 'B'], undefined, 2_000],
    // size 'max': runs long enough to pass the scan and reach the map.
    ['up to 16 members (past the scan)', busyStep, 120, MANY, 'max', 100],
  ] as const)('keeps what a sorted set keeps, and counts what ZCOUNT counts: %s', (_name, arbitrary, maxLength, names, size, numRuns) => {
    fc.assert(
      fc.property(fc.array(arbitrary, { maxLength, ...(size && { size }) }), (steps) => {
        const set = new RecencySet();
        const model = new Map<string, number>();
        for (const s of steps) {
          if (s.op === 'touch') expect(set.touch(s.member, s.t)).toBe(model.get(s.member));
          else if (s.op === 'forget') set.forgetUpTo(s.cutoff);
          else set.dropLowest(s.excess);
          apply(model, s);
          expect(set.size).toBe(model.size);
          for (const m of names) expect(set.lastSeen(m)).toBe(model.get(m));
          expect(set.lowest()).toBe(Math.min(Infinity, ...model.values()));
          for (let x = -1; x <= 61; x += 3) expect(set.countAfter(x)).toBe([...model.values()].filter((v) => v > x).length);
        }
      }),
      { numRuns },
    );
  });

  it('drops the lowest by time, then by member, at a tie', () => {
    const set = new RecencySet();
    set.touch('b', 5);
    set.touch('a', 5);
    set.touch('c', 4);
    set.touch('c', 6);
    set.dropLowest(1);
    expect(set.lastSeen('a')).toBeUndefined();
    expect(set.lastSeen('b')).toBe(5);
    expect(set.lastSeen('c')).toBe(6);
    expect(set.countAfter(5)).toBe(1);
  });
});
