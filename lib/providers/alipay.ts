/**
 * Alipay asynchronous notifications (notify_url): a form body, RSA2-signed (SHA256withRSA, PKCS#1
 * v1.5) by Alipay over its sorted `k=v` string. Verified on the bytes, so UTF-8 and GBK notifies both
 * work; decoded to text only afterwards, with the signed `charset`.
 *
 * - trade_status_sync, paid (TRADE_SUCCESS / TRADE_FINISHED): a PaymentEvent to score.
 * - dut_user_sign (NORMAL) / dut_user_unsign (UNSIGN): a Binding (agreement signed or terminated).
 * - anything else that verifies (unpaid or closed trades, refunds, other notify types): acknowledged.
 *
 * Money has already moved when a notify arrives, so every verified notify is answered `success`
 * (otherwise Alipay retries for ~25 h); the decision is stored for the merchant's systems, never
 * returned. Anything that is not `success` means "send it again".
 * Wire format and sources: research/webhook-formats.md, section 1.
 */
import { type KeyObject, createSign, verify as rsaVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type RiskhookError, SchemaError, SignatureError } from '../errors.js';
import { type AuthMethod, type Binding, Identifier, type PaymentEvent } from '../events.js';
import { checkNotifyFields, formatBeijingTime, parseBeijingTime } from './alipay-fields.js';
import { type FormFields, NOTIFY_UNSIGNED_KEYS, decodeText, encodeForm, encodeText, encodingOf, parseForm, signContent } from './alipay-form.js';
import { rsaPublicKey } from './keys.js';
import { DEFAULT_MAX_NOTIFICATION_AGE_MS, staleReason } from './notification-age.js';
import type { ExampleSigner, HttpResponse, ProviderAdapter, RawRequest, Verified } from './types.js';

export const ALIPAY_WEBHOOK_PATH = '/webhooks/alipay';
export { formatBeijingTime, parseBeijingTime };

/** A notify whose signature checked out: its fields as signed (bytes), read as text in its own charset. */
export interface AlipayNotify {
  readonly fields: FormFields;
  /** The WHATWG encoding the signed `charset` names (`utf-8` when absent). */
  readonly encoding: string;
  /** A field's text, undefined when absent or empty; a SchemaError naming it when its bytes are not valid in `encoding`. */
  text(key: string): string | undefined;
}

/**
 * Verifies a notify body against Alipay's public keys (any one of them: keys rotate).
 * 400 (BodyParseError) for a body that is not a well-formed form (or has too many fields), 401
 * (SignatureError) for a missing or bad signature or a sign_type other than RSA2, 422 (SchemaError)
 * for a value that could hide a field (alipay-fields) or a charset nobody can decode.
 */
export function verifyAlipayNotify(body: Buffer, keys: readonly KeyObject[]): AlipayNotify {
  const fields = parseForm(body);
  const sign = fields.get('sign')?.toString('latin1');
  if (!sign) throw new SignatureError('sign: missing');
  const signType = fields.get('sign_type')?.toString('latin1');
  if (signType !== 'RSA2') {
    throw new SignatureError(`sign_type: expected RSA2 (SHA256withRSA), got ${signType ? JSON.stringify(signType.slice(0, 16)) : 'none'}`);
  }
  // A '+' sent unescaped arrives as a space: refuse it rather than guess it back.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(sign) || sign.length % 4 !== 0) throw new SignatureError('sign: not base64');
  const signature = Buffer.from(sign, 'base64');
  const content = signContent(fields);
  if (!keys.some((key) => rsaVerify('sha256', content, key, signature))) {
    throw new SignatureError('signature does not match any configured Alipay public key');
  }
  checkNotifyFields(fields, NOTIFY_UNSIGNED_KEYS);
  const label = fields.get('charset')?.toString('latin1') || 'utf-8';
  const encoding = encodingOf(label);
  if (!encoding) throw new SchemaError(`charset: unknown charset ${JSON.stringify(label.slice(0, 32))}`);
  return {
    fields,
    encoding,
    text(key) {
      const bytes = fields.get(key);
      if (!bytes || bytes.length === 0) return undefined;
      try {
        return decodeText(bytes, encoding);
      } catch {
        throw new SchemaError(`${key}: not valid ${encoding} text (the signed charset is ${JSON.stringify(label)})`);
      }
    },
  };
}

/**
 * Paid. A trade that ends its refund period later sends TRADE_FINISHED under a new notify_id and is
 * scored again, at its original gmt_payment: it weighs in the windows only if that is within them.
 */
