/**
 * The Alipay adapter on raw bytes: a real notification from Alipay (verified unchanged, refused after
 * any signed byte changes), notifies signed by our test signer in UTF-8 and GBK, the official
 * alipay-sdk as a second opinion in both directions, amounts, times and the mapping of each notify type.
 */
import { type KeyObject, createPublicKey, generateKeyPairSync, verify as rsaVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AlipaySdk } from 'alipay-sdk';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BodyParseError,
  BodyTooLargeError,
  type RiskhookError,
  SchemaError,
  SignatureError,
  StoreUnavailableError,
} from '../../../lib/errors.js';
import type { Decision } from '../../../lib/events.js';
import { rawRequest } from '../../../lib/http.js';
import { LOCAL_ALIPAY_PUBLIC_KEY } from '../../../lib/local-defaults.js';
import {
  ALIPAY_WEBHOOK_PATH,
  alipayExample,
  createAlipayAdapter,
  formatBeijingTime,
  parseBeijingTime,
  signAlipayNotify,
  verifyAlipayNotify,
  yuanToFen,
} from '../../../lib/providers/alipay.js';
import { MAX_FORM_SEGMENTS, encodeForm, encodeText, parseForm, signContent } from '../../../lib/providers/alipay-form.js';
import { apiGatewayEvent } from '../../../lib/providers/generic-sender.js';
import { rsaPublicKey, splitPublicKeys } from '../../../lib/providers/keys.js';
import type { RawRequest, Verified } from '../../../lib/providers/types.js';
import { REAL_KEY_BASE64, REAL_NOTIFY } from '../../support/alipay-real-notify.js';

const REAL_KEY = splitPublicKeys(REAL_KEY_BASE64)[0]!;
const REAL_RECEIVED = Date.UTC(2025, 9, 17, 7, 56, 33); // one second after its notify_time (15:56:32 Beijing)

const MIN = 60_000;
const RECEIVED = Date.UTC(2026, 10, 22, 3, 30, 0); // 11:30 Beijing

let alipay: { privateKey: string; publicKey: string };
let other: { privateKey: string; publicKey: string };
const pair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
beforeAll(() => {
  alipay = pair();
  other = pair();
});

const request = (body: Buffer | string, receivedAt = RECEIVED): RawRequest => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
  receivedAt,
});
const adapterFor = (...keys: string[]) => createAlipayAdapter(keys);
const keyObjects = (...keys: string[]): KeyObject[] => keys.map(rsaPublicKey);

/** The error verify throws (fails the test when it throws none). */
function failure(run: () => unknown): RiskhookError {
  try {
    run();
  } catch (error) {
    return error as RiskhookError;
  }
  throw new Error('expected an error, got none');
}

/** A paid trade notify, as Alipay would send it for a UTF-8 app. */
const payment = (overrides: Record<string, string> = {}): Record<string, string> => ({
  notify_type: 'trade_status_sync',
  notify_id: '2026112201222110000000000000000001',
  notify_time: '2026-11-22 11:20:05',
  app_id: '2021000000000001',
  version: '1.0',
  trade_no: '2026112222001400000000000001',
  out_trade_no: 'ORDER0001',
  trade_status: 'TRADE_SUCCESS',
  total_amount: '1999.00',
  subject: 'App Store 充值',
  buyer_id: '2088000000000777',
  buyer_logon_id: '159****0777',
  seller_id: '2088000000009002',
  gmt_create: '2026-11-22 11:19:58',
  gmt_payment: '2026-11-22 11:20:00',
  ...overrides,
});

const signed = (fields: Record<string, string>, charset: 'utf-8' | 'gbk' = 'utf-8') => signAlipayNotify(alipay.privateKey, fields, charset);
const verified = (fields: Record<string, string>, receivedAt = RECEIVED): Verified =>
  adapterFor(alipay.publicKey).verify(request(signed(fields), receivedAt));

