/**
 * Policy evaluation over plain feature records: how scores add up, when a hold is forced, what
 * shadow rules may (not) do, and how missing features behave. Policies are compiled for real.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../lib/policy/evaluate.js';
import type { Features } from '../../../lib/policy/features.js';
import { compilePolicy } from '../../../lib/policy/load.js';

type RawRule = Record<string, unknown>;
const make = (rules: RawRule[], holdAt = 70) =>
  compilePolicy({ version: 'test', holdAt, rules: rules.map((r, i) => ({ id: `r${i}`, message: `rule ${i}`, ...r })) });

const ALWAYS = { feature: 'event.amount', gte: 0 };
const always = (extra: RawRule = {}): RawRule => ({ when: ALWAYS, score: 10, ...extra });
const BASE: Features = { 'event.amount': 5_000, 'event.currency': 'CNY', 'event.passwordFree': true };

describe('scores and decisions', () => {
  it('adds the scores of the rules that fire, in rule order', () => {
    const policy = make([always({ score: 10 }), { when: { feature: 'event.amount', gt: 1_000_000 }, score: 50 }, always({ score: 25 })]);
    const result = evaluate(policy, BASE);
    expect(result.score).toBe(35);
    expect(result.decision).toBe('approve');
    expect(result.reasons.map((r) => r.rule)).toEqual(['r0', 'r2']);
  });

  it('holds at exactly holdAt, approves one below', () => {
    expect(evaluate(make([always({ score: 40 }), always({ score: 30 })]), BASE)).toMatchObject({ score: 70, decision: 'hold' });
    expect(evaluate(make([always({ score: 40 }), always({ score: 29 })]), BASE)).toMatchObject({ score: 69, decision: 'approve' });
  });

  it('caps the score at 100', () => {
    expect(evaluate(make([always({ score: 60 }), always({ score: 60 }), always({ score: 60 })]), BASE)).toMatchObject({
      score: 100,
      decision: 'hold',
    });
  });

  it('approves with score 0 and no reasons when nothing fires', () => {
    const result = evaluate(make([{ when: { feature: 'event.amount', gt: 1_000_000 }, score: 90 }]), BASE);
    expect(result).toEqual({ decision: 'approve', score: 0, reasons: [], features: {}, shadow: [] });
  });

  it('hold: true holds whatever the score, lifting it to holdAt so score and decision agree', () => {
    const result = evaluate(make([always({ score: undefined, hold: true })], 70), BASE);
    expect(result.decision).toBe('hold');
    expect(result.score).toBe(70);
    expect(result.reasons.map((r) => r.rule)).toEqual(['r0']);
  });

  it('hold: true keeps a score already above holdAt', () => {
    const result = evaluate(make([always({ score: 50, hold: true }), always({ score: 40 })], 60), BASE);
    expect(result).toMatchObject({ decision: 'hold', score: 90 });
  });
});

describe('shadow rules', () => {
  it('never change decision, score, reasons or features, but are listed', () => {
    const active = [always({ id: 'active', score: 20, message: 'active fired on {event.amount}' })];
    const shadows = [
      { id: 's-score', when: ALWAYS, score: 100, mode: 'shadow', message: 'would hold {event.currency}' },
      { id: 's-hold', when: { feature: 'event.currency', eq: 'CNY' }, hold: true, mode: 'shadow' },
      { id: 's-quiet', when: { feature: 'event.amount', gt: 1_000_000 }, score: 50, mode: 'shadow' }, // does not fire
    ];
    const without = evaluate(make(active), BASE);
    const withShadow = evaluate(make([shadows[0]!, ...active, ...shadows.slice(1)]), BASE);
    expect({ ...withShadow, shadow: [] }).toEqual(without);
    expect(withShadow.decision).toBe('approve'); // a shadow score of 100 and a shadow hold changed nothing
    expect(withShadow.shadow).toEqual(['s-score', 's-hold']);
  });
});

describe('conditions', () => {
  const fires = (when: unknown, features: Features = BASE) => evaluate(make([{ when, score: 10 }]), features).score === 10;

  it.each([
    ['eq', { eq: 3 }],
    ['ne', { ne: 3 }],
    ['gt', { gt: 0 }],
    ['gte', { gte: 0 }],
    ['lt', { lt: 1_000 }],
    ['lte', { lte: 1_000 }],
    ['in', { in: [0, 3] }],
    ['notIn', { notIn: [3] }],
  ])('a %s comparison on a missing feature is false', (_, op) => {
    expect(fires({ feature: 'account.count.10m', ...op }, BASE)).toBe(false);
    // ... and `not` of it is true: absence is not silently a match either way.
    expect(fires({ not: { feature: 'account.count.10m', ...op } }, BASE)).toBe(true);
  });

  it('treats 0 and false as present values, not as missing', () => {
    const features = { ...BASE, 'account.count.10m': 0, 'account.twoFactor': false };
    expect(fires({ feature: 'account.count.10m', lt: 1 }, features)).toBe(true);
    expect(fires({ feature: 'account.twoFactor', eq: false }, features)).toBe(true);
    expect(fires({ feature: 'account.twoFactor', exists: true }, features)).toBe(true);
  });

  it('exists tests presence', () => {
    expect(fires({ feature: 'event.currency', exists: true })).toBe(true);
    expect(fires({ feature: 'event.currency', exists: false })).toBe(false);
    expect(fires({ feature: 'device.count.10m', exists: true })).toBe(false);
    expect(fires({ feature: 'device.count.10m', exists: false })).toBe(true);
  });

  it('compares numbers, strings and booleans', () => {
    expect(fires({ feature: 'event.amount', gt: 4_999 })).toBe(true);
    expect(fires({ feature: 'event.amount', gt: 5_000 })).toBe(false);
    expect(fires({ feature: 'event.amount', lte: 5_000 })).toBe(true);
    expect(fires({ feature: 'event.currency', in: ['USD', 'CNY'] })).toBe(true);
    expect(fires({ feature: 'event.currency', notIn: ['USD', 'CNY'] })).toBe(false);
    expect(fires({ feature: 'event.currency', ne: 'USD' })).toBe(true);
    expect(fires({ feature: 'event.passwordFree', eq: true })).toBe(true);
  });

  it('not inverts', () => {
    expect(fires({ not: { feature: 'event.currency', eq: 'CNY' } })).toBe(false);
    expect(fires({ not: { feature: 'event.currency', eq: 'USD' } })).toBe(true);
    expect(fires({ not: { not: { feature: 'event.currency', eq: 'CNY' } } })).toBe(true);
  });

  it('all needs every part, any needs one', () => {
    const yes = { feature: 'event.currency', eq: 'CNY' };
    const no = { feature: 'event.currency', eq: 'USD' };
    expect(fires({ all: [yes, yes] })).toBe(true);
    expect(fires({ all: [yes, no] })).toBe(false);
    expect(fires({ any: [no, yes] })).toBe(true);
    expect(fires({ any: [no, no] })).toBe(false);
    expect(fires({ all: [yes, { any: [no, { not: no }] }] })).toBe(true);
  });
});

describe('reasons and features', () => {
  it('renders message placeholders with the feature values, and ? for a missing one', () => {
    const policy = make([
      always({ message: '{account.passwordFree.amount.24h} fen in 24 h ({event.currency}, pf {event.passwordFree}); device {device.count.10m}' }),
    ]);
    const result = evaluate(policy, { ...BASE, 'account.passwordFree.amount.24h': 250_000 });
    expect(result.reasons).toEqual([{ rule: 'r0', message: '250000 fen in 24 h (CNY, pf true); device ?' }]);
  });

  it('keeps only the features read by the active rules that fired', () => {
    const policy = make([
      // fires; reads event.amount and (in the untaken branch) account.count.10m, which is absent
      { when: { any: [{ feature: 'event.amount', gt: 1_000 }, { feature: 'account.count.10m', gte: 3 }] }, score: 10 },
      // does not fire
      { when: { feature: 'device.count.10m', gte: 5 }, score: 10 },
      // fires, but shadow
      { when: { feature: 'ip.count.1h', gte: 1 }, score: 10, mode: 'shadow' },
      // fires; reads event.currency (not every feature of the event)
      { when: { feature: 'event.currency', eq: 'CNY' }, score: 10 },
    ]);
    const features = { ...BASE, 'device.count.10m': 1, 'ip.count.1h': 4 };
    expect(evaluate(policy, features).features).toEqual({ 'event.amount': 5_000, 'event.currency': 'CNY' });
  });

  it('does not change the features it is given', () => {
    const features = { ...BASE };
    evaluate(make([always()]), features);
    expect(features).toEqual(BASE);
  });
});
