/**
 * Stripe: Issuing real-time authorizations (`issuing_authorization.request`), answered
 * synchronously with `{"approved": bool}`; every other Stripe event is verified and acknowledged.
 *
 * Signature (`Stripe-Signature: t=<seconds>,v1=<hex>[,v1=<hex>...]`): HMAC-SHA256, hex, over
 * `${t}.${raw body}`, keyed with the WHOLE `whsec_...` string as UTF-8 bytes (unlike Standard
 * Webhooks, nothing is base64-decoded). Several secrets are accepted (rotation), any one `v1` may
 * match, `v0` and other schemes are ignored, and the timestamp must be within 300 s of our clock in
 * BOTH directions (stripe-node only refuses old ones).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import { ConfigError, SchemaError, SignatureError } from '../errors.js';
import { type AuthMethod, type Decision, Identifier, type PaymentEvent } from '../events.js';
import { LOCAL_STRIPE_SECRET } from '../local-defaults.js';
import { MAX_FUTURE_MS, describeIssues } from './generic.js';
import { readStrictJson } from './json.js';
import { type ExampleSigner, type HttpResponse, type ProviderAdapter, type RawRequest, type Verified, jsonResponse } from './types.js';

/**
 * The API version our responses declare in the required `Stripe-Version` header: the version the
 * stripe-node 23.1.0 SDK pins (`Stripe.API_VERSION`; the tests check they agree). The SDK is a
 * devDependency only, so the value is written here rather than imported.
 */
export const STRIPE_API_VERSION = '2026-10-28.endive';

/** Largest accepted |our clock - t|, in seconds (Stripe's DEFAULT_TOLERANCE), checked both ways. */
export const STRIPE_TOLERANCE_SECONDS = 300;

/** The one event type that is scored; it is the only one Stripe sends to the real-time endpoint. */
export const AUTHORIZATION_REQUEST = 'issuing_authorization.request';

/** Stripe's metadata limits (docs.stripe.com/metadata): keys up to 40 characters, values up to 500. */
export const METADATA_MAX_KEY = 40;
export const METADATA_MAX_VALUE = 500;

const SECRET_PREFIX = 'whsec_';
const MAX_HEADER_LENGTH = 1_024;
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;

// --- signatures ------------------------------------------------------------------------------------

function hmac(key: Buffer, timestamp: string, body: Buffer): Buffer {
  return createHmac('sha256', key).update(`${timestamp}.`, 'utf8').update(body).digest();
}

/** The HMAC keys: each secret's UTF-8 bytes, `whsec_` included. */
export function stripeKeys(secrets: readonly string[]): Buffer[] {
  return secrets.map((secret) => {
    if (!secret.startsWith(SECRET_PREFIX) || secret.length <= SECRET_PREFIX.length || /\s/.test(secret)) {
      throw new ConfigError('STRIPE_WEBHOOK_SECRETS: a Stripe signing secret is whsec_ followed by its key, without whitespace');
    }
    return Buffer.from(secret, 'utf8');
  });
}

/**
 * Verifies a `Stripe-Signature` header value against the raw body bytes. Returns the timestamp
 * (seconds). Throws SignatureError: missing or malformed header, no v1, stale or future, no match.
 */