describe('the real notification (Alipay, 2025-10)', () => {
  const adapter = () => adapterFor(REAL_KEY);

  it('verifies unchanged and maps to a PaymentEvent', () => {
    expect(adapter().verify(request(REAL_NOTIFY, REAL_RECEIVED))).toEqual({
      kind: 'score',
      event: {
        id: '2025101701222153119086991451124623',
        provider: 'alipay',
        kind: 'notification',
        occurredAt: Date.UTC(2025, 9, 17, 7, 31, 18), // gmt_payment 15:31:18 Beijing
        amount: { minor: 2, currency: 'CNY' },
        account: { id: '099luGU2ef8yeC95sroZ9WGyuuGqL7qD-VLY8B1mtPqj4w9' },
        merchant: { id: '2088070256235011' },
        authMethod: 'unknown',
        reference: { orderId: '176068626732100521009', transactionId: '2025101722001486991458220176' }, // out_trade_no, trade_no
      },
    });
  });

  it('decodes each value exactly once: + is a space, %3D stays "=" and is not decoded again', () => {
    const notify = verifyAlipayNotify(Buffer.from(REAL_NOTIFY), keyObjects(REAL_KEY));
    expect(notify.encoding).toBe('utf-8');
    expect(notify.text('subject')).toBe('客服: 400–088–5739');
    expect(notify.text('passback_params')).toBe('tpdp_id=17');
    expect(notify.text('gmt_payment')).toBe('2025-10-17 15:31:18');
    expect(notify.text('fund_bill_list')).toBe('[{"amount":"0.02","fundChannel":"COUPON"}]');
    expect(notify.text('buyer_logon_id')).toBe('999***@sina.com');
  });

  it('still verifies re-encoded by our encoder, in another field order (only the decoded bytes are signed)', () => {
    const fields = [...parseForm(Buffer.from(REAL_NOTIFY))].reverse();
    const body = encodeForm(fields);
    expect(body.toString()).not.toBe(REAL_NOTIFY);
    expect(adapter().verify(request(body, REAL_RECEIVED)).kind).toBe('score');
  });

  it('fails after any byte of any signed value changes (every byte of every field)', () => {
    const fields = parseForm(Buffer.from(REAL_NOTIFY));
    const keys = [...fields.keys()].filter((k) => k !== 'sign' && k !== 'sign_type');
    expect(keys).toHaveLength(25);
    const codes = new Map<string, number>();
    let flips = 0;
    for (const key of keys) {
      const value = fields.get(key)!;
      for (let i = 0; i < value.length; i++) {
        const changed = new Map(fields);
        const bytes = Buffer.from(value);
        bytes[i]! ^= 0x01;
        changed.set(key, bytes);
        const error = failure(() => adapter().verify(request(encodeForm(changed), REAL_RECEIVED)));
        codes.set(error.constructor.name, (codes.get(error.constructor.name) ?? 0) + 1);
        flips++;
      }
    }
    const signedBytes = [...new URLSearchParams(REAL_NOTIFY)].filter(([k]) => !k.startsWith('sign')).reduce((n, [, v]) => n + Buffer.byteLength(v), 0);
    expect(flips).toBe(signedBytes);
    expect(flips).toBe(423);
    expect(Object.fromEntries(codes)).toEqual({ SignatureError: flips });
  });

  it('fails when a signed field is dropped, added or changed on the wire', () => {
    const refuse = (body: string) => failure(() => adapter().verify(request(body, REAL_RECEIVED)));
    expect(refuse(REAL_NOTIFY.replace('total_amount=0.02', 'total_amount=0.03'))).toBeInstanceOf(SignatureError);
    expect(refuse(REAL_NOTIFY.replace('&point_amount=0.00', ''))).toBeInstanceOf(SignatureError);
    expect(refuse(`${REAL_NOTIFY}&extra=1`)).toBeInstanceOf(SignatureError);
    // Double-decoding would turn tpdp_id%3D17 into tpdp_id=17 on the wire: a different signed value.
    expect(refuse(REAL_NOTIFY.replace('tpdp_id%3D17', 'tpdp_id%253D17'))).toBeInstanceOf(SignatureError);
    // A + left undecoded (decodeURIComponent instead of form decoding) changes the signed dates.
    const undecodedPlus = refuse(REAL_NOTIFY.replaceAll('+', '%2B')); // sign holds no literal '+': only the spaces change
    expect(undecodedPlus).toBeInstanceOf(SignatureError);
    expect(undecodedPlus.message).toBe('signature does not match any configured Alipay public key');
  });

  it('ignores an added empty field (empty values are not signed)', () => {
    expect(adapter().verify(request(`${REAL_NOTIFY}&body=&refund_fee=`, REAL_RECEIVED)).kind).toBe('score');
  });

  it('refuses sign and sign_type changes', () => {
    const refuse = (body: string) => failure(() => adapter().verify(request(body, REAL_RECEIVED)));
    const rsa1 = refuse(REAL_NOTIFY.replace('sign_type=RSA2', 'sign_type=RSA'));
    expect(rsa1).toBeInstanceOf(SignatureError);
    expect(rsa1.message).toContain('sign_type: expected RSA2');
    expect(refuse(REAL_NOTIFY.replace('&sign_type=RSA2', ''))).toBeInstanceOf(SignatureError);
    expect(refuse(REAL_NOTIFY.replace(/&sign=[^&]*/, ''))).toBeInstanceOf(SignatureError);
    expect(refuse(REAL_NOTIFY.replace(/sign=[^&]*/, 'sign='))).toBeInstanceOf(SignatureError);
    // A '+' sent unescaped in sign arrives as a space: refused as not base64, not repaired.
    const plus = refuse(REAL_NOTIFY.replace('n%2Bl2', 'n+l2'));
    expect(plus).toBeInstanceOf(SignatureError);
    expect(plus.message).toBe('sign: not base64');
    // Every bit of the signature matters.
    const sign = Buffer.from(parseForm(Buffer.from(REAL_NOTIFY)).get('sign')!.toString(), 'base64');
    for (const at of [0, 1, 100, 255]) {
      const flipped = Buffer.from(sign);
      flipped[at]! ^= 0x80;
      const body = REAL_NOTIFY.replace(/sign=[^&]*/, `sign=${encodeURIComponent(flipped.toString('base64'))}`);
      expect(refuse(body)).toBeInstanceOf(SignatureError);
    }
  });

  it('refuses it under another key, and accepts it when its key is one of several (rotation)', () => {
    expect(failure(() => adapterFor(alipay.publicKey).verify(request(REAL_NOTIFY, REAL_RECEIVED)))).toBeInstanceOf(SignatureError);
    expect(adapterFor(alipay.publicKey, REAL_KEY).verify(request(REAL_NOTIFY, REAL_RECEIVED)).kind).toBe('score');
  });

  it('refuses a duplicated field with 400 before looking at the signature, even an identical copy', () => {
    const duplicate = failure(() => adapter().verify(request(`${REAL_NOTIFY}&total_amount=0.02`, REAL_RECEIVED)));
    expect(duplicate).toBeInstanceOf(BodyParseError);
    expect(duplicate.status).toBe(400);
    expect(duplicate.message).toContain('"total_amount" appears more than once');
    expect(failure(() => adapter().verify(request(`sign_type=RSA&${REAL_NOTIFY}`, REAL_RECEIVED)))).toBeInstanceOf(BodyParseError);
  });

  it('verifies with alipay-sdk checkNotifySignV2 too, and the SDK refuses a tampered copy', () => {
    const sdk = new AlipaySdk({ appId: '2021005199606982', privateKey: alipay.privateKey, keyType: 'PKCS8', alipayPublicKey: REAL_KEY_BASE64 });
    const fields = (body: string) => Object.fromEntries(new URLSearchParams(body));
    expect(sdk.checkNotifySignV2(fields(REAL_NOTIFY))).toBe(true);
    expect(sdk.checkNotifySignV2(fields(REAL_NOTIFY.replace('total_amount=0.02', 'total_amount=0.03')))).toBe(false);
  });
});

