/**
 * The counterexamples the fuzz suites found, each as a plain regression test (no Redis: adapters on
 * raw bytes, and the handler over the in-memory store). Before the fixes every one of these was
 * accepted (200/204, counted) or refused for another reason; see the fuzz suites for the properties.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { BodyParseError, type RiskhookError, SchemaError, SignatureError } from '../../lib/errors.js';
import { createWebhookHandler, rawRequest } from '../../lib/http.js';
import { createGenericAdapter } from '../../lib/providers/generic.js';
import { apiGatewayEvent } from '../../lib/providers/generic-sender.js';
import { signStandardWebhook } from '../../lib/providers/standard-webhooks.js';
import { createStripeAdapter, signStripePayload } from '../../lib/providers/stripe.js';
import type { RawRequest, Verified } from '../../lib/providers/types.js';
import { createWechatpayAdapter, encryptWechatpayResource, rfc3339Beijing, signWechatpayBody } from '../../lib/providers/wechatpay.js';
import { memoryRuntime } from '../support/stores.js';

const GENERIC_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const STRIPE_SECRET = `whsec_${randomBytes(24).toString('base64url')}`;
const generic = createGenericAdapter([GENERIC_SECRET]);
const stripe = createStripeAdapter([STRIPE_SECRET]);

const { privateKey: wechatKey, publicKey: wechatPublic } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const SERIAL = 'PUB_KEY_ID_0114232134912410000000000099';
const APIV3 = randomBytes(16).toString('hex');
const wechatpay = createWechatpayAdapter({ publicKeys: { [SERIAL]: wechatPublic.export({ type: 'spki', format: 'pem' }).toString() }, apiV3Key: APIV3 });

/** The generic event the fuzzer shrank its counterexamples to (identifiers of one odd character). */
const EVENT = () => ({
  id: '\u0000',
  kind: 'authorization',
  occurredAt: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
  amount: { minor: 0, currency: 'CNY' },
  account: { id: '\u0000' },
  merchant: { id: ' ' },
  authMethod: 'password',
});

function genericRequest(body: string | Buffer, signature?: (valid: string) => string): RawRequest {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const headers = signStandardWebhook(GENERIC_SECRET, 'msg_regression', bytes);
  if (signature) headers['webhook-signature'] = signature(headers['webhook-signature']!);
  return { method: 'POST', headers, body: bytes, receivedAt: Date.now() };
}

function refusal(verify: () => Verified): RiskhookError {
  try {
    verify();
  } catch (error) {
    return error as RiskhookError;
  }
  throw new Error('expected a refusal, got a verified request');
}

const stripeAuthorization = (amount: string) =>
  `{"id":"evt_1","object":"event","type":"issuing_authorization.request","created":${Math.floor(Date.now() / 1000)},` +
  `"data":{"object":{"id":"iauth_1","object":"issuing.authorization","pending_request":{"amount":${amount},"currency":"usd"},` +
  `"card":{"id":"ic_1","cardholder":"ich_1"},"merchant_data":{"name":"m"}}}}`;

function stripeRequest(body: string | Buffer): RawRequest {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return { method: 'POST', headers: { 'stripe-signature': signStripePayload(STRIPE_SECRET, bytes) }, body: bytes, receivedAt: Date.now() };
}

/** A WeChat Pay TRANSACTION.SUCCESS whose decrypted resource is exactly these bytes. */
function wechatRequest(plaintext: string | Buffer): RawRequest {
  const resource = encryptWechatpayResource(APIV3, plaintext, { associatedData: 'transaction', originalType: 'transaction' });
  const body = Buffer.from(JSON.stringify({ id: 'EV-regression', create_time: rfc3339Beijing(Date.now()), event_type: 'TRANSACTION.SUCCESS', resource_type: 'encrypt-resource', resource }));
  const headers = Object.fromEntries(Object.entries(signWechatpayBody(wechatKey, SERIAL, body)).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: 'POST', headers, body, receivedAt: Date.now() };
}
const wechatTransaction = (total: string, extra = '') =>
  `{"mchid":"1230000109","out_trade_no":"o1","transaction_id":"4200000000000000000000000000","trade_state":"SUCCESS",` +
  `"success_time":"${rfc3339Beijing(Date.now() - 60_000)}","payer":{"openid":"o1"}${extra},"amount":{"total":${total},"currency":"CNY"}}`;

