/**
 * The WeChat Pay API v3 adapter on raw bytes: headers and RSA signature first, then the envelope,
 * then AES-256-GCM decryption (tag always checked), then the transaction and the PaymentEvent.
 * Cross-checked with the wechatpay-node-v3 SDK (2.2.1): its decipher_gcm opens what we encrypt, its
 * verifySign accepts what we sign, and what its sha256WithRsa signs we accept.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import Pay from 'wechatpay-node-v3';
import { BodyParseError, BodyTooLargeError, ConfigError, type RiskhookError, SchemaError, SignatureError } from '../../../lib/errors.js';
import { type Decision, PaymentEvent } from '../../../lib/events.js';
import { LOCAL_WECHATPAY_APIV3_KEY, LOCAL_WECHATPAY_PUBLIC_KEY, LOCAL_WECHATPAY_SERIAL } from '../../../lib/local-defaults.js';
import type { RawRequest, SignedRequest } from '../../../lib/providers/types.js';
import {
  createWechatpayAdapter,
  decryptWechatpayResource,
  encryptWechatpayResource,
  rfc3339Beijing,
  signWechatpayBody,
  signWechatpayNotify,
  signedMessage,
  wechatpayExample,
} from '../../../lib/providers/wechatpay.js';
import { errorResponse } from '../../../lib/webhook.js';

const newKeyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
};
const WECHAT = newKeyPair();
const OTHER = newKeyPair();
const SERIAL = 'PUB_KEY_ID_0114232134912410000000000000';
const CERT_SERIAL = '7132D72A03E93CDDF8C03BBD1F37EEDF12345678';
const APIV3 = randomBytes(16).toString('hex'); // 32 characters, used as text
const adapter = createWechatpayAdapter({ publicKeys: { [SERIAL]: WECHAT.publicPem, [CERT_SERIAL]: OTHER.publicPem }, apiV3Key: APIV3 });

const RECEIVED = Date.UTC(2026, 10, 22, 9, 0, 30);
const TS = Math.floor(RECEIVED / 1000) - 30;

/** A realistic direct-merchant TRANSACTION.SUCCESS (fields as in wechatpay-go payments.Transaction). */
const transaction = (over: Record<string, unknown> = {}) => ({
  transaction_id: '4200002026112217000000000001',
  amount: { payer_total: 3_300, total: 3_500, currency: 'CNY', payer_currency: 'CNY' },
  mchid: '1230000109',
  trade_state: 'SUCCESS',
  bank_type: 'CMB_DEBIT',
  promotion_detail: [{ amount: 200, wechatpay_contribute: 0, coupon_id: '109519', scope: 'GLOBAL', merchant_contribute: 200, name: '满减', other_contribute: 0, currency: 'CNY', stock_id: '931386' }],
  success_time: '2026-11-22T17:00:00+08:00',
  payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
  out_trade_no: 'order-20261122-0001',
  appid: 'wxd678efh567hg6787',
  trade_state_desc: '支付成功',
  trade_type: 'JSAPI',
  attach: '自定义数据',
  scene_info: { device_id: '013467007045764' },
  ...over,
});

const notify = (over: Partial<Parameters<typeof signWechatpayNotify>[0]> = {}): SignedRequest =>
  signWechatpayNotify({
    privateKeyPem: WECHAT.privatePem,
    serial: SERIAL,
    apiV3Key: APIV3,
    eventType: 'TRANSACTION.SUCCESS',
    resource: transaction(),
    id: 'EV-2026112217000000000001',
    createTime: '2026-11-22T17:00:01+08:00',
    timestampSeconds: TS,
    nonce: '3D980FB850FDCE97F6BFB3D248597F16',
    ...over,
  });

/** As lib/http hands it over: lower-cased header names, the exact body bytes. */
function raw(signed: SignedRequest, headers: Record<string, string | undefined> = {}, receivedAt = RECEIVED): RawRequest {
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) merged[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  return { method: 'POST', headers: merged, body: Buffer.isBuffer(signed.body) ? signed.body : Buffer.from(signed.body, 'utf8'), receivedAt };
}

/** A body we change, then sign properly: the RSA layer passes, so the layer under test must refuse. */
function resigned(body: string, timestampSeconds = TS): SignedRequest {
  return { path: '/webhooks/wechatpay', headers: signWechatpayBody(WECHAT.privatePem, SERIAL, body, { timestampSeconds }), body };
}

