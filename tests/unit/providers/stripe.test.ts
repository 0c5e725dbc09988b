/**
 * The Stripe adapter on raw bytes, cross-checked against the official stripe-node SDK (23.1.0):
 * what the SDK signs we accept, what we sign the SDK accepts, every tampering is a SignatureError
 * that never reaches scoring, and an issuing_authorization.request maps to the exact PaymentEvent.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Stripe from 'stripe';
import { beforeAll, describe, expect, it } from 'vitest';
import { BodyParseError, ConfigError, SchemaError, SignatureError } from '../../../lib/errors.js';
import { type Decision, PaymentEvent } from '../../../lib/events.js';
import { LOCAL_STRIPE_SECRET } from '../../../lib/local-defaults.js';
import {
  METADATA_MAX_KEY,
  METADATA_MAX_VALUE,
  STRIPE_API_VERSION,
  STRIPE_TOLERANCE_SECONDS,
  createStripeAdapter,
  reasonsMetadata,
  signStripePayload,
  stripeAuthMethod,
  stripeDecisionResponse,
  stripeExample,
  verifyStripeSignature,
} from '../../../lib/providers/stripe.js';
import type { RawRequest } from '../../../lib/providers/types.js';
import type { Runtime } from '../../../lib/runtime.js';
import { handleWebhook } from '../../../lib/webhook.js';
import { memoryRuntime } from '../../support/stores.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const stripe = new Stripe('sk_test_x');
const newSecret = () => `whsec_${randomBytes(24).toString('base64url')}`;
const SECRET = newSecret();
const adapter = createStripeAdapter([SECRET]);

/** The example file is the realistic fixture: a 3DS-authenticated online purchase, 42.50 USD. */
const EXAMPLE = JSON.parse(readFileSync('examples/stripe-authorization.json', 'utf8')) as { provider: string; at: string; event: Json };
const BURST = JSON.parse(readFileSync('examples/stripe-burst.json', 'utf8')) as { provider: string; at: string; event: Json }[];
const CREATED: number = EXAMPLE.event.created; // 2026-11-22T09:00:00Z, in seconds
const AT_MS = CREATED * 1_000;

const authorizationEvent = (): Json => structuredClone(EXAMPLE.event);
/** The example with changes to its authorization (data.object). */
const withAuth = (change: (auth: Json) => void, event = authorizationEvent()): Json => {
  change(event.data.object);
  return event;
};

const req = (body: string | Buffer, header: string | undefined, receivedAt = AT_MS): RawRequest => ({
  method: 'POST',
  headers: header === undefined ? { 'content-type': 'application/json' } : { 'content-type': 'application/json', 'stripe-signature': header },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
  receivedAt,
});
/** Signed with our signer at the event's own time and received then. */
const signed = (event: object, secret = SECRET, t = CREATED, receivedAt = t * 1_000) => {
  const body = JSON.stringify(event);
  return req(body, signStripePayload(secret, body, t), receivedAt);
};

const scored = (request: RawRequest, a = adapter) => {
  const verified = a.verify(request);
  if (verified.kind !== 'score') throw new Error(`expected an event to score, got ${verified.kind}`);
  return verified.event;
};

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, but none was thrown');
}

/** A runtime on the in-memory store, to show a refused request never reaches scoring. */
let runtime: Runtime;
beforeAll(() => {
  runtime = memoryRuntime({ STRIPE_WEBHOOK_SECRETS: SECRET, RISKHOOK_PEPPER: randomBytes(16).toString('hex'), RISKHOOK_STAGE: 'test' });
});
const storedDecision = (eventId: string) => runtime.store.readDecision(runtime.hasher.event('stripe', eventId));

/** Fresh (now) version of the example, for runs through handleWebhook and its real clock. */
function freshEvent(): Json {
  const event = authorizationEvent();
  const now = Math.floor(Date.now() / 1_000);
  event.id = `evt_${randomBytes(8).toString('hex')}`;
  event.created = now;
  event.data.object.created = now;
  return event;
}

