/**
 * Policy loading: a policy that cannot work is refused at start-up with a ConfigError that names
 * the rule by its id and the field path, so the author can find the line without reading code.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../lib/errors.js';
import { compilePolicy, loadPolicyFile } from '../../../lib/policy/load.js';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const rule = (over: Record<string, unknown> = {}) => ({
  id: 'r1',
  when: { feature: 'event.amount', gt: 100 },
  score: 10,
  message: 'large amount',
  ...over,
});
const policy = (rules: unknown[], over: Record<string, unknown> = {}) => ({ version: 't1', holdAt: 70, rules, ...over });

/** The ConfigError compilePolicy throws (failing the test if it throws something else or nothing). */
function refusal(raw: unknown): string {
  try {
    compilePolicy(raw, 'test.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message.startsWith('test.yaml: ')).toBe(true); // names its source
    return (error as Error).message;
  }
  throw new Error('expected compilePolicy to refuse the policy');
}

function loadRefusal(path: string): string {
  try {
    loadPolicyFile(path);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected loadPolicyFile to refuse the file');
}

describe('the shipped policy', () => {
  it('policies/default.yaml loads, with every rule and window the file declares', () => {
    const loaded = loadPolicyFile('policies/default.yaml');
    // Read independently with the YAML parser, to check nothing was lost or reordered.
    const raw = parseYaml(readFileSync('policies/default.yaml', 'utf8')) as {
      version: string; holdAt: number; windows: Record<string, string>; rules: { id: string; mode?: string; score?: number; hold?: boolean }[];
    };
    expect(loaded.version).toBe(String(raw.version));
    expect(loaded.holdAt).toBe(raw.holdAt);
    expect(loaded.windows.map((w) => w.name).sort()).toEqual(Object.keys(raw.windows).sort());
    expect(loaded.rules.map((r) => r.id)).toEqual(raw.rules.map((r) => r.id));
    expect(loaded.rules.map((r) => r.mode)).toEqual(raw.rules.map((r) => r.mode ?? 'active'));
    expect(loaded.rules.map((r) => r.hold)).toEqual(raw.rules.map((r) => r.hold === true));
    for (const r of loaded.rules) expect(r.features.length, r.id).toBeGreaterThan(0);
  });
});

describe('compilePolicy', () => {
  it('compiles a valid policy, defaulting mode to active and windows to the defaults', () => {
    const compiled = compilePolicy(policy([rule(), rule({ id: 'r2', hold: true, score: undefined, mode: 'shadow' })]));
    expect(compiled.rules.map((r) => [r.id, r.mode, r.score, r.hold])).toEqual([
      ['r1', 'active', 10, false],
      ['r2', 'shadow', 0, true],
    ]);
    expect(compiled.windows.length).toBeGreaterThan(0);
    expect(compiled.rules[0]!.test({ 'event.amount': 101 })).toBe(true);
    expect(compiled.rules[0]!.test({ 'event.amount': 100 })).toBe(false);
  });

  it('accepts a numeric version and keeps it as text', () => {
    expect(compilePolicy(policy([rule()], { version: 3 })).version).toBe('3');
  });

  it('names the rule id, its index and the path of an unknown feature', () => {
    const message = refusal(
      policy([
        rule(),
        rule({
          id: 'pf-burst',
          when: { all: [{ feature: 'event.passwordFree', eq: true }, { feature: 'acount.count.10m', gte: 3 }] },
        }),
      ]),
    );
    expect(message).toContain('rule "pf-burst" (rules[1]) when.all[1].feature: unknown feature "acount.count.10m"');
  });

  it('suggests features of the same entity when the entity is right but the name is not', () => {
    expect(refusal(policy([rule({ when: { feature: 'account.cnt.10m', gte: 3 } })]))).toMatch(/account\.count\.10m/);
  });

  it('refuses a string compared with a boolean feature', () => {
    const message = refusal(policy([rule({ when: { feature: 'event.passwordFree', eq: 'yes' } })]));
    expect(message).toContain('rule "r1" (rules[0]) when.eq:');
    expect(message).toMatch(/boolean/);
  });

  it('names the list position of a wrongly typed value in `in`', () => {
    const message = refusal(policy([rule({ when: { feature: 'event.passwordFree', in: [true, 'no'] } })]));
    expect(message).toContain('when.in[1]');
    expect(message).not.toContain('when.in[0]');
  });

  it('refuses gt on a string feature', () => {
    const message = refusal(policy([rule({ when: { not: { feature: 'event.currency', gt: 5 } } })]));
    expect(message).toContain('rule "r1" (rules[0]) when.not.gt:');
    expect(message).toMatch(/not a number/);
  });

  it('refuses a value outside a closed set, listing the allowed ones', () => {
    const message = refusal(policy([rule({ when: { feature: 'event.authMethod', eq: 'passwordfree' } })]));
    expect(message).toContain('rule "r1" (rules[0]) when.eq:');
    expect(message).toContain('password_free'); // the value that was meant
  });

  it('refuses a currency or country that is not an ISO code (eq: cny never fires), naming the rule and field', () => {
    const cny = refusal(policy([rule({ id: 'cny-only', when: { all: [{ feature: 'event.amount', gt: 1 }, { feature: 'event.currency', eq: 'cny' }] } })]));
    expect(cny).toContain('rule "cny-only" (rules[0]) when.all[1].eq: "event.currency" is an ISO 4217 currency code, got "cny" (did you mean "CNY"?)');
    const list = refusal(policy([rule({ when: { feature: 'event.country', in: ['CN', 'UK', 'XX'] } })]));
    expect(list).toContain('when.in[1]: "event.country" is an ISO 3166-1 alpha-2 country code, got "UK"');
    expect(list).toContain('when.in[2]: "event.country" is an ISO 3166-1 alpha-2 country code, got "XX"');
    expect(refusal(policy([rule({ when: { feature: 'event.currency', notIn: ['RMB'] } })]))).toContain('got "RMB"');
    // Real codes pass, the user-assigned XK (Kosovo, used by card networks) too.
    for (const when of [{ feature: 'event.currency', in: ['CNY', 'USD', 'EUR', 'JPY'] }, { feature: 'event.country', ne: 'GB' }, { feature: 'event.country', eq: 'XK' }]) {
      expect(compilePolicy(policy([rule({ when })])).rules).toHaveLength(1);
    }
  });

  it('refuses two comparisons in one leaf', () => {
    const message = refusal(policy([rule({ when: { any: [{ feature: 'event.amount', gt: 1, lt: 5 }] } })]));
    expect(message).toContain('rule "r1" (rules[0]) when.any[0]: expected exactly one comparison');
    expect(message).toMatch(/found gt, lt/);
  });

  it('refuses a leaf with no comparison', () => {
    const message = refusal(policy([rule({ when: { feature: 'event.amount' } })]));
    expect(message).toContain('rule "r1" (rules[0]) when: expected exactly one comparison');
    expect(message).toMatch(/found none/);
  });

  it('refuses an unknown key in a leaf', () => {
    const message = refusal(policy([rule({ when: { feature: 'event.amount', gt: 1, gtee: 2 } })]));
    expect(message).toContain('rule "r1" (rules[0]) when');
    expect(message).toContain('gtee');
  });

  it('refuses a group mixed with other keys, and an empty group', () => {
    expect(refusal(policy([rule({ when: { all: [{ feature: 'event.amount', gt: 1 }], feature: 'event.amount' } })]))).toMatch(
      /when: "all" stands alone/,
    );
    expect(refusal(policy([rule({ when: { any: [] } })]))).toContain('when.any: expected a non-empty list');
  });

  it('refuses a rule without a condition, or with a condition that is not an object', () => {
    expect(refusal(policy([rule({ when: undefined })]))).toContain('rule "r1" (rules[0]) when');
    expect(refusal(policy([rule({ when: ['event.amount'] })]))).toContain('rule "r1" (rules[0]) when: expected a condition');
  });

  it('refuses a duplicate rule id, naming the second one', () => {
    const message = refusal(policy([rule({ id: 'dup' }), rule({ id: 'other' }), rule({ id: 'dup' })]));
    expect(message).toContain('rule "dup" (rules[2]) id:');
    expect(message).not.toContain('(rules[0]) id');
  });

  it('refuses a rule with neither a score nor hold: true', () => {
    expect(refusal(policy([rule({ score: undefined })]))).toContain('rule "r1" (rules[0]) score:');
    expect(refusal(policy([rule({ score: undefined, hold: false })]))).toContain('rule "r1" (rules[0]) score:');
  });

  it('refuses a malformed rule id', () => {
    expect(refusal(policy([rule({ id: 'Pf_Burst' })]))).toContain('rule "Pf_Burst" (rules[0]) id:');
  });

  it('refuses an unknown key at the top level, naming it', () => {
    const message = refusal({ ...policy([rule()]), owner: 'fraud-team' });
    expect(message).toContain('(top level)');
    expect(message).toContain('owner');
  });

  it('refuses a message placeholder that names an unknown feature', () => {
    const message = refusal(policy([rule({ message: 'spent {account.amount.24h}, {account.amont.24h}' })]));
    expect(message).toContain('rule "r1" (rules[0]) message: unknown feature {account.amont.24h}');
    expect(message).not.toContain('{account.amount.24h}');
  });

  it('refuses bad windows', () => {
    expect(refusal(policy([rule()], { windows: { '10m': '3m' } }))).toMatch(/windows: .*10m.*does not divide/);
    expect(refusal(policy([rule()], { windows: { fortnight: '1d' } }))).toMatch(/windows: .*fortnight/);
  });

  it('derives window features from the windows: 30m exists only when declared', () => {
    const uses30m = [rule({ when: { feature: 'account.count.30m', gte: 3 } })];
    expect(compilePolicy(policy(uses30m, { windows: { '30m': '1m' } })).windows.map((w) => w.name)).toEqual(['30m']);
    expect(refusal(policy(uses30m))).toContain('when.feature: unknown feature "account.count.30m"');
  });

  it('reports every problem, not only the first', () => {
    const message = refusal(
      policy([
        rule({ id: 'a', when: { feature: 'nope', eq: 1 } }),
        rule({ id: 'b', when: { feature: 'event.currency', lt: 1 } }),
      ]),
    );
    expect(message).toContain('rule "a" (rules[0])');
    expect(message).toContain('rule "b" (rules[1])');
  });
});

describe('comparing a feature with another feature times a factor (the customer baseline)', () => {
  const baseline = (gt: unknown, feature = 'account.amount.24h') => policy([rule({ id: 'spend-over-baseline', when: { feature, gt } })]);

  it('compiles, compares against the other feature times the factor, and is false when either is absent', () => {
    const compiled = compilePolicy(baseline({ feature: 'account.dailyAverage.30d', times: 5 }));
    const test = compiled.rules[0]!.test;
    expect(test({ 'account.amount.24h': 5_001, 'account.dailyAverage.30d': 1_000 })).toBe(true);
    expect(test({ 'account.amount.24h': 5_000, 'account.dailyAverage.30d': 1_000 })).toBe(false);
    expect(test({ 'account.amount.24h': 5_001 })).toBe(false);
    expect(test({ 'account.dailyAverage.30d': 0 })).toBe(false);
    // times defaults to 1; gte / lt / lte too
    const lte = compilePolicy(policy([rule({ when: { feature: 'account.count.24h', lte: { feature: 'account.count.dailyAverage.7d' } } })])).rules[0]!.test;
    expect(lte({ 'account.count.24h': 3, 'account.count.dailyAverage.7d': 3 })).toBe(true);
    expect(lte({ 'account.count.24h': 4, 'account.count.dailyAverage.7d': 3 })).toBe(false);
  });

  it('reads both features: the rule lists them and the read plan keeps and reads the referenced one', () => {
    const compiled = compilePolicy(baseline({ feature: 'account.approved.amount.dailyAverage.30d', times: 5 }));
    expect(compiled.rules[0]!.features).toEqual(['account.amount.24h', 'account.approved.amount.dailyAverage.30d']);
    expect(compiled.readers.map(([name]) => name)).toContain('account.approved.amount.dailyAverage.30d');
    const reads = compiled.plan.entities.account!.reads.map((r) => `${r.metric}.${r.window.name}`);
    expect(reads).toEqual(expect.arrayContaining(['amount.24h', 'approvedAmount.30d']));
  });

  it('refuses an unknown referenced feature, naming the rule and the field', () => {
    expect(refusal(baseline({ feature: 'account.dailyAverage.90d', times: 5 }))).toContain(
      'rule "spend-over-baseline" (rules[0]) when.gt.feature: unknown feature "account.dailyAverage.90d"',
    );
  });

  it('refuses a referenced feature that is not a number', () => {
    expect(refusal(baseline({ feature: 'account.twoFactor', times: 2 }))).toContain('rule "spend-over-baseline" (rules[0]) when.gt.feature: "account.twoFactor" is a boolean, not a number');
  });

  it('refuses a bad factor: zero, negative, not a number, too large', () => {
    for (const times of [0, -2, '5', 1e9]) {
      expect(refusal(baseline({ feature: 'account.dailyAverage.30d', times })), String(times)).toContain('rule "spend-over-baseline" (rules[0]) when.gt.times: expected a positive factor');
    }
  });

  it('refuses an unknown key, a missing feature and a value that is neither a number nor a reference', () => {
    expect(refusal(baseline({ feature: 'account.dailyAverage.30d', factor: 5 }))).toContain('when.gt: unknown field "factor"');
    expect(refusal(baseline({ times: 5 }))).toContain('when.gt.feature: expected a feature name');
    expect(refusal(baseline('5'))).toContain('when.gt: expected a number or { feature: <name>, times: <factor> }');
  });

  it('refuses a reference on a feature that is not a number (the left side)', () => {
    expect(refusal(baseline({ feature: 'account.dailyAverage.30d' }, 'event.currency'))).toContain('when.gt: "event.currency" is a string, not a number');
  });
});

describe('loadPolicyFile', () => {
  it('reads JSON as well as YAML', () => {
    const path = file('policy.json', JSON.stringify(policy([rule()])));
    expect(loadPolicyFile(path).rules.map((r) => r.id)).toEqual(['r1']);
  });

  it('refuses a YAML syntax error, naming the file', () => {
    const path = file('broken.yaml', 'version: 1\nholdAt: 70\nrules: [\n  { id: r1,\n');
    const message = loadRefusal(path);
    expect(message).toContain(path);
    expect(message).toMatch(/not valid YAML or JSON/);
  });

  it('refuses duplicate keys instead of silently keeping the last one', () => {
    const path = file('dup.yaml', 'version: 1\nholdAt: 70\nholdAt: 10\nrules:\n  - { id: r1, when: { feature: event.amount, gt: 1 }, score: 10, message: m }\n');
    const message = loadRefusal(path);
    expect(message).toContain(path);
    expect(message).toMatch(/unique/i);
  });

  it('refuses a missing file, naming it', () => {
    const path = join(dir, 'does-not-exist.yaml');
    const message = loadRefusal(path);
    expect(message).toContain(path);
    expect(message).toMatch(/cannot read/);
  });

  it('names the file in a compile error', () => {
    const path = file('bad-rule.yaml', 'version: 1\nholdAt: 70\nrules:\n  - { id: r1, when: { feature: event.amount, gt: "1" }, score: 10, message: m }\n');
    expect(loadRefusal(path)).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  });
});