export function verifyStripeSignature(header: string | undefined, body: Buffer, keys: readonly Buffer[], nowMs: number): number {
  if (!header) throw new SignatureError('missing header Stripe-Signature');
  if (header.length > MAX_HEADER_LENGTH) throw new SignatureError('Stripe-Signature is malformed (too long)');
  const timestamps: string[] = [];
  const candidates: Buffer[] = [];
  let v1Count = 0;
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new SignatureError('Stripe-Signature is malformed (expected t=<seconds>,v1=<hex>)');
    const [scheme, value] = [item.slice(0, eq), item.slice(eq + 1)];
    if (scheme === 't') timestamps.push(value);
    else if (scheme === 'v1') {
      v1Count++;
      // A value that is not 64 lower-case hex digits cannot match (stripe-node compares the hex strings).
      if (HEX_SIGNATURE.test(value)) candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamps.length !== 1 || !/^\d{1,12}$/.test(timestamps[0]!)) {
    throw new SignatureError('Stripe-Signature is malformed (expected one t=<integer seconds>)');
  }
  if (v1Count === 0) throw new SignatureError('Stripe-Signature has no v1 signature');
  const timestamp = timestamps[0]!;
  const skew = Math.floor(nowMs / 1_000) - Number(timestamp);
  if (skew > STRIPE_TOLERANCE_SECONDS) throw new SignatureError('Stripe-Signature timestamp is too old (more than 5 minutes)');
  if (skew < -STRIPE_TOLERANCE_SECONDS) throw new SignatureError('Stripe-Signature timestamp is in the future (more than 5 minutes)');
  for (const key of keys) {
    const expected = hmac(key, timestamp, body);
    for (const candidate of candidates) {
      if (timingSafeEqual(candidate, expected)) return Number(timestamp);
    }
  }
  throw new SignatureError('Stripe-Signature does not match');
}

/**
 * A `Stripe-Signature` header value for a payload, as stripe-node's
 * `webhooks.generateTestHeaderString({payload, secret, timestamp})` makes it: for tests and `npm run send`.
 */
export function signStripePayload(secret: string, payload: string | Buffer, timestampSeconds = Math.floor(Date.now() / 1_000)): string {
  const [key] = stripeKeys([secret]);
  const raw = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const t = String(Math.floor(timestampSeconds));
  return `t=${t},v1=${hmac(key!, t, raw).toString('hex')}`;
}

// --- the payload -----------------------------------------------------------------------------------

const Seconds = z.number().int('expected whole seconds').nonnegative().max(1e11, 'expected epoch seconds');

/** Every event: enough to route it. */
const Envelope = z.looseObject({
  id: Identifier,
  type: z.string().min(1).max(256),
});

const CardholderRef = z.union([Identifier, z.looseObject({ id: Identifier, created: Seconds.optional() })], {
  error: 'expected a cardholder id or a cardholder object with an id',
});

const Check = z.string().max(64).nullish();

/**
 * The fields of an `issuing.authorization` that riskhook reads (SDK: resources/Issuing/Authorizations).
 * Loose objects: Stripe adds fields without a new API version, and they must not break verification.
 */
export const StripeAuthorization = z.looseObject({
  id: Identifier,
  object: z.literal('issuing.authorization', { error: 'expected "issuing.authorization"' }),
  created: Seconds.optional(),
  pending_request: z.looseObject(
    {
      amount: z.number().int('expected whole minor units').nonnegative().max(Number.MAX_SAFE_INTEGER),
      currency: z.string().regex(/^[A-Za-z]{3}$/, 'expected a three-letter ISO currency code such as usd'),
    },
    { error: 'expected the pending request (amount, currency) of an authorization request' },
  ),
  card: z.looseObject({ id: Identifier, cardholder: CardholderRef.nullish() }, { error: 'expected the card object' }),
  cardholder: CardholderRef.nullish(),
  authorization_method: z.string().max(64).nullish(),
  wallet: z.string().max(64).nullish(),
  merchant_data: z.looseObject(
    {
      network_id: z.string().max(256).nullish(),
      name: z.string().max(256).nullish(),
      category_code: z.string().max(16).nullish(),
      country: z.string().max(16).nullish(),
    },
    { error: 'expected the merchant_data object' },
  ),
  verification_data: z
    .looseObject({
      address_line1_check: Check,
      address_postal_code_check: Check,
      cvc_check: Check,
      expiry_check: Check,
      three_d_secure: z.looseObject({ result: z.string().max(64).nullish() }).nullish(),
      authentication_exemption: z.looseObject({ claimed_by: z.string().max(64).nullish(), type: z.string().max(64).nullish() }).nullish(),
    })
    .nullish(),
});
export type StripeAuthorization = z.infer<typeof StripeAuthorization>;