describe('interoperability with stripe-node 23.1.0', () => {
  const body = JSON.stringify(authorizationEvent());

  it('declares the API version the SDK pins', () => {
    expect(STRIPE_API_VERSION).toBe(Stripe.API_VERSION);
  });

  it('a header from webhooks.generateTestHeaderString verifies with our adapter', () => {
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET, timestamp: CREATED });
    expect(scored(req(body, header)).id).toBe(EXAMPLE.event.id);
  });

  it('a header from generateTestHeaderString with its default timestamp (now) verifies now', () => {
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET });
    expect(verifyStripeSignature(header, Buffer.from(body), [Buffer.from(SECRET)], Date.now())).toBeGreaterThan(0);
  });

  it('our signStripePayload verifies with webhooks.constructEvent', () => {
    const header = signStripePayload(SECRET, body);
    const event = stripe.webhooks.constructEvent(body, header, SECRET);
    expect(event.id).toBe(EXAMPLE.event.id);
    expect(event.type).toBe('issuing_authorization.request');
  });

  it('our signature at a given time verifies with constructEvent received at that time', () => {
    const header = signStripePayload(SECRET, body, CREATED);
    expect(stripe.webhooks.constructEvent(body, header, SECRET, STRIPE_TOLERANCE_SECONDS, undefined, AT_MS).id).toBe(EXAMPLE.event.id);
  });

  it('produces the very header generateTestHeaderString produces', () => {
    expect(signStripePayload(SECRET, body, CREATED)).toBe(stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET, timestamp: CREATED }));
  });

  it('signs UTF-8 bytes, as the SDK does (non-ASCII merchant name)', () => {
    const event = withAuth((a) => (a.merchant_data.name = '星巴克咖啡 Café'));
    const text = JSON.stringify(event);
    const header = stripe.webhooks.generateTestHeaderString({ payload: text, secret: SECRET, timestamp: CREATED });
    expect(signStripePayload(SECRET, Buffer.from(text, 'utf8'), CREATED)).toBe(header);
    expect(scored(req(text, header)).id).toBe(event.id);
  });

  it('keys the HMAC with the whole whsec_ string (the SDK rejects a base64-decoded key)', () => {
    // A Standard-Webhooks-style key (the bytes after whsec_) is not what Stripe signs with.
    const decoded = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
    const ours = signStripePayload(SECRET, body, CREATED);
    expect(() => verifyStripeSignature(ours, Buffer.from(body), [decoded], AT_MS)).toThrow(SignatureError);
    expect(verifyStripeSignature(ours, Buffer.from(body), [Buffer.from(SECRET, 'utf8')], AT_MS)).toBe(CREATED);
  });

  it.each([-STRIPE_TOLERANCE_SECONDS - 1, -STRIPE_TOLERANCE_SECONDS, 0, STRIPE_TOLERANCE_SECONDS, STRIPE_TOLERANCE_SECONDS + 1])(
    'on a timestamp %i s old, agrees with constructEvent (both refuse only beyond 300 s)',
    (age) => {
      const t = CREATED - age;
      const header = signStripePayload(SECRET, body, t);
      const sdk = (() => {
        try {
          stripe.webhooks.constructEvent(body, header, SECRET, STRIPE_TOLERANCE_SECONDS, undefined, AT_MS);
          return true;
        } catch {
          return false;
        }
      })();
      const ours = (() => {
        try {
          verifyStripeSignature(header, Buffer.from(body), [Buffer.from(SECRET)], AT_MS);
          return true;
        } catch {
          return false;
        }
      })();
      if (age >= 0) {
        expect(ours).toBe(sdk);
        expect(ours).toBe(age <= STRIPE_TOLERANCE_SECONDS);
      } else {
        // The SDK never refuses a future timestamp; we refuse beyond 300 s ahead.
        expect(sdk).toBe(true);
        expect(ours).toBe(-age <= STRIPE_TOLERANCE_SECONDS);
      }
    },
  );
});