const PAID = new Set(['TRADE_SUCCESS', 'TRADE_FINISHED']);
/** Agreement products (商家扣款 / 周期扣款) as a trade's product_code or an agreement's personal_product_code. */
const AGREEMENT_PRODUCT = /^(FOREX_)?(GENERAL_WITHHOLDING|CYCLE_PAY_AUTH)(_P)?$/i;

/**
 * The authMethod rule. A trade notify says nothing about how the buyer authenticated; it is
 * password-free when it shows the debit was made under a withholding agreement: an `agreement_no`
 * (the Alipay agreement the merchant debited, carried by trade notifies of agreement debits:
 * smartwalle/alipay's Notification models it), or a `product_code` / `personal_product_code` of an
 * agreement product (GENERAL_WITHHOLDING, CYCLE_PAY_AUTH, their _P and FOREX_ forms). Else unknown.
 */
export function alipayAuthMethod(notify: AlipayNotify): AuthMethod {
  if (notify.text('agreement_no')) return 'password_free';
  const products = [notify.text('product_code'), notify.text('personal_product_code')];
  return products.some((p) => p !== undefined && AGREEMENT_PRODUCT.test(p)) ? 'password_free' : 'unknown';
}

/**
 * What a verified notify means for riskhook: a payment to score, a binding to record, or nothing.
 * Too old (notify_time, or the time the event is dated by, beyond maxAgeMs): acknowledged, nothing else.
 */
export function alipayVerified(notify: AlipayNotify, receivedAt: number, maxAgeMs = DEFAULT_MAX_NOTIFICATION_AGE_MS): Verified {
  const notifyTime = notify.text('notify_time');
  const sentAt = notifyTime === undefined ? undefined : parseBeijingTime(notifyTime);
  const stale = sentAt === undefined ? undefined : staleReason('notify_time', sentAt, receivedAt, maxAgeMs);
  if (stale) return { kind: 'acknowledge', reason: stale };
  const type = notify.text('notify_type');
  if (type === 'trade_status_sync') return trade(notify, receivedAt, maxAgeMs);
  if (type === 'dut_user_sign' || type === 'dut_user_unsign') return agreement(notify, type, receivedAt, maxAgeMs);
  return { kind: 'acknowledge', reason: `notify_type ${quoted(type)} is not scored` };
}

function trade(notify: AlipayNotify, receivedAt: number, maxAgeMs: number): Verified {
  const status = notify.text('trade_status');
  if (!status || !PAID.has(status)) return { kind: 'acknowledge', reason: `trade_status ${quoted(status)} is not a payment` };
  // A partial refund is notified as TRADE_SUCCESS again (with the refund's fields): not a new payment.
  const refundFee = notify.text('refund_fee');
  if (notify.text('gmt_refund') || (refundFee !== undefined && yuanToFen(refundFee, 'refund_fee') > 0)) {
    return { kind: 'acknowledge', reason: 'refund notification' };
  }
  // total_amount is in trans_currency when a cross-border trade names one; only CNY amounts are scored.
  const currency = notify.text('trans_currency') ?? 'CNY';
  if (currency !== 'CNY') return { kind: 'acknowledge', reason: `trans_currency ${quoted(currency)} is not scored` };
  // A TRADE_FINISHED sent months after the payment is stale too: the payment was scored when it was made.
  const occurredAt = eventTime(notify, ['gmt_payment', 'notify_time'], receivedAt);
  const stale = staleReason('gmt_payment', occurredAt, receivedAt, maxAgeMs);
  if (stale) return { kind: 'acknowledge', reason: stale };
  const agreementNo = optionalId(notify, 'agreement_no');
  const event: PaymentEvent = {
    id: requiredId(notify, 'notify_id'),
    provider: 'alipay',
    kind: 'notification',
    occurredAt,
    amount: { minor: yuanToFen(notify.text('total_amount'), 'total_amount'), currency: 'CNY' },
    account: { id: requiredId(notify, 'buyer_open_id', 'buyer_id') },
    merchant: { id: requiredId(notify, 'seller_id') },
    ...(agreementNo !== undefined && { instrument: { id: agreementNo, kind: 'agreement' as const } }),
    authMethod: alipayAuthMethod(notify),
    ...reference(referenceId(notify, 'out_trade_no'), referenceId(notify, 'trade_no')),
  };
  return { kind: 'score', event };
}

