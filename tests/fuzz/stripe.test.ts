/**
 * Fuzzing /webhooks/stripe through the whole Lambda handler, on Redis:
 * (a) garbage and tampered requests (no valid Stripe-Signature) are refused 4xx in the JSON error shape;
 * (b) hostile events SIGNED with the configured secret (signStripePayload) reach the parser, the
 *     loose schema and the mapping: an authorization request is scored (200 {"approved"}) exactly when
 *     an independent oracle says it is valid, another valid event is acknowledged (200, nothing
 *     counted), anything else is 400/413/422 naming the field.
 * Never a 5xx, never a store call or a Redis key for a refused request, never an unhandled rejection.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STRIPE_API_VERSION, signStripePayload } from '../../lib/providers/stripe.js';
import {
  amountLexeme,
  edgeString,
  hugeString,
  isNonPlainNumber,
  isPlainObject,
  plain,
  rawAt,
  textProblem,
} from '../support/fuzz-arbitraries.js';
import { MAX_FUTURE_MS, codePoints, isId, validId } from '../support/fuzz-generic.js';
import {
  type EventSpec,
  KeyLedger,
  RUNS,
  VALID_BUDGET,
  check,
  ensure,
  expectGarbageRefused,
  expectRefusal,
  gatewayEvent,
  keysWrittenSince,
  transport,
  transported,
  type Transport,
  useFuzzRuntime,
  validGate,
} from '../support/fuzz-harness.js';
import { corruptedVerdict, jsonCase, mutationArb, namesMutatedPath } from '../support/fuzz-mutations.js';
import { type Header, applyTamper, commonTamper, garbageRequest } from '../support/fuzz-requests.js';

const DB = 12;
const REQUEST = 'issuing_authorization.request';
const { fz, watch } = useFuzzRuntime(DB);

const nowSeconds = () => Math.floor(Date.now() / 1000);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

// --- the oracle (the loose schema and the mapping, written independently) ------------------------

type Check = (v: unknown) => boolean;
const has = (o: Record<string, unknown>, k: string) => Object.hasOwn(o, k);
/** Absent, null, or passing. */
const nullish = (check: Check) => (o: Record<string, unknown>, k: string) => !has(o, k) || o[k] === null || check(o[k]);
const optional = (check: Check) => (o: Record<string, unknown>, k: string) => !has(o, k) || check(o[k]);
const str = (max: number): Check => (v) => typeof v === 'string' && codePoints(v) <= max;
const isSeconds: Check = (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 1e11;
const isRef: Check = (v) => isId(v) || (isPlainObject(v) && isId(v.id) && optional(isSeconds)(v, 'created'));
const refId = (v: unknown) => (typeof v === 'string' ? v : isPlainObject(v) ? (v.id as string) : undefined);

function isValidAuthorization(a: unknown): a is Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (!isPlainObject(a)) return false;
  const pr = a.pending_request;
  const card = a.card;
  const md = a.merchant_data;
  const vd = a.verification_data;
  return (
    isId(a.id) &&
    a.object === 'issuing.authorization' &&
    optional(isSeconds)(a, 'created') &&
    isPlainObject(pr) &&
    typeof pr.amount === 'number' &&
    Number.isSafeInteger(pr.amount) &&
    pr.amount >= 0 &&
    typeof pr.currency === 'string' &&
    /^[A-Za-z]{3}$/.test(pr.currency) &&
    isPlainObject(card) &&
    isId(card.id) &&
    nullish(isRef)(card, 'cardholder') &&
    nullish(isRef)(a, 'cardholder') &&
    nullish(str(64))(a, 'authorization_method') &&
    nullish(str(64))(a, 'wallet') &&
    isPlainObject(md) &&
    nullish(str(256))(md, 'network_id') &&
    nullish(str(256))(md, 'name') &&
    nullish(str(16))(md, 'category_code') &&
    nullish(str(16))(md, 'country') &&
    nullish(
      (v) =>
        isPlainObject(v) &&
        ['address_line1_check', 'address_postal_code_check', 'cvc_check', 'expiry_check'].every((k) => nullish(str(64))(v, k)) &&
        nullish((t) => isPlainObject(t) && nullish(str(64))(t, 'result'))(v, 'three_d_secure') &&
        nullish((e) => isPlainObject(e) && nullish(str(64))(e, 'claimed_by') && nullish(str(64))(e, 'type'))(v, 'authentication_exemption'),
    )(a, 'verification_data') &&
    (vd === undefined || vd === null || isPlainObject(vd))
  );
}