describe('signature rejections: each a SignatureError that never reaches scoring', () => {
  /** Asserts the adapter refuses it, and that through the webhook flow nothing is scored or stored. */
  async function refused(request: RawRequest, eventId: string, pattern: RegExp, a = adapter) {
    const error = thrown(() => a.verify(request));
    expect(error).toBeInstanceOf(SignatureError);
    expect((error as SignatureError).message).toMatch(pattern);
    if (a !== adapter) return;
    const response = await handleWebhook('stripe', request, runtime);
    expect(response.statusCode).toBe(401);
    expect(JSON.parse(response.body).error.code).toBe('invalid_signature');
    expect(await storedDecision(eventId)).toBeUndefined();
  }
  /** A fresh event signed now, and its header, for the flow through handleWebhook. */
  const now = () => {
    const event = freshEvent();
    const body = JSON.stringify(event);
    const t = Math.floor(Date.now() / 1_000);
    return { event, body, t, header: signStripePayload(SECRET, body, t) };
  };

  it('accepts the untouched request (the control for every case below)', async () => {
    const { event, body, header } = now();
    const response = await handleWebhook('stripe', req(body, header, Date.now()), runtime);
    expect(response.statusCode).toBe(200);
    expect(await storedDecision(event.id)).toMatchObject({ eventId: event.id });
  });

  it('refuses a body with one byte changed', async () => {
    const { event, body, header } = now();
    const bytes = Buffer.from(body);
    const at = bytes.indexOf('4250');
    bytes[at] = '5'.charCodeAt(0); // 4250 -> 5250
    await refused(req(bytes, header, Date.now()), event.id, /does not match/);
  });

  it('refuses a signature made with another secret', async () => {
    const { event, body, t } = now();
    await refused(req(body, signStripePayload(newSecret(), body, t), Date.now()), event.id, /does not match/);
  });

  it('refuses a changed timestamp (same v1)', async () => {
    const { event, body, t, header } = now();
    await refused(req(body, header.replace(`t=${t}`, `t=${t - 1}`), Date.now()), event.id, /does not match/);
  });

  it('refuses a stale timestamp (more than 300 s old)', async () => {
    const { event, body, t } = now();
    await refused(req(body, signStripePayload(SECRET, body, t - 301), Date.now()), event.id, /too old/);
  });

  it('refuses a future timestamp (more than 300 s ahead), which stripe-node would accept', async () => {
    const { event, body, t } = now();
    const header = signStripePayload(SECRET, body, t + 301);
    expect(stripe.webhooks.constructEvent(body, header, SECRET).id).toBe(event.id);
    await refused(req(body, header, Date.now()), event.id, /future/);
  });

  it('refuses a request without Stripe-Signature', async () => {
    const { event, body } = now();
    await refused(req(body, undefined, Date.now()), event.id, /missing header Stripe-Signature/);
    await refused(req(body, '', Date.now()), event.id, /missing header Stripe-Signature/);
  });

  it('refuses a header without a v1 signature (v0 only)', async () => {
    const { event, body, t, header } = now();
    const v0 = header.replace('v1=', 'v0=');
    await refused(req(body, v0, Date.now()), event.id, /no v1/);
    await refused(req(body, `t=${t}`, Date.now()), event.id, /no v1/);
  });

  it.each([
    ['not a header', () => 'garbage'],
    ['no timestamp', (h: string) => h.replace(/^t=\d+,/, '')],
    ['a timestamp that is not an integer', (h: string) => h.replace(/^t=\d+/, 't=12.5')],
    ['two timestamps', (h: string) => `t=1,${h}`],
    ['an item without =', (h: string) => `${h},v1`],
    ['an oversized header', (h: string) => `${h},${'v0=aa,'.repeat(300)}v0=aa`],
  ])('refuses a malformed header: %s', async (_name, change) => {
    const { event, body, header } = now();
    await refused(req(body, change(header), Date.now()), event.id, /malformed/);
  });

  it('refuses a v1 that is not 64 lower-case hex digits, even if it is the right HMAC in other clothes', async () => {
    const { event, body, t, header } = now();
    const hex = header.split('v1=')[1]!;
    await refused(req(body, `t=${t},v1=${hex.toUpperCase()}`, Date.now()), event.id, /does not match/);
    await refused(req(body, `t=${t},v1=${Buffer.from(hex, 'hex').toString('base64')}`, Date.now()), event.id, /does not match/);
  });

  it('accepts several v1 when one is valid (secret roll), in any position, ignoring v0', () => {
    const body = JSON.stringify(authorizationEvent());
    const good = signStripePayload(SECRET, body, CREATED).split('v1=')[1]!;
    const bogus = signStripePayload(newSecret(), body, CREATED).split('v1=')[1]!;
    for (const header of [`t=${CREATED},v1=${bogus},v1=${good}`, `t=${CREATED},v1=${good},v1=${bogus}`, `t=${CREATED},v1=${bogus},v1=${good},v0=${bogus}`]) {
      expect(scored(req(body, header)).id).toBe(EXAMPLE.event.id);
    }
    expect(() => adapter.verify(req(body, `t=${CREATED},v1=${bogus},v1=${bogus}`))).toThrow(SignatureError);
  });

  it('accepts every configured secret (rotation: old and new), and only those', async () => {
    const [oldSecret, newer] = [newSecret(), newSecret()];
    const rotating = createStripeAdapter([oldSecret, newer]);
    const event = authorizationEvent();
    expect(scored(signed(event, oldSecret), rotating).id).toBe(event.id);
    expect(scored(signed(event, newer), rotating).id).toBe(event.id);
    await refused(signed(event, oldSecret), event.id, /does not match/, createStripeAdapter([newer]));
  });

  it('accepts a timestamp exactly 300 s old or ahead', () => {
    const event = authorizationEvent();
    expect(scored(signed(event, SECRET, CREATED, AT_MS + STRIPE_TOLERANCE_SECONDS * 1_000)).id).toBe(event.id);
    expect(scored(signed(event, SECRET, CREATED, AT_MS - STRIPE_TOLERANCE_SECONDS * 1_000)).id).toBe(event.id);
  });

  it('checks the signature before parsing: an unsigned non-JSON body is a SignatureError', () => {
    expect(() => adapter.verify(req('{not json', signStripePayload(newSecret(), '{not json', CREATED)))).toThrow(SignatureError);
  });

  it('refuses secrets that are not whsec_ keys at start-up', () => {
    expect(() => createStripeAdapter(['sk_test_123'])).toThrow(ConfigError);
    expect(() => createStripeAdapter(['whsec_'])).toThrow(ConfigError);
    expect(() => createStripeAdapter(['whsec_abc\n'])).toThrow(ConfigError);
  });
});

