/**
 * The canonical payment event and decision: the single source of truth for their types.
 * Every provider adapter produces a PaymentEvent; every response is shaped from a Decision.
 * Identifiers here are raw: they are hashed (lib/identity) before they reach Redis or a log.
 */
import * as z from 'zod';

export const ENTITY_KINDS = ['account', 'linkedAccount', 'device', 'ip', 'instrument', 'merchant'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

export const AUTH_METHODS = ['password', 'biometric', 'password_free', 'three_ds', 'unknown'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export const EVENT_KINDS = ['authorization', 'notification'] as const;
export const LINKED_ACCOUNT_KINDS = ['apple_id', 'google', 'other'] as const;
export const INSTRUMENT_KINDS = ['card', 'agreement', 'wallet', 'balance'] as const;

/** Opaque identifier as a provider sends it; bounded so a hostile sender cannot make us hash megabytes. */
export const Identifier = z.string().min(1).max(256);

export const Money = z.object({
  /** Integer minor units (fen, cents); never a float. */
  minor: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO-4217 code such as CNY'),
});
export type Money = z.infer<typeof Money>;

/** What the merchant keys on: its own order id and the provider's transaction id. Never a payer identifier. */
export const Reference = z.strictObject({
  orderId: Identifier.optional(),
  transactionId: Identifier.optional(),
});
export type Reference = z.infer<typeof Reference>;

export const PaymentEvent = z.object({
  /** The provider's event or notify id; the idempotency key is `provider:id`. */
  id: Identifier,
  provider: z.string().min(1).max(32),
  kind: z.enum(EVENT_KINDS),
  /** Epoch milliseconds; velocity windows are measured on this, not on arrival time. */
  occurredAt: z.number().int().nonnegative(),
  amount: Money,
  account: z.object({
    id: Identifier,
    twoFactor: z.boolean().optional(),
    createdAt: z.number().int().nonnegative().optional(),
  }),
  linkedAccount: z.object({ id: Identifier, kind: z.enum(LINKED_ACCOUNT_KINDS) }).optional(),
  merchant: z.object({ id: Identifier, category: z.string().max(16).optional() }),
  instrument: z.object({ id: Identifier, kind: z.enum(INSTRUMENT_KINDS) }).optional(),
  authMethod: z.enum(AUTH_METHODS),
  device: z.object({ id: Identifier }).optional(),
  ip: z.string().max(64).optional(),
  country: z.string().regex(/^[A-Z]{2}$/).optional(),
  /** The merchant's order and the provider's transaction (Alipay out_trade_no / trade_no, ...). */
  reference: Reference.optional(),
});
export type PaymentEvent = z.infer<typeof PaymentEvent>;

/**
 * A binding: a linked account or agreement was bound to (or unbound from) an account, e.g. an
 * Alipay password-free agreement signed. Not a payment: it counts nothing, it records when, so
 * policies can ask how long ago the binding was made (`<entity>.boundForMs`).
 */
export const Binding = z.object({
  id: Identifier,
  provider: z.string().min(1).max(32),
  occurredAt: z.number().int().nonnegative(),
  state: z.enum(['bound', 'unbound']),
  account: z.object({ id: Identifier }),
  linkedAccount: z.object({ id: Identifier, kind: z.enum(LINKED_ACCOUNT_KINDS) }).optional(),
  instrument: z.object({ id: Identifier, kind: z.enum(INSTRUMENT_KINDS) }).optional(),
});
export type Binding = z.infer<typeof Binding>;

/** The entities a binding is recorded on. */
export const BINDING_KINDS = ['account', 'linkedAccount', 'instrument'] as const satisfies readonly EntityKind[];

export const Reason = z.object({ rule: z.string(), message: z.string() });
export type Reason = z.infer<typeof Reason>;

export const FeatureValue = z.union([z.number(), z.boolean(), z.string()]);
export type FeatureValue = z.infer<typeof FeatureValue>;

export const Decision = z.object({
  eventId: z.string(),
  decision: z.enum(['approve', 'hold']),
  score: z.number().int().min(0).max(100),
  reasons: z.array(Reason),
  /** The features the rules that fired looked at, kept with the stored decision for review. */
  features: z.record(z.string(), FeatureValue),
  policyVersion: z.string(),
  /** false, or why the decision was taken without the velocity store (the fallback policy). */
  degraded: z.union([z.literal(false), z.string()]),
  // What the merchant keys on (issue 10). decide() always sets them; optional only for records and
  // literals written before they existed. Never a raw account, device, IP, card or linked-account id.
  provider: z.string().optional(),
  kind: z.enum(EVENT_KINDS).optional(),
  amount: Money.optional(),
  /** ISO-8601 UTC: when the payment happened (the provider's time) and when riskhook received it. */
  occurredAt: z.string().optional(),
  receivedAt: z.string().optional(),
  reference: Reference.optional(),
});
export type Decision = z.infer<typeof Decision>;
