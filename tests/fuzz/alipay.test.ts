/**
 * Fuzzing /webhooks/alipay through the whole Lambda handler, on Redis:
 * (a) garbage and tampered notifies (no valid RSA2 signature) are refused 4xx with the body `fail`;
 * (b) hostile notifies SIGNED with the configured key (the form fields fuzzed at the byte level:
 *     values that are not text in the signed charset, charset claims, amounts, times, ids, notify
 *     types) reach the decoding and the mapping: `success` (scored, bound or acknowledged) exactly
 *     when an independent oracle says so, else 400/413/422 with `fail`.
 * Never a 5xx, never a store call or a Redis key for a refused notify, never an unhandled rejection.
 */
import { createSign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeForm, encodeText, formEncode, signContent } from '../../lib/providers/alipay-form.js';
import { edgeString, hugeString, invalidUtf8, spliceBytes } from '../support/fuzz-arbitraries.js';
import { codePoints, validId } from '../support/fuzz-generic.js';
import {
  type EventSpec,
  KeyLedger,
  RSA_RUNS,
  RSA_TAMPER_RUNS,
  FUZZ_ALIPAY_APP_ID,
  RUNS,
  VALID_BUDGET,
  check,
  ensure,
  expectGarbageRefused,
  expectRefusal,
  gatewayEvent,
  keysWrittenSince,
  useFuzzRuntime,
  validGate,
} from '../support/fuzz-harness.js';
import { applyTamper, commonTamper, contentTypeHeader, garbageRequest } from '../support/fuzz-requests.js';

const DB = 13;
const { fz, watch } = useFuzzRuntime(DB);

type Fields = Array<readonly [string, Buffer]>;

// --- signing at the byte level -------------------------------------------------------------------

/** %XX (or the byte itself, or '+') for each byte, as Java's URLEncoder writes them; a table, as values run to 70 KB. */
const FORM_BYTE = Array.from({ length: 256 }, (_, b) =>
  /[A-Za-z0-9.\-*_]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : b === 0x20 ? '+' : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
);
const formEncodeFast = (bytes: Buffer) => Array.from(bytes, (b) => FORM_BYTE[b]).join('');

/** The form body Alipay would send for these fields (bytes as given), signed RSA2 with the suite's key. */
function signFields(fields: Fields): Buffer {
  const signed = new Map(fields.filter(([k]) => k !== 'sign' && k !== 'sign_type'));
  const sign = createSign('RSA-SHA256').update(signContent(signed)).sign(fz.keys.alipayPrivateKey, 'base64');
  const all: Fields = [...fields, ['sign_type', Buffer.from('RSA2')], ['sign', Buffer.from(sign)]];
  return Buffer.from(all.map(([k, v]) => `${formEncodeFast(Buffer.from(k, 'latin1'))}=${formEncodeFast(v)}`).join('&'), 'latin1');
}

/** Whether two form bodies decode to the same pairs of bytes (an independent decoder); false when either is malformed. */
function sameFormContent(a: Buffer, b: Buffer): boolean {
  const decode = (body: Buffer): string | undefined => {
    const out: string[] = [];
    for (const pair of body.toString('latin1').split('&')) {
      if (pair === '') continue;
      const bytes: number[] = [];
      for (let i = 0; i < pair.length; i++) {
        const c = pair[i]!;
        if (c === '+') bytes.push(0x20);
        else if (c === '%') {
          if (!/^[0-9A-Fa-f]{2}$/.test(pair.slice(i + 1, i + 3))) return undefined;
          bytes.push(parseInt(pair.slice(i + 1, i + 3), 16));
          i += 2;
        } else bytes.push(c.charCodeAt(0));
      }
      out.push(Buffer.from(bytes).toString('hex'));
    }
    return out.join('&');
  };
  const x = decode(a);
  return x !== undefined && x === decode(b);
}

// --- the oracle ----------------------------------------------------------------------------------