type StripeVerdict = 'score' | 'ack' | 400 | 413 | 422;

function stripeVerdict(parts: unknown, body: Buffer, corrupted: boolean, maxBodyBytes: number, now: number): StripeVerdict {
  if (body.length > maxBodyBytes) return 413;
  if (corrupted) return corruptedVerdict(body);
  if (textProblem(parts) !== undefined) return 400;
  const v = plain(parts);
  // The envelope: enough to route. A non-authorization event is acknowledged whatever else it holds.
  if (!isPlainObject(v) || !isId(v.id) || typeof v.type !== 'string' || v.type.length === 0 || codePoints(v.type) > 256) return 422;
  if (v.type !== REQUEST) return 'ack';
  if (isNonPlainNumber(rawAt(parts, ['data', 'object', 'pending_request', 'amount']))) return 422;
  if (!optional((o) => o === 'event')(v, 'object') || !optional(isSeconds)(v, 'created')) return 422;
  if (!isPlainObject(v.data) || !isValidAuthorization(v.data.object)) return 422;
  const auth = v.data.object;
  const created = (v.created ?? auth.created) as number | undefined;
  if (created === undefined || created * 1000 - now > MAX_FUTURE_MS) return 422;
  if ((refId(auth.cardholder) ?? refId(auth.card.cardholder)) === undefined) return 422;
  if (!(auth.merchant_data.network_id || auth.merchant_data.name)) return 422;
  return 'score';
}

// --- valid events and their mutations ------------------------------------------------------------

const pastSeconds = fc.integer({ min: 0, max: 30 * 86_400 }).map((ago) => nowSeconds() - ago);
const cardholderRef = fc.oneof(
  validId.map((id) => Array.from(`ich_${id}`).slice(0, 256).join('')),
  fc.record({ id: validId, created: fc.integer({ min: 0, max: 1_800_000_000 }) }, { requiredKeys: ['id'] }),
);

const validStripeEvent = fc
  .record({
    id: validId,
    withObject: fc.boolean(),
    created: fc.option(pastSeconds, { nil: undefined }),
    authCreated: pastSeconds,
    authId: validId,
    amount: fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
    currency: fc.constantFrom('usd', 'eur', 'USD', 'jpy', 'Gbp'),
    cardId: validId,
    holderOnCard: fc.option(cardholderRef, { nil: null }),
    holder: fc.option(cardholderRef, { nil: null }),
    method: fc.constantFrom('online', 'chip', 'contactless', 'keyed_in', 'swipe', null),
    wallet: fc.constantFrom('apple_pay', 'google_pay', 'samsung_pay', null),
    networkId: fc.option(validId.filter((s) => codePoints(s) <= 256), { nil: null }),
    name: fc.option(edgeString(40), { nil: null }),
    category: fc.constantFrom('5818', '5411', '', 'abcd', null),
    country: fc.constantFrom('US', 'cn', 'XXX', null),
    threeDs: fc.constantFrom('authenticated', 'attempt_acknowledged', 'failed', null),
    exemption: fc.option(fc.record({ claimed_by: fc.constantFrom('acquirer', 'issuer'), type: fc.constantFrom('low_value_transaction', 'transaction_risk_analysis') }), { nil: null }),
    withCreatedOnAuth: fc.boolean(),
  })
  .map((e) => ({
    id: e.id,
    ...(e.withObject && { object: 'event' }),
    type: REQUEST,
    ...(e.created !== undefined && { created: e.created }),
    api_version: STRIPE_API_VERSION,
    livemode: false,
    data: {
      object: {
        id: e.authId,
        object: 'issuing.authorization',
        // The event needs a time: on the event, or on the authorization.
        ...((e.withCreatedOnAuth || e.created === undefined) && { created: e.authCreated }),
        amount: 0,
        currency: e.currency.toLowerCase(),
        approved: false,
        status: 'pending',
        pending_request: { amount: e.amount, currency: e.currency, is_amount_controllable: false, merchant_amount: e.amount, merchant_currency: e.currency },
        // A cardholder somewhere: on the authorization, on its card, or both.
        card: { id: e.cardId, object: 'issuing.card', cardholder: e.holderOnCard ?? (e.holder === null ? 'ich_fallback' : null) },
        cardholder: e.holder,
        authorization_method: e.method,
        wallet: e.wallet,
        merchant_data: { network_id: e.networkId, name: e.name || (e.networkId ? e.name : 'merchant'), category_code: e.category, country: e.country, city: 'Berlin' },
        verification_data: { cvc_check: 'match', expiry_check: 'match', three_d_secure: e.threeDs === null ? null : { result: e.threeDs }, authentication_exemption: e.exemption },
      },
    },
  }));

