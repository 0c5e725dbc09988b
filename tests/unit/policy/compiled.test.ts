/**
 * Features and rules are compiled to code from expressions and conditions. Here every catalogue
 * feature (its lazily compiled reader and the inlined policy builder) is checked against an
 * independent reading of its name on hand-made snapshots, and every rule operator against a plain
 * interpretation of the condition, absent features included. Names and values from a policy file
 * are spliced into code only as JSON literals: hostile ones compile and mean what they say.
 */
import { describe, expect, it } from 'vitest';
import { ENTITY_KINDS, type EntityKind, type FeatureValue, type PaymentEvent } from '../../../lib/events.js';
import type { ListMembership } from '../../../lib/lists/lists.js';
import { evaluate } from '../../../lib/policy/evaluate.js';
import { buildFeatures, compileFeatures, featureCatalogue, type Features, type NamedReader } from '../../../lib/policy/features.js';
import { compilePolicy, loadPolicyFile } from '../../../lib/policy/load.js';
import type { EntityVelocity, PairFacts, VelocitySnapshot } from '../../../lib/velocity/store.js';
import { parseDuration, type WindowSpec, windowSpecs } from '../../../lib/velocity/windows.js';
import { fullPaymentEvent } from '../../support/payment-events.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 22, 9, 0, 0);

/** Metric names by the label a feature gives them (a copy: the expectation must not share the catalogue's table). */
const LABELS: Record<string, string> = {
  count: 'count',
  amount: 'amount',
  'passwordFree.count': 'passwordFreeCount',
  'passwordFree.amount': 'passwordFreeAmount',
  'approved.count': 'approvedCount',
  'approved.amount': 'approvedAmount',
  'untrusted.passwordFree.count': 'untrustedPasswordFreeCount',
  'untrusted.passwordFree.amount': 'untrustedPasswordFreeAmount',
};

/** What a feature should be, read from its name alone. */
function expectation(name: string, e: PaymentEvent, s: VelocitySnapshot, l: ListMembership | undefined): FeatureValue | undefined {
  const own: Record<string, () => FeatureValue | undefined> = {
    'event.kind': () => e.kind,
    'event.amount': () => e.amount.minor,
    'event.currency': () => e.amount.currency,
    'event.authMethod': () => e.authMethod,
    'event.passwordFree': () => e.authMethod === 'password_free',
    'event.country': () => e.country,
    'event.merchantCategory': () => e.merchant.category,
    'event.linkedAccountKind': () => e.linkedAccount?.kind,
    'event.instrumentKind': () => e.instrument?.kind,
    'account.twoFactor': () => e.account.twoFactor,
    'account.ageMs': () => {
      if (e.account.createdAt !== undefined) return e.occurredAt - e.account.createdAt;
      return s.account ? s.account.countedAt - s.account.firstSeenAt : undefined;
    },
  };
  if (own[name]) return own[name]();
  const [kind, ...rest] = name.split('.') as [EntityKind, ...string[]];
  const tail = rest.join('.');
  if (tail === 'blocked') return l?.[kind]?.blocked;
  if (tail === 'allowed') return l?.[kind]?.allowed;
  const v = s[kind];
  if (!v) return undefined;
  const pair = v.device;
  switch (tail) {
    case 'isNew':
      return v.isNew;
    case 'seenForMs':
      return v.countedAt - v.firstSeenAt;
    case 'boundForMs':
      return v.boundAt === undefined ? undefined : e.occurredAt - v.boundAt;
    case 'device.known':
      return pair === undefined ? undefined : pair !== null;
    case 'device.trusted':
      return pair === undefined ? undefined : pair !== null && pair.trustedAt !== undefined;
    case 'device.seenForMs':
      return pair ? v.countedAt - pair.firstSeenAt : undefined;
    case 'device.idleForMs':
      return pair ? Math.max(0, v.countedAt - pair.lastSeenAt) : undefined;
    case 'device.trustedForMs':
      return pair && pair.trustedAt !== undefined ? v.countedAt - pair.trustedAt : undefined;
  }
  let m = /^isNew([A-Z]\w*)$/.exec(tail);
  if (m) return v.newRelations[(m[1]![0]!.toLowerCase() + m[1]!.slice(1)) as EntityKind];
  m = /^distinct\.(\w+)\.(\w+)$/.exec(tail);
  if (m) return v.distinct[m[1] as EntityKind]?.[m[2]!];
  m = /^(?:(.+)\.)?dailyAverage\.(\w+)$/.exec(tail);
  if (m) {
    const sum = v.windows[m[2]!]?.[LABELS[m[1] ?? 'amount']! as 'count'];
    if (sum === undefined) return undefined;
    const days = parseDuration(m[2]!)! / DAY;
    const seen = Math.ceil((v.countedAt - v.firstSeenAt) / DAY);
    return Math.round(sum / (seen < 1 ? 1 : seen > days ? days : seen));
  }
  m = /^(.+)\.(\w+)$/.exec(tail);
  if (m && LABELS[m[1]!]) return v.windows[m[2]!]?.[LABELS[m[1]!]! as 'count'];
  throw new Error(`no expectation for ${name}`);
}