describe('notifies signed by our signer', () => {
  it('writes a form body as Alipay does: + for spaces, %XX for the rest, sign_type and sign last', () => {
    const body = signed({ notify_id: 'n1', subject: '100% off + 买一送一', passback_params: 'a%3Db' }).toString('latin1');
    expect(body).toMatch(/^charset=utf-8&notify_id=n1&subject=100%25\+off\+%2B\+%E4%B9%B0%E4%B8%80%E9%80%81%E4%B8%80&/);
    expect(body).toContain('&passback_params=a%253Db&sign_type=RSA2&sign=');
    expect(body).not.toMatch(/[^\x21-\x7e]/);
  });

  it('round-trips literal %, + and %3D in values exactly', () => {
    const values = { subject: '100% off + free (50%+) & more', passback_params: 'order_ref=42', body: 'already%3Dencoded', buyer_logon_id: 'A+B' };
    const notify = verifyAlipayNotify(signed(payment(values)), keyObjects(alipay.publicKey));
    for (const [key, value] of Object.entries(values)) expect(notify.text(key)).toBe(value);
  });

  it('skips empty values when signing and verifying, and still writes them to the body', () => {
    const body = signed(payment({ buyer_logon_id: '', body: '' }));
    expect(body.toString()).toContain('buyer_logon_id=&');
    expect(verified(payment({ buyer_logon_id: '', body: '' })).kind).toBe('score');
    expect(signContent(parseForm(body)).toString('utf8')).not.toContain('buyer_logon_id');
  });

  it('verifies a GBK notify on its bytes and decodes it with its signed charset', () => {
    const body = signed(payment({ subject: '测试商品：会员月卡', body: '中文 body' }), 'gbk');
    expect(body.toString('latin1')).toContain('subject=%B2%E2%CA%D4%C9%CC%C6%B7%A3%BA%BB%E1%D4%B1%D4%C2%BF%A8');
    expect(body.toString('latin1')).toContain('charset=gbk');
    const notify = verifyAlipayNotify(body, keyObjects(alipay.publicKey));
    expect(notify.encoding).toBe('gbk');
    expect(notify.text('subject')).toBe('测试商品：会员月卡');
    expect(notify.text('body')).toBe('中文 body');
    const result = adapterFor(alipay.publicKey).verify(request(body));
    expect(result).toMatchObject({ kind: 'score', event: { amount: { minor: 199_900, currency: 'CNY' }, account: { id: '2088000000000777' } } });
  });

  it('a GBK notify fails after one GBK byte changes', () => {
    const body = signed(payment({ subject: '测试商品' }), 'gbk').toString('latin1');
    const changed = body.replace('subject=%B2%E2', 'subject=%B2%E3');
    expect(failure(() => adapterFor(alipay.publicKey).verify(request(Buffer.from(changed, 'latin1'))))).toBeInstanceOf(SignatureError);
  });

  it('a wrong charset claim: the signature holds (bytes), the field that is not valid in it is a 422 naming it, the rest maps', () => {
    // GBK bytes under a signed charset=utf-8 claim.
    const body = signed(payment({ charset: 'utf-8', subject: '测试商品' }), 'gbk');
    const notify = verifyAlipayNotify(body, keyObjects(alipay.publicKey));
    const error = failure(() => notify.text('subject'));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message).toMatch(/^subject: not valid utf-8 text/);
    // riskhook never reads subject: the payment is scored all the same.
    expect(adapterFor(alipay.publicKey).verify(request(body)).kind).toBe('score');
  });

  it('a wrong charset claim the other way decodes as that charset (mojibake): the signed claim wins', () => {
    const body = signed(payment({ charset: 'GBK', subject: '测试商品' }), 'utf-8');
    const notify = verifyAlipayNotify(body, keyObjects(alipay.publicKey));
    expect(notify.encoding).toBe('gbk');
    expect(notify.text('subject')).not.toBe('测试商品');
    expect(notify.text('subject')).toBe(new TextDecoder('gbk').decode(Buffer.from('测试商品')));
  });

  it('refuses a charset nobody can decode with 422 once verified', () => {
    const error = failure(() => verified(payment({ charset: 'x-klingon' })));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message).toBe('charset: unknown charset "x-klingon"');
  });

  it('refuses bodies that are not a form: malformed escapes, odd keys', () => {
    const adapter = adapterFor(alipay.publicKey);
    for (const body of ['a=%E', 'a=%ZZ&b=1', 'a%2=1', '%E5%AE=1', 'a b=1']) {
      const error = failure(() => adapter.verify(request(body)));
      expect(error, body).toBeInstanceOf(BodyParseError);
    }
    expect(failure(() => adapter.verify(request('')))).toBeInstanceOf(SignatureError);
  });

  it('verifies a base64 body as API Gateway delivers form posts', () => {
    const event = apiGatewayEvent({ path: ALIPAY_WEBHOOK_PATH, headers: {}, body: signed(payment(), 'gbk') });
    expect(event.isBase64Encoded).toBe(true);
    const raw = rawRequest(event as unknown as APIGatewayProxyEventV2, 65_536, RECEIVED);
    expect(adapterFor(alipay.publicKey).verify(raw).kind).toBe('score');
    const wire = Buffer.from(event.body as string, 'base64').toString('latin1').replace('1999.00', '1.00');
    const tampered = { ...event, body: Buffer.from(wire, 'latin1').toString('base64') };
    const error = failure(() => adapterFor(alipay.publicKey).verify(rawRequest(tampered as unknown as APIGatewayProxyEventV2, 65_536, RECEIVED)));
    expect(error).toBeInstanceOf(SignatureError);
  });

  it('refuses a notify signed with another key', () => {
    const body = signAlipayNotify(other.privateKey, payment());
    expect(failure(() => adapterFor(alipay.publicKey).verify(request(body)))).toBeInstanceOf(SignatureError);
  });

  it('encodes GBK through Node\'s own decoder and refuses characters GBK lacks', () => {
    expect(encodeText('测试 a', 'gbk')).toEqual(Buffer.from([0xb2, 0xe2, 0xca, 0xd4, 0x20, 0x61]));
    expect(() => encodeText('😀', 'gbk')).toThrow(RangeError);
  });
});