const FIELD_PATHS = [
  'id', 'object', 'type', 'created', 'data', 'data.object', 'data.object.id', 'data.object.object', 'data.object.created',
  'data.object.pending_request', 'data.object.pending_request.amount', 'data.object.pending_request.currency', 'data.object.card',
  'data.object.card.id', 'data.object.card.cardholder', 'data.object.cardholder', 'data.object.authorization_method', 'data.object.wallet',
  'data.object.merchant_data', 'data.object.merchant_data.network_id', 'data.object.merchant_data.name',
  'data.object.merchant_data.category_code', 'data.object.merchant_data.country', 'data.object.verification_data',
  'data.object.verification_data.cvc_check', 'data.object.verification_data.three_d_secure',
  'data.object.verification_data.three_d_secure.result', 'data.object.verification_data.authentication_exemption',
  'data.object.verification_data.authentication_exemption.type',
];
const OBJECT_PATHS = ['', 'data', 'data.object', 'data.object.pending_request', 'data.object.card', 'data.object.merchant_data', 'data.object.verification_data'];

function nearMiss(path: string): fc.Arbitrary<unknown> {
  const leaf = path.split('.').pop()!;
  switch (leaf) {
    case 'type':
      return fc.constantFrom(REQUEST, 'issuing_authorization.created', 'Issuing_authorization.request', `${REQUEST} `, `${REQUEST}\u0000`, 'v2.core.event', 'charge.succeeded', '', 'x'.repeat(257), '😀'.repeat(256));
    case 'object':
      return fc.constantFrom('event', 'v2.core.event', 'Event', 'issuing.authorization', 'issuing.transaction', null, '');
    case 'created':
      return fc.oneof(
        fc.constantFrom(0, -1, 1.5, 1e11, 1e11 + 1, '1700000000', null),
        // Around the 5-minute bound, but not within a few seconds of it (the clock moves during a case).
        fc.integer({ min: -600, max: 600 }).filter((d) => d < 295 || d > 306).map((d) => nowSeconds() + d),
      );
    case 'amount':
      return amountLexeme;
    case 'currency':
      return fc.constantFrom('usd', 'USD', 'Usd', 'us', 'usdd', 'ＵＳＤ', '', 'u$d', 'ü s', null);
    case 'cardholder':
      return fc.oneof(cardholderRef, fc.constantFrom(null, '', { id: '' }, { created: 1 }, { id: 'ich_1', created: -1 }, [], 'x'.repeat(257)));
    case 'wallet':
    case 'authorization_method':
    case 'result':
    case 'cvc_check':
    case 'type_':
      return fc.constantFrom('apple_pay', 'google_pay', 'samsung_pay', 'authenticated', 'match', 'x'.repeat(64), 'x'.repeat(65), null, 5, '');
    case 'network_id':
    case 'name':
      return fc.oneof(validId, fc.constantFrom('', null, 'x'.repeat(256), 'x'.repeat(257), 0));
    case 'category_code':
    case 'country':
      return fc.constantFrom('5818', '٥٨١٨', 'US', 'us', 'x'.repeat(16), 'x'.repeat(17), null, '');
    case 'id':
      return fc.oneof(validId, fc.constantFrom('', 'x'.repeat(257), 'a\udc00b'));
    default:
      return fc.constantFrom({}, [], null, { id: 'x' }, { result: 'authenticated' }, { amount: 1, currency: 'usd' });
  }
}

const stripeCase = jsonCase(validStripeEvent, mutationArb(FIELD_PATHS, OBJECT_PATHS, nearMiss), 40);

function signed(body: Buffer, t: Transport): EventSpec {
  return transported('stripe', { 'Stripe-Signature': signStripePayload(fz.keys.stripeSecret, body) }, body, t);
}