function agreement(notify: AlipayNotify, type: 'dut_user_sign' | 'dut_user_unsign', receivedAt: number, maxAgeMs: number): Verified {
  const status = notify.text('status');
  const state = type === 'dut_user_sign' && status === 'NORMAL' ? 'bound' : type === 'dut_user_unsign' && status === 'UNSIGN' ? 'unbound' : undefined;
  if (!state) return { kind: 'acknowledge', reason: `${type} with status ${quoted(status)} changes no binding` };
  const timeKeys = state === 'bound' ? ['sign_time', 'notify_time'] : ['unsign_time', 'sign_modify_time', 'notify_time'];
  const occurredAt = eventTime(notify, timeKeys, receivedAt);
  const stale = staleReason(timeKeys.find((k) => notify.text(k) !== undefined)!, occurredAt, receivedAt, maxAgeMs);
  if (stale) return { kind: 'acknowledge', reason: stale };
  const agreementNo = optionalId(notify, 'agreement_no');
  const externalLogonId = optionalId(notify, 'external_logon_id');
  const binding: Binding = {
    id: requiredId(notify, 'notify_id'),
    provider: 'alipay',
    occurredAt,
    state,
    // OpenID first, as for payments (buyer_open_id before buyer_id), so both name the account alike.
    account: { id: requiredId(notify, 'alipay_open_id', 'alipay_user_id') },
    ...(externalLogonId !== undefined && { linkedAccount: { id: externalLogonId, kind: 'other' as const } }),
    ...(agreementNo !== undefined && { instrument: { id: agreementNo, kind: 'agreement' as const } }),
  };
  return { kind: 'bind', binding };
}

const quoted = (value: string | undefined) => (value === undefined ? '(none)' : JSON.stringify(value.slice(0, 40)));

/** The merchant's order (out_trade_no) and Alipay's trade (trade_no), when the notification has them. */
function reference(orderId: string | undefined, transactionId: string | undefined): Pick<PaymentEvent, 'reference'> {
  if (orderId === undefined && transactionId === undefined) return {};
  return { reference: { ...(orderId !== undefined && { orderId }), ...(transactionId !== undefined && { transactionId }) } };
}

/** A reference field is informational: one that is undecodable or too long is left out, never a reason to refuse the payment. */
function referenceId(notify: AlipayNotify, key: string): string | undefined {
  try {
    return optionalId(notify, key);
  } catch {
    return undefined;
  }
}

function optionalId(notify: AlipayNotify, key: string): string | undefined {
  const value = notify.text(key);
  if (value !== undefined && !Identifier.safeParse(value).success) throw new SchemaError(`${key}: longer than 256 characters`);
  return value;
}

/** The first of the keys that is present (and a valid identifier), or a SchemaError naming them. */
function requiredId(notify: AlipayNotify, ...keys: string[]): string {
  for (const key of keys) {
    const value = optionalId(notify, key);
    if (value !== undefined) return value;
  }
  throw new SchemaError(`${keys.join(' or ')}: missing`);
}

/**
 * An amount in yuan as Alipay writes it ("20", "20.00", "0.01") to integer fen, exactly: no floats,
 * at most two decimals, nothing signed, no exponent, at most 2^53 - 1 fen.
 */
export function yuanToFen(text: string | undefined, field = 'total_amount'): number {
  if (text === undefined) throw new SchemaError(`${field}: missing`);
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(text);
  if (!match) throw new SchemaError(`${field}: expected an amount in yuan such as 20 or 20.00, got ${quoted(text)}`);
  const fen = BigInt(match[1]!) * 100n + BigInt((match[2] ?? '').padEnd(2, '0'));
  if (fen > BigInt(Number.MAX_SAFE_INTEGER)) throw new SchemaError(`${field}: too large`);
  return Number(fen);
}

/**
 * The event time from the first of the keys present. A time ahead of our clock is clock skew (Alipay
 * signed it after the fact) and counts as now: refusing would only make Alipay retry a paid order.
 */
function eventTime(notify: AlipayNotify, keys: readonly string[], receivedAt: number): number {
  for (const key of keys) {
    const text = notify.text(key);
    if (text === undefined) continue;
    const at = parseBeijingTime(text);
    if (at === undefined || at < 0) throw new SchemaError(`${key}: expected yyyy-MM-dd HH:mm:ss (Beijing time) after 1970, got ${quoted(text)}`);
    return Math.min(at, receivedAt);
  }
  throw new SchemaError(`${keys.join(' or ')}: missing`);
}

const SUCCESS: HttpResponse = { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'success' };

export interface AlipayOptions {
  /** ALIPAY_APP_IDS: a notify for any other app_id is refused (422); undefined checks none (tests only: config always sets it). */
  readonly appIds?: readonly string[];
  /** RISKHOOK_MAX_NOTIFICATION_AGE_HOURS in ms: older notifies are acknowledged, not scored. */
  readonly maxAgeMs?: number;
}

/** A notify for an app that is not ours: another merchant's (Alipay signs every app's notifies with its key), or forged. */
function checkAppId(notify: AlipayNotify, appIds: readonly string[]): void {
  const appId = notify.text('app_id');
  if (appId === undefined) throw new SchemaError('app_id: missing');
  if (!appIds.includes(appId)) throw new SchemaError('app_id: not one of ALIPAY_APP_IDS (a notification for another app)');
}

