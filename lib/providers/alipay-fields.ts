/**
 * What a verified Alipay notify may hold. Alipay signs `k1=v1&k2=v2...` without delimiting values, so
 * the signature cannot tell `notify_id=X&notify_time=T` (two fields) from one field notify_id whose
 * value is `X&notify_time=T`: merging a field into the one before it (or splitting one) keeps the
 * signed bytes and changes what the notify says (a new notify_id is a new payment to count).
 * So, once the signature holds, every value that could hide a field boundary is refused:
 * no value may contain `&<key>=`, and the fields riskhook reads (and their siblings) must have
 * Alipay's own formats, none of which can contain `&`.
 * Also here: Beijing times as Alipay writes them.
 */
import { SchemaError } from '../errors.js';
import type { FormFields } from './alipay-form.js';

/** `&`, a key (any run of key characters), `=`: where the string-to-sign may have another field. */
const HIDDEN_FIELD = /&[A-Za-z0-9_.-]+=/;

/** Letters, digits, '_' and '-' (OpenIDs such as 099luGU2ef8y...-VLY8B1mtPqj4w9; order numbers). */
const token = (max: number) => new RegExp(`^[A-Za-z0-9_-]{1,${max}}$`);
const ALIPAY_USER_ID = { pattern: /^2088\d{12}$/, expected: '2088 followed by 12 digits' };
const OPEN_ID = { pattern: token(128), expected: 'an OpenID: up to 128 letters, digits, _ or -' };
const APP_ID = { pattern: /^\d{1,32}$/, expected: 'an app id: up to 32 digits' };
const AMOUNT = { pattern: /^\d{1,16}(?:\.\d{1,2})?$/, expected: 'an amount in yuan such as 20 or 20.00' };
interface Format {
  readonly pattern: RegExp;
  readonly expected: string;
  /** A date-time: its first 19 characters must also name a real moment after 1970 (no 2026-02-30). */
  readonly time?: true;
}
const TIME: Format = { pattern: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, expected: 'yyyy-MM-dd HH:mm:ss (Beijing time)', time: true };
/** gmt_refund is written with milliseconds (2026-11-22 12:00:00.123). */
const TIME_MS: Format = { pattern: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,3})?$/, expected: 'yyyy-MM-dd HH:mm:ss[.SSS] (Beijing time)', time: true };

/**
 * Alipay's formats (Open Platform parameter tables; the real 2025 notify in tests/unit/providers):
 * notify_id String(128) (34 digits today; older ones hex or base64, so '+', '/' and '=' too);
 * trade_no String(64) of digits (28 today); out_trade_no up to 64 letters, digits and '_' ('-'
 * tolerated); user ids 2088 + 12 digits; OpenIDs String(128); app ids up to 32 digits.
 */
export const NOTIFY_FIELD_FORMATS: Readonly<Record<string, Format>> = {
  notify_id: { pattern: /^[A-Za-z0-9_+/=-]{1,128}$/, expected: "up to 128 letters, digits, '_', '-', '+', '/' or '='" },
  trade_no: { pattern: /^\d{1,64}$/, expected: 'up to 64 digits' },
  out_trade_no: { pattern: token(64), expected: "up to 64 letters, digits, '_' or '-'" },
  out_biz_no: { pattern: token(64), expected: "up to 64 letters, digits, '_' or '-'" },
  agreement_no: { pattern: token(64), expected: "up to 64 letters, digits, '_' or '-'" },
  buyer_id: ALIPAY_USER_ID,
  seller_id: ALIPAY_USER_ID,
  alipay_user_id: ALIPAY_USER_ID,
  buyer_open_id: OPEN_ID,
  alipay_open_id: OPEN_ID,
  app_id: APP_ID,
  auth_app_id: APP_ID,
  merchant_app_id: APP_ID,
  total_amount: AMOUNT,
  receipt_amount: AMOUNT,
  invoice_amount: AMOUNT,
  buyer_pay_amount: AMOUNT,
  point_amount: AMOUNT,
  refund_fee: AMOUNT,
  send_back_fee: AMOUNT,
  notify_time: TIME,
  gmt_create: TIME,
  gmt_payment: TIME,
  gmt_refund: TIME_MS,
  gmt_close: TIME,
  sign_time: TIME,
  unsign_time: TIME,
  sign_modify_time: TIME,
  valid_time: TIME,
  invalid_time: TIME,
};

/**
 * Refuses (422, naming the field) a signed value that could hide a field: one containing `&<key>=`,
 * or one of the fields above not in its format (checked on the bytes: every format is ASCII, and
 * ASCII is the same bytes in UTF-8 and GBK). Empty values are not signed and not checked.
 */
export function checkNotifyFields(fields: FormFields, excluded: readonly string[]): void {
  for (const [key, bytes] of fields) {
    if (bytes.length === 0 || excluded.includes(key)) continue;
    const value = bytes.toString('latin1');
    const hidden = HIDDEN_FIELD.exec(value);
    if (hidden) {
      throw new SchemaError(`${key}: holds "${hidden[0].slice(0, 40)}", which could hide another signed field (Alipay does not sign where values end)`);
    }
    const format = NOTIFY_FIELD_FORMATS[key];
    if (format && (!format.pattern.test(value) || (format.time && (parseBeijingTime(value.slice(0, 19)) ?? -1) < 0))) {
      throw new SchemaError(`${key}: expected ${format.expected}`);
    }
  }
}

const BEIJING_OFFSET_MS = 8 * 3_600_000;

/** "yyyy-MM-dd HH:mm:ss" in Beijing time (UTC+8, no daylight saving) to epoch ms; undefined when malformed. */
export function parseBeijingTime(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(utc);
  // Date.UTC rolls 2025-02-30 over into March: a date that does not exist is malformed.
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return utc - BEIJING_OFFSET_MS;
}

export function formatBeijingTime(epochMs: number): string {
  return new Date(epochMs + BEIJING_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}
