/**
 * The VelocityStore contract. Two implementations: RedisVelocityStore (the one that ships) and
 * MemoryVelocityStore (the embedded default for local runs). tests/contract runs one suite against both.
 */
import type { Decision, EntityKind } from '../events.js';
import type { WindowSpec } from './windows.js';

/** One entity an event touches, by its hashed id, with the related entities present on the same event. */
export interface EntityUpdate {
  readonly kind: EntityKind;
  /** Keyed hash of the raw id (lib/identity); never the raw id. */
  readonly key: string;
  /** Related entities on this event, recorded for distinct counts and first-seen facts. */
  readonly members: ReadonlyArray<{ readonly relation: EntityKind; readonly member: string }>;
  /** Relations whose distinct counts are reported for this entity (whether or not this event has one). */
  readonly relations: readonly EntityKind[];
}

export interface RecordRequest {
  /** Keyed hash of `provider:eventId`: the per-entity marker that makes a retry count nothing. */
  readonly eventKey: string;
  /** Event time (occurredAt, epoch ms): windows are measured on it. */
  readonly at: number;
  readonly amountMinor: number;
  readonly currency: string;
  readonly passwordFree: boolean;
  readonly entities: readonly EntityUpdate[];
}

/** Record when entities were bound or unbound (a binding notification); counts nothing. */
export interface BindingRequest {
  readonly at: number;
  readonly state: 'bound' | 'unbound';
  readonly entities: ReadonlyArray<Pick<EntityUpdate, 'kind' | 'key'>>;
}

export interface WindowTotals {
  count: number;
  /** Sum in the event's currency, minor units. */
  amount: number;
  passwordFreeCount: number;
  passwordFreeAmount: number;
}

export interface EntityVelocity {
  /** This event is the first of the entity within the store's retention. */
  isNew: boolean;
  firstSeenAt: number;
  /** When the entity was last bound (event time), while no later unbinding is recorded. */
  boundAt?: number;
  windows: Record<string, WindowTotals>;
  /** relation -> window name -> distinct related entities seen (this event included). */
  distinct: Partial<Record<EntityKind, Record<string, number>>>;
  /** relation -> this event's related entity had not been seen with this entity before. */
  newRelations: Partial<Record<EntityKind, boolean>>;
}

export type VelocitySnapshot = Partial<Record<EntityKind, EntityVelocity>>;

/** What a claim on an event id found. */
export type Claim =
  | { readonly state: 'claimed' }
  /** An earlier attempt claimed the event and went quiet past the stale limit: this one takes over. */
  | { readonly state: 'takeover' }
  /** Another attempt is working on it right now. */
  | { readonly state: 'pending' }
  | { readonly state: 'decided'; readonly decision: Decision };

export interface StoreLimits {
  readonly windows: readonly WindowSpec[];
  /** How long a per-entity marker lives: a retry within it after a crash counts nothing. */
  readonly markerTtlMs: number;
  /** Most related entities kept per entity (exact distinct counts up to this many). */
  readonly distinctCap: number;
  /** How long a decision record lives (covers the providers' retry horizons). */
  readonly decisionTtlMs: number;
  /** A claim older than this with no decision is taken over by the next delivery. */
  readonly claimStaleMs: number;
}

export interface VelocityStore {
  readonly name: 'redis' | 'memory';
  /** Claim an event id (first delivery), or find the decision or the attempt already there. */
  claim(eventKey: string, now: number): Promise<Claim>;
  /** Read the decision stored for an event id, if any (used while a duplicate waits). */
  readDecision(eventKey: string): Promise<Decision | undefined>;
  saveDecision(eventKey: string, decision: Decision): Promise<void>;
  /** Count the event in every window of every entity (once per event key) and read them all. */
  record(request: RecordRequest): Promise<VelocitySnapshot>;
  /** Record a binding or unbinding on each entity (latest time wins). */
  recordBinding(request: BindingRequest): Promise<void>;
  close(): Promise<void>;
}

/** Defaults for the limits besides windows, shared by both stores and the config. */
export const DEFAULT_LIMITS = {
  markerTtlMs: 15 * 60_000,
  distinctCap: 100,
  decisionTtlMs: 72 * 3_600_000,
} as const;

/** The one-letter code of each entity kind, used in keys and in distinct-set members. */
export const KIND_CODE: Readonly<Record<EntityKind, string>> = {
  account: 'a',
  linkedAccount: 'l',
  device: 'd',
  ip: 'i',
  instrument: 'c',
  merchant: 'm',
};

/** Which distinct counts each entity keeps: the ones the fraud patterns ask about. */
export const RELATIONS: Readonly<Record<EntityKind, readonly EntityKind[]>> = {
  account: ['device', 'ip', 'instrument', 'linkedAccount'],
  linkedAccount: ['account', 'device'],
  device: ['account', 'linkedAccount'],
  ip: ['account', 'device'],
  instrument: ['account', 'device'],
  merchant: [],
};

/** Entity keys are never empty of meaning: TTL just past the longest window (plus one day of slack for late events). */
export function entityTtlMs(windows: readonly WindowSpec[]): number {
  return windows.reduce((max, w) => Math.max(max, w.ms + w.bucketMs), 0) + 86_400_000;
}
