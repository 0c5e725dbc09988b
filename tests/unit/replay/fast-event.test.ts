/**
 * The replay reader's fast PaymentEvent validator against the zod schema it stands in for: on valid
 * records and on every kind of malformed one, it accepts only what zod accepts and returns what zod
 * returns (same fields, same key order), and parsePaymentEvent answers exactly as zod does, errors
 * included. It also has to be the path valid canonical records take (else it saves nothing).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AUTH_METHODS, EVENT_KINDS, INSTRUMENT_KINDS, LINKED_ACCOUNT_KINDS, PaymentEvent } from '../../../lib/events.js';
import { fastPaymentEvent, parsePaymentEvent } from '../../../lib/replay/fast-event.js';
import { edgeString } from '../../support/fuzz-arbitraries.js';

/** Strings around each limit, in UTF-16 units and in code points (zod counts code points). */
const text = (max: number) =>
  fc.oneof(
    { arbitrary: fc.string({ minLength: 1, maxLength: 12 }), weight: 40 },
    { arbitrary: edgeString(12), weight: 2 },
    { arbitrary: fc.constantFrom('', 'a'.repeat(max), 'a'.repeat(max + 1), '😀'.repeat(max / 2), '😀'.repeat(max / 2 + 1), `${'a'.repeat(max - 1)}😀`, '\ud800'), weight: 1 },
  );
const int = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 2 ** 42 }), weight: 40 },
  { arbitrary: fc.constantFrom(0, -0, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 60, 1e21), weight: 1 },
);
const code = (n: number) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(n === 3 ? 'CNY' : 'CN', n === 3 ? 'USD' : 'US'), weight: 30 },
    { arbitrary: fc.constantFrom('cny', 'C', 'CNYY', 'ÇNY', ''), weight: 1 },
    { arbitrary: fc.string({ minLength: n, maxLength: n }), weight: 1 },
  );
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 3 });

const validish = fc.record(
  {
    id: text(256),
    provider: text(32),
    kind: fc.constantFrom(...EVENT_KINDS, 'refund'),
    occurredAt: int,
    amount: fc.record({ minor: int, currency: code(3) }),
    account: fc.record({ id: text(256), twoFactor: opt(fc.boolean()), createdAt: opt(int) }, { requiredKeys: ['id'] }),
    linkedAccount: fc.record({ id: text(256), kind: fc.constantFrom(...LINKED_ACCOUNT_KINDS, 'icloud') }),
    merchant: fc.record({ id: text(256), category: text(16) }, { requiredKeys: ['id'] }),
    instrument: fc.record({ id: text(256), kind: fc.constantFrom(...INSTRUMENT_KINDS, 'cash') }),
    authMethod: fc.constantFrom(...AUTH_METHODS, 'pin'),
    device: fc.record({ id: text(256) }),
    ip: text(64),
    country: code(2),
    reference: fc.record({ orderId: text(256), transactionId: text(256) }, { requiredKeys: [] }),
  },
  { requiredKeys: ['id', 'provider', 'kind', 'occurredAt', 'amount', 'account', 'merchant', 'authMethod'] },
);

const anyJson = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 4 }), fc.constant([]), fc.constant({}));

/** A record with one field (possibly nested) replaced, removed, or an unknown key added. */
const malformed = fc
  .tuple(validish, fc.constantFrom('replace', 'remove', 'extra'), fc.nat(), fc.boolean(), anyJson, fc.constantFrom('x', '__proto__', 'constructor', 'orderId'))
  .map(([event, how, pick, nested, value, extraKey]) => {
    const record = JSON.parse(JSON.stringify(event)) as Record<string, unknown>;
    let target: Record<string, unknown> = record;
    const objects = Object.keys(record).filter((k) => typeof record[k] === 'object' && record[k] !== null);
    if (nested && objects.length) target = record[objects[pick % objects.length]!] as Record<string, unknown>;
    const keys = Object.keys(target);
    const key = keys[pick % keys.length]!;
    if (how === 'replace') target[key] = value;
    else if (how === 'remove') delete target[key];
    else Object.defineProperty(target, extraKey, { value, enumerable: true, configurable: true, writable: true });
    // As the reader sees it: parsed from its JSON text (an own "__proto__" key survives JSON.parse).
    return JSON.parse(JSON.stringify(record)) as unknown;
  });