const stripeHeader: fc.Arbitrary<Header> = fc.tuple(
  fc.mixedCase(fc.constant('stripe-signature')),
  fc.oneof(
    fc.tuple(fc.integer({ min: -400, max: 400 }), fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 3 })).map(
      ([d, sigs]) => [`t=${nowSeconds() + d}`, ...sigs.map((s) => `v1=${hex(s)}`)].join(','),
    ),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((s) => `t=${nowSeconds()},v0=${hex(s)}`),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((s) => `v1=${hex(s)},t=${nowSeconds()}`),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((s) => `t=${nowSeconds()},v1=${hex(s).toUpperCase()}`),
    fc.constantFrom('t=', 'v1=', 't=,v1=', ',', '=', 't', `t=${nowSeconds()}`, `t=${nowSeconds()},t=${nowSeconds()},v1=00`),
    edgeString(60),
    hugeString,
  ),
);

describe('stripe adapter, fuzzed through the Lambda handler on Redis', () => {
  it(`refuses ${RUNS} unsigned or garbage requests with a 4xx JSON error, touching nothing`, async () => {
    await expectGarbageRefused(fz, watch, 'stripe', garbageRequest('stripe', stripeHeader), 'request');
  });

  it(`refuses ${RUNS} valid requests each tampered in one way (401, 405, 413, 400 for bad base64)`, async () => {
    type StripeTamper = { kind: 'flip'; at: number; xor: number } | { kind: 'drop' } | { kind: 'header'; make: (valid: string) => string } | { kind: 'repeat'; value: string };
    const tampers: fc.Arbitrary<StripeTamper> = fc.oneof(
      fc.tuple(fc.double({ min: 0, max: 0.9999, noNaN: true }), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => ({ kind: 'flip' as const, at, xor })),
      fc.constant({ kind: 'drop' as const }),
      fc
        .oneof(
          fc.integer({ min: 301, max: 10_000_000 }).map((d) => (valid: string) => valid.replace(/t=\d+/, `t=${nowSeconds() - d}`)),
          // 303 s and more ahead: a second may tick between signing and the check, never three.
          fc.integer({ min: 303, max: 10_000_000 }).map((d) => (valid: string) => valid.replace(/t=\d+/, `t=${nowSeconds() + d}`)),
          fc.uint8Array({ minLength: 32, maxLength: 32 }).map((s) => (valid: string) => valid.replace(/v1=[0-9a-f]+/, `v1=${hex(s)}`)),
          fc.constantFrom(
            (valid: string) => valid.toUpperCase(),
            (valid: string) => valid.replace('v1=', 'v0='),
            (valid: string) => valid.replace(/t=\d+,/, ''),
            (valid: string) => `${valid},t=1`,
            (valid: string) => valid.replace('v1=', 'v1= '),
            (valid: string) => valid.replace(/t=(\d+)/, 't=0$1'),
            (valid: string) => `${valid.slice(0, -1)}`,
            (valid: string) => valid.replace(',', ';'),
          ),
        )
        .map((make) => ({ kind: 'header' as const, make })),
      // Payload 2.0 joins a repeated header with commas: a stray copy before the real one.
      fc.constantFrom('t=1', '', 'garbage', `t=${nowSeconds() + 1}`).map((value) => ({ kind: 'repeat' as const, value })),
    );
    const before = await fz.dbsize();
    await check(
      'stripe/tampered',
      fc.asyncProperty(validStripeEvent, fc.oneof(tampers, commonTamper), fc.constantFrom('1.0' as const, '2.0' as const), async (event, tamper, payload) => {
        const calls = fz.storeCalls();
        const body = Buffer.from(JSON.stringify(event), 'utf8');
        let spec = signed(body, { payload, base64: false, contentType: 'application/json', caseMask: 0x2aaa });
        let expected: readonly number[] = [401];
        const sig = spec.headers.find(([n]) => n.toLowerCase() === 'stripe-signature')![1];
        const others = spec.headers.filter(([n]) => n.toLowerCase() !== 'stripe-signature');
        if (tamper.kind === 'flip') {
          const bytes = Buffer.from(body);
          const i = Math.floor(tamper.at * bytes.length);
          bytes[i] = bytes[i]! ^ tamper.xor;
          spec = { ...spec, body: bytes };
        } else if (tamper.kind === 'drop') {
          spec = { ...spec, headers: others };
        } else if (tamper.kind === 'header') {
          spec = { ...spec, headers: [...others, ['stripe-signature', tamper.make(sig)]] };
        } else if (tamper.kind === 'repeat') {
          spec = { ...spec, headers: [['stripe-signature', tamper.value], ...spec.headers], payload: '2.0' };
        } else {
          const applied = applyTamper(spec, tamper, fz.runtime.config.maxBodyBytes);
          spec = applied.spec;
          expected = applied.expect;
        }
        const refusal = expectRefusal('stripe', await fz.handler(gatewayEvent(spec)));
        ensure(expected.includes(refusal.status), () => `${tamper.kind}: expected ${expected.join(' or ')}, got ${refusal.status} ${refusal.code}: ${refusal.message}`);
        ensure(fz.storeCalls() === calls, () => 'a refused request called the store');
      }),
    );
    expect(await fz.dbsize()).toBe(before);
    await watch.expectNone();
  });

  it(`answers ${RUNS} signed hostile events: scored or acknowledged exactly when valid, else 400/413/422 naming the field`, async () => {
    const before = new Set(await fz.scanKeys());
    const ledger = new KeyLedger(fz.runtime);
    const adapter = fz.runtime.adapters.get('stripe')!;
    const seen = { score: 0, ack: 0, refused: 0 };
    const gate = validGate();
    await check(
      'stripe/signed',
      fc.asyncProperty(stripeCase, transport, async (c, t) => {
        const spec = signed(c.body, t);
        const verdict = stripeVerdict(c.parts, c.body, c.corruption !== undefined, fz.runtime.config.maxBodyBytes, Date.now());
        if (verdict === 'score') gate.admit();
        const calls = fz.storeCalls();
        const res = await fz.handler(gatewayEvent(spec));
        const show = () => `${res.statusCode} ${String(res.body).slice(0, 300)}`;
        if (verdict === 'score') {
          ensure(res.statusCode === 200 && res.headers?.['Stripe-Version'] === STRIPE_API_VERSION, () => `expected a scored 200, got ${show()}`);
          const json = JSON.parse(String(res.body)) as { approved: unknown; metadata: { score: unknown; reasons: unknown } };
          ensure(typeof json.approved === 'boolean' && typeof json.metadata.score === 'string' && typeof json.metadata.reasons === 'string', show);
          ensure(fz.storeCalls() > calls, () => 'a valid authorization was not counted');
          const verified = adapter.verify({ method: 'POST', headers: { 'stripe-signature': signStripePayload(fz.keys.stripeSecret, c.body) }, body: c.body, receivedAt: Date.now() });
          if (verified.kind === 'score') ledger.accept('stripe', verified.event);
          seen.score++;
          return;
        }
        if (verdict === 'ack') {
          ensure(res.statusCode === 200 && res.body === '{"received":true}', () => `expected an acknowledgement, got ${show()}`);
          ensure(fz.storeCalls() === calls, () => 'an acknowledged event called the store');
          seen.ack++;
          return;
        }
        const refusal = expectRefusal('stripe', res);
        ensure(refusal.status === verdict, () => `expected ${verdict}, got ${refusal.status} ${refusal.code}: ${refusal.message}`);
        ensure(fz.storeCalls() === calls, () => 'a refused request called the store');
        if (verdict === 422) ensure(namesMutatedPath(refusal.message!, c.mutations, c.structural || c.corruption !== undefined), () => `message names no mutated field: ${refusal.message}`);
        if (verdict === 400) ensure(/^body\b/.test(refusal.message!), () => `400 message does not start with "body": ${refusal.message}`);
        seen.refused++;
      }),
    );
    const written = await keysWrittenSince(fz, before);
    expect(ledger.unexplained(written)).toEqual([]);
    expect(seen.score, 'the arbitraries must also produce valid authorizations').toBeGreaterThanOrEqual(Math.min(VALID_BUDGET, RUNS / 50));
    console.info(`[fuzz] stripe/signed: ${seen.score} scored, ${seen.ack} acknowledged, ${seen.refused} refused; ${written.length} keys written for the scored`);
    await watch.expectNone();
  });
});