/** Distinct values everywhere, so a reader of the wrong entity, window, metric or relation is caught. */
let counter = 0;
const value = () => 1_000 + 37 * ++counter;

type Variant = 'fresh' | 'seen' | 'old' | 'untrusted';
function entity(kind: EntityKind, windows: readonly WindowSpec[], variant: Variant): EntityVelocity {
  const countedAt = T0 + 5;
  const firstSeenAt = { fresh: countedAt, seen: countedAt - 3.5 * DAY, old: countedAt - 90 * DAY, untrusted: countedAt - 2 * DAY - 1 }[variant];
  const device: PairFacts | null | undefined = {
    fresh: undefined,
    seen: null,
    old: { firstSeenAt: countedAt - 20 * DAY, lastSeenAt: countedAt - 3_000, trustedAt: countedAt - 10 * DAY },
    // Last seen after this event's counted time (a late event): idle for 0, not negative.
    untrusted: { firstSeenAt: countedAt - DAY, lastSeenAt: countedAt + 60_000 },
  }[variant];
  // A fresh entity lacks its longest window and some metrics of the others: those read as absent.
  const kept = variant === 'fresh' ? windows.slice(0, -1) : windows;
  const metrics = Object.values(LABELS).filter((_, i) => variant !== 'fresh' || i % 3 !== 0);
  const others = ENTITY_KINDS.filter((k) => k !== kind);
  return {
    isNew: variant === 'fresh',
    firstSeenAt,
    newestAt: countedAt,
    countedAt,
    ...(variant === 'fresh' ? {} : { boundAt: T0 - value() }),
    windows: Object.fromEntries(kept.map((w) => [w.name, Object.fromEntries(metrics.map((metric) => [metric, value()]))])),
    distinct: Object.fromEntries(others.slice(variant === 'fresh' ? 2 : 0).map((r) => [r, Object.fromEntries(kept.map((w) => [w.name, value()]))])),
    newRelations: Object.fromEntries(others.map((r, i) => [r, (i + counter) % 2 === 0])),
    ...(device === undefined ? {} : { device }),
  };
}

function snapshots(windows: readonly WindowSpec[]): VelocitySnapshot[] {
  const variants: Variant[] = ['fresh', 'seen', 'old', 'untrusted'];
  const all = variants.map((variant) => Object.fromEntries(ENTITY_KINDS.map((k) => [k, entity(k, windows, variant)])));
  // Mixed: each kind in each variant somewhere, and each kind absent somewhere.
  const mixed = variants.map((_, shift) =>
    Object.fromEntries(ENTITY_KINDS.flatMap((k, i) => ((i + shift) % 5 === 4 ? [] : [[k, entity(k, windows, variants[(i + shift) % 4]!)]]))),
  );
  return [{}, ...all, ...mixed];
}

// Every entity present, the account a week old (each variant below leaves some out).
const event = (over: Partial<PaymentEvent> = {}): PaymentEvent =>
  fullPaymentEvent(T0, { account: { id: 'acct_1', twoFactor: false, createdAt: T0 - 7 * DAY }, ...over });
const EVENTS = [
  event(),
  event({ kind: 'notification', authMethod: 'biometric', account: { id: 'a', twoFactor: true }, linkedAccount: undefined, instrument: undefined, country: undefined }),
  event({ authMethod: 'password', account: { id: 'a' }, merchant: { id: 'm' }, occurredAt: T0 - 1 }),
];
const LISTS: Array<ListMembership | undefined> = [
  undefined,
  {},
  { account: { blocked: true, allowed: false }, device: { blocked: false, allowed: true }, linkedAccount: { blocked: false, allowed: false } },
  Object.fromEntries(ENTITY_KINDS.map((k, i) => [k, { blocked: i % 2 === 0, allowed: i % 3 === 0 }])),
];