function refusal<E extends RiskhookError>(request: RawRequest, kind: new (message: string) => E, using = adapter): E {
  try {
    using.verify(request);
  } catch (error) {
    expect(error).toBeInstanceOf(kind);
    return error as E;
  }
  throw new Error('expected a refusal, but the request verified');
}

const envelopeOf = (signed: SignedRequest) => JSON.parse(signed.body as string);

describe('interoperability with wechatpay-node-v3 (2.2.1)', () => {
  // verifySign looks the key up in the static Pay.certificates (serial -> public key PEM); seeded
  // here, so it never fetches /v3/certificates. serial_no given, so no certificate is parsed.
  const pay = new Pay({ appid: 'wxd678efh567hg6787', mchid: '1230000109', publicKey: Buffer.from(WECHAT.publicPem), privateKey: Buffer.from(WECHAT.privatePem), serial_no: 'merchant-serial', key: APIV3 });
  (Pay as unknown as { certificates: Record<string, string> }).certificates[SERIAL] = WECHAT.publicPem;

  it('decipher_gcm decrypts the resource we encrypt', () => {
    const { resource } = envelopeOf(notify());
    expect(pay.decipher_gcm(resource.ciphertext, resource.associated_data, resource.nonce, APIV3)).toEqual(transaction());
  });

  it('decipher_gcm agrees with an empty associated_data', () => {
    const sealed = encryptWechatpayResource(APIV3, JSON.stringify({ a: '退款' }), { associatedData: '' });
    expect(pay.decipher_gcm(sealed.ciphertext, '', sealed.nonce, APIV3)).toEqual({ a: '退款' });
    expect(JSON.parse(decryptWechatpayResource(sealed, APIV3).toString('utf8'))).toEqual({ a: '退款' });
  });

  it('verifySign accepts our signature over the raw body, and rejects a changed body', async () => {
    const signed = notify();
    const params = {
      timestamp: signed.headers['Wechatpay-Timestamp']!,
      nonce: signed.headers['Wechatpay-Nonce']!,
      serial: signed.headers['Wechatpay-Serial']!,
      signature: signed.headers['Wechatpay-Signature']!,
      body: signed.body as string,
    };
    expect(await pay.verifySign(params)).toBe(true);
    expect(await pay.verifySign({ ...params, body: (signed.body as string).replace('encrypt-resource', 'encrypt-resourcE') })).toBe(false);
  });

  it('what the SDK signs (sha256WithRsa over timestamp\\nnonce\\nbody\\n) verifies here', () => {
    const body = notify().body as string;
    const nonce = 'c5ac7061fccab6bf3e254dcf98995b8c';
    const signature = pay.sha256WithRsa(`${TS}\n${nonce}\n${body}\n`);
    const headers = { 'wechatpay-timestamp': String(TS), 'wechatpay-nonce': nonce, 'wechatpay-signature': signature, 'wechatpay-serial': SERIAL };
    expect(adapter.verify({ method: 'POST', headers, body: Buffer.from(body), receivedAt: RECEIVED }).kind).toBe('score');
    // And byte-identical to ours: PKCS#1 v1.5 signatures are deterministic.
    expect(signWechatpayBody(WECHAT.privatePem, SERIAL, body, { timestampSeconds: TS, nonce })['Wechatpay-Signature']).toBe(signature);
  });

  it('refuses a flipped ciphertext bit that decipher_gcm lets through (it never calls final())', () => {
    const { resource } = envelopeOf(notify());
    const sealed = Buffer.from(resource.ciphertext, 'base64');
    sealed[3]! ^= 0x01;
    const flipped = { ...resource, ciphertext: sealed.toString('base64') };
    expect(() => pay.decipher_gcm(flipped.ciphertext, flipped.associated_data, flipped.nonce, APIV3)).not.toThrow();
    expect(() => decryptWechatpayResource(flipped, APIV3)).toThrow(SignatureError);
  });
});