describe('issuing_authorization.request -> PaymentEvent', () => {
  it('maps the example authorization to the exact canonical event', () => {
    const event = scored(signed(authorizationEvent()));
    expect(event).toEqual({
      id: 'evt_1QkFA2RiskhookAuthReq01',
      provider: 'stripe',
      kind: 'authorization',
      occurredAt: 1_795_338_000_000,
      amount: { minor: 4_250, currency: 'USD' },
      account: { id: 'ich_1QkF8vRiskhookJenny01', createdAt: 1_709_632_800_000 },
      merchant: { id: '1234567890', category: '5734' },
      instrument: { id: 'ic_1QkF9aRiskhookCard0001', kind: 'card' },
      authMethod: 'three_ds',
      country: 'US',
      reference: { transactionId: 'iauth_1QkFA2RiskhookAuth001' }, // the authorization id
    });
    expect(PaymentEvent.parse(event)).toEqual(event);
  });

  it('carries no name, e-mail or address: only ids, amounts and codes', () => {
    const text = JSON.stringify(scored(signed(authorizationEvent())));
    for (const personal of ['Jenny Rosen', 'jenny.rosen@example.com', '+18008675309', 'Main Street', 'NORTHWIND', '4242', '94111']) expect(text).not.toContain(personal);
  });

  it('takes the amount from pending_request (the authorization amount is 0 while pending)', () => {
    const event = scored(signed(withAuth((a) => ((a.amount = 0), (a.pending_request.amount = 12_345)))));
    expect(event.amount).toEqual({ minor: 12_345, currency: 'USD' });
  });

  it('keeps zero-decimal amounts as Stripe sends them (JPY)', () => {
    const event = scored(signed(withAuth((a) => (a.pending_request = { ...a.pending_request, amount: 5_000, currency: 'jpy' }))));
    expect(event.amount).toEqual({ minor: 5_000, currency: 'JPY' });
  });

  it('takes the account from card.cardholder when cardholder is absent, and from an expanded cardholder', () => {
    expect(scored(signed(withAuth((a) => (a.cardholder = null)))).account).toEqual({ id: 'ich_1QkF8vRiskhookJenny01', createdAt: 1_709_632_800_000 });
    expect(scored(signed(withAuth((a) => delete a.cardholder))).account.id).toBe('ich_1QkF8vRiskhookJenny01');
    const expanded = withAuth((a) => {
      a.cardholder = { id: 'ich_other', object: 'issuing.cardholder', created: 1_700_000_000 };
      a.card.cardholder = 'ich_other';
    });
    expect(scored(signed(expanded)).account).toEqual({ id: 'ich_other', createdAt: 1_700_000_000_000 });
    // A cardholder given only by id has no creation time in the payload.
    expect(scored(signed(withAuth((a) => ((a.cardholder = 'ich_plain'), (a.card.cardholder = 'ich_plain'))))).account).toEqual({ id: 'ich_plain' });
  });

  it('uses network_id as the merchant id, the name when there is none; an MCC only when it is 4 digits', () => {
    const noNetwork = scored(signed(withAuth((a) => (a.merchant_data.network_id = ''))));
    expect(noNetwork.merchant).toEqual({ id: 'NORTHWIND SOFTWARE', category: '5734' });
    expect(scored(signed(withAuth((a) => (a.merchant_data.category_code = '573')))).merchant).toEqual({ id: '1234567890' });
    expect(scored(signed(withAuth((a) => (a.merchant_data.category_code = null)))).merchant).toEqual({ id: '1234567890' });
  });

  it('sets the country only for an ISO alpha-2 code (upper-cased)', () => {
    expect(scored(signed(withAuth((a) => (a.merchant_data.country = 'ie')))).country).toBe('IE');
    for (const country of ['USA', null, '', '1A']) {
      expect(scored(signed(withAuth((a) => (a.merchant_data.country = country))))).not.toHaveProperty('country');
    }
  });

  it('takes occurredAt from the event created, else the authorization created', () => {
    const event = authorizationEvent();
    delete event.created;
    event.data.object.created = CREATED - 2;
    expect(scored(signed(event)).occurredAt).toBe((CREATED - 2) * 1_000);
  });

  it('omits linkedAccount, device and ip: Stripe gives no wallet account, device or IP', () => {
    const event = scored(signed(withAuth((a) => (a.wallet = 'apple_pay'))));
    expect(event).not.toHaveProperty('linkedAccount');
    expect(event).not.toHaveProperty('device');
    expect(event).not.toHaveProperty('ip');
  });

  it('accepts fields Stripe adds later (loose objects)', () => {
    const event = withAuth((a) => ((a.some_new_field = { nested: true }), (a.pending_request.new_thing = 1), (a.merchant_data.extra = 'x')));
    event.new_envelope_field = 'y';
    expect(scored(signed(event)).id).toBe(event.id);
  });

  it.each([
    ['3DS authenticated', 'three_ds', { verification_data: { three_d_secure: { result: 'authenticated' } } }],
    ['3DS authenticated with a wallet', 'three_ds', { wallet: 'apple_pay', verification_data: { three_d_secure: { result: 'authenticated' } } }],
    ['Apple Pay', 'biometric', { wallet: 'apple_pay', authorization_method: 'contactless' }],
    ['Google Pay', 'biometric', { wallet: 'google_pay', authorization_method: 'online' }],
    ['Samsung Pay', 'biometric', { wallet: 'samsung_pay' }],
    ['a low-value SCA exemption', 'password_free', { verification_data: { authentication_exemption: { claimed_by: 'acquirer', type: 'low_value_transaction' } } }],
    ['a TRA exemption', 'password_free', { verification_data: { authentication_exemption: { claimed_by: 'issuer', type: 'transaction_risk_analysis' } } }],
    ['a wallet with an exemption', 'biometric', { wallet: 'google_pay', verification_data: { authentication_exemption: { claimed_by: 'acquirer', type: 'unknown' } } }],
    ['3DS attempt acknowledged', 'unknown', { verification_data: { three_d_secure: { result: 'attempt_acknowledged' } } }],
    ['3DS failed', 'unknown', { verification_data: { three_d_secure: { result: 'failed' } } }],
    ['chip (PIN not reported)', 'unknown', { authorization_method: 'chip' }],
    ['swipe', 'unknown', { authorization_method: 'swipe' }],
    ['contactless card', 'unknown', { authorization_method: 'contactless', wallet: null }],
    ['keyed in, CVC and address matched', 'unknown', { authorization_method: 'keyed_in', verification_data: { cvc_check: 'match', address_line1_check: 'match' } }],
    ['an unknown wallet', 'unknown', { wallet: 'some_new_wallet' }],
  ] as const)('authMethod for %s is %s', (_name, expected, auth) => {
    expect(stripeAuthMethod(auth as Parameters<typeof stripeAuthMethod>[0])).toBe(expected);
    // The same through the adapter, on the full example.
    const event = withAuth((a) => {
      a.verification_data = { ...a.verification_data, three_d_secure: null, authentication_exemption: null, ...('verification_data' in auth ? auth.verification_data : {}) };
      a.wallet = 'wallet' in auth ? auth.wallet : null;
    });
    expect(scored(signed(event)).authMethod).toBe(expected);
  });
});