describe.each([
  ['the default policy', loadPolicyFile('policies/default.yaml').windows],
  ['custom windows', windowSpecs({ '30m': '1m', '2d': '2h', '3d': '1d' })],
])('every catalogue feature, with the windows of %s', (_, windows) => {
  const catalogue = featureCatalogue(windows);
  const readers = [...catalogue].map(([name, info]): NamedReader => [name, info.read, info.expr]);
  const builder = compileFeatures(readers);

  it('has day-long windows, so daily averages are in the catalogue', () => {
    expect([...catalogue.keys()].filter((n) => n.includes('.dailyAverage.')).length).toBeGreaterThan(10);
  });

  it('reads what its name says (reader and inlined builder), absent where the event or snapshot has none', () => {
    const defined = new Set<string>();
    const absent = new Set<string>();
    for (const s of snapshots(windows)) {
      for (const e of EVENTS) {
        for (const l of LISTS) {
          const built = builder(e, s, l);
          for (const [name, info] of catalogue) {
            const want = expectation(name, e, s, l);
            expect(info.read(e, s, l), name).toBe(want);
            expect(built[name], name).toBe(want);
            (want === undefined ? absent : defined).add(name);
          }
        }
      }
    }
    // Each feature was seen both ways (the event's own required fields are never absent).
    const always = ['event.kind', 'event.amount', 'event.currency', 'event.authMethod', 'event.passwordFree'];
    expect([...catalogue.keys()].filter((n) => !defined.has(n))).toEqual([]);
    expect([...catalogue.keys()].filter((n) => !absent.has(n))).toEqual(always);
  });

  it('builds every feature in the readers order, absent ones undefined (left out of JSON, as buildFeatures leaves them out)', () => {
    const s = snapshots(windows)[6]!;
    const f = builder(EVENTS[0]!, s, LISTS[2]);
    expect(Object.keys(f)).toEqual(readers.map(([name]) => name));
    expect(Object.values(f)).toContain(undefined);
    expect(JSON.parse(JSON.stringify(f))).toStrictEqual(buildFeatures(EVENTS[0]!, s, readers, LISTS[2]));
  });
});

type Raw = Record<string, unknown>;

/** The plain meaning of a condition: what its compiled code must agree with. */
function interpret(c: Raw, f: Features): boolean {
  if (c.all) return (c.all as Raw[]).every((x) => interpret(x, f));
  if (c.any) return (c.any as Raw[]).some((x) => interpret(x, f));
  if (c.not) return !interpret(c.not as Raw, f);
  const x = f[c.feature as string];
  const [op, expected] = Object.entries(c).find(([k]) => k !== 'feature')!;
  if (op === 'exists') return (x !== undefined) === expected;
  if (x === undefined) return false;
  const bound = typeof expected === 'object' && !Array.isArray(expected) ? expected as { feature: string; times?: number } : undefined;
  if (bound && f[bound.feature] === undefined) return false;
  const y = bound ? (f[bound.feature] as number) * (bound.times ?? 1) : expected;
  switch (op) {
    case 'eq':
      return x === y;
    case 'ne':
      return x !== y;
    case 'gt':
      return (x as number) > (y as number);
    case 'gte':
      return (x as number) >= (y as number);
    case 'lt':
      return (x as number) < (y as number);
    case 'lte':
      return (x as number) <= (y as number);
    case 'in':
      return (y as FeatureValue[]).includes(x);
    case 'notIn':
      return !(y as FeatureValue[]).includes(x);
  }
  throw new Error(`unknown operator ${op}`);
}

const HOSTILE = 'a"b\'c\\d*/ ${x} `e`\n\u2028}';