describe('alipay-sdk 4.14.0 as a second opinion', () => {
  const sdk = () => new AlipaySdk({ appId: '2021000000000001', privateKey: alipay.privateKey, keyType: 'PKCS8', alipayPublicKey: alipay.publicKey });
  const formFields = (body: Buffer) => Object.fromEntries(new URLSearchParams(body.toString('latin1')));

  it('checkNotifySignV2 accepts the notifies we sign (Chinese, literal % and +, %3D, JSON), and refuses them tampered', () => {
    const fields = payment({
      subject: '会员 100% off + 买一送一',
      passback_params: 'tpdp_id%3D17',
      fund_bill_list: '[{"amount":"1999.00","fundChannel":"ALIPAYACCOUNT"}]',
      agreement_no: '20261122000000007771',
    });
    const body = signed(fields);
    expect(sdk().checkNotifySignV2(formFields(body))).toBe(true);
    expect(sdk().checkNotifySignV2({ ...formFields(body), total_amount: '1999.01' })).toBe(false);
    // And ours agrees on the very same bytes.
    expect(adapterFor(alipay.publicKey).verify(request(body)).kind).toBe('score');
  });

  it('differs where documented: the SDK keeps empty values in its string (Alipay does not) and hashes JS strings as UTF-8 (so no GBK)', () => {
    const withEmpty = signed(payment({ body: '' }));
    expect(sdk().checkNotifySignV2(formFields(withEmpty))).toBe(false);
    expect(adapterFor(alipay.publicKey).verify(request(withEmpty)).kind).toBe('score');
    const gbk = signed(payment({ subject: '测试商品' }), 'gbk');
    const decoded = Object.fromEntries([...parseForm(gbk)].map(([k, v]) => [k, new TextDecoder('gbk').decode(v)]));
    expect(sdk().checkNotifySignV2(decoded)).toBe(false);
    expect(adapterFor(alipay.publicKey).verify(request(gbk)).kind).toBe('score');
  });

  it('what the SDK signs (sdkExecute), our parser and string-to-sign reproduce byte for byte', () => {
    const query = sdk().sdkExecute('alipay.trade.app.pay', {
      notifyUrl: 'https://api.example.com/webhooks/alipay',
      bizContent: { outTradeNo: 'ORDER 0001', totalAmount: '0.01', subject: '会员 100% off + 买一送一', passbackParams: 'a=b&c=%3D' },
    });
    const fields = parseForm(Buffer.from(query, 'latin1'));
    const sign = Buffer.from(fields.get('sign')!.toString(), 'base64');
    const publicKey = createPublicKey(alipay.publicKey);
    // The SDK signs requests rsaCheckV2-style (sign_type inside the string): same parse, only `sign` left out.
    expect(rsaVerify('sha256', signContent(fields, ['sign']), publicKey, sign)).toBe(true);
    expect(JSON.parse(fields.get('biz_content')!.toString('utf8'))).toMatchObject({ subject: '会员 100% off + 买一送一', passback_params: 'a=b&c=%3D' });
    // Notifies are rsaCheckV1 (sign_type left out): that request is not a valid notify, though the lenient SDK takes it.
    expect(failure(() => adapterFor(alipay.publicKey).verify(request(query)))).toBeInstanceOf(SignatureError);
    expect(sdk().checkNotifySignV2(Object.fromEntries(new URLSearchParams(query)))).toBe(true);
  });
});

/** The real notify with the signed field after `key` (in sorted order) merged into `key`'s value: `v1&k2=v2`. */
function mergedIntoPrevious(body: string, key: string): { body: Buffer; next: string } {
  const fields = parseForm(Buffer.from(body));
  const signedKeys = [...fields.keys()].filter((k) => k !== 'sign' && k !== 'sign_type' && fields.get(k)!.length > 0).sort();
  const next = signedKeys[signedKeys.indexOf(key) + 1]!;
  const changed = new Map(fields);
  changed.set(key, Buffer.concat([fields.get(key)!, Buffer.from(`&${next}=`, 'latin1'), fields.get(next)!]));
  changed.delete(next);
  return { body: encodeForm(changed), next };
}