describe('signature and headers', () => {
  it('verifies a signed notification, with canonical or lower-cased header names', () => {
    const signed = notify();
    expect(adapter.verify(raw(signed)).kind).toBe('score');
    const canonical = { ...raw(signed), headers: signed.headers };
    expect(adapter.verify(canonical).kind).toBe('score');
  });

  it('signs exactly timestamp\\nnonce\\nbody\\n over the UTF-8 bytes', () => {
    expect(signedMessage('1710048759', 'abc', Buffer.from('{"s":"支付"}', 'utf8')).toString('utf8')).toBe('1710048759\nabc\n{"s":"支付"}\n');
  });

  it('refuses a changed body byte', () => {
    const signed = notify();
    const body = Buffer.from(signed.body as string, 'utf8');
    body[body.indexOf('EV-') + 3]! ^= 0x01;
    expect(refusal({ ...raw(signed), body }, SignatureError).message).toBe('Wechatpay-Signature does not match');
  });

  it('refuses re-serialised JSON (same data, other bytes)', () => {
    const signed = notify();
    const body = Buffer.from(JSON.stringify(envelopeOf(signed), null, 1));
    refusal({ ...raw(signed), body }, SignatureError);
  });

  it.each([
    ['wechatpay-timestamp', String(TS + 1), 'does not match'],
    ['wechatpay-nonce', '3D980FB850FDCE97F6BFB3D248597F17', 'does not match'],
    ['wechatpay-serial', 'PUB_KEY_ID_0114232134912410000000000001', 'unknown Wechatpay-Serial'],
    ['wechatpay-serial', CERT_SERIAL, 'does not match'], // a trusted serial, but another key
    ['wechatpay-signature', 'AAAA', 'does not match'],
    ['wechatpay-signature', '%%%not-base64%%%', 'not base64'],
  ])('refuses a changed %s header (%s)', (name, value, message) => {
    expect(refusal(raw(notify(), { [name]: value }), SignatureError).message).toContain(message);
  });

  it('refuses a signature with one bit flipped', () => {
    const signed = notify();
    const signature = Buffer.from(signed.headers['Wechatpay-Signature']!, 'base64');
    signature[10]! ^= 0x80;
    refusal(raw(signed, { 'wechatpay-signature': signature.toString('base64') }), SignatureError);
  });

  it('refuses a signature made with another private key', () => {
    expect(refusal(raw(notify({ privateKeyPem: OTHER.privatePem })), SignatureError).message).toBe('Wechatpay-Signature does not match');
  });

  it.each(['wechatpay-timestamp', 'wechatpay-nonce', 'wechatpay-signature', 'wechatpay-serial'])('refuses a request without %s', (name) => {
    expect(refusal(raw(notify(), { [name]: undefined }), SignatureError).message).toBe(`missing header ${name}`);
  });

  it('refuses signature probes (WECHATPAY/SIGNTEST/...)', () => {
    const probe = raw(notify(), { 'wechatpay-signature': 'WECHATPAY/SIGNTEST/SIpU4ZcMbxNyX6Ys1UXlrLHY/hvD64DJ2h+hzd4IApMv0Vw8GHmkw==' });
    expect(refusal(probe, SignatureError).message).toContain('probe');
  });

  it('refuses an unsupported signature type; accepts it absent', () => {
    refusal(raw(notify(), { 'wechatpay-signature-type': 'WECHATPAY2-SM2-WITH-SM3' }), SignatureError);
    expect(adapter.verify(raw(notify(), { 'wechatpay-signature-type': undefined })).kind).toBe('score');
  });

  it.each([
    [-299, true],
    [-300, false],
    [299, true],
    [300, false],
  ])('with a clock %i s ahead of the timestamp, accepts: %s', (skew, accepted) => {
    const request = raw(notify(), {}, (TS + skew) * 1000);
    if (accepted) expect(adapter.verify(request).kind).toBe('score');
    else expect(refusal(request, SignatureError).message).toMatch(skew > 0 ? /too old/ : /in the future/);
  });

  it('refuses a stale notification even when its signature is valid', () => {
    refusal(raw(notify({ timestampSeconds: TS - 3_600 })), SignatureError);
  });

  it('refuses a timestamp that is not whole seconds', () => {
    refusal(raw(notify(), { 'wechatpay-timestamp': `${TS}.0` }), SignatureError);
  });

  it('looks serials up case-insensitively (hex certificate serials)', () => {
    const lower = createWechatpayAdapter({ publicKeys: { [CERT_SERIAL.toLowerCase()]: WECHAT.publicPem }, apiV3Key: APIV3 });
    expect(lower.verify(raw(notify({ serial: CERT_SERIAL }))).kind).toBe('score');
  });
});

