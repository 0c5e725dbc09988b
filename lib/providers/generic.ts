/**
 * The generic provider: our own JSON event (version 1), signed with Standard Webhooks headers.
 * The recommended integration for anything that is not one of the named providers.
 */
import * as z from 'zod';
import { SchemaError } from '../errors.js';
import {
  AUTH_METHODS,
  EVENT_KINDS,
  Identifier,
  INSTRUMENT_KINDS,
  LINKED_ACCOUNT_KINDS,
  type PaymentEvent,
  Reference,
} from '../events.js';
import { parseStrictJson } from './json.js';
import { decodeSecret, verifyStandardWebhook } from './standard-webhooks.js';
import { type ProviderAdapter, type RawRequest, type Verified, jsonResponse } from './types.js';

/** How far in the future an occurredAt may be (clock skew between the sender and us). */
export const MAX_FUTURE_MS = 5 * 60_000;

const Timestamp = z.iso
  .datetime({ offset: true, error: 'expected an ISO-8601 date-time with a zone, e.g. 2026-11-22T09:00:00Z' })
  .refine((v) => Date.parse(v) >= 0, 'expected a date-time after 1970-01-01');

/** The wire format, version 1. Strict: a misspelt field is an error, not silently dropped data. */
export const GenericEventV1 = z.strictObject({
  id: Identifier,
  kind: z.enum(EVENT_KINDS),
  occurredAt: Timestamp,
  amount: z.strictObject({
    minor: z.number().int('expected a whole number of minor units, at most 2^53 - 1').nonnegative().max(Number.MAX_SAFE_INTEGER),
    currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO-4217 code such as CNY'),
  }),
  account: z.strictObject({ id: Identifier, twoFactor: z.boolean().optional(), createdAt: Timestamp.optional() }),
  linkedAccount: z.strictObject({ id: Identifier, kind: z.enum(LINKED_ACCOUNT_KINDS) }).optional(),
  merchant: z.strictObject({ id: Identifier, category: z.string().regex(/^\d{4}$/, 'expected a 4-digit MCC').optional() }),
  instrument: z.strictObject({ id: Identifier, kind: z.enum(INSTRUMENT_KINDS) }).optional(),
  authMethod: z.enum(AUTH_METHODS),
  device: z.strictObject({ id: Identifier }).optional(),
  ip: z.union([z.ipv4(), z.ipv6()], { error: 'expected an IPv4 or IPv6 address' }).optional(),
  country: z.string().regex(/^[A-Z]{2}$/, 'expected an ISO-3166 alpha-2 code such as CN').optional(),
  /** New and optional in v1: the merchant's order id and the provider's transaction id, echoed in decisions and reviews. */
  reference: Reference.optional(),
});
export type GenericEventV1 = z.infer<typeof GenericEventV1>;

/**
 * e.g. "amount.minor: expected a whole number of minor units, at most 2^53 - 1; ip: expected an IPv4 or IPv6 address".
 * Bounded (an unknown key is the sender's text, of any length and number): at most 1,000 characters.
 */
export function describeIssues(error: z.ZodError, limit = 5): string {
  const text = error.issues
    .slice(0, limit)
    .map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
      const keys = issue.code === 'unrecognized_keys' ? ` (${cut(issue.keys.map((k) => cut(k, 40)).join(', '), 120)})` : '';
      return `${cut(path || '(body)', 80)}: ${cut(issue.message, 160)}${keys}`;
    })
    .join('; ');
  return cut(text, MAX_MESSAGE_CHARS);
}

const MAX_MESSAGE_CHARS = 1_000;

/** At most `max` characters and "...", never half of a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 4] ?? '') ? max - 4 : max - 3;
  return `${text.slice(0, end)}...`;
}

export function toPaymentEvent(wire: GenericEventV1, receivedAt: number): PaymentEvent {
  const occurredAt = Date.parse(wire.occurredAt);
  if (occurredAt - receivedAt > MAX_FUTURE_MS) throw new SchemaError('occurredAt: more than 5 minutes in the future');
  return {
    id: wire.id,
    provider: 'generic',
    kind: wire.kind,
    occurredAt,
    amount: wire.amount,
    account: {
      id: wire.account.id,
      ...(wire.account.twoFactor !== undefined && { twoFactor: wire.account.twoFactor }),
      ...(wire.account.createdAt !== undefined && { createdAt: Date.parse(wire.account.createdAt) }),
    },
    ...(wire.linkedAccount && { linkedAccount: wire.linkedAccount }),
    merchant: wire.merchant,
    ...(wire.instrument && { instrument: wire.instrument }),
    authMethod: wire.authMethod,
    ...(wire.device && { device: wire.device }),
    ...(wire.ip !== undefined && { ip: wire.ip }),
    ...(wire.country !== undefined && { country: wire.country }),
    ...(wire.reference && { reference: wire.reference }),
  };
}

/** A signed JSON body, read strictly (lib/providers/json.ts): 400 unless UTF-8 JSON without duplicate or __proto__ keys. */
export function createGenericAdapter(secrets: readonly string[]): ProviderAdapter {
  const keys = secrets.map(decodeSecret);
  return {
    name: 'generic',
    verify(request: RawRequest): Verified {
      verifyStandardWebhook(request.headers, request.body, keys, request.receivedAt);
      const parsed = GenericEventV1.safeParse(parseStrictJson(request.body, { integerPaths: ['amount.minor'] }));
      if (!parsed.success) throw new SchemaError(describeIssues(parsed.error));
      return { kind: 'score', event: toPaymentEvent(parsed.data, request.receivedAt) };
    },
    respond: (d) =>
      jsonResponse(200, {
        eventId: d.eventId,
        decision: d.decision,
        score: d.score,
        reasons: d.reasons,
        policyVersion: d.policyVersion,
        degraded: d.degraded,
      }),
    acknowledge: (reason) => jsonResponse(200, { acknowledged: true, reason }),
  };
}