describe('payload errors after a valid signature', () => {
  const schemaMessage = (event: unknown) => {
    const error = thrown(() => adapter.verify(signed(event as object)));
    expect(error).toBeInstanceOf(SchemaError);
    return (error as SchemaError).message;
  };

  it('bad JSON is a BodyParseError (400)', () => {
    const body = '{"id": "evt_1", "type": ';
    const error = thrown(() => adapter.verify(req(body, signStripePayload(SECRET, body, CREATED))));
    expect(error).toBeInstanceOf(BodyParseError);
    expect((error as BodyParseError).status).toBe(400);
  });

  it.each([
    ['data.object.pending_request', (a: Json) => (a.pending_request = null)],
    ['data.object.pending_request.amount', (a: Json) => (a.pending_request.amount = 12.5)],
    ['data.object.pending_request.amount', (a: Json) => (a.pending_request.amount = -1)],
    ['data.object.pending_request.currency', (a: Json) => (a.pending_request.currency = 'usdollar')],
    ['data.object.card', (a: Json) => delete a.card],
    ['data.object.card.id', (a: Json) => (a.card.id = '')],
    ['data.object.object', (a: Json) => (a.object = 'issuing.transaction')],
    ['data.object.merchant_data', (a: Json) => delete a.merchant_data],
    ['data.object.merchant_data', (a: Json) => ((a.merchant_data.network_id = null), (a.merchant_data.name = null))],
    ['data.object.cardholder', (a: Json) => ((a.cardholder = null), (a.card.cardholder = null))],
    ['data.object.cardholder', (a: Json) => (a.cardholder = 42)],
  ])('names %s', (path, change) => {
    const event = withAuth(change);
    expect(schemaMessage(event)).toContain(path);
  });

  it('names the envelope fields: id, type, created; a thin event is refused', () => {
    const noType = authorizationEvent();
    delete noType.type;
    expect(schemaMessage(noType)).toContain('type');
    expect(schemaMessage({ ...authorizationEvent(), id: '' })).toContain('id');
    expect(schemaMessage({ ...authorizationEvent(), object: 'v2.core.event' })).toContain('object');
    expect(schemaMessage({ ...authorizationEvent(), created: 1.5 })).toContain('created');
    expect(schemaMessage([])).toContain('(body)');
  });

  it('refuses an event created more than 5 minutes after it was received', () => {
    const event = authorizationEvent();
    expect(thrown(() => adapter.verify(signed(event, SECRET, CREATED, AT_MS - 6 * 60_000 + 1_000)))).toBeInstanceOf(SignatureError);
    // Signed now, but created 10 minutes ahead: a schema problem, not a signature one.
    const ahead = { ...event, created: CREATED + 600 };
    const error = thrown(() => adapter.verify(signed(ahead, SECRET, CREATED, AT_MS)));
    expect(error).toBeInstanceOf(SchemaError);
    expect((error as SchemaError).message).toMatch(/created: more than 5 minutes in the future/);
  });
});