describe('field boundaries: Alipay signs k=v&k=v without delimiting values', () => {
  const adapter = () => adapterFor(REAL_KEY);

  it('repro: notify_time merged into notify_id keeps the signature (alipay-sdk agrees) and is refused 422 naming notify_id', () => {
    const { body } = mergedIntoPrevious(REAL_NOTIFY, 'notify_id');
    const fields = parseForm(body);
    expect(fields.get('notify_id')!.toString()).toBe('2025101701222153119086991451124623&notify_time=2025-10-17 15:56:32');
    expect(fields.has('notify_time')).toBe(false);
    // The same signed bytes: the signature holds, for us and for the official SDK.
    expect(signContent(fields).equals(signContent(parseForm(Buffer.from(REAL_NOTIFY))))).toBe(true);
    const sdk = new AlipaySdk({ appId: '2021005199606982', privateKey: alipay.privateKey, keyType: 'PKCS8', alipayPublicKey: REAL_KEY_BASE64 });
    expect(sdk.checkNotifySignV2(Object.fromEntries([...fields].map(([k, v]) => [k, v.toString('utf8')])))).toBe(true);
    // Before: scored as a second payment with a new id. Now refused, before any age check (received today: still refused).
    for (const receivedAt of [REAL_RECEIVED, RECEIVED]) {
      const error = failure(() => adapter().verify(request(body, receivedAt)));
      expect(error).toBeInstanceOf(SchemaError);
      expect(error.status).toBe(422);
      expect(error.message).toMatch(/^notify_id: holds "&notify_time=", which could hide another signed field/);
    }
  });

  it('refuses every merge of a signed field into the one before it (24 of them), each naming the field', () => {
    const keys = [...parseForm(Buffer.from(REAL_NOTIFY)).keys()].filter((k) => k !== 'sign' && k !== 'sign_type').sort();
    for (const key of keys.slice(0, -1)) {
      const { body, next } = mergedIntoPrevious(REAL_NOTIFY, key);
      const error = failure(() => adapter().verify(request(body, REAL_RECEIVED)));
      expect(error, `${next} into ${key}`).toBeInstanceOf(SchemaError);
      expect(error.message, `${next} into ${key}`).toMatch(new RegExp(`^${key}: `));
    }
    expect(keys).toHaveLength(25);
  });

  it('refuses a value that could be split (any key shape after "&"), wherever it is, even unread fields', () => {
    for (const value of ['a=1&zz=2', 'x&notify_time=2026-11-22 11:20:05', 'x&A.b-C_9=', '&k=']) {
      const error = failure(() => verified(payment({ passback_params: value })));
      expect(error, value).toBeInstanceOf(SchemaError);
      expect(error.message, value).toMatch(/^passback_params: holds "&/);
    }
    // '&' that cannot start a field is fine: followed by a space, or with no '=' after the key.
    for (const value of ['Tom & Jerry=fun', 'a&b', 'R&D', '100% & 50%']) expect(verified(payment({ subject: value })).kind, value).toBe('score');
  });

  it.each([
    ['notify_id', '2025101701222153119086991451124623 '],
    ['notify_id', 'n'.repeat(129)],
    ['trade_no', '2026112222001400000000000001A'],
    ['trade_no', '1'.repeat(65)],
    ['out_trade_no', 'ORDER 1'],
    ['out_trade_no', 'A+B'],
    ['out_trade_no', 'o'.repeat(65)],
    ['buyer_id', '2088000000000777 '],
    ['buyer_id', '208800000000077'],
    ['buyer_id', '1088000000000777'],
    ['seller_id', '20880000000090021'],
    ['buyer_open_id', '099luGU2ef8y eC95'],
    ['buyer_open_id', 'o'.repeat(129)],
    ['app_id', '2021000000000001x'],
    ['total_amount', '1999.001'],
    ['receipt_amount', '-1.00'],
    ['point_amount', '0,00'],
    ['gmt_create', '2026-11-22T11:19:58'],
    ['gmt_create', '2026-02-30 11:19:58'],
    ['notify_time', '1969-12-31 23:59:59'],
    ['invalid_time', '2115-02-01'],
    ['gmt_refund', '2026-11-22 12:00:00.1234'],
  ])('refuses %s %j with a 422 naming it', (key, value) => {
    const error = failure(() => verified(payment({ [key]: value })));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message).toMatch(new RegExp(`^${key}: expected `));
  });

  it('accepts the shapes Alipay writes: documented samples and the real notify', () => {
    const shapes = {
      notify_id: 'ac05099524730693a8b330c5ecf72da9786', // the Open Platform doc sample
      buyer_open_id: '074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5', // the OpenID doc sample
      out_trade_no: '20150320010101001',
      trade_no: '2013112011001004330000121536',
      gmt_close: '2026-11-22 12:00:00',
    };
    expect(verified(payment(shapes))).toMatchObject({ kind: 'score', event: { id: shapes.notify_id, account: { id: shapes.buyer_open_id } } });
    expect(adapter().verify(request(REAL_NOTIFY, REAL_RECEIVED)).kind).toBe('score');
    // A refund notify's gmt_refund carries milliseconds.
    expect(verified(payment({ refund_fee: '1.00', gmt_refund: '2026-11-22 12:00:00.123' })).kind).toBe('acknowledge');
  });
});

describe('app_id: whose notification it is (ALIPAY_APP_IDS)', () => {
  const ours = (...appIds: string[]) => createAlipayAdapter([alipay.publicKey], { appIds });

  it('accepts one of the configured app ids, refuses another app\'s notify or one without app_id (422), before the age check', () => {
    const body = signed(payment());
    expect(ours('2021000000000009', '2021000000000001').verify(request(body)).kind).toBe('score');
    const other = failure(() => ours('2021000000000009').verify(request(body)));
    expect(other).toBeInstanceOf(SchemaError);
    expect(other.message).toBe('app_id: not one of ALIPAY_APP_IDS (a notification for another app)');
    expect(failure(() => ours('2021000000000009').verify(request(body, RECEIVED + 400 * 86_400_000))).message).toMatch(/^app_id: not one of/);
    expect(failure(() => ours('2021000000000001').verify(request(signed(payment({ app_id: '' }))))).message).toBe('app_id: missing');
  });

  it('the real notify is for app 2021005199606982 only', () => {
    const real = (appIds: string[]) => createAlipayAdapter([REAL_KEY], { appIds }).verify(request(REAL_NOTIFY, REAL_RECEIVED));
    expect(real(['2021005199606982']).kind).toBe('score');
    expect(failure(() => real(['2021000000000001']))).toBeInstanceOf(SchemaError);
  });
});

describe('notification age (RISKHOOK_MAX_NOTIFICATION_AGE_HOURS, 48 h by default)', () => {
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;

  it('repro: the real notify received 398 days later is acknowledged with the reason, not scored', () => {
    const today = REAL_RECEIVED + 398 * DAY;
    const result = adapterFor(REAL_KEY).verify(request(REAL_NOTIFY, today));
    expect(result).toEqual({ kind: 'acknowledge', reason: expect.stringMatching(/^stale: notify_time is 9552 h old, beyond the 48 h limit/) });
  });

  it('scores up to the limit and acknowledges beyond it, by notify_time or by gmt_payment', () => {
    const paidAt = Date.UTC(2026, 10, 22, 3, 20, 0);
    expect(verified(payment(), paidAt + 48 * HOUR).kind).toBe('score');
    expect(verified(payment(), paidAt + 48 * HOUR + 1_000)).toEqual({ kind: 'acknowledge', reason: expect.stringMatching(/^stale: gmt_payment is 48 h old/) });
    // Sent (notify_time) within the limit, but for a payment made long before: a TRADE_FINISHED months on.
    const finished = payment({ trade_status: 'TRADE_FINISHED', gmt_payment: '2026-08-01 10:00:00' });
    expect(verified(finished)).toEqual({ kind: 'acknowledge', reason: expect.stringMatching(/^stale: gmt_payment/) });
    // notify_time old, whatever the rest says (another notify type too).
    expect(verified(payment({ notify_type: 'trade_refund', notify_time: '2026-11-19 11:20:05' }))).toMatchObject({ reason: expect.stringMatching(/^stale: notify_time/) });
  });

  it('bindings too, by their own time; the limit is configurable', () => {
    const sign = { notify_type: 'dut_user_sign', notify_id: '2026112200222110000000000000007770', notify_time: '2026-11-22 11:00:03', app_id: '2021000000000001', status: 'NORMAL', alipay_user_id: '2088000000000777', sign_time: '2026-11-19 11:00:00' };
    expect(verified(sign)).toEqual({ kind: 'acknowledge', reason: expect.stringMatching(/^stale: sign_time is 72 h old/) });
    const lenient = createAlipayAdapter([alipay.publicKey], { maxAgeMs: 96 * HOUR });
    expect(lenient.verify(request(signed(sign))).kind).toBe('bind');
    const strict = createAlipayAdapter([alipay.publicKey], { maxAgeMs: HOUR });
    expect(strict.verify(request(signed(payment()))).kind).toBe('score'); // 10 minutes old
    expect(strict.verify(request(signed(payment()), RECEIVED + HOUR)).kind).toBe('acknowledge');
  });
});

