/**
 * Hostile inputs for the fuzz suites, and the means to know which of them are valid: JSON built
 * from parts (so a body can hold duplicate keys, `__proto__`, exponent or -0 lexemes, deep
 * nesting) together with an independent oracle of what a strict reader must make of it.
 */
import { isIP } from 'node:net';
import fc from 'fast-check';

// --- text --------------------------------------------------------------------------------------

/** Characters that trip naive text handling: controls, NUL, bidi marks, BOM, non-characters, emoji, JSON and form syntax. */
export const EDGE_CHARS = [
  '\u0000', '\u0001', '\u0008', '\u001f', '\u007f', '\u0080', '\u0085', '\u00a0', '\u00ad', '\u200b', '\u200c', '\u200d',
  '\u200e', '\u200f', '\u202a', '\u202b', '\u202e', '\u2066', '\u2067', '\u2069', '\u061c', '\u2028', '\u2029', '\ufeff',
  '\ufffd', '\ufffe', '\uffff', '\u{10ffff}', '\u{e0001}', '😀', '👩‍👩‍👧‍👦', '🇨🇳', 'e\u0301', 'ﷺ', '中', '支付', 'ÿ', 'İ', 'ß',
  '０', '١', '"', '\\', '/', "'", '`', '<', '>', '&', '%', '%00', '%ZZ', '+', '=', ',', ';', ':', '.', ' ', '\t', '\n', '\r',
  '\r\n', '{', '}', '[', ']', '$', '#', '*', '?', '__proto__', 'constructor', 'prototype', 'toString', 'NaN', 'Infinity', '-0',
  '1e3', 'null', 'true', '\\u0000', '\\ud800',
];

export const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/**
 * Any code point but a surrogate, and any of U+0000-U+00FF. (Not fc.string's 'binary' units: building
 * a string arbitrary over them makes fast-check map all 1.1M code points back, about a second each time.)
 */
export const anyCodePoint = fc
  .integer({ min: 0, max: 0x10ffff - 0x800 })
  .map((c) => String.fromCodePoint(c < 0xd800 ? c : c + 0x800));
const anyLatin1 = fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c));

/** One unit of well-formed hostile text: an edge character, any code point or any Latin-1 character. */
const wellFormedUnit = fc.oneof(
  { arbitrary: fc.constantFrom(...EDGE_CHARS), weight: 4 },
  { arbitrary: anyCodePoint, weight: 2 },
  { arbitrary: anyLatin1, weight: 2 },
);
/** The same, or a lone surrogate. */
export const edgeUnit = fc.oneof({ arbitrary: wellFormedUnit, weight: 8 }, { arbitrary: loneSurrogate, weight: 1 });

/** Hostile text; one string in six may hold lone surrogates (which no UTF-8 body can carry but a \uD800 escape can). */
export function edgeString(maxLength = 24): fc.Arbitrary<string> {
  // Memoized: building a string arbitrary over a custom unit is slow (fast-check tokenizes its bias strings).
  let arbitrary = edgeStrings.get(maxLength);
  if (!arbitrary) {
    arbitrary = fc.oneof({ arbitrary: fc.string({ unit: wellFormedUnit, maxLength }), weight: 5 }, { arbitrary: fc.string({ unit: edgeUnit, maxLength }), weight: 1 });
    edgeStrings.set(maxLength, arbitrary);
  }
  return arbitrary;
}
const edgeStrings = new Map<number, fc.Arbitrary<string>>();

/** Long strings, around and far beyond the 256-character identifier bound (some beyond the body limit). */
export const hugeString = fc
  .tuple(
    fc.constantFrom('a', '中', '😀', '\u0000', '\\', '"', '\u200f'),
    // Beyond the 64 KiB body limit now and then (a 413 is cheap to reach and costly to build).
    fc.oneof({ arbitrary: fc.integer({ min: 250, max: 300 }), weight: 6 }, { arbitrary: fc.integer({ min: 1_000, max: 20_000 }), weight: 3 }, { arbitrary: fc.integer({ min: 60_000, max: 70_000 }), weight: 1 }),
  )
  .map(([c, n]) => c.repeat(Math.max(1, Math.floor(n / c.length))));

