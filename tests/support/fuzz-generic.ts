/**
 * Generic (v1) events for fuzzing: a valid event, then up to three mutations (a field replaced by a
 * hostile or near-miss value, a field deleted, an unknown key, a duplicate key, an amount lexeme),
 * then possibly a byte-level corruption. An independent oracle (written from the README's
 * contract, not from lib/) says what riskhook must answer.
 */
import fc from 'fast-check';
import {
  amountLexeme,
  dateValue,
  edgeString,
  hasLoneSurrogate,
  ipValue,
  isIpAddress,
  isIsoDateTime,
  isNonPlainNumber,
  isPlainObject,
  plain,
  rawAt,
  textProblem,
} from './fuzz-arbitraries.js';
import { type JsonCase, corruptedVerdict, jsonCase, mutationArb } from './fuzz-mutations.js';

export const MAX_FUTURE_MS = 5 * 60_000;
const KINDS = ['authorization', 'notification'];
const AUTH_METHODS = ['password', 'biometric', 'password_free', 'three_ds', 'unknown'];
const LINKED_KINDS = ['apple_id', 'google', 'other'];
const INSTRUMENT_KINDS = ['card', 'agreement', 'wallet', 'balance'];

// --- the oracle --------------------------------------------------------------------------------

type Check = (v: unknown) => boolean;
/** zod 4 bounds string lengths in code points (a surrogate pair is one), not UTF-16 units. */
export const codePoints = (s: string) => Array.from(s).length;
export const isId: Check = (v) => typeof v === 'string' && v.length >= 1 && codePoints(v) <= 256;
export const oneOf = (list: readonly string[]): Check => (v) => typeof v === 'string' && list.includes(v);
export const matches = (re: RegExp): Check => (v) => typeof v === 'string' && re.test(v);
const isDate: Check = (v) => isIsoDateTime(v) && Date.parse(v) >= 0;

export function strict(v: unknown, fields: Record<string, readonly [required: boolean, check: Check]>): boolean {
  if (!isPlainObject(v)) return false;
  if (Object.keys(v).some((k) => !Object.hasOwn(fields, k))) return false;
  return Object.entries(fields).every(([k, [required, check]]) => (Object.hasOwn(v, k) ? check(v[k]) : !required));
}

/** The v1 schema, independently: does this value (as JSON.parse gives it) match? `now` for the future bound. */
export function isValidGenericEvent(v: unknown, now: number, futureBound = true): boolean {
  return strict(v, {
    id: [true, isId],
    kind: [true, oneOf(KINDS)],
    occurredAt: [true, (x) => isDate(x) && (!futureBound || Date.parse(x as string) - now <= MAX_FUTURE_MS)],
    amount: [
      true,
      (a) =>
        strict(a, {
          minor: [true, (m) => typeof m === 'number' && Number.isSafeInteger(m) && m >= 0],
          currency: [true, matches(/^[A-Z]{3}$/)],
        }),
    ],
    account: [true, (a) => strict(a, { id: [true, isId], twoFactor: [false, (b) => typeof b === 'boolean'], createdAt: [false, isDate] })],
    linkedAccount: [false, (a) => strict(a, { id: [true, isId], kind: [true, oneOf(LINKED_KINDS)] })],
    merchant: [true, (a) => strict(a, { id: [true, isId], category: [false, matches(/^[0-9]{4}$/)] })],
    instrument: [false, (a) => strict(a, { id: [true, isId], kind: [true, oneOf(INSTRUMENT_KINDS)] })],
    authMethod: [true, oneOf(AUTH_METHODS)],
    device: [false, (a) => strict(a, { id: [true, isId] })],
    ip: [false, isIpAddress],
    country: [false, matches(/^[A-Z]{2}$/)],
  });
}

export type Verdict = 200 | 400 | 413 | 422;

/**
 * What riskhook must answer a signed generic body built from `parts` (then corrupted by `corruption`):
 * 413 over the limit; 400 for bytes that are not strict JSON (invalid UTF-8, syntax, duplicate or
 * __proto__ keys, lone surrogates); 422 for an amount not written as plain digits or a schema
 * violation (an occurredAt more than 5 minutes ahead included); 200 otherwise.
 */
export function genericVerdict(parts: unknown, body: Buffer, corrupted: boolean, maxBodyBytes: number, now: number): Verdict {
  if (body.length > maxBodyBytes) return 413;
  if (corrupted) return corruptedVerdict(body);
  if (textProblem(parts) !== undefined) return 400;
  const minor = rawAt(parts, ['amount', 'minor']);
  if (isNonPlainNumber(minor)) return 422;
  return isValidGenericEvent(plain(parts), now) ? 200 : 422;
}

// --- valid events ------------------------------------------------------------------------------