export function createAlipayAdapter(publicKeys: readonly string[], options: AlipayOptions = {}): ProviderAdapter {
  if (publicKeys.length === 0) throw new RangeError('alipay: expected at least one public key');
  const keys = publicKeys.map(rsaPublicKey);
  const { appIds, maxAgeMs = DEFAULT_MAX_NOTIFICATION_AGE_MS } = options;
  return {
    name: 'alipay',
    verify(request: RawRequest) {
      // In this order: the signature and the field boundaries, whose notification it is, how old it is, what it says.
      const notify = verifyAlipayNotify(request.body, keys);
      if (appIds) checkAppId(notify, appIds);
      return alipayVerified(notify, request.receivedAt, maxAgeMs);
    },
    respond: () => SUCCESS,
    acknowledge: () => SUCCESS,
    // Anything but `success` makes Alipay send the notify again (about 8 times over 25 hours).
    respondError: (error: RiskhookError) => ({
      statusCode: error.status,
      headers: { 'content-type': 'text/plain', 'x-riskhook-error': error.code },
      body: 'fail',
    }),
  };
}

export type AlipayCharset = 'utf-8' | 'gbk';

/**
 * Signs notify fields as Alipay would (for tests and examples): the form body bytes, values encoded
 * in `charset`, spaces as '+', `charset` added when the fields do not name one, `sign_type` as given
 * (RSA2 by default; the signature is always SHA256withRSA) and `sign` over the sorted string of the
 * encoded bytes. Empty values are written to the body and left out of the signature, as Alipay does.
 */
export function signAlipayNotify(privateKeyPem: string, fields: Readonly<Record<string, string>>, charset: AlipayCharset = 'utf-8'): Buffer {
  const encoded = new Map<string, Buffer>();
  for (const [key, value] of Object.entries({ charset, ...fields })) {
    if (key !== 'sign' && key !== 'sign_type') encoded.set(key, encodeText(value, charset));
  }
  const sign = createSign('RSA-SHA256').update(signContent(encoded)).sign(privateKeyPem, 'base64');
  encoded.set('sign_type', Buffer.from(fields.sign_type ?? 'RSA2', 'latin1'));
  encoded.set('sign', Buffer.from(sign, 'latin1'));
  return encodeForm(encoded);
}

/** Private half of LOCAL_ALIPAY_PUBLIC_KEY; `npm run send` runs from the repository root. */
const LOCAL_PRIVATE_KEY_PATH = 'examples/keys/alipay-local-private.pem';
let localPrivateKey: string | undefined;

/** Ids made unique per run; times a notify carries, set to the example's (fresh) time. */
const FRESH_IDS = ['notify_id', 'out_trade_no', 'trade_no'] as const;
const FRESH_TIMES = ['gmt_create', 'gmt_payment', 'sign_time', 'unsign_time', 'valid_time'] as const;

/**
 * Example files: {"provider": "alipay", "at": "<ISO>", "fields": {...notify fields...}, "charset"?: "gbk"},
 * signed with the local-only key, posted as Alipay posts them.
 */
export const alipayExample: ExampleSigner = (example, fresh) => {
  const { fields, charset = 'utf-8' } = example;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields) || !Object.values(fields).every((v) => typeof v === 'string')) {
    throw new Error('alipay example: "fields" must be an object of string values (the notify fields)');
  }
  if (charset !== 'utf-8' && charset !== 'gbk') throw new Error('alipay example: "charset" must be "utf-8" or "gbk"');
  const out: Record<string, string> = { ...(fields as Record<string, string>) };
  if (fresh.suffix !== undefined) {
    // trade_no is digits only: it takes the suffix as digits.
    const digits = Array.from(fresh.suffix, (c) => c.charCodeAt(0) % 10).join('');
    for (const key of FRESH_IDS) if (out[key]) out[key] = key === 'trade_no' ? `${out[key]}${digits}` : `${out[key]}_${fresh.suffix}`;
  }
  const time = formatBeijingTime(fresh.now);
  for (const key of FRESH_TIMES) if (out[key] !== undefined) out[key] = time;
  out.notify_time = time;
  localPrivateKey ??= readFileSync(resolve(process.cwd(), LOCAL_PRIVATE_KEY_PATH), 'utf8');
  return {
    path: ALIPAY_WEBHOOK_PATH,
    headers: { 'content-type': `application/x-www-form-urlencoded; charset=${charset}` },
    body: signAlipayNotify(localPrivateKey, out, charset),
  };
};