const BEIJING_MS = 8 * 3_600_000;
const PAID = ['TRADE_SUCCESS', 'TRADE_FINISHED'];

/** Beijing "yyyy-MM-dd HH:mm:ss" to epoch ms, or undefined (independent of lib/providers/alipay). */
function beijing(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (mo < 1 || mo > 12 || d < 1 || d > days! || h > 23 || mi > 59 || s > 59) return undefined;
  if (y < 1970) return -1; // before the epoch (and Date.UTC reads years below 100 as 19xx)
  return Date.UTC(y, mo - 1, d, h, mi, s) - BEIJING_MS;
}

function yuan(text: string): number | undefined {
  const m = /^([0-9]+)(?:\.([0-9]{1,2}))?$/.exec(text);
  if (!m) return undefined;
  const fen = BigInt(m[1]!) * 100n + BigInt((m[2] ?? '').padEnd(2, '0'));
  return fen > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(fen);
}

class Refused extends Error {}

/** The notification age limit (RISKHOOK_MAX_NOTIFICATION_AGE_HOURS, unset in the fuzz runtime: 48 h). */
const MAX_AGE_MS = 48 * 3_600_000;

/**
 * Values that could hide a field boundary, by an independent reading of the README: `&<key>=`
 * anywhere, or one of the read fields not in Alipay's format (on the bytes).
 */
const ALIPAY_FORMATS: Record<string, RegExp> = {
  notify_id: /^[0-9A-Za-z_+/=-]{1,128}$/,
  trade_no: /^[0-9]{1,64}$/,
  out_trade_no: /^[0-9A-Za-z_-]{1,64}$/,
  out_biz_no: /^[0-9A-Za-z_-]{1,64}$/,
  agreement_no: /^[0-9A-Za-z_-]{1,64}$/,
  buyer_open_id: /^[0-9A-Za-z_-]{1,128}$/,
  alipay_open_id: /^[0-9A-Za-z_-]{1,128}$/,
  ...Object.fromEntries(['buyer_id', 'seller_id', 'alipay_user_id'].map((k) => [k, /^2088[0-9]{12}$/])),
  ...Object.fromEntries(['app_id', 'auth_app_id', 'merchant_app_id'].map((k) => [k, /^[0-9]{1,32}$/])),
  ...Object.fromEntries(
    ['total_amount', 'receipt_amount', 'invoice_amount', 'buyer_pay_amount', 'point_amount', 'refund_fee', 'send_back_fee'].map((k) => [k, /^[0-9]{1,16}(\.[0-9]{1,2})?$/]),
  ),
};
const TIME_FIELDS = ['notify_time', 'gmt_create', 'gmt_payment', 'gmt_close', 'sign_time', 'unsign_time', 'sign_modify_time', 'valid_time', 'invalid_time'];
function hidesAField(key: string, bytes: Buffer): boolean {
  const value = bytes.toString('latin1');
  if (/&[0-9A-Za-z_.-]+=/.test(value)) return true;
  if (ALIPAY_FORMATS[key]) return !ALIPAY_FORMATS[key].test(value);
  if (TIME_FIELDS.includes(key)) return (beijing(value) ?? -1) < 0;
  if (key === 'gmt_refund') return !/^.{19}(\.[0-9]{1,3})?$/.test(value) || (beijing(value.slice(0, 19)) ?? -1) < 0;
  return false;
}

type AlipayVerdict = 'score' | 'bind' | 'ack' | 400 | 401 | 413 | 422;