/** Identifiers a sender may legitimately use: ASCII, or any well-formed text (NUL, bidi marks, emoji), 1..256 units. */
export const validId = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }), weight: 3 },
  { arbitrary: edgeString(40).filter((s) => s.length >= 1 && s.length <= 256 && !hasLoneSurrogate(s)), weight: 2 },
  { arbitrary: fc.integer({ min: 200, max: 256 }).map((n) => 'x'.repeat(n)), weight: 1 },
);

const validDate = dateValue.filter((d) => d.kind === 'valid').map((d) => d.text);

export const validGenericEvent = fc.record(
  {
    id: validId,
    kind: fc.constantFrom(...KINDS),
    occurredAt: validDate,
    amount: fc.record({
      minor: fc.oneof(fc.integer({ min: 0, max: 500_000 }), fc.constantFrom(0, Number.MAX_SAFE_INTEGER)),
      currency: fc.constantFrom('CNY', 'USD', 'EUR', 'JPY'),
    }),
    account: fc.record({ id: validId, twoFactor: fc.boolean(), createdAt: validDate }, { requiredKeys: ['id'] }),
    linkedAccount: fc.record({ id: validId, kind: fc.constantFrom(...LINKED_KINDS) }),
    merchant: fc.record({ id: validId, category: fc.stringMatching(/^[0-9]{4}$/) }, { requiredKeys: ['id'] }),
    instrument: fc.record({ id: validId, kind: fc.constantFrom(...INSTRUMENT_KINDS) }),
    authMethod: fc.constantFrom(...AUTH_METHODS),
    device: fc.record({ id: validId }),
    ip: ipValue.filter((ip) => ip.ok).map((ip) => ip.text),
    country: fc.stringMatching(/^[A-Z]{2}$/),
  },
  { requiredKeys: ['id', 'kind', 'occurredAt', 'amount', 'account', 'merchant', 'authMethod'] },
);

// --- mutations ---------------------------------------------------------------------------------

export const GENERIC_FIELD_PATHS = [
  'id', 'kind', 'occurredAt', 'amount', 'amount.minor', 'amount.currency', 'account', 'account.id', 'account.twoFactor',
  'account.createdAt', 'linkedAccount', 'linkedAccount.id', 'linkedAccount.kind', 'merchant', 'merchant.id', 'merchant.category',
  'instrument', 'instrument.id', 'instrument.kind', 'authMethod', 'device', 'device.id', 'ip', 'country',
] as const;
const OBJECT_PATHS = ['', 'amount', 'account', 'linkedAccount', 'merchant', 'instrument', 'device'] as const;

/** Near misses for each field: right type, almost the right value. */
function nearMiss(path: string): fc.Arbitrary<unknown> {
  const leaf = path.split('.').pop()!;
  switch (leaf) {
    case 'kind':
    case 'authMethod':
      return fc.constantFrom('Authorization', 'AUTHORIZATION', 'authorization ', 'password-free', 'passwordFree', 'card\u0000', 'apple-id', 'Apple_ID', '', 'wallet\u200f', 'unknown\n', 'three_DS');
    case 'currency':
      return fc.constantFrom('cny', 'CN', 'CNYY', 'ＣＮＹ', 'CN\u0000', 'C N', 'CNY\n', '', 'ÇNY', '123');
    case 'country':
      return fc.constantFrom('cn', 'CHN', 'C', 'ＣＮ', 'CN\n', 'C\u0000', '', '12');
    case 'category':
      return fc.constantFrom('5818', '581', '58181', '٥٨١٨', '５８１８', '5818\n', ' 5818', '58a8', '', '-581');
    case 'occurredAt':
    case 'createdAt':
      return dateValue.map((d) => d.text);
    case 'twoFactor':
      return fc.constantFrom('true', 'false', 1, 0, null, 'yes');
    case 'minor':
      return amountLexeme;
    case 'ip':
      return ipValue.map((ip) => ip.text);
    case 'id':
      return fc.oneof(validId, fc.constantFrom('', 'x'.repeat(257), '\ud800', 'a\udc00b', '😀'.repeat(256), '😀'.repeat(257), `${'x'.repeat(255)}\ud800`));
    default:
      return fc.oneof(
        fc.constant({}),
        fc.constant([]),
        fc.constant(null),
        fc.record({ id: validId }),
        fc.record({ id: validId, kind: fc.constantFrom('apple_id', 'card', 'other', 'x') }),
      );
  }
}

export const genericMutation = mutationArb(GENERIC_FIELD_PATHS, OBJECT_PATHS, nearMiss);

export type GenericCase = JsonCase<object>;
/** Mostly hostile; about one case in 20 is valid (each valid one is scored on Redis: ~4 ms). */
export const genericCase: fc.Arbitrary<GenericCase> = jsonCase(validGenericEvent, genericMutation, 60);