describe('compiled rules', () => {
  const leaves: Raw[] = [];
  for (const bound of [5, 0, -1, 10.5, Infinity, -Infinity, NaN]) {
    for (const op of ['gt', 'gte', 'lt', 'lte']) leaves.push({ feature: 'event.amount', [op]: bound });
  }
  for (const op of ['gt', 'gte', 'lt', 'lte']) {
    for (const times of [undefined, 2, 0.5]) leaves.push({ feature: 'event.amount', [op]: { feature: 'account.count.24h', ...(times ? { times } : {}) } });
  }
  leaves.push(
    { feature: 'event.amount', eq: 5 },
    { feature: 'event.amount', ne: 5 },
    { feature: 'event.amount', in: [0, 5] },
    { feature: 'event.amount', notIn: [0, 5] },
    { feature: 'event.currency', eq: 'CNY' },
    { feature: 'event.currency', ne: 'CNY' },
    { feature: 'event.currency', in: ['CNY', 'EUR'] },
    { feature: 'event.currency', notIn: ['CNY', 'EUR'] },
    { feature: 'event.passwordFree', eq: true },
    { feature: 'event.passwordFree', eq: false },
    { feature: 'event.passwordFree', ne: true },
    { feature: 'event.passwordFree', in: [true] },
    { feature: 'event.passwordFree', notIn: [false] },
    { feature: 'event.merchantCategory', eq: HOSTILE },
    { feature: 'event.merchantCategory', ne: HOSTILE },
    { feature: 'event.merchantCategory', in: [HOSTILE, '5818'] },
    { feature: 'event.merchantCategory', notIn: [HOSTILE] },
  );
  for (const name of ['event.amount', 'event.currency', 'event.passwordFree', 'account.count.24h']) {
    leaves.push({ feature: name, exists: true }, { feature: name, exists: false });
  }
  const conditions: Raw[] = [
    ...leaves,
    ...leaves.map((leaf) => ({ not: leaf })),
    ...leaves.map((leaf, i) => ({ all: [leaf, leaves[(i * 7 + 3) % leaves.length]!] })),
    ...leaves.map((leaf, i) => ({ any: [leaf, { not: leaves[(i * 5 + 1) % leaves.length]! }] })),
    { all: [{ any: [leaves[0]!, leaves[40]!] }, { not: { all: [leaves[41]!, leaves[45]!] } }, leaves[50]!] },
  ];
  const policy = compilePolicy({
    version: 't',
    holdAt: 70,
    rules: conditions.map((when, i) => ({ id: `r${i}`, when, score: 1, message: `rule ${i}: {event.amount} {event.merchantCategory}` })),
  });

  const rows: Features[] = [];
  for (const amount of [undefined, 0, 5, 10, 11]) {
    for (const count of [undefined, 0, 2, 5]) {
      for (const passwordFree of [undefined, true, false]) {
        for (const currency of [undefined, 'CNY', 'USD']) {
          for (const category of [undefined, '5818', HOSTILE]) {
            const f: Record<string, FeatureValue | undefined> = {
              'event.amount': amount,
              'account.count.24h': count,
              'event.passwordFree': passwordFree,
              'event.currency': currency,
              'event.merchantCategory': category,
            };
            rows.push(Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as Features);
          }
        }
      }
    }
  }

  it('every operator, alone, negated and combined, answers as the plain interpretation does', () => {
    expect(policy.rules).toHaveLength(conditions.length);
    let fired = 0;
    for (const f of rows) {
      policy.rules.forEach((rule, i) => {
        const want = interpret(conditions[i]!, f);
        expect(rule.test(f), `${JSON.stringify(conditions[i])} on ${JSON.stringify(f)}`).toBe(want);
        if (want) fired++;
      });
    }
    // Both answers are common, so a predicate stuck on one would fail.
    expect(fired).toBeGreaterThan(rows.length * conditions.length * 0.2);
    expect(fired).toBeLessThan(rows.length * conditions.length * 0.8);
  });

  it('renders messages and copies the features read, as a plain replace and loop would', () => {
    for (const f of rows) {
      const result = evaluate(policy, f);
      const fired = policy.rules.filter((rule) => rule.test(f));
      expect(result.reasons).toEqual(
        fired.map((rule) => ({ rule: rule.id, message: rule.message.replace(/\{([^}]+)\}/g, (_, name: string) => String(f[name] ?? '?')) })),
      );
      const used: Features = {};
      for (const rule of fired) for (const name of rule.features) if (f[name] !== undefined) used[name] = f[name]!;
      expect(Object.entries(result.features)).toEqual(Object.entries(used));
    }
  });

  it('takes hostile messages and string constants literally', () => {
    const message = `{event.merchantCategory} */ \${event.amount} "quoted" \\ back\nslash \u2028 \`tick\` {event.amount}{event.amount} \${x`;
    const hostile = compilePolicy({
      version: 't',
      holdAt: 70,
      rules: [{ id: 'hostile', when: { feature: 'event.merchantCategory', eq: HOSTILE }, score: 80, message }],
    });
    const [rule] = hostile.rules;
    expect(rule!.test({ 'event.merchantCategory': HOSTILE })).toBe(true);
    expect(rule!.test({ 'event.merchantCategory': 'a"b' })).toBe(false);
    expect(rule!.test({})).toBe(false);
    expect(evaluate(hostile, { 'event.merchantCategory': HOSTILE, 'event.amount': 7 }).reasons).toEqual([
      { rule: 'hostile', message: `${HOSTILE} */ $7 "quoted" \\ back\nslash \u2028 \`tick\` 77 \${x` },
    ]);
    expect(rule!.render({})).toBe(`? */ $? "quoted" \\ back\nslash \u2028 \`tick\` ?? \${x`);
  });

  it('refuses a hostile rule id before compiling anything', () => {
    expect(() =>
      compilePolicy({ version: 't', holdAt: 70, rules: [{ id: `x"*/\n\${1}\\`, when: { feature: 'event.amount', gt: 1 }, score: 1, message: 'm' }] }),
    ).toThrow(/use lower-case letters, digits and dashes/);
  });
});