export const hasLoneSurrogate = (s: string) => /\p{Cs}/u.test(s);

// --- bytes -------------------------------------------------------------------------------------

/** Byte sequences that are not UTF-8: overlong forms, encoded surrogates, beyond U+10FFFF, stray and truncated bytes. */
export const INVALID_UTF8: readonly number[][] = [
  [0xc0, 0x80], // overlong NUL
  [0xc0, 0xaf], // overlong '/'
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf], // overlong '/', 3 bytes
  [0xf0, 0x80, 0x80, 0xaf], // overlong '/', 4 bytes
  [0xed, 0xa0, 0x80], // U+D800 encoded (CESU)
  [0xed, 0xbf, 0xbf], // U+DFFF encoded
  [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], // a surrogate pair encoded separately (CESU-8 emoji)
  [0xf4, 0x90, 0x80, 0x80], // U+110000
  [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
  [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80], // 6-byte form
  [0xfe],
  [0xff],
  [0x80], // lone continuation byte
  [0xbf],
  [0xc3], // truncated 2-byte
  [0xe4, 0xb8], // truncated 3-byte
  [0xf0, 0x9f, 0x98], // truncated emoji
];

export const invalidUtf8 = fc.constantFrom(...INVALID_UTF8).map((bytes) => Buffer.from(bytes));

export function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Inserts `insert` into `bytes` at a position chosen by `at` (0..1). */
export function spliceBytes(bytes: Buffer, at: number, insert: Buffer): Buffer {
  const i = Math.min(bytes.length, Math.floor(at * (bytes.length + 1)));
  return Buffer.concat([bytes.subarray(0, i), insert, bytes.subarray(i)]);
}

// --- JSON built from parts ---------------------------------------------------------------------

/** A value written as raw JSON text (a lexeme the serializer would never produce: 1e3, -0, NaN, deep nesting). */
export class Raw {
  constructor(
    readonly text: string,
    /** What JSON.parse makes of it; undefined when the text is not valid JSON. */
    readonly valid: boolean,
  ) {}
  get value(): unknown {
    return JSON.parse(this.text);
  }
}

/** An object written entry by entry, so a key can repeat or be `__proto__`. */
export class Entries {
  constructor(readonly pairs: ReadonlyArray<readonly [string, unknown]>) {}
}

export function toJson(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Entries) return `{${value.pairs.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(',')}}`;
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : toJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return toJson(new Entries(Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).map((k) => [k, (value as Record<string, unknown>)[k]])));
  }
  return JSON.stringify(value) ?? 'null';
}

/** What a strict JSON reader must refuse (400), by an independent walk of the parts. */
export function textProblem(value: unknown): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v instanceof Raw) {
      if (!v.valid) return `raw ${v.text.slice(0, 20)} is not JSON`;
      if (hasLoneSurrogate(v.text)) return 'lone surrogate';
      continue;
    }
    if (typeof v === 'string') {
      if (hasLoneSurrogate(v)) return 'lone surrogate';
      continue;
    }
    let pairs: ReadonlyArray<readonly [string, unknown]>;
    if (v instanceof Entries) pairs = v.pairs;
    else if (Array.isArray(v)) {
      stack.push(...v);
      continue;
    } else if (v !== null && typeof v === 'object') pairs = Object.keys(v).map((k) => [k, (v as Record<string, unknown>)[k]] as const);
    else continue;
    const seen = new Set<string>();
    for (const [k, child] of pairs) {
      if (k === '__proto__') return '__proto__ key';
      if (hasLoneSurrogate(k)) return 'lone surrogate in a key';
      if (seen.has(k)) return `duplicate key ${k}`;
      seen.add(k);
      stack.push(child);
    }
  }
  return undefined;
}