/** What riskhook must answer a notify with these (signed) fields, from the README's rules. */
function alipayVerdict(fields: Fields): AlipayVerdict {
  const map = new Map(fields);
  const label = map.get('charset')?.toString('latin1') || 'utf-8';
  let encoding: string;
  try {
    encoding = new TextDecoder(label).encoding;
  } catch {
    return 422;
  }
  const text = (key: string): string | undefined => {
    const bytes = map.get(key);
    if (!bytes || bytes.length === 0) return undefined;
    try {
      return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      throw new Refused(key);
    }
  };
  const id = (key: string) => {
    const v = text(key);
    if (v !== undefined && codePoints(v) > 256) throw new Refused(key);
    return v;
  };
  const required = (...keys: string[]) => {
    for (const key of keys) if (id(key) !== undefined) return;
    throw new Refused(keys.join());
  };
  /** Stale: dated (by a well-formed time) more than the limit before now. */
  const stale = (at: number | undefined) => at !== undefined && at >= 0 && Date.now() - at > MAX_AGE_MS;
  /** The first of the keys present, its time well-formed (else refused), and whether it is stale. */
  const staleTime = (...keys: string[]) => {
    for (const key of keys) {
      const v = text(key);
      if (v === undefined) continue;
      const at = beijing(v);
      if (at === undefined || at < 0) throw new Refused(key);
      return stale(at);
    }
    throw new Refused(keys.join());
  };
  try {
    // Right after the signature: the field boundaries, whose notify it is, then how old it is.
    for (const [key, bytes] of fields) {
      if (bytes.length > 0 && key !== 'sign' && key !== 'sign_type' && hidesAField(key, bytes)) return 422;
    }
    if (text('app_id') !== FUZZ_ALIPAY_APP_ID) return 422;
    const notifyTime = text('notify_time');
    if (notifyTime !== undefined && stale(beijing(notifyTime))) return 'ack';
    const type = text('notify_type');
    if (type === 'trade_status_sync') {
      if (!PAID.includes(text('trade_status') ?? '')) return 'ack';
      const refundFee = text('refund_fee');
      if (text('gmt_refund')) return 'ack';
      if (refundFee !== undefined) {
        const fen = yuan(refundFee);
        if (fen === undefined) throw new Refused('refund_fee');
        if (fen > 0) return 'ack';
      }
      if ((text('trans_currency') ?? 'CNY') !== 'CNY') return 'ack';
      if (staleTime('gmt_payment', 'notify_time')) return 'ack';
      const agreementNo = id('agreement_no');
      required('notify_id');
      if (yuan(text('total_amount') ?? '') === undefined) throw new Refused('total_amount');
      required('buyer_open_id', 'buyer_id');
      required('seller_id');
      // How the buyer paid: an agreement debit, else by its product codes (which must then be text too).
      if (agreementNo === undefined) {
        text('product_code');
        text('personal_product_code');
      }
      return 'score';
    }
    if (type === 'dut_user_sign' || type === 'dut_user_unsign') {
      const status = text('status');
      const bound = type === 'dut_user_sign' && status === 'NORMAL';
      if (!bound && !(type === 'dut_user_unsign' && status === 'UNSIGN')) return 'ack';
      if (staleTime(...(bound ? ['sign_time', 'notify_time'] : ['unsign_time', 'sign_modify_time', 'notify_time']))) return 'ack';
      id('agreement_no');
      id('external_logon_id');
      required('notify_id');
      required('alipay_open_id', 'alipay_user_id');
      return 'bind';
    }
    return 'ack';
  } catch (error) {
    if (error instanceof Refused) return 422;
    throw error;
  }
}

// --- notifies ------------------------------------------------------------------------------------