describe('fuzz regressions: lib/http.ts', () => {
  const runtime = memoryRuntime({
    GENERIC_WEBHOOK_SECRETS: GENERIC_SECRET,
    STRIPE_WEBHOOK_SECRETS: STRIPE_SECRET,
    RISKHOOK_PEPPER: randomBytes(16).toString('hex'),
    RISKHOOK_STAGE: 'test',
  });
  const handler = createWebhookHandler(() => runtime);
  const base64Event = (junk: (b64: string) => string) => {
    const body = JSON.stringify(EVENT());
    const event = apiGatewayEvent({ path: '/webhooks/generic', headers: signStandardWebhook(GENERIC_SECRET, `msg_${randomBytes(4).toString('hex')}`, body), body: Buffer.from(body) });
    return { ...event, body: junk(event.body as string) } as unknown as APIGatewayProxyEventV2;
  };

  it('refuses isBase64Encoded bodies that are not strict base64 (was: decoded leniently, then scored 200)', async () => {
    // Counterexample: {"kind":"base64","at":0,"junk":"!"} on a valid signed event.
    for (const junk of [(b: string) => `!${b}`, (b: string) => `${b}!`, (b: string) => `${b.slice(0, 8)} ${b.slice(8)}`, (b: string) => `${b}=`, (b: string) => b.replace(/=+$/, '')]) {
      const res = await handler(base64Event(junk));
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body!)).toEqual({ error: { code: 'invalid_body', message: 'body is marked base64-encoded (isBase64Encoded) but is not valid base64' } });
    }
    expect((await handler(base64Event((b) => b))).statusCode).toBe(200);
  });

  it('rawRequest throws BodyParseError for base64 with stray characters, and decodes strict base64', () => {
    const event = (body: string) => ({ body, isBase64Encoded: true, headers: {}, requestContext: { http: { method: 'POST' } } }) as unknown as APIGatewayProxyEventV2;
    expect(() => rawRequest(event('e30=!'), 65_536, 0)).toThrow(BodyParseError);
    expect(() => rawRequest(event('e30'), 65_536, 0)).toThrow(BodyParseError);
    expect(() => rawRequest(event('e-_='), 65_536, 0)).toThrow(BodyParseError);
    expect(rawRequest(event('e30='), 65_536, 0).body.toString()).toBe('{}');
    expect(rawRequest(event(''), 65_536, 0).body.length).toBe(0);
  });
});

describe('fuzz regressions: Standard Webhooks signatures', () => {
  it('refuses a v1 signature that is not strict base64 (was: "v1,,<sig>" and "v1,<sig>junk" verified)', () => {
    const body = JSON.stringify(EVENT());
    // Counterexample: {"kind":"header","header":"webhook-signature","value":"v1,,SIG"}.
    for (const mangle of [(v: string) => `v1,,${v.slice(3)}`, (v: string) => `${v}junk`, (v: string) => `${v}=`, (v: string) => `v1,!${v.slice(3)}`]) {
      const error = refusal(() => generic.verify(genericRequest(body, mangle)));
      expect(error).toBeInstanceOf(SignatureError);
      expect(error.message).toBe('webhook-signature does not match');
    }
    expect(generic.verify(genericRequest(body)).kind).toBe('score');
  });
});

