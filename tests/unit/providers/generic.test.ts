/**
 * The generic adapter end to end on raw bytes: signature first, then JSON, then the strict v1
 * schema, then the canonical PaymentEvent. Requests are signed as a real sender signs them.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BodyParseError, SchemaError, SignatureError } from '../../../lib/errors.js';
import { PaymentEvent } from '../../../lib/events.js';
import { LOCAL_GENERIC_SECRET } from '../../../lib/local-defaults.js';
import { createGenericAdapter } from '../../../lib/providers/generic.js';
import { signGenericEvent } from '../../../lib/providers/generic-sender.js';
import { signStandardWebhook } from '../../../lib/providers/standard-webhooks.js';
import type { RawRequest } from '../../../lib/providers/types.js';

const MIN = 60_000;
// 09:01 UTC; the examples below are written in +08:00, i.e. 17:00 local is 09:00 UTC.
const RECEIVED = Date.UTC(2026, 10, 22, 9, 1, 0);
const adapter = createGenericAdapter([LOCAL_GENERIC_SECRET]);

const full = () => ({
  id: 'evt_normal',
  kind: 'authorization',
  occurredAt: '2026-11-22T17:00:00+08:00',
  amount: { minor: 3_500, currency: 'CNY' },
  account: { id: 'alipay_2088000000000001', twoFactor: false, createdAt: '2023-04-01T00:00:00Z' },
  linkedAccount: { id: 'appleid:customer@example.com', kind: 'apple_id' },
  merchant: { id: 'merchant_app_store', category: '5818' },
  instrument: { id: 'agreement_20230401001', kind: 'agreement' },
  authMethod: 'password_free',
  device: { id: 'device_customer_iphone' },
  ip: '2001:db8::10',
  country: 'CN',
});

const minimal = () => ({
  id: 'evt_min',
  kind: 'notification',
  occurredAt: '2026-11-22T09:00:00Z',
  amount: { minor: 0, currency: 'USD' },
  account: { id: 'acct_1' },
  merchant: { id: 'm_1' },
  authMethod: 'unknown',
});

// signGenericEvent stamps webhook-timestamp from the clock: pin the clock to RECEIVED.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(RECEIVED);
});
afterEach(() => {
  vi.useRealTimers();
});

function signed(event: object, receivedAt = RECEIVED): RawRequest {
  const { headers, body } = signGenericEvent(LOCAL_GENERIC_SECRET, event);
  return { method: 'POST', headers, body: Buffer.from(body), receivedAt };
}

function failure(request: RawRequest): Error {
  try {
    adapter.verify(request);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected verify to throw');
}

describe('generic adapter: valid events', () => {
  it('maps every field to the canonical PaymentEvent', () => {
    const result = adapter.verify(signed(full()));
    expect(result).toStrictEqual({
      kind: 'score',
      event: {
        id: 'evt_normal',
        provider: 'generic',
        kind: 'authorization',
        occurredAt: Date.UTC(2026, 10, 22, 9, 0, 0), // 17:00+08:00
        amount: { minor: 3_500, currency: 'CNY' },
        // twoFactor false is kept: false is information, not absence.
        account: { id: 'alipay_2088000000000001', twoFactor: false, createdAt: Date.UTC(2023, 3, 1) },
        linkedAccount: { id: 'appleid:customer@example.com', kind: 'apple_id' },
        merchant: { id: 'merchant_app_store', category: '5818' },
        instrument: { id: 'agreement_20230401001', kind: 'agreement' },
        authMethod: 'password_free',
        device: { id: 'device_customer_iphone' },
        ip: '2001:db8::10',
        country: 'CN',
      },
    });
  });

  it('omits optional fields that are absent (no keys holding undefined)', () => {
    const result = adapter.verify(signed(minimal()));
    // toStrictEqual fails on `ip: undefined` and the like, which the canonical schema would not.
    expect(result).toStrictEqual({
      kind: 'score',
      event: {
        id: 'evt_min',
        provider: 'generic',
        kind: 'notification',
        occurredAt: Date.UTC(2026, 10, 22, 9, 0, 0),
        amount: { minor: 0, currency: 'USD' },
        account: { id: 'acct_1' },
        merchant: { id: 'm_1' },
        authMethod: 'unknown',
      },
    });
  });

  it('produces events the canonical PaymentEvent schema accepts', () => {
    for (const e of [full(), minimal()]) {
      const result = adapter.verify(signed(e));
      if (result.kind !== 'score') throw new Error('expected an event to score');
      expect(PaymentEvent.safeParse(result.event).success).toBe(true);
    }
  });

  it('accepts occurredAt up to 5 minutes ahead of our clock (sender clock skew)', () => {
    for (const ahead of [4 * MIN, 5 * MIN]) {
      const occurredAt = new Date(RECEIVED + ahead).toISOString();
      const result = adapter.verify(signed({ ...minimal(), occurredAt }));
      expect(result.kind === 'score' && result.event.occurredAt).toBe(RECEIVED + ahead);
    }
  });

  it('accepts an amount of exactly 2^53 - 1 minor units', () => {
    const result = adapter.verify(signed({ ...minimal(), amount: { minor: Number.MAX_SAFE_INTEGER, currency: 'CNY' } }));
    expect(result.kind === 'score' && result.event.amount.minor).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('generic adapter: refusals', () => {
  it('refuses an unsigned request before reading the body', () => {
    const { body } = signGenericEvent(LOCAL_GENERIC_SECRET, minimal());
    const error = failure({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(body), receivedAt: RECEIVED });
    expect(error).toBeInstanceOf(SignatureError);
  });

  it('refuses a request signed with another secret', () => {
    const other = `whsec_${Buffer.from('another-secret-of-enough-length').toString('base64')}`;
    const { headers, body } = signGenericEvent(other, minimal());
    expect(failure({ method: 'POST', headers, body: Buffer.from(body), receivedAt: RECEIVED })).toBeInstanceOf(SignatureError);
  });

  it('refuses a signed body that is not JSON with BodyParseError', () => {
    const body = '{"id": "evt_1",';
    const headers = signStandardWebhook(LOCAL_GENERIC_SECRET, 'msg_1', body, RECEIVED / 1_000);
    expect(failure({ method: 'POST', headers, body: Buffer.from(body), receivedAt: RECEIVED })).toBeInstanceOf(BodyParseError);
  });

  it('checks the signature before parsing: unsigned garbage is a SignatureError, not a parse error', () => {
    const error = failure({ method: 'POST', headers: {}, body: Buffer.from('{"id":'), receivedAt: RECEIVED });
    expect(error).toBeInstanceOf(SignatureError);
  });

  type Mutation = (e: Record<string, any>) => void;
  it.each<[string, string, Mutation]>([
    ['fractional minor amount', 'amount.minor', (e) => (e.amount.minor = 12.5)],
    ['negative amount', 'amount.minor', (e) => (e.amount.minor = -1)],
    ['amount beyond 2^53', 'amount.minor', (e) => (e.amount.minor = 2 ** 53)],
    ['amount as a string', 'amount.minor', (e) => (e.amount.minor = '3500')],
    ['lower-case currency', 'amount.currency', (e) => (e.amount.currency = 'cny')],
    ['empty account id', 'account.id', (e) => (e.account.id = '')],
    ['missing account id', 'account.id', (e) => delete e.account.id],
    ['account id over 256 characters', 'account.id', (e) => (e.account.id = 'a'.repeat(257))],
    ['not an IP address', 'ip', (e) => (e.ip = '999.1.1.1')],
    ['a host name for ip', 'ip', (e) => (e.ip = 'localhost')],
    ['lower-case country', 'country', (e) => (e.country = 'cn')],
    ['three-letter country', 'country', (e) => (e.country = 'CHN')],
    ['unknown linked account kind', 'linkedAccount.kind', (e) => (e.linkedAccount.kind = 'icloud')],
    ['unknown instrument kind', 'instrument.kind', (e) => (e.instrument.kind = 'crypto')],
    ['MCC that is not 4 digits', 'merchant.category', (e) => (e.merchant.category = '58')],
    ['unknown auth method', 'authMethod', (e) => (e.authMethod = 'passwordfree')],
    ['unknown event kind', 'kind', (e) => (e.kind = 'refund')],
    ['occurredAt without a zone', 'occurredAt', (e) => (e.occurredAt = '2026-11-22T09:00:00')],
    ['occurredAt as epoch ms', 'occurredAt', (e) => (e.occurredAt = RECEIVED)],
    ['createdAt that is not a date', 'account.createdAt', (e) => (e.account.createdAt = 'yesterday')],
    ['occurredAt before 1970', 'occurredAt', (e) => (e.occurredAt = '1969-12-31T23:59:59Z')],
    ['createdAt before 1970', 'account.createdAt', (e) => (e.account.createdAt = '1900-01-01T00:00:00Z')],
    ['missing merchant', 'merchant', (e) => delete e.merchant],
  ])('refuses a %s with SchemaError naming %s', (_, path, mutate) => {
    const event = full() as Record<string, any>;
    mutate(event);
    const error = failure(signed(event));
    expect(error).toBeInstanceOf(SchemaError);
    // The message is "path: problem[; path: problem]": the path is named as a whole segment.
    expect(error.message.split('; ').some((part) => part.startsWith(`${path}: `)), error.message).toBe(true);
  });

  it('refuses an unknown top-level key, naming it (a misspelt field is not silently dropped)', () => {
    const { amount, ...rest } = full();
    const error = failure(signed({ ...rest, amout: amount }));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message).toContain('amout');
    expect(error.message).toContain('amount'); // and the field it replaced is reported missing
  });

  it('refuses an unknown nested key, naming the object and the key', () => {
    const event = full();
    const error = failure(signed({ ...event, account: { ...event.account, email: 'x@example.com' } }));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message).toMatch(/^account: .*email/);
  });

  it('refuses occurredAt more than 5 minutes in the future, naming occurredAt', () => {
    const occurredAt = new Date(RECEIVED + 5 * MIN + 1_000).toISOString();
    const error = failure(signed({ ...minimal(), occurredAt }));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message).toMatch(/occurredAt/);
  });

  it('measures the future limit against receivedAt, taking the zone into account', () => {
    // 17:10+08:00 is 09:10 UTC: 9 minutes after RECEIVED (09:01), so refused; the same event
    // received at 09:06 is only 4 minutes ahead, so accepted.
    const ahead = { ...minimal(), occurredAt: '2026-11-22T17:10:00+08:00' };
    expect(failure(signed(ahead))).toBeInstanceOf(SchemaError);
    vi.setSystemTime(RECEIVED + 5 * MIN);
    expect(adapter.verify(signed(ahead, RECEIVED + 5 * MIN)).kind).toBe('score');
  });

  it('reports several problems at once', () => {
    const event = full() as Record<string, any>;
    event.ip = 'nope';
    event.country = 'cn';
    const error = failure(signed(event));
    expect(error.message).toMatch(/(^|; )ip: /);
    expect(error.message).toMatch(/(^|; )country: /);
  });
});