const beijingText = (ms: number) => new Date(ms + BEIJING_MS).toISOString().slice(0, 19).replace('T', ' ');
const digits = (n: number) => fc.stringMatching(new RegExp(`^[0-9]{${n}}$`));
// Within the 48 h age limit mostly (an hour of slack from it either way), now and then far beyond it.
const recent = fc.oneof(
  { arbitrary: fc.integer({ min: -47 * 3_600_000, max: 10 * 60_000 }), weight: 6 },
  { arbitrary: fc.integer({ min: -400 * 86_400_000, max: -49 * 3_600_000 }), weight: 1 },
).map((d) => beijingText(Date.now() + d));
const yuanText = fc.oneof(
  fc.integer({ min: 0, max: 500_000 }).map((fen) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`),
  fc.integer({ min: 0, max: 5_000 }).map(String),
  fc.constantFrom('0.01', '0.1', '2000', '90071992547409.91'),
);

type Charset = 'utf-8' | 'gbk';

const tradeNotify = fc.record({
  notify_type: fc.constant('trade_status_sync'),
  notify_id: digits(20),
  notify_time: recent,
  app_id: fc.constant(FUZZ_ALIPAY_APP_ID),
  trade_no: digits(28),
  out_trade_no: fc.oneof(digits(12), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)),
  trade_status: fc.constantFrom('TRADE_SUCCESS', 'TRADE_SUCCESS', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'WAIT_BUYER_PAY'),
  total_amount: yuanText,
  subject: fc.constantFrom('App Store 充值', '会员', 'iCloud+', 'Game coins ×100'),
  buyer_id: digits(16).map((d) => `2088${d.slice(4)}`),
  seller_id: fc.constant('2088000000009002'),
  gmt_payment: recent,
  product_code: fc.constantFrom('QUICK_MSECURITY_PAY', 'GENERAL_WITHHOLDING', 'CYCLE_PAY_AUTH_P'),
});
const agreementNotify = fc.record({
  notify_type: fc.constantFrom('dut_user_sign', 'dut_user_unsign'),
  notify_id: digits(20),
  notify_time: recent,
  app_id: fc.constant(FUZZ_ALIPAY_APP_ID),
  status: fc.constantFrom('NORMAL', 'UNSIGN', 'TEMP'),
  agreement_no: digits(20),
  external_logon_id: validId,
  alipay_user_id: digits(12).map((d) => `2088${d}`),
  sign_time: recent,
  unsign_time: recent,
  personal_product_code: fc.constant('GENERAL_WITHHOLDING_P'),
});
const otherNotify = fc.record({ notify_type: fc.constantFrom('trade_refund', 'fund_auth_freeze', 'x', ''), notify_id: digits(20), notify_time: recent, app_id: fc.constant(FUZZ_ALIPAY_APP_ID) });

const ALL_KEYS = [
  'notify_type', 'notify_id', 'notify_time', 'trade_status', 'total_amount', 'buyer_id', 'buyer_open_id', 'seller_id', 'gmt_payment',
  'gmt_refund', 'refund_fee', 'trans_currency', 'agreement_no', 'product_code', 'status', 'alipay_user_id', 'alipay_open_id',
  'external_logon_id', 'sign_time', 'unsign_time', 'sign_modify_time', 'subject', 'charset', 'app_id', 'trade_no', 'out_trade_no', 'passback_params',
];

/** Hostile values for a field, as text (encoded in the notify's charset) or as raw bytes. */
function fieldValue(key: string): fc.Arbitrary<string | Buffer> {
  const common: fc.Arbitrary<string | Buffer> = fc.oneof(
    { arbitrary: edgeString(30), weight: 6 },
    { arbitrary: hugeString, weight: 1 },
    { arbitrary: invalidUtf8, weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)), weight: 1 },
    { arbitrary: fc.tuple(validId, invalidUtf8, fc.double({ min: 0, max: 1, noNaN: true })).map(([s, bad, at]) => spliceBytes(Buffer.from(s), at, bad)), weight: 1 },
    { arbitrary: fc.constant(''), weight: 1 },
    // A field merged into this one (`v1&k2=v2`: the same signed bytes as two fields), or a value that splits.
    { arbitrary: fc.tuple(validId, fc.constantFrom('notify_time', 'total_amount', 'a', 'A.b-C_9', 'x y'), fc.constantFrom('', '1', '2026-11-22 11:20:05')).map(([v, k, w]) => `${v}&${k}=${w}`), weight: 1 },
  );
  const specific: Record<string, fc.Arbitrary<string>> = {
    total_amount: fc.constantFrom('-0', '-1', '1e3', 'NaN', 'Infinity', '0x10', '１０', '20.001', ' 20', '20 ', '20.', '.5', '00020.00', '90071992547409.91', '90071992547409.92', '9'.repeat(30), '1,000.00', '+20'),
    refund_fee: fc.constantFrom('0', '0.00', '0.01', '-0', '1e3', 'x', '5'),
    notify_type: fc.constantFrom('trade_status_sync', 'TRADE_STATUS_SYNC', 'trade_status_sync ', 'dut_user_sign', 'dut_user_unsign', '\ufefftrade_status_sync'),
    trade_status: fc.constantFrom('TRADE_SUCCESS', 'TRADE_FINISHED', 'trade_success', 'TRADE_SUCCESS\u0000', 'WAIT_BUYER_PAY'),
    status: fc.constantFrom('NORMAL', 'UNSIGN', 'normal', 'STOP'),
    trans_currency: fc.constantFrom('CNY', 'USD', 'cny', ''),
    charset: fc.constantFrom('utf-8', 'UTF-8', 'utf8', 'gbk', 'GBK', 'gb2312', 'gb18030', 'utf-16le', 'utf-16be', 'iso-8859-1', 'latin1', 'big5', 'shift_jis', 'iso-2022-kr', 'x-user-defined', 'hz-gb-2312', 'UTF-7', 'nonsense', ' utf-8 ', 'utf-8\u0000'),
  };
  const times = fc.oneof(recent, fc.constantFrom('2025-02-29 00:00:00', '2024-02-29 12:00:00', '1970-01-01 07:59:59', '1970-01-01 08:00:00', '0050-01-01 00:00:00', '2026-11-22T17:00:00', '2026-11-22 24:00:00', '2026-11-22 17:00', '9999-12-31 23:59:59', '２０２６-11-22 17:00:00'));
  if (/time|gmt_/.test(key)) return fc.oneof(times, common);
  if (/_id$|_no$/.test(key)) return fc.oneof(validId, fc.constantFrom('x'.repeat(256), 'x'.repeat(257), '😀'.repeat(257)), common);
  return specific[key] ? fc.oneof({ arbitrary: specific[key], weight: 2 }, { arbitrary: common, weight: 1 }) : common;
}

type Mutation =
  | { readonly op: 'set'; readonly key: string; readonly value: string | Buffer }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'duplicate'; readonly key: string; readonly value: string }
  | { readonly op: 'bad-key'; readonly key: string };

const FIELD_VALUES = new Map(ALL_KEYS.map((key) => [key, fieldValue(key).map((value) => ({ op: 'set' as const, key, value }))]));

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.constantFrom(...ALL_KEYS).chain((key) => FIELD_VALUES.get(key)!), weight: 14 },
  { arbitrary: fc.constantFrom(...ALL_KEYS).map((key) => ({ op: 'delete' as const, key })), weight: 3 },
  { arbitrary: fc.tuple(fc.constantFrom('notify_id', 'total_amount', 'charset', 'sign', 'sign_type', 'buyer_id'), edgeString(10)).map(([key, value]) => ({ op: 'duplicate' as const, key, value })), weight: 1 },
  { arbitrary: fc.constantFrom('a b', '中文', 'k'.repeat(65), 'a+b', 'a%2Bb', '', 'key\u0000', 'x=y', '__proto__!', 'ü').map((key) => ({ op: 'bad-key' as const, key })), weight: 1 },
);

interface AlipayCase {
  readonly fields: Fields;
  readonly after: string;
  readonly verdict: AlipayVerdict;
  readonly body: Buffer;
}

const encode = (value: string | Buffer, charset: Charset): Buffer => {
  if (Buffer.isBuffer(value)) return value;
  try {
    return encodeText(value, charset);
  } catch {
    return Buffer.from(value, 'utf8'); // no GBK form (emoji...): its UTF-8 bytes, which GBK may refuse
  }
};

const alipayCase: fc.Arbitrary<AlipayCase> = fc
  .record({
    notify: fc.oneof({ arbitrary: tradeNotify, weight: 8 }, { arbitrary: agreementNotify, weight: 3 }, { arbitrary: otherNotify, weight: 1 }),
    charset: fc.constantFrom<Charset>('utf-8', 'gbk'),
    // Mostly hostile; some stay valid (each valid payment or binding is recorded on Redis: ~4 ms).
    mutations: fc.oneof({ arbitrary: fc.constant([] as Mutation[]), weight: 1 }, { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }), weight: 30 }),
  })
  .map(({ notify, charset, mutations }) => {
    const values = new Map<string, string | Buffer>([['charset', charset], ...Object.entries(notify)]);
    const appended: Array<readonly [string, string]> = [];
    let badKey = false;
    for (const m of mutations) {
      if (m.op === 'set') values.set(m.key, m.value);
      else if (m.op === 'delete') values.delete(m.key);
      else if (m.op === 'duplicate') appended.push([m.key, m.value]);
      else {
        values.set(m.key, 'x');
        badKey = true;
      }
    }
    const fields: Fields = [...values].map(([k, v]) => [k, encode(v, charset)] as const);
    const after = appended.map(([k, v]) => `&${k}=${formEncode(Buffer.from(v, 'utf8'))}`).join('');
    const body = Buffer.concat([signFields(fields), Buffer.from(after, 'latin1')]);
    // Appended after signing: a key already there is a duplicate (400); a new key with a value
    // changes what is signed (401); a new key without a value is not signed and changes nothing.
    const keys = appended.map(([k]) => k);
    const duplicate = keys.some((k, i) => values.has(k) || k === 'sign' || k === 'sign_type' || keys.indexOf(k) !== i);
    const unsignedAdded = appended.some(([, v]) => v !== '');
    const verdict: AlipayVerdict =
      body.length > 65_536 ? 413 : duplicate || badKey ? 400 : unsignedAdded ? 401 : alipayVerdict(fields);
    return { fields, after, verdict, body };
  });

// --- garbage and tampering -----------------------------------------------------------------------

/** Form-shaped garbage: plausible keys, a sign that is base64 or not, sign_type right or wrong. */
const formGarbage: fc.Arbitrary<Pick<EventSpec, 'body' | 'base64'>> = fc
  .record({
    pairs: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...ALL_KEYS), edgeString(8)), fc.oneof(edgeString(30), fc.constantFrom('%', '%Z', '%%41', '+', '%00', '%FF%FE'))), { maxLength: 10 }),
    sign: fc.oneof(fc.uint8Array({ minLength: 256, maxLength: 256 }).map((b) => encodeURIComponent(Buffer.from(b).toString('base64'))), edgeString(20), fc.constant('')),
    signType: fc.constantFrom('RSA2', 'RSA', 'rsa2', '', 'RSA2 ', 'HMAC'),
    base64: fc.boolean(),
  })
  .map(({ pairs, sign, signType, base64 }) => {
    const text = [...pairs.map(([k, v]) => `${k}=${v}`), `sign_type=${signType}`, `sign=${sign}`].join('&');
    return { body: base64 ? Buffer.from(text, 'utf8') : text };
  });

describe('alipay adapter, fuzzed through the Lambda handler on Redis', () => {
  it(`refuses ${RUNS} unsigned or garbage notifies with a 4xx and \`fail\`, touching nothing`, async () => {
    const garbage = fc.oneof(
      garbageRequest('alipay', contentTypeHeader),
      fc.record({ headers: fc.array(contentTypeHeader, { maxLength: 2 }), form: formGarbage, payload: fc.constantFrom('1.0' as const, '2.0' as const) }).map(({ headers, form, payload }) => ({
        provider: 'alipay',
        headers,
        payload,
        ...form,
      })),
    );
    await expectGarbageRefused(fz, watch, 'alipay', garbage, 'notify');
  });

  it(`refuses ${RSA_TAMPER_RUNS} valid notifies each tampered in one way (400/401, 405, 413)`, async () => {
    type AlipayTamper =
      | { kind: 'flip'; at: number; xor: number }
      | { kind: 'field'; key: string; value: string }
      | { kind: 'sign_type'; value: string }
      | { kind: 'sign'; make: (sign: string) => string };
    const tampers: fc.Arbitrary<AlipayTamper> = fc.oneof(
      fc.tuple(fc.double({ min: 0, max: 0.9999, noNaN: true }), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => ({ kind: 'flip' as const, at, xor })),
      fc.tuple(fc.constantFrom('notify_id', 'total_amount', 'buyer_id', 'charset', 'extra_field'), edgeString(12).filter((s) => s.length > 0)).map(([key, value]) => ({ kind: 'field' as const, key, value })),
      fc.constantFrom('RSA', 'rsa2', '', 'RSA2 ', 'SHA256withRSA').map((value) => ({ kind: 'sign_type' as const, value })),
      fc
        .constantFrom(
          (s: string) => s.slice(4),
          (s: string) => `${s}A`,
          (s: string) => s.replace(/[A-Za-z]/, (c) => (c === 'A' ? 'B' : 'A')),
          (s: string) => s.replace(/\+/g, ' '),
          (s: string) => `${s}!`,
          (s: string) => s.replace(/=+$/, ''),
          () => '',
        )
        .map((make) => ({ kind: 'sign' as const, make })),
    );
    // A flipped byte can be another spelling of the same notify, which is genuine and counted: the
    // keys written must then be its own, and no other.
    const before = new Set(await fz.scanKeys());
    const ledger = new KeyLedger(fz.runtime);
    const adapter = fz.runtime.adapters.get('alipay')!;
    await check(
      'alipay/tampered',
      fc.asyncProperty(tradeNotify, fc.oneof(tampers, commonTamper), fc.boolean(), async (notify, tamper, base64) => {
        const calls = fz.storeCalls();
        const fields: Fields = Object.entries({ charset: 'utf-8', ...notify }).map(([k, v]) => [k, Buffer.from(v, 'utf8')] as const);
        const body = signFields(fields);
        let spec: EventSpec = { provider: 'alipay', headers: [['content-type', 'application/x-www-form-urlencoded; charset=utf-8']], body: base64 ? body : body.toString('latin1') };
        let expected: readonly number[] = [401];
        if (tamper.kind === 'flip') {
          const bytes = Buffer.from(body);
          const i = Math.floor(tamper.at * bytes.length);
          bytes[i] = bytes[i]! ^ tamper.xor;
          spec = { ...spec, body: bytes };
          // A flipped byte may break the form encoding (400), or be another spelling of the same bytes
          // ('+' and ' ', %2B and %2b): then the signed content is unchanged and the notify is genuine.
          expected = sameFormContent(body, bytes) ? [200] : [400, 401];
        } else if (tamper.kind === 'field') {
          // Change or add a signed field after signing (the value is not empty, so it is signed).
          const changed = fields.some(([k]) => k === tamper.key) ? fields.map(([k, v]) => [k, k === tamper.key ? Buffer.from(`${v.toString('utf8')}${tamper.value}`) : v] as const) : [...fields, [tamper.key, Buffer.from(tamper.value)] as const];
          const original = new URLSearchParams(body.toString('latin1'));
          spec = { ...spec, body: encodeForm([...changed, ['sign_type', Buffer.from('RSA2')], ['sign', Buffer.from(original.get('sign')!, 'latin1')]]) };
        } else if (tamper.kind === 'sign_type') {
          spec = { ...spec, body: body.toString('latin1').replace('sign_type=RSA2', `sign_type=${encodeURIComponent(tamper.value)}`) };
        } else if (tamper.kind === 'sign') {
          const text = body.toString('latin1');
          const sign = decodeURIComponent(/sign=([^&]*)$/.exec(text)![1]!);
          const changed = tamper.make(sign);
          fc.pre(changed !== sign); // e.g. no '+' to replace
          spec = { ...spec, body: text.replace(/sign=[^&]*$/, `sign=${encodeURIComponent(changed)}`) };
        } else {
          const applied = applyTamper(spec, tamper, fz.runtime.config.maxBodyBytes);
          spec = applied.spec;
          expected = tamper.kind === 'base64' ? [400, ...applied.expect] : applied.expect;
        }
        const res = await fz.handler(gatewayEvent(spec));
        if (expected.includes(200)) {
          ensure(res.statusCode === 200 && res.body === 'success', () => `an equivalent spelling of a genuine notify got ${res.statusCode}`);
          const verified = adapter.verify({ method: 'POST', headers: {}, body: spec.body as Buffer, receivedAt: Date.now() });
          if (verified.kind === 'score') ledger.accept('alipay', verified.event);
          return;
        }
        const refusal = expectRefusal('alipay', res);
        ensure(expected.includes(refusal.status), () => `${tamper.kind}: expected ${expected.join(' or ')}, got ${refusal.status} ${refusal.code}`);
        ensure(fz.storeCalls() === calls, () => 'a refused notify called the store');
      }),
      RSA_TAMPER_RUNS,
    );
    expect(ledger.unexplained(await keysWrittenSince(fz, before))).toEqual([]);
    await watch.expectNone();
  });

  it(`answers ${RSA_RUNS} signed hostile notifies: success exactly when valid (scored, bound or acknowledged), else 4xx fail`, async () => {
    const before = new Set(await fz.scanKeys());
    const ledger = new KeyLedger(fz.runtime);
    const adapter = fz.runtime.adapters.get('alipay')!;
    const seen: Record<string, number> = {};
    const gate = validGate();
    await check(
      'alipay/signed',
      fc.asyncProperty(alipayCase, fc.boolean(), fc.constantFrom('application/x-www-form-urlencoded; charset=utf-8', 'application/x-www-form-urlencoded; charset=GBK', 'text/plain', 'application/json'), async (c, base64, type) => {
        if (c.verdict === 'score' || c.verdict === 'bind') gate.admit();
        const spec: EventSpec = { provider: 'alipay', headers: [['Content-Type', type]], body: base64 ? c.body : c.body.toString('latin1') };
        const calls = fz.storeCalls();
        const res = await fz.handler(gatewayEvent(spec));
        seen[String(c.verdict)] = (seen[String(c.verdict)] ?? 0) + 1;
        if (c.verdict === 'score' || c.verdict === 'bind' || c.verdict === 'ack') {
          ensure(res.statusCode === 200 && res.body === 'success', () => `expected success (${c.verdict}), got ${res.statusCode} ${res.headers?.['x-riskhook-error']}`);
          if (c.verdict === 'ack') ensure(fz.storeCalls() === calls, () => 'an acknowledged notify called the store');
          else {
            ensure(fz.storeCalls() > calls, () => `a valid ${c.verdict} was not recorded`);
            const verified = adapter.verify({ method: 'POST', headers: {}, body: c.body, receivedAt: Date.now() });
            if (verified.kind === 'score') ledger.accept('alipay', verified.event);
            if (verified.kind === 'bind') ledger.accept('alipay', verified.binding);
          }
          return;
        }
        const refusal = expectRefusal('alipay', res);
        ensure(refusal.status === c.verdict, () => `expected ${c.verdict}, got ${refusal.status} ${refusal.code}; fields ${JSON.stringify(c.fields.map(([k, v]) => [k, v.toString('latin1').slice(0, 40)]))}`);
        ensure(fz.storeCalls() === calls, () => 'a refused notify called the store');
      }),
      RSA_RUNS,
    );
    const written = await keysWrittenSince(fz, before);
    expect(ledger.unexplained(written)).toEqual([]);
    expect(seen.score ?? 0, 'the arbitraries must also produce valid payments').toBeGreaterThan(Math.min(VALID_BUDGET, RSA_RUNS) / 4);
    console.info(`[fuzz] alipay/signed verdicts: ${JSON.stringify(seen)}; ${written.length} keys written for the scored and bound`);
    await watch.expectNone();
  });
});
