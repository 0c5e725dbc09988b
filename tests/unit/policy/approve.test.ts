/**
 * The approve action and list features: hold rules (a block-list hit is one) > approve rules (an
 * allow-list hit) > the score, and the default policy's list rules.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../lib/errors.js';
import { evaluate } from '../../../lib/policy/evaluate.js';
import { compilePolicy, loadPolicyFile } from '../../../lib/policy/load.js';

const policy = compilePolicy({
  version: 't',
  holdAt: 70,
  rules: [
    { id: 'big', when: { feature: 'event.amount', gt: 1000 }, score: 80, message: 'big' },
    { id: 'blocked', when: { feature: 'device.blocked', eq: true }, hold: true, message: 'blocked device' },
    { id: 'trusted', when: { feature: 'account.allowed', eq: true }, approve: true, message: 'trusted account' },
  ],
});

describe('approve rules', () => {
  it('an approve rule overrides the score (the score stays under holdAt, so decision and score agree)', () => {
    const result = evaluate(policy, { 'event.amount': 5000, 'account.allowed': true, 'device.blocked': false });
    expect(result).toMatchObject({ decision: 'approve', score: 69 });
    expect(result.reasons.map((r) => r.rule)).toEqual(['big', 'trusted']);
  });

  it('a hold rule beats an approve rule', () => {
    expect(evaluate(policy, { 'event.amount': 10, 'account.allowed': true, 'device.blocked': true })).toMatchObject({ decision: 'hold', score: 70 });
  });

  it('without an approve rule the score decides', () => {
    expect(evaluate(policy, { 'event.amount': 5000, 'account.allowed': false })).toMatchObject({ decision: 'hold', score: 80 });
  });

  it('a rule cannot both hold and approve, and needs one action', () => {
    const rule = (extra: object) => compilePolicy({ version: 't', holdAt: 70, rules: [{ id: 'r', when: { feature: 'account.allowed', eq: true }, message: 'm', ...extra }] });
    expect(() => rule({ hold: true, approve: true })).toThrow(ConfigError);
    expect(() => rule({})).toThrow(/score, or hold: true, or approve: true/);
    expect(() => rule({ when: { feature: 'account.allowed', eq: 3 }, approve: true })).toThrow(/boolean/);
  });

  it('the default policy holds a blocked account, linked account, device or instrument and approves an allowed account', () => {
    const defaults = loadPolicyFile('policies/default.yaml');
    for (const kind of ['account', 'linkedAccount', 'device', 'instrument']) {
      expect(evaluate(defaults, { [`${kind}.blocked`]: true }).decision, kind).toBe('hold');
    }
    expect(evaluate(defaults, { 'ip.blocked': true }).decision).toBe('approve');
    // Held by score alone (a burst from a device the account never paid from: 40 + 30), under the budget and quotas.
    const burst = {
      'event.passwordFree': true, 'event.currency': 'CNY', 'account.twoFactor': false, 'account.isNew': false,
      'account.device.trusted': false, 'account.device.known': false, 'account.untrusted.passwordFree.count.10m': 2,
      'account.untrusted.passwordFree.amount.24h': 10_000, 'account.passwordFree.amount.24h': 10_000,
    };
    expect(evaluate(defaults, burst).decision).toBe('hold');
    expect(evaluate(defaults, { ...burst, 'account.allowed': true })).toMatchObject({ decision: 'approve', reasons: expect.arrayContaining([expect.objectContaining({ rule: 'allowed-account' })]) });
    expect(evaluate(defaults, { ...burst, 'account.allowed': true, 'device.blocked': true }).decision).toBe('hold');
  });
});