describe('other Stripe events: verified, acknowledged, never scored', () => {
  const charge = () => ({
    id: `evt_${randomBytes(8).toString('hex')}`,
    object: 'event',
    api_version: STRIPE_API_VERSION,
    created: Math.floor(Date.now() / 1_000),
    data: { object: { id: 'ch_3QkFAB2eZvKYlo2C1x9yN0aQ', object: 'charge', amount: 2_000, currency: 'usd', status: 'succeeded' } },
    livemode: false,
    pending_webhooks: 1,
    request: { id: 'req_abc', idempotency_key: null },
    type: 'charge.succeeded',
  });

  it('verifies charge.succeeded and acknowledges it', () => {
    const event = charge();
    const verified = adapter.verify(signed(event, SECRET, event.created));
    expect(verified).toEqual({ kind: 'acknowledge', reason: 'stripe event charge.succeeded is not scored' });
    expect(adapter.acknowledge('x')).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"received":true}' });
  });

  it('answers 200 {"received": true} through the webhook flow and stores no decision', async () => {
    const event = charge();
    const body = JSON.stringify(event);
    const response = await handleWebhook('stripe', req(body, signStripePayload(SECRET, body), Date.now()), runtime);
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ received: true });
    expect(await storedDecision(event.id)).toBeUndefined();
  });

  it('still checks the signature of events it does not score', () => {
    const event = charge();
    expect(() => adapter.verify(signed(event, newSecret(), event.created))).toThrow(SignatureError);
  });

  it('acknowledges issuing_authorization.created (the notification after the decision) without scoring it', () => {
    const event = { ...authorizationEvent(), type: 'issuing_authorization.created' };
    expect(adapter.verify(signed(event)).kind).toBe('acknowledge');
  });
});