export const StripeAuthorizationRequest = z.looseObject({
  id: Identifier,
  type: z.literal(AUTHORIZATION_REQUEST),
  /** Thin events (`v2.core.event`) carry no snapshot to score. */
  object: z.literal('event', { error: 'expected "event" (a snapshot event, not a thin event)' }).optional(),
  created: Seconds.optional(),
  data: z.looseObject({ object: StripeAuthorization }, { error: 'expected data.object' }),
});
export type StripeAuthorizationRequest = z.infer<typeof StripeAuthorizationRequest>;

/** Device wallets: the payer unlocked the phone or watch (biometric, or its passcode) to pay. */
const DEVICE_WALLETS = new Set(['apple_pay', 'google_pay', 'samsung_pay']);

/**
 * How the payer was authenticated, from what Stripe reports (first match wins):
 * - `three_ds`: verification_data.three_d_secure.result is `authenticated` (the issuer authenticated
 *   the cardholder). `attempt_acknowledged`, `failed` and `required` are not an authentication.
 * - `biometric`: a device wallet (apple_pay, google_pay, samsung_pay) - the device verified the payer
 *   (on-device cardholder verification, usually a fingerprint or face).
 * - `password_free`: an SCA exemption was applied (verification_data.authentication_exemption, e.g.
 *   low_value_transaction or transaction_risk_analysis): the payer was deliberately NOT authenticated,
 *   the card-world counterpart of a password-free payment, so the password-free quotas and bursts apply.
 * - `unknown` otherwise: chip, swipe, contactless, keyed_in or online without the above. Stripe does
 *   not report whether a PIN or a signature was used, so `password` is never inferred; CVC, address
 *   and expiry checks verify card data, not the person, and do not change the method.
 */
export function stripeAuthMethod(auth: Pick<StripeAuthorization, 'wallet' | 'verification_data'>): AuthMethod {
  const verification = auth.verification_data;
  if (verification?.three_d_secure?.result === 'authenticated') return 'three_ds';
  if (auth.wallet && DEVICE_WALLETS.has(auth.wallet)) return 'biometric';
  if (verification?.authentication_exemption) return 'password_free';
  return 'unknown';
}

const cardholderId = (ref: z.infer<typeof CardholderRef> | null | undefined) => (typeof ref === 'string' ? ref : ref?.id);

/** The canonical event. Identifiers stay raw here (the core hashes them); names go only into id fields. */
export function toStripePaymentEvent(wire: StripeAuthorizationRequest, receivedAt: number): PaymentEvent {
  const auth = wire.data.object;
  const createdSeconds = wire.created ?? auth.created;
  if (createdSeconds === undefined) throw new SchemaError('created: expected the event time (created, in seconds)');
  const occurredAt = createdSeconds * 1_000;
  if (occurredAt - receivedAt > MAX_FUTURE_MS) throw new SchemaError('created: more than 5 minutes in the future');

  const account = cardholderId(auth.cardholder) ?? cardholderId(auth.card.cardholder);
  if (account === undefined) throw new SchemaError('data.object.cardholder: expected a cardholder (or data.object.card.cardholder)');
  // The cardholder's creation time, when its object is in the payload, is the account's age.
  const holder = [auth.cardholder, auth.card.cardholder].find((c) => typeof c === 'object' && c !== null && c.id === account);
  const accountCreated = typeof holder === 'object' && holder !== null ? holder.created : undefined;

  const merchantData = auth.merchant_data;
  const merchantId = merchantData.network_id || merchantData.name;
  if (!merchantId) throw new SchemaError('data.object.merchant_data: expected a network_id or a name');
  const mcc = merchantData.category_code && /^\d{4}$/.test(merchantData.category_code) ? merchantData.category_code : undefined;
  const country = merchantData.country && /^[A-Za-z]{2}$/.test(merchantData.country) ? merchantData.country.toUpperCase() : undefined;

  return {
    id: wire.id,
    provider: 'stripe',
    kind: 'authorization',
    occurredAt,
    // Integer minor units as Stripe sends them (zero-decimal currencies such as JPY have none).
    amount: { minor: auth.pending_request.amount, currency: auth.pending_request.currency.toUpperCase() },
    account: { id: account, ...(accountCreated !== undefined && { createdAt: accountCreated * 1_000 }) },
    merchant: { id: merchantId, ...(mcc !== undefined && { category: mcc }) },
    instrument: { id: auth.card.id, kind: 'card' },
    authMethod: stripeAuthMethod(auth),
    ...(country !== undefined && { country }),
    reference: { transactionId: auth.id },
  };
}