describe('the encrypted resource', () => {
  /** The envelope with its resource changed by `change`, then signed properly. */
  const tampered = (change: (resource: Record<string, string>) => void) => {
    const envelope = envelopeOf(notify());
    change(envelope.resource);
    return raw(resigned(JSON.stringify(envelope)));
  };
  const flip = (b64: string, at: (length: number) => number) => {
    const bytes = Buffer.from(b64, 'base64');
    bytes[at(bytes.length)]! ^= 0x01;
    return bytes.toString('base64');
  };

  it('the RSA signature alone already catches a changed ciphertext', () => {
    const signed = notify();
    const envelope = envelopeOf(signed);
    envelope.resource.ciphertext = flip(envelope.resource.ciphertext, () => 0);
    refusal({ ...raw(signed), body: Buffer.from(JSON.stringify(envelope)) }, SignatureError);
  });

  it('refuses a ciphertext bit flip (re-signed): the GCM tag fails', () => {
    const error = refusal(tampered((r) => (r.ciphertext = flip(r.ciphertext!, () => 0))), SignatureError);
    expect(error.message).toContain('GCM tag mismatch');
    expect(error.status).toBe(401);
  });

  it('refuses a tag bit flip (re-signed)', () => {
    refusal(tampered((r) => (r.ciphertext = flip(r.ciphertext!, (n) => n - 1))), SignatureError);
  });

  it('refuses a changed associated_data, and an emptied one (re-signed)', () => {
    refusal(tampered((r) => (r.associated_data = 'refund')), SignatureError);
    refusal(tampered((r) => (r.associated_data = '')), SignatureError);
  });

  it('refuses a changed resource nonce (re-signed)', () => {
    refusal(tampered((r) => (r.nonce = `${r.nonce!.slice(0, 11)}${r.nonce!.endsWith('0') ? '1' : '0'}`)), SignatureError);
  });

  it('refuses a resource encrypted under another APIv3 key', () => {
    const other = createWechatpayAdapter({ publicKeys: { [SERIAL]: WECHAT.publicPem }, apiV3Key: randomBytes(16).toString('hex') });
    expect(refusal(raw(notify()), SignatureError, other).message).toContain('WECHATPAY_APIV3_KEY');
  });

  it('refuses another algorithm (re-signed) with 422 naming resource.algorithm', () => {
    const error = refusal(tampered((r) => (r.algorithm = 'AEAD_SM4_GCM')), SchemaError);
    expect(error.message).toBe('resource.algorithm: expected AEAD_AES_256_GCM');
  });

  it('refuses a nonce that is not 12 bytes, and a ciphertext shorter than the tag (re-signed)', () => {
    expect(refusal(tampered((r) => (r.nonce = 'short')), SchemaError).message).toContain('resource.nonce');
    expect(refusal(tampered((r) => (r.ciphertext = 'AAAA')), SchemaError).message).toContain('resource.ciphertext');
  });

  it('accepts an absent associated_data as empty', () => {
    const envelope = envelopeOf(notify({ associatedData: '' }));
    delete envelope.resource.associated_data;
    expect(adapter.verify(raw(resigned(JSON.stringify(envelope)))).kind).toBe('score');
  });
});

describe('bodies', () => {
  it('answers a validly signed non-JSON body with 400', () => {
    const error = refusal(raw(resigned('id=EV-1&event_type=TRANSACTION.SUCCESS')), BodyParseError);
    expect(error.status).toBe(400);
  });

  it('answers a validly signed envelope without resource with 422 naming it', () => {
    expect(refusal(raw(resigned(JSON.stringify({ id: 'EV-1', event_type: 'TRANSACTION.SUCCESS' }))), SchemaError).message).toContain('resource');
  });

  it('answers a decrypted transaction that is not JSON with 400', () => {
    const envelope = envelopeOf(notify());
    envelope.resource = encryptWechatpayResource(APIV3, 'not json', { associatedData: 'transaction', originalType: 'transaction' });
    refusal(raw(resigned(JSON.stringify(envelope))), BodyParseError);
  });
});

