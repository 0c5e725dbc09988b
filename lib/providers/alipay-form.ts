/**
 * Alipay's form encoding at the byte level: a notify is verified on the bytes its fields decode to,
 * before anyone knows which charset those bytes are in (the charset is itself a signed field).
 * Parsing, the string-to-sign, and (for the test signer) encoding back, in UTF-8 or GBK.
 */
import { BodyParseError } from '../errors.js';

/** The fields of a form body by key, each value the bytes it decodes to ('+' a space, %XX a byte). */
export type FormFields = ReadonlyMap<string, Buffer>;

/** Left out of a notify's string-to-sign (Alipay's rsaCheckV1; rsaCheckV2 leaves out only `sign`). */
export const NOTIFY_UNSIGNED_KEYS: readonly string[] = ['sign', 'sign_type'];

const AMP = 0x26;
const EQ = 0x3d;
const PLUS = 0x2b;
const PERCENT = 0x25;
/** Keys are ASCII names (Alipay's are snake_case): byte order is then Java's and JavaScript's sort order. */
const KEY = /^[A-Za-z0-9_.-]{1,64}$/;
/**
 * A notify carries about 30 fields (the documented trade notify has under 50). Parsing stops at this
 * many segments, so a 64 KiB body of thousands of tiny fields (signed or not) is refused after
 * parsing a few notifies' worth, not all of it.
 */
export const MAX_FORM_SEGMENTS = 200;

/**
 * Parses an application/x-www-form-urlencoded body into bytes per key, decoding each pair exactly
 * once. Refuses a malformed escape, a key that is not a plain ASCII name, a key given twice (which
 * value was signed would be a guess), and more than `maxSegments` segments: it stops there, having
 * decoded no more. Empty segments (`a=1&&b=2`, a trailing `&`) are skipped, but counted.
 */
export function parseForm(body: Buffer, maxSegments = MAX_FORM_SEGMENTS): FormFields {
  const fields = new Map<string, Buffer>();
  let start = 0;
  let segments = 0;
  while (start <= body.length) {
    let end = body.indexOf(AMP, start);
    if (end === -1) end = body.length;
    if (++segments > maxSegments) throw new BodyParseError(`form: more than ${maxSegments} fields (a notify has about 30)`);
    if (end > start) {
      const pair = body.subarray(start, end);
      const eq = pair.indexOf(EQ);
      const rawKey = eq === -1 ? pair : pair.subarray(0, eq);
      const key = percentDecode(rawKey, 'a key').toString('latin1');
      if (!KEY.test(key)) throw new BodyParseError(`form key ${JSON.stringify(key.slice(0, 64))}: expected letters, digits, '_', '.' or '-'`);
      if (fields.has(key)) throw new BodyParseError(`form key "${key}" appears more than once`);
      fields.set(key, eq === -1 ? Buffer.alloc(0) : percentDecode(pair.subarray(eq + 1), `"${key}"`));
    }
    start = end + 1;
  }
  return fields;
}

function percentDecode(raw: Buffer, what: string): Buffer {
  if (!raw.includes(PERCENT) && !raw.includes(PLUS)) return raw;
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte === PLUS) {
      out[n++] = 0x20;
    } else if (byte === PERCENT) {
      const hi = hexValue(raw[i + 1]);
      const lo = hexValue(raw[i + 2]);
      if (hi === -1 || lo === -1) throw new BodyParseError(`form value of ${what}: "%" not followed by two hex digits`);
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[n++] = byte;
    }
  }
  return out.subarray(0, n);
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

/**
 * The bytes Alipay signs: every field but the excluded ones whose value is not empty, sorted by
 * key, as `key=value` joined by `&`, values exactly as decoded (no transcoding, no second decode).
 */
export function signContent(fields: FormFields, excluded: readonly string[] = NOTIFY_UNSIGNED_KEYS): Buffer {
  const parts: Buffer[] = [];
  for (const key of [...fields.keys()].filter((k) => !excluded.includes(k)).sort()) {
    const value = fields.get(key)!;
    if (value.length === 0) continue;
    if (parts.length > 0) parts.push(Buffer.of(AMP));
    parts.push(Buffer.from(`${key}=`, 'latin1'), value);
  }
  return Buffer.concat(parts);
}

/** Form-encodes bytes as Java's URLEncoder does: [A-Za-z0-9.-*_] kept, space as '+', the rest %XX. */
export function formEncode(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    if (
      (byte >= 0x30 && byte <= 0x39) ||
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2e ||
      byte === 0x2d ||
      byte === 0x2a ||
      byte === 0x5f
    ) {
      out += String.fromCharCode(byte);
    } else if (byte === 0x20) {
      out += '+';
    } else {
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/** A form body from fields in the given order. */
export function encodeForm(fields: Iterable<readonly [string, Buffer]>): Buffer {
  return Buffer.from([...fields].map(([k, v]) => `${formEncode(Buffer.from(k, 'latin1'))}=${formEncode(v)}`).join('&'), 'latin1');
}

/** The WHATWG encoding a charset label names (`UTF-8`, `gbk`, `gb2312` ...), or undefined when unknown. */
export function encodingOf(label: string): string | undefined {
  try {
    return new TextDecoder(label).encoding;
  } catch {
    return undefined;
  }
}

/** Text from bytes in the given encoding; throws TypeError when the bytes are not valid in it. */
export function decodeText(bytes: Buffer, encoding: string): string {
  return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
}

/** Text to bytes in UTF-8 or GBK (for signing test notifies; Node has no GBK encoder, so one is derived from its decoder). */
export function encodeText(text: string, encoding: 'utf-8' | 'gbk'): Buffer {
  if (encoding === 'utf-8') return Buffer.from(text, 'utf8');
  const table = (gbkTable ??= buildGbkTable());
  const out: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x80) {
      out.push(code);
      continue;
    }
    const pair = table.get(ch);
    if (pair === undefined) throw new RangeError(`"${ch}" (U+${code.toString(16).toUpperCase()}) has no GBK encoding`);
    out.push(pair >> 8, pair & 0xff);
  }
  return Buffer.from(out);
}

let gbkTable: Map<string, number> | undefined;

/** Every two-byte GBK code (lead 0x81-0xFE, trail 0x40-0xFE but 0x7F) by the character it decodes to. */
function buildGbkTable(): Map<string, number> {
  const decoder = new TextDecoder('gbk', { fatal: true });
  const table = new Map<string, number>();
  for (let lead = 0x81; lead <= 0xfe; lead++) {
    for (let trail = 0x40; trail <= 0xfe; trail++) {
      if (trail === 0x7f) continue;
      let ch: string;
      try {
        ch = decoder.decode(Uint8Array.of(lead, trail));
      } catch {
        continue;
      }
      if (!table.has(ch)) table.set(ch, (lead << 8) | trail);
    }
  }
  return table;
}