// --- the answer ------------------------------------------------------------------------------------

/** The rule ids, comma-separated, within Stripe's 500-character value limit ("none" when none fired). */
export function reasonsMetadata(rules: readonly string[]): string {
  const unique = [...new Set(rules)];
  if (unique.length === 0) return 'none';
  const all = unique.join(',');
  if (all.length <= METADATA_MAX_VALUE) return all;
  const kept: string[] = [];
  for (const rule of unique) {
    const more = unique.length - kept.length - 1;
    if ([...kept, rule, `+${more} more`].join(',').length > METADATA_MAX_VALUE) break;
    kept.push(rule);
  }
  return [...kept, `+${unique.length - kept.length} more`].join(',').slice(0, METADATA_MAX_VALUE);
}

/** `200`, `Stripe-Version`, `{"approved", "metadata": {"score", "reasons"}}`: hold declines the authorization. */
export function stripeDecisionResponse(decision: Decision): HttpResponse {
  return jsonResponse(
    200,
    {
      approved: decision.decision === 'approve',
      metadata: { score: String(decision.score), reasons: reasonsMetadata(decision.reasons.map((r) => r.rule)) },
    },
    { 'Stripe-Version': STRIPE_API_VERSION },
  );
}

export function createStripeAdapter(secrets: readonly string[]): ProviderAdapter {
  const keys = stripeKeys(secrets);
  return {
    name: 'stripe',
    verify(request: RawRequest): Verified {
      verifyStripeSignature(request.headers['stripe-signature'], request.body, keys, request.receivedAt);
      const { value: json, notInteger } = readStrictJson(request.body, { integerPaths: ['data.object.pending_request.amount'] });
      const envelope = Envelope.safeParse(json);
      if (!envelope.success) throw new SchemaError(describeIssues(envelope.error));
      if (envelope.data.type !== AUTHORIZATION_REQUEST) {
        return { kind: 'acknowledge', reason: `stripe event ${envelope.data.type.slice(0, 64)} is not scored` };
      }
      if (notInteger) throw notInteger;
      const parsed = StripeAuthorizationRequest.safeParse(json);
      if (!parsed.success) throw new SchemaError(describeIssues(parsed.error));
      return { kind: 'score', event: toStripePaymentEvent(parsed.data, request.receivedAt) };
    },
    respond: stripeDecisionResponse,
    acknowledge: () => jsonResponse(200, { received: true }),
    // Errors keep the default JSON shape: for an authorization request, any non-200 makes Stripe
    // record a webhook_error and apply the account's webhook-timeout default (approve or decline).
  };
}

// --- examples for `npm run send` -------------------------------------------------------------------

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `{"provider": "stripe", "at": "<ISO>", "event": {<a Stripe event>}}` -> a signed POST /webhooks/stripe,
 * signed with the local-only secret. Fresh ids (suffix appended to the event and authorization ids)
 * and times (event.created and data.object.created); the signature timestamp is the wall clock.
 */
export const stripeExample: ExampleSigner = (example, fresh) => {
  if (!isObject(example.event)) throw new Error('a stripe example has an "event" object (a Stripe event)');
  const event: Json = structuredClone(example.event);
  const created = Math.floor(fresh.now / 1_000);
  if (fresh.suffix !== undefined && typeof event.id === 'string') event.id = `${event.id}${fresh.suffix}`;
  event.created = created;
  const data = event.data;
  if (isObject(data) && isObject(data.object)) {
    const object = data.object;
    if (fresh.suffix !== undefined && typeof object.id === 'string') object.id = `${object.id}${fresh.suffix}`;
    if (typeof object.created === 'number') object.created = created;
  }
  const body = JSON.stringify(event);
  return {
    path: '/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'stripe-signature': signStripePayload(LOCAL_STRIPE_SECRET, body) },
    body,
  };
};