function agree(input: unknown): 'fast' | 'zod-accepts' | 'zod-rejects' {
  const zod = PaymentEvent.safeParse(input);
  const fast = fastPaymentEvent(input);
  const both = parsePaymentEvent(input);
  expect(both.success).toBe(zod.success);
  if (zod.success) expect(JSON.stringify(both.data)).toBe(JSON.stringify(zod.data));
  else expect(both.error!.issues).toEqual(zod.error.issues);
  if (fast !== undefined) {
    expect(zod.success).toBe(true);
    // Same fields and values, in the same key order.
    expect(JSON.stringify(fast)).toBe(JSON.stringify(zod.data));
    expect(fast).toStrictEqual(zod.data);
    return 'fast';
  }
  return zod.success ? 'zod-accepts' : 'zod-rejects';
}

describe('fast PaymentEvent validator', () => {
  it('accepts only what zod accepts, returning the same object, on valid and near-valid records', () => {
    const seen = { fast: 0, 'zod-accepts': 0, 'zod-rejects': 0 };
    fc.assert(
      fc.property(validish, (event) => {
        seen[agree(JSON.parse(JSON.stringify(event)))]++;
      }),
      { numRuns: 3_000, seed: 11 },
    );
    // Both sides of the line are exercised.
    expect(seen.fast).toBeGreaterThan(300);
    expect(seen['zod-accepts']).toBeGreaterThan(10);
    expect(seen['zod-rejects']).toBeGreaterThan(300);
  });

  it('agrees with zod on malformed records: a field replaced by any JSON value, removed, or an unknown key added', () => {
    const seen = { fast: 0, 'zod-accepts': 0, 'zod-rejects': 0 };
    fc.assert(
      fc.property(malformed, (input) => {
        seen[agree(input)]++;
      }),
      { numRuns: 5_000, seed: 12 },
    );
    expect(seen['zod-rejects']).toBeGreaterThan(1_000);
  });

  it('agrees on values that are not objects at all', () => {
    for (const input of [null, 1, 'x', [], [{}], true, {}]) expect(agree(input)).toBe('zod-rejects');
  });

  it('takes every valid record within the limits in UTF-16 units (the usual canonical line)', () => {
    const plain = (max: number) => fc.string({ minLength: 1, maxLength: max, unit: 'grapheme-ascii' });
    const valid = fc.record(
      {
        id: plain(256),
        provider: plain(32),
        kind: fc.constantFrom(...EVENT_KINDS),
        occurredAt: fc.integer({ min: 0, max: 2 ** 45 }),
        amount: fc.record({ minor: fc.nat(), currency: fc.constantFrom('CNY', 'USD') }),
        account: fc.record({ id: plain(256), twoFactor: fc.boolean(), createdAt: fc.nat() }, { requiredKeys: ['id'] }),
        linkedAccount: fc.record({ id: plain(256), kind: fc.constantFrom(...LINKED_ACCOUNT_KINDS) }),
        merchant: fc.record({ id: plain(256), category: plain(16) }, { requiredKeys: ['id'] }),
        instrument: fc.record({ id: plain(256), kind: fc.constantFrom(...INSTRUMENT_KINDS) }),
        authMethod: fc.constantFrom(...AUTH_METHODS),
        device: fc.record({ id: plain(256) }),
        ip: plain(64),
        country: fc.constantFrom('CN', 'US'),
        reference: fc.record({ orderId: plain(256), transactionId: plain(256) }, { requiredKeys: [] }),
      },
      { requiredKeys: ['id', 'provider', 'kind', 'occurredAt', 'amount', 'account', 'merchant', 'authMethod'] },
    );
    fc.assert(
      fc.property(valid, (event) => {
        expect(agree(JSON.parse(JSON.stringify(event)))).toBe('fast');
      }),
      { numRuns: 1_000, seed: 13 },
    );
  });
});