/** The value a JSON reader sees (parts resolved; only meaningful when textProblem() is undefined). */
export function plain(value: unknown): unknown {
  if (value instanceof Raw) return value.value;
  if (value instanceof Entries) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value.pairs) out[k] = plain(v);
    return out;
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) out[k] = plain((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/**
 * The number lexeme at a path of parts (e.g. ['amount', 'minor']), if the value there is a number:
 * a Raw as written, or a JS number as JSON.stringify writes it (1e300 is written "1e+300", an integer
 * not written as plain digits, which the adapters refuse like any other).
 */
export function rawAt(value: unknown, path: readonly string[]): Raw | undefined {
  let v = value;
  for (const key of path) {
    if (v instanceof Entries) v = v.pairs.find(([k]) => k === key)?.[1];
    else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Raw)) v = (v as Record<string, unknown>)[key];
    else return undefined;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return new Raw(JSON.stringify(v), true);
  return v instanceof Raw ? v : undefined;
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Raw) && !(v instanceof Entries);

// --- numbers -----------------------------------------------------------------------------------

export interface Lexeme {
  readonly text: string;
  /** Valid JSON at all. */
  readonly json: boolean;
  /** Written as a plain integer: -?(0|[1-9][0-9]*), and not -0. */
  readonly plainInteger: boolean;
}

/** Amounts at the edges, as JSON text: fractions, exponents, -0, beyond 2^53, NaN and Infinity as text or bare, hex, leading zeros. */
export const AMOUNT_LEXEMES: readonly Lexeme[] = [
  ['0', true, true], ['1', true, true], ['-1', true, true], ['-2000', true, true], ['199900', true, true],
  ['9007199254740991', true, true], ['9007199254740992', true, true], ['9007199254740993', true, true],
  ['18446744073709551616', true, true], ['123456789012345678901234567890', true, true],
  ['-0', true, false], ['-0.0', true, false], ['0.0', true, false], ['1.0', true, false], ['1.5', true, false], ['0.1', true, false],
  ['12.50', true, false], ['100.00000000000000001', true, false], ['9007199254740990.5', true, false], ['1e3', true, false],
  ['1E3', true, false], ['1e+3', true, false], ['1e-3', true, false], ['2e2', true, false], ['1.5e1', true, false], ['0e0', true, false],
  ['1e308', true, false], ['1e309', true, false], ['-1e309', true, false], ['5e-324', true, false],
  ['"1000"', true, false], ['"NaN"', true, false], ['"Infinity"', true, false], ['"-Infinity"', true, false], ['"1e3"', true, false],
  ['"-0"', true, false], ['""', true, false], ['null', true, false], ['true', true, false], ['[]', true, false], ['{}', true, false],
  ['[1000]', true, false], ['{"value":1000}', true, false],
  ['NaN', false, false], ['Infinity', false, false], ['-Infinity', false, false], ['+1', false, false], ['01', false, false],
  ['-01', false, false], ['.5', false, false], ['1.', false, false], ['0x10', false, false], ['1_000', false, false], ['1e', false, false],
  ['--1', false, false], ['1 000', false, false], ['١٠٠', false, false], ['１０', false, false],
].map(([text, json, plainInteger]) => ({ text: text as string, json: json as boolean, plainInteger: plainInteger as boolean }));

export const amountLexeme = fc.oneof(
  { arbitrary: fc.constantFrom(...AMOUNT_LEXEMES), weight: 3 },
  { arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => ({ text: String(n), json: true, plainInteger: true })), weight: 1 },
).map((l) => new Raw(l.text, l.json));

export const isPlainIntegerLexeme = (text: string) => /^-?(?:0|[1-9]\d*)$/.test(text) && text !== '-0';

/** A raw JSON number whose value is an integer but which is not written as one: 1e3, 1.0, -0 (12.5 is not: it is no integer). */
export const isNonPlainNumber = (raw: Raw | undefined) =>
  raw !== undefined && raw.valid && /^-?[0-9]/.test(raw.text) && !isPlainIntegerLexeme(raw.text) && Number.isInteger(Number(raw.text));

