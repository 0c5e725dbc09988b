/**
 * The VelocityStore contract. Two implementations: RedisVelocityStore (the one that ships) and
 * MemoryVelocityStore (the embedded default for local runs). tests/contract runs one suite against both.
 */
import type { Decision, EntityKind } from '../events.js';
import type { Metric, StorePlan } from './plan.js';
import { type WindowSpec, DEFAULT_MAX_EVENT_LAG_MS } from './windows.js';

export { RELATIONS } from './plan.js';

/** One entity an event touches, by its hashed id, with the related entities present on the same event. */
export interface EntityUpdate {
  readonly kind: EntityKind;
  /** Keyed hash of the raw id (lib/identity); never the raw id. */
  readonly key: string;
  /** Related entities on this event, recorded for distinct counts, first-seen facts and device pairs. */
  readonly members: ReadonlyArray<{ readonly relation: EntityKind; readonly member: string }>;
  /** Relations whose distinct counts are reported for this entity (kept for compatibility; the plan decides). */
  readonly relations?: readonly EntityKind[];
}

export interface RecordRequest {
  /** Keyed hash of `provider:eventId`: what makes a retry count nothing. */
  readonly eventKey: string;
  /** Event time (occurredAt, epoch ms). */
  readonly at: number;
  /** When the request arrived (decide's startedAt; replay passes the recorded one). Unset: `at`. */
  readonly receivedAt?: number;
  readonly amountMinor: number;
  readonly currency: string;
  readonly passwordFree: boolean;
  readonly entities: readonly EntityUpdate[];
}

/** The outcome of a recorded event: stored as its decision, and what depends on it counted once. */
export interface CommitRequest extends RecordRequest {
  readonly decision: Decision;
  /** Strongly authenticated (password, biometric, 3-D Secure): an approved one makes the device trusted. */
  readonly strongAuth: boolean;
}

/** Each entity's block and allow list entries' expiry, epoch ms (0: none), as the lists keep them. */
export type ListExpiries = Partial<Record<EntityKind, { readonly block: number; readonly allow: number }>>;

/** Record when entities were bound or unbound (a binding notification); counts nothing. */
export interface BindingRequest {
  readonly at: number;
  readonly state: 'bound' | 'unbound';
  readonly entities: ReadonlyArray<Pick<EntityUpdate, 'kind' | 'key'>>;
}

/** Windowed sums, each present when the plan reads it; amounts in the event's currency, minor units. */
export type WindowTotals = Partial<Record<Metric, number>>;

/** An account (or linked account) with this event's device, from approved payments only. */
export interface PairFacts {
  /** First approved payment from the device (counted time). */
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
  /** First approved strongly authenticated payment from it, if any. */
  readonly trustedAt?: number;
}

export interface EntityVelocity {
  /** This event is the first of the entity within the store's retention. */
  isNew: boolean;
  firstSeenAt: number;
  /** The entity's newest counted time (this event's included). */
  newestAt: number;
  /** This event's counted time (the velocity clock). */
  countedAt: number;
  /** When the entity was last bound (event time), while no later unbinding is recorded. */
  boundAt?: number;
  windows: Record<string, WindowTotals>;
  /** relation -> window name -> distinct related entities seen (this event included). */
  distinct: Partial<Record<EntityKind, Record<string, number>>>;
  /** relation -> this event's related entity had not been seen with this entity within the retention. */
  newRelations: Partial<Record<EntityKind, boolean>>;
  /** The pair with this event's device, when the plan keeps pairs and the event has a device (null: never approved). */
  device?: PairFacts | null;
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

/** A claim, with the recorded snapshot when this attempt decides the event. */
export interface ClaimRecord {
  readonly claim: Claim;
  readonly snapshot?: VelocitySnapshot;
  /** With the snapshot, when asked for: the list entries of the event's entities of the kinds asked for, read in the same call. */
  readonly lists?: ListExpiries;
}

export interface StoreLimits {
  readonly windows: readonly WindowSpec[];
  /** What each entity keeps and reads (the compiled policy's); unset: everything (tools, contract tests). */
  readonly plan?: StorePlan;
  /** RISKHOOK_MAX_EVENT_LAG: how far before its arrival an event may be counted. */
  readonly maxEventLagMs?: number;
  /** How long a per-entity marker lives on a cluster: a retry within it after a crash counts nothing. */
  readonly markerTtlMs: number;
  /** Most related entities kept per entity and relation (exact distinct counts up to this many), and most device pairs. */
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
  /**
   * Claim the event id and, when this attempt may decide it (claimed or takeover), record it: what
   * claim then record do, in one round trip (on a single Redis node, one script call). Optional:
   * decide falls back to claim, then record.
   */
  claimRecord?(request: RecordRequest, now: number, listKinds?: readonly EntityKind[]): Promise<ClaimRecord>;
  /**
   * Set when list membership lives where this store's calls run (a single Redis node): claimRecord
   * then reads the entries of `listKinds` in its own call (one command, not one per entity).
   */
  readonly carriesLists?: boolean;
  /** Read the decision stored for an event id, if any (used while a duplicate waits). */
  readDecision(eventKey: string): Promise<Decision | undefined>;
  saveDecision(eventKey: string, decision: Decision): Promise<void>;
  /**
   * Count the event (once per event key) and read what the plan reads. A repeat of the same request
   * counts nothing and reads the first one's novelty facts; once the event is committed it is not
   * recorded again (decide returns its stored decision).
   */
  record(request: RecordRequest): Promise<VelocitySnapshot>;
  /**
   * Store the decision and what depends on it (approved spend, device pairs and trust), once per
   * event key, atomically per slot. Call after record with the same request.
   */
  commit(request: CommitRequest): Promise<void>;
  /** Record a binding or unbinding on each entity (latest time wins). */
  recordBinding(request: BindingRequest): Promise<void>;
  close(): Promise<void>;
  /**
   * Set by a store that answers in the caller's own turn (the embedded memory store): claimRecord
   * and commit as plain calls. decide uses them where it would await the promise versions, so a
   * replay's payment suspends no frame and settles no promise per store call; what is counted,
   * read and stored is the same. The snapshot claimRecord returns here is the store's own, reused:
   * it holds until the next in-turn claimRecord (decide reads it before then and keeps nothing of
   * it), where the promise versions hand out a new one each time.
   */
  readonly inTurn?: {
    claimRecord(request: RecordRequest, now: number): ClaimRecord;
    commit(request: CommitRequest): void;
  };
}

/** Defaults for the limits besides windows, shared by both stores and the config. */
export const DEFAULT_LIMITS = {
  markerTtlMs: 15 * 60_000,
  maxEventLagMs: DEFAULT_MAX_EVENT_LAG_MS,
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