describe('the answer to Stripe', () => {
  const decision = (over: Partial<Decision> = {}): Decision => ({
    eventId: 'evt_1',
    decision: 'approve',
    score: 0,
    reasons: [],
    features: {},
    policyVersion: 'default-2026-11-22',
    degraded: false,
    ...over,
  });
  const reason = (rule: string) => ({ rule, message: `${rule} fired` });

  function checkShape(response: ReturnType<typeof stripeDecisionResponse>) {
    expect(response.statusCode).toBe(200);
    expect(response.headers['Stripe-Version']).toBe(STRIPE_API_VERSION);
    expect(response.headers['content-type']).toBe('application/json');
    const body = JSON.parse(response.body);
    expect(Object.keys(body).sort()).toEqual(['approved', 'metadata']);
    const entries = Object.entries(body.metadata as Record<string, unknown>);
    expect(entries.length).toBeLessThanOrEqual(50);
    for (const [key, value] of entries) {
      expect(key.length).toBeLessThanOrEqual(METADATA_MAX_KEY);
      expect(key).not.toMatch(/[[\]]/);
      expect(typeof value).toBe('string');
      expect((value as string).length).toBeLessThanOrEqual(METADATA_MAX_VALUE);
      expect((value as string).length).toBeGreaterThan(0);
    }
    return body as { approved: boolean; metadata: { score: string; reasons: string } };
  }

  it('approve -> 200, Stripe-Version, approved true, score and "none"', () => {
    expect(checkShape(stripeDecisionResponse(decision()))).toEqual({ approved: true, metadata: { score: '0', reasons: 'none' } });
  });

  it('hold -> approved false, with the rule ids', () => {
    const body = checkShape(stripeDecisionResponse(decision({ decision: 'hold', score: 80, reasons: [reason('pf-burst'), reason('pf-burst-severe')] })));
    expect(body).toEqual({ approved: false, metadata: { score: '80', reasons: 'pf-burst,pf-burst-severe' } });
  });

  it('an approval with rules that fired still approves (below the hold score)', () => {
    expect(checkShape(stripeDecisionResponse(decision({ score: 40, reasons: [reason('pf-burst')] })))).toEqual({
      approved: true,
      metadata: { score: '40', reasons: 'pf-burst' },
    });
  });

  it('a degraded hold declines; a degraded approve approves; the fallback rule is named', () => {
    const held = checkShape(stripeDecisionResponse(decision({ decision: 'hold', score: 70, degraded: 'store_timeout', reasons: [reason('store-failure')] })));
    expect(held).toEqual({ approved: false, metadata: { score: '70', reasons: 'store-failure' } });
    const approved = checkShape(stripeDecisionResponse(decision({ degraded: 'store_unavailable', reasons: [reason('store-failure')] })));
    expect(approved.approved).toBe(true);
  });

  it('keeps the reasons within 500 characters however many rules fire, saying how many were left out', () => {
    const rules = Array.from({ length: 40 }, (_, i) => `rule-${String(i).padStart(2, '0')}-${'x'.repeat(55)}`); // 64 characters each
    const body = checkShape(stripeDecisionResponse(decision({ decision: 'hold', score: 100, reasons: rules.map(reason) })));
    const parts = body.metadata.reasons.split(',');
    expect(parts.at(-1)).toBe(`+${40 - (parts.length - 1)} more`);
    expect(parts.slice(0, -1)).toEqual(rules.slice(0, parts.length - 1));
    expect(body.metadata.reasons.length).toBeLessThanOrEqual(METADATA_MAX_VALUE);
    expect(stripeDecisionResponse(decision({ reasons: rules.map(reason) })).body.length).toBeLessThan(600);
  });

  it('reasonsMetadata: exactly 500 characters fits whole; one more is cut', () => {
    const ids = ['a'.repeat(249), 'b'.repeat(250)]; // 249 + 1 + 250 = 500
    expect(reasonsMetadata(ids)).toBe(ids.join(','));
    expect(reasonsMetadata([ids[0]!, `${ids[1]}c`])).toBe(`${ids[0]},+1 more`);
    expect(reasonsMetadata(['x', 'x'])).toBe('x');
  });
});