/** A value of the wrong type or at the edge, for any field. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: edgeString(), weight: 4 },
  { arbitrary: hugeString, weight: 1 },
  { arbitrary: fc.constantFrom(0, -1, 1.5, -0, 2 ** 53, 2 ** 53 + 2, 1e300, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, 1000), weight: 2 },
  { arbitrary: amountLexeme, weight: 2 },
  { arbitrary: fc.constantFrom(true, false, null), weight: 2 },
  { arbitrary: fc.constantFrom<unknown>([], {}, [null], [''], { id: 'x' }, { constructor: {} }, { toString: 'x' }), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  {
    // Deep nesting: mostly shallow-ish, now and then 20,000 arrays or 5,000 objects deep.
    arbitrary: fc.oneof(
      fc.oneof({ arbitrary: fc.integer({ min: 1, max: 200 }), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 20_000 }), weight: 1 }).map((n) => new Raw(`${'['.repeat(n)}${']'.repeat(n)}`, true)),
      fc.oneof({ arbitrary: fc.integer({ min: 1, max: 200 }), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 5_000 }), weight: 1 }).map((n) => new Raw(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`, true)),
    ),
    weight: 1,
  },
  {
    arbitrary: fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'), fc.jsonValue({ maxDepth: 2 })).map(
      ([k, v]) => new Entries([[k, v]]),
    ),
    weight: 1,
  },
);

// --- dates and addresses -----------------------------------------------------------------------

export type DateKind = 'valid' | 'future' | 'invalid';
export interface DateValue {
  readonly text: string;
  /** valid: an ISO-8601 date-time with a zone, after 1970, not ahead of now by more than 4 min; future: 6 min or more ahead. */
  readonly kind: DateKind;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** An ISO date-time of epoch ms `t` written in zone `offsetMin` (minutes east of UTC), with or without a fraction. */
export function isoWithOffset(t: number, offsetMin: number, fraction: string): string {
  const local = new Date(t + offsetMin * 60_000);
  const zone = offsetMin === 0 ? 'Z' : `${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offsetMin) / 60))}:${pad(Math.abs(offsetMin) % 60)}`;
  return `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${fraction}${zone}`;
}

const INVALID_DATES = [
  '', ' ', '2026-11-22', '2026-11-22T09:00', '2026-11-22T09:00Z', '2026-11-22T09:00:00', '2026-11-22 09:00:00Z', '2026-11-22t09:00:00z',
  '2026-11-22T09:00:00+0800', '2026-11-22T09:00:00+08', '2026-11-22T24:00:00Z', '2026-11-22T09:00:60Z', '2025-02-29T00:00:00Z',
  '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '+002026-11-22T09:00:00Z', '1969-12-31T23:59:59Z', '0000-01-01T00:00:00Z',
  '2026-11-22T09:00:00.Z', 'NaN', 'now', '1795338000', '1795338000000', '2026-11-22T09:00:00Z ', ' 2026-11-22T09:00:00Z',
  '2026-11-22T09:00:00Z\u0000', '2026-11-22T09:00:00\u200fZ', '２０２６-11-22T09:00:00Z', '2026-11-22T09:00:00+99:99',
];

/** Dates around now (valid, just valid, in the future), far in the past, odd zones, and malformed ones. */
export const dateValue: fc.Arbitrary<DateValue> = fc.oneof(
  {
    arbitrary: fc
      .tuple(
        fc.oneof(fc.integer({ min: -30 * 86_400_000, max: 4 * 60_000 }), fc.integer({ min: -56 * 365 * 86_400_000, max: 0 })),
        fc.constantFrom(0, 480, -300, 330, 840, -720, 1439, -1439),
        fc.constantFrom('', '.000', '.5', '.123456', '.123456789'),
      )
      .map(([delta, offset, fraction]) => {
        const t = Math.max(0, Math.floor((Date.now() + delta) / 1000) * 1000);
        return { text: isoWithOffset(t, offset, fraction), kind: 'valid' as const };
      }),
    weight: 3,
  },
  {
    arbitrary: fc
      .tuple(fc.oneof(fc.integer({ min: 6 * 60_000, max: 30 * 86_400_000 }), fc.integer({ min: 6 * 60_000, max: 200_000 * 365 * 86_400_000 })), fc.constantFrom(0, 480, -300))
      .map(([delta, offset]) => {
        const t = Math.min(Date.now() + delta, Date.UTC(9999, 11, 31) - 86_400_000 * 2);
        return { text: isoWithOffset(t, offset, ''), kind: 'future' as const };
      }),
    weight: 1,
  },
  { arbitrary: fc.constantFrom(...INVALID_DATES).map((text) => ({ text, kind: 'invalid' as const })), weight: 2 },
);