describe('form size: work bounded before the signature is looked at', () => {
  it(`refuses a form of more than ${MAX_FORM_SEGMENTS} fields, having decoded no more (a malformed escape after it is never reached)`, () => {
    const pairs = Array.from({ length: 5_000 }, (_, i) => `k${i}=v`);
    pairs[MAX_FORM_SEGMENTS + 50] = 'bad=%ZZ';
    const error = failure(() => parseForm(Buffer.from(pairs.join('&'))));
    expect(error).toBeInstanceOf(BodyParseError);
    expect(error.message).toBe(`form: more than ${MAX_FORM_SEGMENTS} fields (a notify has about 30)`);
    expect(parseForm(Buffer.from(pairs.slice(0, MAX_FORM_SEGMENTS).join('&'))).size).toBe(MAX_FORM_SEGMENTS);
    // Empty segments count: 64 KiB of '&' is refused as soon.
    expect(failure(() => parseForm(Buffer.alloc(65_536, '&'))).message).toMatch(/^form: more than/);
  });

  it('an unsigned 64 KiB form is a 400 through the adapter, not a scan of 8,000 fields', () => {
    const body = Array.from({ length: 8_000 }, (_, i) => `a${i}=1`).join('&').slice(0, 65_536);
    const error = failure(() => adapterFor(alipay.publicKey).verify(request(body)));
    expect(error).toBeInstanceOf(BodyParseError);
    expect(error.status).toBe(400);
  });
});

describe('amounts: yuan strings to integer fen, exactly', () => {
  it.each([
    ['20', 2_000],
    ['20.00', 2_000],
    ['20.5', 2_050],
    ['0.01', 1],
    ['0', 0],
    ['1999.00', 199_900],
    ['007.10', 710],
    ['90071992547409.91', Number.MAX_SAFE_INTEGER],
  ])('%s -> %i fen', (text, fen) => {
    expect(yuanToFen(text)).toBe(fen);
  });

  const invalid = ['-1.00', '1.001', '1e3', '1E2', '1.', '.5', '', ' 1.00', '1.00 ', '1,999.00', '+1', '0x10', '１.00', 'NaN', 'Infinity'];
  it.each([...invalid, '90071992547409.92', '1'.repeat(40)])('%j is a SchemaError naming the field', (text) => {
    const error = failure(() => yuanToFen(text, 'total_amount'));
    expect(error).toBeInstanceOf(SchemaError);
    expect(error.message).toMatch(/^total_amount: /);
  });

  it('a bad or missing amount after a valid signature is a 422 naming total_amount', () => {
    const bad = failure(() => verified(payment({ total_amount: '19.999' })));
    expect(bad).toBeInstanceOf(SchemaError);
    expect(bad.status).toBe(422);
    expect(bad.message).toMatch(/^total_amount: expected an amount in yuan/);
    const missing = failure(() => verified(payment({ total_amount: '' })));
    expect(missing.message).toBe('total_amount: missing');
  });
});

describe('Beijing time', () => {
  it('parses yyyy-MM-dd HH:mm:ss as UTC+8 and formats back', () => {
    expect(parseBeijingTime('2026-11-22 08:00:00')).toBe(Date.UTC(2026, 10, 22, 0, 0, 0));
    expect(parseBeijingTime('2026-01-01 07:59:59')).toBe(Date.UTC(2025, 11, 31, 23, 59, 59));
    expect(formatBeijingTime(Date.UTC(2025, 11, 31, 23, 59, 59, 999))).toBe('2026-01-01 07:59:59');
  });

  it.each(['2026-02-30 10:00:00', '2026-11-22 24:00:00', '2026-11-22 10:60:00', '2026-11-22T10:00:00', '2026-11-22 10:00', '22/11/2026 10:00:00'])(
    '%j is malformed',
    (text) => {
      expect(parseBeijingTime(text)).toBeUndefined();
    },
  );
});

