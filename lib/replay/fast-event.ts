/**
 * A hand-written fast path for the PaymentEvent schema (lib/events.ts), for replay's reader: zod
 * costs more than JSON.parse on a canonical line. It accepts only values the zod schema accepts,
 * and returns what zod returns (the same fields, in the schema's key order); anything it is not
 * sure of (a wrong type, a string over its limit in UTF-16 units, an unknown reference key) is
 * left to zod, which decides and words the error. tests/unit/replay/fast-event.test.ts checks both
 * agree on valid and malformed records.
 */
import { AUTH_METHODS, EVENT_KINDS, INSTRUMENT_KINDS, LINKED_ACCOUNT_KINDS, PaymentEvent } from '../events.js';

type Obj = Record<string, unknown>;

/**
 * Event kinds by their text, to the schema's own string: JSON.parse makes a new string for every
 * value over 10 characters ("notification"), and a stored decision keeps its event's kind for the
 * decision TTL; the shared constant costs nothing per event.
 */
const KINDS: ReadonlyMap<unknown, PaymentEvent['kind']> = new Map(EVENT_KINDS.map((k) => [k, k]));
const AUTH: ReadonlySet<unknown> = new Set(AUTH_METHODS);
const LINKED: ReadonlySet<unknown> = new Set(LINKED_ACCOUNT_KINDS);
const INSTRUMENTS: ReadonlySet<unknown> = new Set(INSTRUMENT_KINDS);

/** The record as zod's PaymentEvent.safeParse would return it, or undefined when zod has to decide. */
export function fastPaymentEvent(value: unknown): PaymentEvent | undefined {
  if (!isObject(value)) return undefined;
  const { id, provider, kind, occurredAt, amount, account, linkedAccount, merchant, instrument, authMethod, device, ip, country, reference } = value;
  const knownKind = KINDS.get(kind);
  if (!identifier(id) || !short(provider, 1, 32) || knownKind === undefined || !count(occurredAt) || !AUTH.has(authMethod)) return undefined;
  if (!isObject(amount) || !count(amount.minor) || !upper(amount.currency, 3)) return undefined;
  if (!isObject(account) || !identifier(account.id)) return undefined;
  const { twoFactor, createdAt } = account;
  if ((twoFactor !== undefined && typeof twoFactor !== 'boolean') || (createdAt !== undefined && !count(createdAt))) return undefined;
  if (!isObject(merchant) || !identifier(merchant.id)) return undefined;
  const category = merchant.category;
  if (category !== undefined && !short(category, 0, 16)) return undefined;
  if (linkedAccount !== undefined && !(isObject(linkedAccount) && identifier(linkedAccount.id) && LINKED.has(linkedAccount.kind))) return undefined;
  if (instrument !== undefined && !(isObject(instrument) && identifier(instrument.id) && INSTRUMENTS.has(instrument.kind))) return undefined;
  if (device !== undefined && !(isObject(device) && identifier(device.id))) return undefined;
  if (ip !== undefined && !short(ip, 0, 64)) return undefined;
  if (country !== undefined && !upper(country, 2)) return undefined;
  let ref: PaymentEvent['reference'];
  if (reference !== undefined) {
    if (!isObject(reference)) return undefined;
    // A strict object: any other key is an error, for zod to word.
    for (const key in reference) if (key !== 'orderId' && key !== 'transactionId') return undefined;
    const { orderId, transactionId } = reference;
    if ((orderId !== undefined && !identifier(orderId)) || (transactionId !== undefined && !identifier(transactionId))) return undefined;
    ref = {};
    if ('orderId' in reference) ref.orderId = orderId as string;
    if ('transactionId' in reference) ref.transactionId = transactionId as string;
  }
  // Built in the schema's key order, present optional keys only: what zod's object parser builds.
  const event: Obj = { id, provider, kind: knownKind, occurredAt, amount: { minor: amount.minor, currency: amount.currency } };
  const acc: Obj = { id: account.id };
  if ('twoFactor' in account) acc.twoFactor = twoFactor;
  if ('createdAt' in account) acc.createdAt = createdAt;
  event.account = acc;
  if ('linkedAccount' in value) event.linkedAccount = { id: (linkedAccount as Obj).id, kind: (linkedAccount as Obj).kind };
  const mer: Obj = { id: merchant.id };
  if ('category' in merchant) mer.category = category;
  event.merchant = mer;
  if ('instrument' in value) event.instrument = { id: (instrument as Obj).id, kind: (instrument as Obj).kind };
  event.authMethod = authMethod;
  if ('device' in value) event.device = { id: (device as Obj).id };
  if ('ip' in value) event.ip = ip;
  if ('country' in value) event.country = country;
  if ('reference' in value) event.reference = ref;
  return event as PaymentEvent;
}

/** PaymentEvent.safeParse with the fast path first (same result, same errors). */
export function parsePaymentEvent(value: unknown): ReturnType<typeof PaymentEvent.safeParse> {
  const fast = fastPaymentEvent(value);
  return fast ? { success: true, data: fast } : PaymentEvent.safeParse(value);
}

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string of min..max UTF-16 units (zod counts code points, which are never more: within max units is within max code points). */
function short(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

/** Identifier: 1..256. */
function identifier(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 256;
}

/** A non-negative safe integer (z.number().int().nonnegative(), and .max(MAX_SAFE_INTEGER)). */
function count(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Exactly n ASCII capitals (/^[A-Z]{n}$/). */
function upper(value: unknown, n: number): value is string {
  if (typeof value !== 'string' || value.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 65 || c > 90) return false;
  }
  return true;
}