describe('examples for npm run send', () => {
  // An hour ago: the payment's time; the signature still carries the wall clock.
  const fresh = { now: Date.now() - 3_600_000, suffix: 'f00d1234', keepTime: false };

  it('stripeExample signs the example for /webhooks/stripe with the local secret, with fresh ids and times', () => {
    const signedRequest = stripeExample(EXAMPLE, fresh);
    expect(signedRequest.path).toBe('/webhooks/stripe');
    expect(signedRequest.headers['content-type']).toBe('application/json');
    const body = String(signedRequest.body);
    const sent = JSON.parse(body);
    expect(sent.id).toBe(`${EXAMPLE.event.id}f00d1234`);
    expect(sent.data.object.id).toBe(`${EXAMPLE.event.data.object.id}f00d1234`);
    expect(sent.created).toBe(Math.floor(fresh.now / 1_000));
    expect(sent.data.object.created).toBe(Math.floor(fresh.now / 1_000));
    // The card and cardholder stay: a sequence is about one card.
    expect(sent.data.object.card.id).toBe(EXAMPLE.event.data.object.card.id);
    // The signature timestamp is the wall clock, not the example's time.
    const t = Number(/^t=(\d+),/.exec(signedRequest.headers['stripe-signature']!)![1]);
    expect(Math.abs(t - Date.now() / 1_000)).toBeLessThan(5);
    // The SDK accepts it with the local secret, and so does our adapter configured with it.
    expect(stripe.webhooks.constructEvent(body, signedRequest.headers['stripe-signature']!, LOCAL_STRIPE_SECRET).id).toBe(sent.id);
    const local = createStripeAdapter([LOCAL_STRIPE_SECRET]);
    const event = scored(req(body, signedRequest.headers['stripe-signature'], Date.now()), local);
    expect(event).toMatchObject({ id: sent.id, occurredAt: Math.floor(fresh.now / 1_000) * 1_000, amount: { minor: 4_250, currency: 'USD' } });
  });

  it('keeps the ids when there is no suffix (a re-send is a retry), and does not change the file content', () => {
    const before = JSON.stringify(EXAMPLE);
    const sent = JSON.parse(String(stripeExample(EXAMPLE, { now: AT_MS, suffix: undefined, keepTime: true }).body));
    expect(sent.id).toBe(EXAMPLE.event.id);
    expect(sent.data.object.id).toBe(EXAMPLE.event.data.object.id);
    expect(sent.created).toBe(CREATED);
    expect(JSON.stringify(EXAMPLE)).toBe(before);
  });

  it('refuses an example without an event object', () => {
    expect(() => stripeExample({ provider: 'stripe', at: '2026-11-22T09:00:00Z' }, fresh)).toThrow(/"event" object/);
  });

  it('the burst example is password-free authorizations on one card and cardholder, a minute apart', () => {
    expect(BURST.length).toBeGreaterThanOrEqual(5);
    const events = BURST.map((item, n) => {
      expect(item.provider).toBe('stripe');
      const now = Date.parse(item.at);
      const body = String(stripeExample(item, { now, suffix: 'x', keepTime: false }).body);
      return scored(req(body, signStripePayload(SECRET, body, Math.floor(now / 1_000)), now), adapter);
    });
    expect(new Set(events.map((e) => e.id)).size).toBe(BURST.length);
    expect(new Set(events.map((e) => e.account.id)).size).toBe(1);
    expect(new Set(events.map((e) => e.instrument?.id)).size).toBe(1);
    expect(events.every((e) => e.authMethod === 'password_free')).toBe(true);
    expect(events.slice(1).map((e, i) => e.occurredAt - events[i]!.occurredAt)).toEqual(Array(BURST.length - 1).fill(60_000));
  });
});