/** An independent check of an ISO-8601 date-time with a zone (agrees with zod's z.iso.datetime({offset: true}); checked on 400k strings). */
const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/;
export function isIsoDateTime(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const m = ISO.exec(v);
  if (!m) return false;
  const [y, mo, d, h, mi, s, oh, om] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x))) as number[] as [number, number, number, number, number, number, number, number];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days! && h <= 23 && mi <= 59 && s <= 59 && oh <= 23 && om <= 59;
}

/** An independent check of an IP address (node:net; agrees with zod's ipv4/ipv6 union on 300k strings, zone ids aside). */
export const isIpAddress = (v: unknown): v is string => typeof v === 'string' && isIP(v) !== 0 && !v.includes('%');

export const VALID_IPS = ['192.0.2.66', '0.0.0.0', '255.255.255.255', '::', '::1', '2001:db8::10', '2001:DB8::10', '::ffff:192.0.2.1', '1:2:3:4:5:6:7:8'];
export const INVALID_IPS = ['', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.4/24', '[::1]', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', ':::', '::g', ' 1.2.3.4', '1.2.3.4 ', 'localhost', '１.２.３.４', '1.2.3.4\u0000'];

export const ipValue = fc.oneof(
  { arbitrary: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom(...VALID_IPS)).map((text) => ({ text, ok: true })), weight: 2 },
  { arbitrary: fc.constantFrom(...INVALID_IPS).map((text) => ({ text, ok: false })), weight: 1 },
);

// --- requests ----------------------------------------------------------------------------------

/** Content types, right and wrong: the adapters read bytes, never this header. */
export const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/x-www-form-urlencoded; charset=utf-8',
  'application/x-www-form-urlencoded; charset=GBK',
  'text/plain',
  'text/html; charset=iso-8859-1',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/json; charset=utf-16',
  '',
  '*/*',
  'application/json\u0000',
);

/** Method spellings that are not POST. */
export const otherMethod = fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'post', 'Post', 'POST ', ' POST', 'CONNECT', 'TRACE', '', 'X'.repeat(200));

/** A header name in a random case (payload 1.0 events keep the sender's case). */
export const anyCase = (name: string) => fc.mixedCase(fc.constant(name));

/** Base64 that API Gateway would never send: stray characters, URL alphabet, bad padding, whitespace. */
export function corruptBase64(b64: string, at: number, junk: string): string {
  const i = Math.min(b64.length, Math.floor(at * (b64.length + 1)));
  return `${b64.slice(0, i)}${junk}${b64.slice(i)}`;
}
export const BASE64_JUNK = ['!', '*', ' ', '\n', '\r\n', '\t', '=', '==', '===', '-', '_', '.', ',', '%3D', '\u0000', 'é', '😀', '=A', 'A', 'AA', 'AAA'];

/** Deep equality of JSON values, iterative (values nest 20,000 deep), -0 apart from 0, key order ignored. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  const stack: Array<[unknown, unknown]> = [[a, b]];
  while (stack.length > 0) {
    const [x, y] = stack.pop()!;
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') {
      if (!Object.is(x, y)) return false;
      continue;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    const kx = Object.keys(x);
    const ky = Object.keys(y);
    if (kx.length !== ky.length) return false;
    for (const k of kx) {
      if (!Object.hasOwn(y, k)) return false;
      stack.push([(x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]]);
    }
  }
  return true;
}