describe('fuzz regressions: strict JSON (generic, stripe, wechatpay)', () => {
  it('refuses bytes that are not UTF-8 (was: decoded to U+FFFD, so two different signed ids became one)', () => {
    // Counterexample: {"kind":"invalid-utf8","bytes":[0xC0,0x80]} spliced into the id of a signed event.
    for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0xf4, 0x90, 0x80, 0x80]]) {
      const body = Buffer.concat([Buffer.from('{"id":"evt_'), Buffer.from(bad), Buffer.from(JSON.stringify(EVENT()).slice(9))]);
      const error = refusal(() => generic.verify(genericRequest(body)));
      expect(error).toBeInstanceOf(BodyParseError);
      expect(error.message).toBe('body is not valid UTF-8');
      expect(refusal(() => stripe.verify(stripeRequest(Buffer.concat([Buffer.from(bad), Buffer.from(stripeAuthorization('100'))]))))).toBeInstanceOf(BodyParseError);
    }
    const inside = Buffer.concat([Buffer.from(wechatTransaction('100').slice(0, -1)), Buffer.from(',"attach":"'), Buffer.from([0xc0, 0x80]), Buffer.from('"}')]);
    expect(refusal(() => wechatpay.verify(wechatRequest(inside))).message).toBe('resource: decrypted transaction is not valid UTF-8');
  });

  it('refuses duplicate keys (was: the last one won, e.g. the amount counted was not the first one written)', () => {
    const body = JSON.stringify(EVENT()).replace('"amount":{"minor":0,', '"amount":{"minor":100,"minor":99999999,');
    const error = refusal(() => generic.verify(genericRequest(body)));
    expect(error).toBeInstanceOf(BodyParseError);
    expect(error.message).toBe('body: the key "amount.minor" appears more than once');
    // Stripe: a second "type" turned an acknowledged event into a scored authorization.
    const twice = stripeAuthorization('100').replace('"type":"issuing_authorization.request"', '"type":"charge.succeeded","type":"issuing_authorization.request"');
    expect(refusal(() => stripe.verify(stripeRequest(twice))).message).toBe('body: the key "type" appears more than once');
    expect(refusal(() => wechatpay.verify(wechatRequest(wechatTransaction('100', ',"payer":{"openid":"o2"}')))).message).toBe(
      'resource: decrypted transaction: the key "payer" appears more than once',
    );
  });

  it('refuses a "__proto__" key (was: 422 for generic, silently dropped and scored for stripe and wechatpay)', () => {
    const body = JSON.stringify(EVENT()).replace('{"id"', '{"__proto__":null,"id"');
    const error = refusal(() => generic.verify(genericRequest(body)));
    expect(error).toBeInstanceOf(BodyParseError);
    expect(error.message).toBe('body: the key "__proto__" is not allowed');
    const proto = stripeAuthorization('100').replace('"pending_request"', '"__proto__":{"cardholder":"ich_other"},"pending_request"');
    expect(refusal(() => stripe.verify(stripeRequest(proto))).message).toBe('body: the key "__proto__" in data.object is not allowed');
    expect(refusal(() => wechatpay.verify(wechatRequest(wechatTransaction('100', ',"__proto__":{}')))).message).toBe(
      'resource: decrypted transaction: the key "__proto__" is not allowed',
    );
  });

  it('refuses lone surrogates (was: accepted; "\\ud800" and "\\udbff" hashed alike, as U+FFFD)', () => {
    for (const id of ['\\ud800', 'a\\udc00b', '\\udbff']) {
      const body = JSON.stringify(EVENT()).replace('"account":{"id":"\\u0000"}', `"account":{"id":"${id}"}`);
      const error = refusal(() => generic.verify(genericRequest(body)));
      expect(error).toBeInstanceOf(BodyParseError);
      expect(error.message).toMatch(/^body: a string at account\.id holds a lone surrogate/);
    }
    // A surrogate pair written as escapes is one character, and fine.
    const pair = JSON.stringify(EVENT()).replace('"account":{"id":"\\u0000"}', '"account":{"id":"\\ud83d\\ude00"}');
    expect(generic.verify(genericRequest(pair)).kind).toBe('score');
  });

  it('refuses an amount written with an exponent, a fraction or as -0 (was: 1e3 scored as 1000, -0 as 0, 1.0 as 1)', () => {
    // Counterexample: amount.minor set to the raw lexeme 1e3 (and -0, 1.0, 9007199254740990.5).
    for (const lexeme of ['1e3', '-0', '1.0', '9007199254740990.5', '100.00000000000000001', '0e0']) {
      const body = JSON.stringify(EVENT()).replace('"minor":0', `"minor":${lexeme}`);
      const error = refusal(() => generic.verify(genericRequest(body)));
      expect(error, lexeme).toBeInstanceOf(SchemaError);
      expect(error.message).toBe(`amount.minor: expected whole minor units written as plain digits (no fraction, exponent or -0), got ${lexeme}`);
      expect(refusal(() => stripe.verify(stripeRequest(stripeAuthorization(lexeme)))).message).toMatch(/^data\.object\.pending_request\.amount: expected whole minor units/);
      expect(refusal(() => wechatpay.verify(wechatRequest(wechatTransaction(lexeme)))).message).toMatch(/^transaction\.amount\.total: expected whole minor units/);
    }
    expect(generic.verify(genericRequest(JSON.stringify(EVENT()).replace('"minor":0', '"minor":1000'))).kind).toBe('score');
    // A real fraction keeps the schema's message.
    expect(refusal(() => generic.verify(genericRequest(JSON.stringify(EVENT()).replace('"minor":0', '"minor":12.5')))).message).toMatch(
      /^amount\.minor: expected a whole number of minor units/,
    );
    // Only that path: a number elsewhere, or under a key that merely contains dots, is not an amount.
    const elsewhere = stripeAuthorization('100').replace('"id":"evt_1"', '"id":"evt_1","data.object.pending_request.amount":1.5,"x":{"amount":1e3}');
    expect(stripe.verify(stripeRequest(elsewhere)).kind).toBe('score');
  });

  it('acknowledges a Stripe event that is not an authorization request whatever its amount is written as (was: 422; FUZZ_SEED=2003488367)', () => {
    // Counterexample: a charge-type event carrying data.object.pending_request.amount 1e+300.
    const other = stripeAuthorization('1e+300').replace('"type":"issuing_authorization.request"', '"type":"charge.succeeded"');
    expect(stripe.verify(stripeRequest(other)).kind).toBe('acknowledge');
    // The same amount on an authorization request is still refused.
    expect(refusal(() => stripe.verify(stripeRequest(stripeAuthorization('1e+300')))).message).toMatch(/^data\.object\.pending_request\.amount: expected whole minor units/);
  });
});

describe('fuzz regressions: schema messages', () => {
  it('bounds a schema message (was: an unknown key of 60,000 characters echoed twice, 120 KB of message)', () => {
    // Counterexample: an extra root key of "a" x 60,000 (hugeString) on a valid event.
    const body = JSON.stringify({ ...EVENT(), ['a'.repeat(60_000)]: 1 });
    const error = refusal(() => generic.verify(genericRequest(body)));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message.length).toBeLessThanOrEqual(1_000);
    expect(error.message).toMatch(/^\(body\): Unrecognized key: "a+\.\.\. \(a+\.\.\.\)$/);
    const many = JSON.stringify({ ...EVENT(), ...Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`k${i}`, i])) });
    expect(refusal(() => generic.verify(genericRequest(many))).message.length).toBeLessThanOrEqual(1_000);
  });
});