describe('TRANSACTION.SUCCESS to PaymentEvent', () => {
  it('maps a realistic direct-merchant payment to the exact event', () => {
    const verified = adapter.verify(raw(notify()));
    const expected: PaymentEvent = {
      id: 'EV-2026112217000000000001',
      provider: 'wechatpay',
      kind: 'notification',
      occurredAt: Date.UTC(2026, 10, 22, 9, 0, 0),
      amount: { minor: 3_500, currency: 'CNY' }, // total, not payer_total (a coupon paid 200)
      account: { id: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
      merchant: { id: '1230000109' },
      authMethod: 'unknown',
      device: { id: '013467007045764' },
      reference: { orderId: 'order-20261122-0001', transactionId: '4200002026112217000000000001' }, // out_trade_no, transaction_id
    };
    expect(verified).toEqual({ kind: 'score', event: expected });
    if (verified.kind === 'score') expect(PaymentEvent.parse(verified.event)).toEqual(expected);
  });

  it('maps an agreement deduction (trade_type PAP, 委托代扣) to password_free, with the contract as instrument when given', () => {
    const pap = adapter.verify(raw(notify({ resource: transaction({ trade_type: 'PAP', contract_id: '123124412412423431' }) })));
    expect(pap).toMatchObject({ kind: 'score', event: { authMethod: 'password_free', instrument: { id: '123124412412423431', kind: 'agreement' } } });
    const plain = adapter.verify(raw(notify({ resource: transaction({ trade_type: 'PAP' }) })));
    expect(plain.kind === 'score' && 'instrument' in plain.event).toBe(false);
    expect(plain).toMatchObject({ event: { authMethod: 'password_free' } });
  });

  it.each(['JSAPI', 'NATIVE', 'APP', 'MICROPAY', 'MWEB', 'FACEPAY'])('leaves trade_type %s as authMethod unknown', (tradeType) => {
    expect(adapter.verify(raw(notify({ resource: transaction({ trade_type: tradeType }) })))).toMatchObject({ event: { authMethod: 'unknown' } });
  });

  it('maps a service-provider payment: merchant is sub_mchid, account is sp_openid', () => {
    const { mchid: _mchid, appid: _appid, ...direct } = transaction();
    const partner = {
      ...direct,
      sp_appid: 'wx8888888888888888',
      sp_mchid: '1230000109',
      sub_appid: 'wxd678efh567hg6999',
      sub_mchid: '1900000109',
      payer: { sp_openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o', sub_openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6s' },
    };
    expect(adapter.verify(raw(notify({ resource: partner })))).toMatchObject({
      event: { merchant: { id: '1900000109' }, account: { id: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' } },
    });
    // sub_mchid wins over any mchid too: the sub-merchant is the one that sold.
    expect(adapter.verify(raw(notify({ resource: { ...partner, mchid: '1230000109' } })))).toMatchObject({ event: { merchant: { id: '1900000109' } } });
    const subOnly = { ...partner, payer: { sub_openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6s' } };
    expect(adapter.verify(raw(notify({ resource: subOnly })))).toMatchObject({ event: { account: { id: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6s' } } });
  });

  it('takes the payer IP from scene_info.payer_client_ip, and drops a malformed one instead of refusing', () => {
    const withIp = adapter.verify(raw(notify({ resource: transaction({ scene_info: { device_id: 'd1', payer_client_ip: '2001:db8::10' } }) })));
    expect(withIp).toMatchObject({ event: { ip: '2001:db8::10', device: { id: 'd1' } } });
    const bad = adapter.verify(raw(notify({ resource: transaction({ scene_info: { payer_client_ip: 'localhost' } }) })));
    expect(bad.kind === 'score' && ('ip' in bad.event || 'device' in bad.event)).toBe(false);
  });

  it('uses the envelope create_time when success_time is absent', () => {
    const { success_time: _omit, ...tx } = transaction();
    expect(adapter.verify(raw(notify({ resource: tx })))).toMatchObject({ event: { occurredAt: Date.UTC(2026, 10, 22, 9, 0, 1) } });
  });

  it.each([
    [{ amount: { total: 35.5, currency: 'CNY' } }, 'transaction.amount.total'],
    [{ amount: { total: '3500', currency: 'CNY' } }, 'transaction.amount.total'],
    [{ amount: { total: 3500, currency: 'cny' } }, 'transaction.amount.currency'],
    [{ payer: {} }, 'transaction.payer'],
    [{ mchid: undefined }, 'transaction.mchid'],
    [{ trade_state: 'REFUND' }, 'transaction.trade_state'],
    [{ success_time: '2026-11-22 17:00:00' }, 'transaction.success_time'],
    [{ transaction_id: '' }, 'transaction.transaction_id'],
    [{ success_time: '2026-11-22T17:10:00+08:00' }, 'more than 5 minutes in the future'],
  ])('refuses %j with 422 naming %s', (change, path) => {
    const error = refusal(raw(notify({ resource: transaction(change) })), SchemaError);
    expect(error.message).toContain(path);
    expect(error.status).toBe(422);
  });
});

describe('other notifications', () => {
  const refund = {
    mchid: '1230000109',
    transaction_id: '4200002026112217000000000001',
    out_trade_no: 'order-20261122-0001',
    refund_id: '50200207182018070300011301001',
    out_refund_no: 'refund-0001',
    refund_status: 'SUCCESS',
    success_time: '2026-11-22T17:30:00+08:00',
    user_received_account: '招商银行信用卡0403',
    amount: { total: 3_500, refund: 3_500, payer_total: 3_500, payer_refund: 3_500 },
  };

  it('acknowledges a verified REFUND.SUCCESS without scoring it', () => {
    expect(adapter.verify(raw(notify({ eventType: 'REFUND.SUCCESS', resource: refund })))).toEqual({ kind: 'acknowledge', reason: 'REFUND.SUCCESS (refund) is not scored' });
  });

  it('still verifies and decrypts what it only acknowledges', () => {
    refusal(raw(notify({ eventType: 'REFUND.SUCCESS', resource: refund, privateKeyPem: OTHER.privatePem })), SignatureError);
    const other = createWechatpayAdapter({ publicKeys: { [SERIAL]: WECHAT.publicPem }, apiV3Key: randomBytes(16).toString('hex') });
    refusal(raw(notify({ eventType: 'REFUND.SUCCESS', resource: refund })), SignatureError, other);
  });

  it('acknowledges an ENTRUST.SIGN with a non-RFC-3339 create_time', () => {
    const signed = notify({ eventType: 'ENTRUST.SIGN', resource: { contract_id: '123124412412423431', contract_state: 'SIGNED' }, createTime: '20261122170000' });
    expect(adapter.verify(raw(signed))).toMatchObject({ kind: 'acknowledge' });
  });

  it('acknowledges TRANSACTION.SUCCESS carrying another original_type (profit sharing), and combined payments', () => {
    expect(adapter.verify(raw(notify({ originalType: 'profitsharing', resource: { amount: 1 } })))).toMatchObject({ kind: 'acknowledge' });
    const combined = { combine_appid: 'wxd678efh567hg6787', combine_mchid: '1230000109', combine_out_trade_no: 'c1', sub_orders: [], combine_payer_info: { openid: 'o1' } };
    expect(adapter.verify(raw(notify({ resource: combined })))).toEqual({ kind: 'acknowledge', reason: 'combined payment (combine_mchid) is not scored' });
  });
});

describe('whose payment, and how old (WECHATPAY_MCHIDS, RISKHOOK_MAX_NOTIFICATION_AGE_HOURS)', () => {
  const HOUR = 3_600_000;
  const ours = (mchids: string[], maxAgeMs?: number) =>
    createWechatpayAdapter({ publicKeys: { [SERIAL]: WECHAT.publicPem }, apiV3Key: APIV3, mchids, ...(maxAgeMs !== undefined && { maxAgeMs }) });

  it('scores a payment to one of the configured merchants; refuses another merchant\'s (422 naming the field)', () => {
    expect(ours(['1900000001', '1230000109']).verify(raw(notify())).kind).toBe('score');
    const other = refusal(raw(notify()), SchemaError, ours(['1900000001']));
    expect(other.message).toBe('transaction.mchid: not one of WECHATPAY_MCHIDS (a notification for another merchant)');
  });

  it('a service provider\'s notification is checked on sp_mchid (the sub-merchant is whoever it serves)', () => {
    const { mchid: _direct, ...rest } = transaction();
    const partner = notify({ resource: { ...rest, sp_mchid: '1900000109', sub_mchid: '1230000109', sp_appid: 'wx8888888888888888' } });
    expect(ours(['1900000109']).verify(raw(partner))).toMatchObject({ kind: 'score', event: { merchant: { id: '1230000109' } } });
    expect(refusal(raw(partner), SchemaError, ours(['1230000109'])).message).toMatch(/^transaction\.sp_mchid: not one of WECHATPAY_MCHIDS/);
  });

  it('repro: a success_time beyond the limit (48 h by default) is acknowledged with the reason, not scored; the mchid is checked first', () => {
    const paid = Date.parse('2026-11-22T17:00:00+08:00');
    const old = (hours: number) => notify({ timestampSeconds: Math.floor((paid + hours * HOUR) / 1000) });
    expect(ours(['1230000109']).verify(raw(old(48), {}, paid + 48 * HOUR)).kind).toBe('score');
    expect(ours(['1230000109']).verify(raw(old(49), {}, paid + 49 * HOUR))).toEqual({
      kind: 'acknowledge',
      reason: expect.stringMatching(/^stale: success_time is 49 h old, beyond the 48 h limit/),
    });
    // 398 days on (re-signed with a fresh header timestamp: an old header timestamp is refused 401 anyway).
    expect(ours(['1230000109']).verify(raw(old(398 * 24), {}, paid + 398 * 24 * HOUR)).kind).toBe('acknowledge');
    expect(refusal(raw(old(49), {}, paid + 49 * HOUR), SchemaError, ours(['1900000001'])).message).toMatch(/^transaction\.mchid/);
    expect(ours(['1230000109'], 72 * HOUR).verify(raw(old(49), {}, paid + 49 * HOUR)).kind).toBe('score');
    expect(refusal(raw(notify(), {}, paid + 49 * HOUR), SignatureError, ours(['1230000109'])).message).toBe('Wechatpay-Timestamp is too old (5 minutes or more)');
  });
});

describe('responses', () => {
  const decision: Decision = { eventId: 'EV-1', decision: 'hold', score: 100, reasons: [], features: {}, policyVersion: 'v', degraded: false };

  it('answers every verified notification 204 with no body, whatever the decision', () => {
    for (const response of [adapter.respond(decision), adapter.respond({ ...decision, decision: 'approve' }), adapter.acknowledge('REFUND.SUCCESS')]) {
      expect(response).toEqual({ statusCode: 204, headers: {}, body: '' });
    }
  });

  it('answers refusals with WeChat failure JSON {"code":"FAIL","message"} and the error status, echoing no header text', () => {
    const error = refusal(raw(notify(), { 'wechatpay-serial': 'PUB_KEY_ID_<script>X' }), SignatureError);
    const response = adapter.respondError!(error)!;
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(response.body)).toEqual({ code: 'FAIL', message: 'unknown Wechatpay-Serial (not in WECHATPAY_PUBLIC_KEYS)' });
    const type = adapter.respondError!(refusal(raw(notify(), { 'wechatpay-signature-type': 'HMAC-<b>echo</b>' }), SignatureError))!;
    expect(type.body).not.toContain('echo');
    expect(JSON.parse(type.body).message).toBe('Wechatpay-Signature-Type is not WECHATPAY2-SHA256-RSA2048');
  });

  it('cuts the message to the 64 characters WeChat allows', () => {
    const response = adapter.respondError!(new SchemaError(`transaction.amount.total: ${'x'.repeat(100)}`))!;
    const body = JSON.parse(response.body);
    expect(body.code).toBe('FAIL');
    expect(body.message).toHaveLength(64);
    expect(body.message.startsWith('transaction.amount.total: ')).toBe(true);
  });

  it('is the shape lib/webhook gives errors raised before verification (e.g. 413)', () => {
    const response = errorResponse(new BodyTooLargeError('body is larger than 65536 bytes'), 'wechatpay', adapter);
    expect(response.statusCode).toBe(413);
    expect(JSON.parse(response.body)).toEqual({ code: 'FAIL', message: 'body is larger than 65536 bytes' });
  });
});

describe('configuration', () => {
  it('refuses an APIv3 key that is not 32 bytes, and a key that is not an RSA public key', () => {
    expect(() => createWechatpayAdapter({ publicKeys: { [SERIAL]: WECHAT.publicPem }, apiV3Key: 'short' })).toThrow(ConfigError);
    expect(() => createWechatpayAdapter({ publicKeys: { [SERIAL]: 'not a key' }, apiV3Key: APIV3 })).toThrow(ConfigError);
    expect(() => createWechatpayAdapter({ publicKeys: {}, apiV3Key: APIV3 })).toThrow(ConfigError);
  });
});

describe('examples for npm run send', () => {
  const local = createWechatpayAdapter({ publicKeys: { [LOCAL_WECHATPAY_SERIAL]: LOCAL_WECHATPAY_PUBLIC_KEY }, apiV3Key: LOCAL_WECHATPAY_APIV3_KEY });
  const payment = JSON.parse(readFileSync('examples/wechatpay-payment.json', 'utf8'));
  const burst = JSON.parse(readFileSync('examples/wechatpay-burst.json', 'utf8')) as Record<string, unknown>[];
  // An hour ago in whole seconds: the payment time, before the request (signed on the wall clock).
  const now = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

  it('signs the payment example with the local-only key: fresh ids, success_time from fresh.now, signature timestamp from the wall clock', () => {
    const before = Math.floor(Date.now() / 1000);
    const signed = wechatpayExample(payment, { now, suffix: 'a1b2c3d4', keepTime: false });
    expect(signed.path).toBe('/webhooks/wechatpay');
    const timestamp = Number(signed.headers['Wechatpay-Timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    const request = { ...raw(signed), receivedAt: Date.now() };
    const verified = local.verify(request);
    expect(verified).toMatchObject({ kind: 'score', event: { id: `${payment.id}-a1b2c3d4`, occurredAt: now, amount: { minor: 3_500, currency: 'CNY' }, authMethod: 'unknown' } });
    const { resource } = envelopeOf(signed);
    const tx = JSON.parse(decryptWechatpayResource(resource, LOCAL_WECHATPAY_APIV3_KEY).toString('utf8'));
    expect(tx).toMatchObject({ transaction_id: `${payment.transaction.transaction_id}-a1b2c3d4`, out_trade_no: `${payment.transaction.out_trade_no}-a1b2c3d4`, success_time: rfc3339Beijing(now) });
    expect(Date.parse(tx.success_time)).toBe(now);
  });

  it('keeps the ids without a suffix (a re-send is a retry)', () => {
    const signed = wechatpayExample(payment, { now, suffix: undefined, keepTime: true });
    expect(local.verify({ ...raw(signed), receivedAt: Date.now() })).toMatchObject({ event: { id: payment.id } });
  });

  it('the burst example is one openid paying password-free (PAP), minutes apart, over the 2,000 CNY daily quota', () => {
    const events = burst.map((item, n) => {
      const verified = local.verify({ ...raw(wechatpayExample(item, { now: now + n * 180_000, suffix: 'x', keepTime: false })), receivedAt: Date.now() });
      if (verified.kind !== 'score') throw new Error('expected a scored event');
      return verified.event;
    });
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(new Set(events.map((e) => e.account.id)).size).toBe(1);
    expect(events.every((e) => e.authMethod === 'password_free')).toBe(true);
    expect(events.reduce((sum, e) => sum + e.amount.minor, 0)).toBeGreaterThan(200_000);
    const times = burst.map((item) => Date.parse(String(item.at)));
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(10 * 60_000);
  });

  it('writes times as WeChat does (Beijing time, +08:00)', () => {
    expect(rfc3339Beijing(Date.UTC(2026, 10, 22, 16, 30, 5, 900))).toBe('2026-11-23T00:30:05+08:00');
  });

  it('uses the key file that matches the local public key', () => {
    const key = createPrivateKey(readFileSync('examples/keys/wechatpay-local-private.pem'));
    const headers = signWechatpayBody(key, LOCAL_WECHATPAY_SERIAL, '{}', { timestampSeconds: TS });
    refusal({ method: 'POST', headers: raw({ path: '', headers, body: '{}' }).headers, body: Buffer.from('{}'), receivedAt: RECEIVED }, SchemaError, local);
  });
});