describe('mapping trade notifies', () => {
  it('a paid trade: notify_id, fen, CNY, buyer, seller, gmt_payment in Beijing time', () => {
    expect(verified(payment())).toEqual({
      kind: 'score',
      event: {
        id: '2026112201222110000000000000000001',
        provider: 'alipay',
        kind: 'notification',
        occurredAt: Date.UTC(2026, 10, 22, 3, 20, 0),
        amount: { minor: 199_900, currency: 'CNY' },
        account: { id: '2088000000000777' },
        merchant: { id: '2088000000009002' },
        authMethod: 'unknown',
        reference: { orderId: 'ORDER0001', transactionId: '2026112222001400000000000001' },
      },
    });
  });

  it('a reference field too long to use (fuzz seed 269659232) is refused by the field formats before mapping, naming it', () => {
    // The strict formats (out_trade_no: up to 64 of [A-Za-z0-9_-]) run right after the signature, so
    // every reference that reaches the mapping fits the decision's reference.
    expect(() => verified(payment({ out_trade_no: 'O'.repeat(300) }))).toThrow(/out_trade_no: expected up to 64/);
    expect(verified(payment({ out_trade_no: 'O'.repeat(64) }))).toMatchObject({ kind: 'score', event: { reference: { orderId: 'O'.repeat(64) } } });
  });

  it('TRADE_FINISHED is a payment too; other statuses and notify types are acknowledged unscored', () => {
    expect(verified(payment({ trade_status: 'TRADE_FINISHED' })).kind).toBe('score');
    expect(verified(payment({ trade_status: 'WAIT_BUYER_PAY' }))).toEqual({
      kind: 'acknowledge',
      reason: 'trade_status "WAIT_BUYER_PAY" is not a payment',
    });
    expect(verified(payment({ trade_status: 'TRADE_CLOSED' })).kind).toBe('acknowledge');
    expect(verified(payment({ notify_type: 'open_app_auth_notify' }))).toEqual({
      kind: 'acknowledge',
      reason: 'notify_type "open_app_auth_notify" is not scored',
    });
  });

  it('a partial refund (TRADE_SUCCESS again, with the refund) and a foreign currency are acknowledged, not counted', () => {
    expect(verified(payment({ refund_fee: '100.00', gmt_refund: '2026-11-22 12:00:00.123', out_biz_no: 'R1' }))).toEqual({
      kind: 'acknowledge',
      reason: 'refund notification',
    });
    expect(verified(payment({ refund_fee: '0.00' })).kind).toBe('score');
    expect(verified(payment({ trans_currency: 'USD' })).kind).toBe('acknowledge');
    expect(verified(payment({ trans_currency: 'CNY' })).kind).toBe('score');
  });

  it('prefers buyer_open_id to buyer_id; a missing buyer or seller is a 422 naming the field', () => {
    expect(verified(payment({ buyer_open_id: '099abc' }))).toMatchObject({ event: { account: { id: '099abc' } } });
    const noBuyer = failure(() => verified(payment({ buyer_id: '' })));
    expect(noBuyer).toBeInstanceOf(SchemaError);
    expect(noBuyer.message).toBe('buyer_open_id or buyer_id: missing');
    expect(failure(() => verified(payment({ seller_id: '' }))).message).toBe('seller_id: missing');
    expect(failure(() => verified(payment({ notify_id: '' }))).message).toBe('notify_id: missing');
    expect(failure(() => verified(payment({ buyer_id: 'x'.repeat(257) }))).message).toBe('buyer_id: expected 2088 followed by 12 digits');
  });

  it('falls back to notify_time without gmt_payment; a malformed time is a 422; a future time counts as now', () => {
    expect(verified(payment({ gmt_payment: '' }))).toMatchObject({ event: { occurredAt: Date.UTC(2026, 10, 22, 3, 20, 5) } });
    const bad = failure(() => verified(payment({ gmt_payment: '2026-11-22T11:20:00+08:00' })));
    expect(bad).toBeInstanceOf(SchemaError);
    expect(bad.message).toMatch(/^gmt_payment: expected yyyy-MM-dd HH:mm:ss \(Beijing time\)/);
    const beforePayment = Date.UTC(2026, 10, 22, 3, 10, 0); // our clock 10 minutes behind Alipay's gmt_payment
    expect(verified(payment(), beforePayment)).toMatchObject({ event: { occurredAt: beforePayment } });
  });

  it('authMethod: password_free for an agreement debit (agreement_no, or a withholding product_code), else unknown', () => {
    expect(verified(payment({ agreement_no: '20261122000000007771' }))).toMatchObject({
      event: { authMethod: 'password_free', instrument: { id: '20261122000000007771', kind: 'agreement' } },
    });
    for (const product_code of ['GENERAL_WITHHOLDING', 'CYCLE_PAY_AUTH', 'general_withholding', 'GENERAL_WITHHOLDING_P']) {
      const result = verified(payment({ product_code }));
      expect(result, product_code).toMatchObject({ event: { authMethod: 'password_free' } });
      expect(result.kind === 'score' && result.event.instrument).toBe(undefined);
    }
    for (const product_code of ['FAST_INSTANT_TRADE_PAY', 'QUICK_MSECURITY_PAY', 'GENERAL_WITHHOLDING_X']) {
      expect(verified(payment({ product_code })), product_code).toMatchObject({ event: { authMethod: 'unknown' } });
    }
  });
});

describe('mapping agreement notifies', () => {
  const sign = (overrides: Record<string, string> = {}): Record<string, string> => ({
    notify_type: 'dut_user_sign',
    notify_id: '2026112200222110000000000000007770',
    notify_time: '2026-11-22 11:00:03',
    app_id: '2021000000000001',
    version: '1.0',
    status: 'NORMAL',
    agreement_no: '20261122000000007771',
    external_agreement_no: 'SIGN0001',
    external_logon_id: 'appleid:victim@example.com',
    alipay_user_id: '2088000000000777',
    alipay_logon_id: '159****0777',
    personal_product_code: 'GENERAL_WITHHOLDING_P',
    sign_scene: 'INDUSTRY|DIGITAL_MEDIA',
    sign_time: '2026-11-22 11:00:00',
    valid_time: '2026-11-22 11:00:00',
    invalid_time: '2115-02-01 00:00:00',
    ...overrides,
  });

  it('dut_user_sign NORMAL binds the account, the agreement and the linked account at sign_time', () => {
    expect(verified(sign())).toEqual({
      kind: 'bind',
      binding: {
        id: '2026112200222110000000000000007770',
        provider: 'alipay',
        occurredAt: Date.UTC(2026, 10, 22, 3, 0, 0),
        state: 'bound',
        account: { id: '2088000000000777' },
        linkedAccount: { id: 'appleid:victim@example.com', kind: 'other' },
        instrument: { id: '20261122000000007771', kind: 'agreement' },
      },
    });
  });

  it('dut_user_unsign UNSIGN unbinds at unsign_time; the OpenID is preferred; no external_logon_id, no linked account', () => {
    const unsign = { notify_type: 'dut_user_unsign', status: 'UNSIGN', sign_time: '', unsign_time: '2026-11-22 11:05:00' };
    const result = verified(sign({ ...unsign, alipay_open_id: '099xyz', external_logon_id: '' }));
    expect(result).toEqual({
      kind: 'bind',
      binding: {
        id: '2026112200222110000000000000007770',
        provider: 'alipay',
        occurredAt: Date.UTC(2026, 10, 22, 3, 5, 0),
        state: 'unbound',
        account: { id: '099xyz' },
        instrument: { id: '20261122000000007771', kind: 'agreement' },
      },
    });
  });

  it('falls back to notify_time; another status changes no binding; a missing account is a 422', () => {
    expect(verified(sign({ sign_time: '' }))).toMatchObject({ binding: { occurredAt: Date.UTC(2026, 10, 22, 3, 0, 3) } });
    expect(verified(sign({ status: 'TEMP' }))).toEqual({ kind: 'acknowledge', reason: 'dut_user_sign with status "TEMP" changes no binding' });
    expect(verified(sign({ notify_type: 'dut_user_unsign', status: 'NORMAL' })).kind).toBe('acknowledge');
    expect(failure(() => verified(sign({ alipay_user_id: '' }))).message).toBe('alipay_open_id or alipay_user_id: missing');
  });
});

describe('responses', () => {
  const adapter = () => adapterFor(alipay.publicKey);
  const decision: Decision = {
    eventId: 'n1',
    decision: 'hold',
    score: 100,
    reasons: [{ rule: 'pf-burst-severe', message: 'five charges' }],
    features: {},
    policyVersion: 'v1',
    degraded: false,
  };

  it('answers every verified notify with 200 text/plain `success`, whatever the decision', () => {
    const success = { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'success' };
    expect(adapter().respond(decision)).toEqual(success);
    expect(adapter().respond({ ...decision, decision: 'approve', score: 0, reasons: [] })).toEqual(success);
    expect(adapter().acknowledge('binding bound')).toEqual(success);
  });

  it('answers errors with their status and a non-success body, so Alipay retries', () => {
    const cases: [RiskhookError, number][] = [
      [new SignatureError('bad'), 401],
      [new BodyParseError('bad'), 400],
      [new BodyTooLargeError('big'), 413],
      [new SchemaError('total_amount: bad'), 422],
      [new StoreUnavailableError('down'), 503],
    ];
    for (const [error, status] of cases) {
      expect(adapter().respondError!(error)).toEqual({
        statusCode: status,
        headers: { 'content-type': 'text/plain', 'x-riskhook-error': error.code },
        body: 'fail',
      });
    }
  });

  it('needs at least one key, and refuses what is not an RSA public key', () => {
    expect(() => createAlipayAdapter([])).toThrow(RangeError);
    expect(() => createAlipayAdapter(['not a key'])).toThrow(RangeError);
  });
});

describe('example signer (npm run send)', () => {
  const now = Date.UTC(2026, 10, 22, 3, 30, 15, 250);
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown> | Record<string, unknown>[];
  const local = () => adapterFor(LOCAL_ALIPAY_PUBLIC_KEY);

  it('signs examples/alipay-payment.json with the local key: fresh ids and times, form content type', () => {
    const example = read('examples/alipay-payment.json') as Record<string, unknown>;
    const signedRequest = alipayExample(example, { now, suffix: 'abcd1234', keepTime: false });
    expect(signedRequest.path).toBe('/webhooks/alipay');
    expect(signedRequest.headers).toEqual({ 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
    expect(Buffer.isBuffer(signedRequest.body)).toBe(true);
    const body = signedRequest.body as Buffer;
    const notify = verifyAlipayNotify(body, keyObjects(LOCAL_ALIPAY_PUBLIC_KEY));
    expect(notify.text('notify_id')).toBe('2026112201222101530000000000000001_abcd1234');
    expect(notify.text('out_trade_no')).toBe('ORDER20261122000001_abcd1234');
    expect(notify.text('gmt_payment')).toBe('2026-11-22 11:30:15');
    expect(notify.text('notify_time')).toBe('2026-11-22 11:30:15');
    expect(notify.text('subject')).toMatch(/会员月卡/);
    expect(local().verify(request(body, now))).toMatchObject({
      kind: 'score',
      event: { id: '2026112201222101530000000000000001_abcd1234', occurredAt: now - 250, amount: { minor: 6_800, currency: 'CNY' } },
    });
  });

  it('keeps ids without a suffix, and signs GBK when the example asks', () => {
    const example = { ...(read('examples/alipay-payment.json') as Record<string, unknown>), charset: 'gbk' };
    const signedRequest = alipayExample(example, { now, suffix: undefined, keepTime: true });
    expect(signedRequest.headers['content-type']).toBe('application/x-www-form-urlencoded; charset=gbk');
    const notify = verifyAlipayNotify(signedRequest.body as Buffer, keyObjects(LOCAL_ALIPAY_PUBLIC_KEY));
    expect(notify.encoding).toBe('gbk');
    expect(notify.text('notify_id')).toBe('2026112201222101530000000000000001');
    expect(notify.text('subject')).toMatch(/会员月卡/);
  });

  it('examples/alipay-agreement-then-burst.json: an agreement bound to an external logon, then password-free debits of 1,999 CNY minutes apart', () => {
    const items = read('examples/alipay-agreement-then-burst.json') as Record<string, unknown>[];
    const at = items.map((i) => Date.parse(String(i.at)));
    const results = items.map((item, n) => {
      const signedRequest = alipayExample(item, { now: at[n]!, suffix: 'run1', keepTime: true });
      return local().verify(request(signedRequest.body as Buffer, now));
    });
    expect(results[0]).toMatchObject({
      kind: 'bind',
      binding: { state: 'bound', linkedAccount: { kind: 'other' }, instrument: { kind: 'agreement' }, occurredAt: at[0] },
    });
    const debits = results.slice(1);
    expect(debits.length).toBeGreaterThanOrEqual(3);
    const first = results[0]!.kind === 'bind' ? results[0]!.binding : undefined;
    debits.forEach((debit, n) => {
      expect(debit).toMatchObject({
        kind: 'score',
        event: {
          amount: { minor: 199_900, currency: 'CNY' },
          authMethod: 'password_free',
          account: { id: first!.account.id },
          instrument: { id: first!.instrument!.id, kind: 'agreement' },
          occurredAt: at[n + 1],
        },
      });
    });
    const gaps = at.slice(1).map((t, n) => t - at[n]!);
    expect(gaps.every((g) => g >= MIN && g <= 10 * MIN)).toBe(true);
  });

  it('refuses an example without notify fields', () => {
    expect(() => alipayExample({ provider: 'alipay', at: '2026-11-22T03:00:00Z' }, { now, suffix: undefined, keepTime: true })).toThrow(/"fields"/);
    expect(() => alipayExample({ provider: 'alipay', fields: { a: 1 } }, { now, suffix: undefined, keepTime: true })).toThrow(/"fields"/);
    expect(() => alipayExample({ provider: 'alipay', fields: {}, charset: 'big5' }, { now, suffix: undefined, keepTime: true })).toThrow(/"charset"/);
  });
});
