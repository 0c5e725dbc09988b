/**
 * The embedded in-memory store: the default for local runs without Redis, and replay's store. It
 * keeps exactly the semantics of record.lua and commit.lua (same clock, rings, caps, trimming and
 * plan) and passes the same contract suite and the differential test. State lives in this process only.
 */
import { type Decision, ENTITY_KINDS, type EntityKind } from '../events.js';
import {
  AMOUNT_METRICS,
  COUNT_METRICS,
  CURRENCY_CAP,
  type EntityPlan,
  type Metric,
  type StorePlan,
  amountSpan,
  planOf,
} from './plan.js';
import {
  type BindingRequest,
  type Claim,
  type ClaimRecord,
  type CommitRequest,
  type EntityUpdate,
  type EntityVelocity,
  type PairFacts,
  type RecordRequest,
  type StoreLimits,
  type VelocitySnapshot,
  type VelocityStore,
  DEFAULT_LIMITS,
} from './store.js';
import { RecencySet } from './recency-set.js';
import { MAX_SUM, saturatingAdd, velocityClock } from './windows.js';

/**
 * An entity's rings, one per kept resolution, in one array (one object and one stretch of memory to
 * fetch per entity, not one per ring). First every ring's head: the bucket index its running totals
 * are valid for, then a total per metric (see advance); then every ring's slots, a slot per bucket
 * (bucket index modulo the ring size), each the bucket index it was last written for followed by
 * its metrics. The heads share a cache line or two, and a slot's index and metrics one: an event
 * and its reads touch those lines and not much more (a replay's entities are far more than the CPU
 * caches hold, so what an event costs is mostly the lines it fetches). A slot whose index fell out
 * of the ring (at or before the entity's newest bucket minus the ring size) or was overwritten
 * counts as absent: the same buckets as dropping them, without allocating a bucket per write.
 * Counts use plan.counts order; each currency's amounts have an array of their own (plan.amounts
 * order) over the resolutions that keep amounts.
 */
type Rings = Float64Array;

/** A read of the plan with its metric's place and its window's own resolution worked out once. */
interface PreparedRead {
  metric: Metric;
  window: EntityPlan['reads'][number]['window'];
  amount: boolean;
  k: number;
  /** readResolution's starting point: the resolution with the window's bucket size. */
  own: number;
}

/** What the hot paths need of an entity's plan, worked out once per store. */
interface PreparedPlan {
  reads: PreparedRead[];
  /**
   * Resolution index -> where its ring's head and its slots start in the entity's count rings, and in
   * a currency's amount rings (-1: amounts not kept there).
   */
  countHead: number[];
  countRing: number[];
  amountHead: number[];
  amountRing: number[];
  /** Empty rings (every slot absent), copied for a new entity or currency. */
  emptyCounts: Rings;
  emptyAmounts: Rings;
  /** Index of approvedCount in plan.counts, of approvedAmount in plan.amounts (-1: not kept). */
  approvedCount: number;
  approvedAmount: number;
  /** The entity's answer objects from the read sums and distinct counts (compiled: see answerBuilders). */
  windows: (sums: Float64Array) => EntityVelocity['windows'];
  distinct: (counts: Float64Array) => EntityVelocity['distinct'];
  newRelations: (flags: number) => EntityVelocity['newRelations'];
  /** The same answers written into the objects of a reused answer (see #reused). */
  fillWindows: (into: EntityVelocity['windows'], sums: Float64Array) => void;
  fillDistinct: (into: EntityVelocity['distinct'], counts: Float64Array) => void;
  fillNewRelations: (into: EntityVelocity['newRelations'], flags: number) => void;
  /** Scratch for one read: a sum per read, a count per (relation, window) read. */
  sums: Float64Array;
  counts: Float64Array;
}

/** The facts of a pair in the in-turn record's reused answer (trustedAt undefined: not trusted). */
interface ReusedPair {
  firstSeenAt: number;
  lastSeenAt: number;
  trustedAt: number | undefined;
}

interface Pair {
  first: number;
  last: number;
  trusted: number | undefined;
}

/**
 * A time kept in a Map, in a holder updated in place: a number stored as a Map value is a new boxed
 * number each time (a timestamp is no small integer), and each one outlives a young-generation GC.
 */
interface Seen {
  last: number;
}

interface EntityState {
  /** Its key in the state map (markers keep this string, not each event's own copy of it). */
  key: string;
  /** Unset while the entity is only known from a binding (no payment yet). */
  newest?: number;
  firstSeen?: number;
  boundAt?: number;
  unboundAt?: number;
  /**
   * currency -> newest counted time in it (at most CURRENCY_CAP). This map and the two below are
   * made at their first write: most entities of a policy keep no amounts or pairs (an instrument
   * read for its binding, a device for its distinct accounts), and three empty maps are ~270 bytes
   * for every entity (and its every re-creation after its TTL).
   */
  currencies: Map<string, Seen> | undefined;
  /** Bucket counts at every kept resolution (made at the first write). */
  counts: Rings | undefined;
  /** currency -> its bucket amounts at the resolutions that keep amounts */
  amounts: Map<string, Rings> | undefined;
  /** plan.relations index -> member hash -> last seen (counted time) */
  related: (RecencySet | undefined)[];
  /** device hash -> pair */
  pairs: Map<string, Pair> | undefined;
  expiresAt: number;
}

/**
 * An event id's record: claimed at `claimedAt` until its decision is stored. The decision object
 * itself is kept (decide never changes a decision once made), and a read hands out its JSON round
 * trip: the same copy Redis returns, without serialising every decision for the rare retry.
 */
interface EventRecord {
  claimedAt: number;
  decision: Decision | undefined;
  /** The claim and decision live until then (-Infinity: neither, only a marker). */
  expiresAt: number;
  /**
   * The novelty flags of the event's first count (its marker), kept here (one entry per event id,
   * not two maps): live until markerExpiresAt (-Infinity: no marker), set once by the first
   * record() and never extended. Per entity kind (kindIndex k): key<k> the key of the entity that
   * request counted (undefined: none), flags<k> its flags: bit 0 the entity is new, bit i + 1 the
   * member of plan relation i is new to it. Fields, not an array: a replay keeps a record per event
   * for the decision TTL, and an array is two more objects each for the young GC to copy and the
   * old one to mark.
   */
  markerExpiresAt: number;
  key0: string | undefined;
  key1: string | undefined;
  key2: string | undefined;
  key3: string | undefined;
  key4: string | undefined;
  key5: string | undefined;
  flags0: number;
  flags1: number;
  flags2: number;
  flags3: number;
  flags4: number;
  flags5: number;
}

/** A record without a marker (every record is made here: one shape, fields in one order). */
function eventRecord(claimedAt: number, decision: Decision | undefined, expiresAt: number): EventRecord {
  return {
    claimedAt,
    decision,
    expiresAt,
    markerExpiresAt: -Infinity,
    key0: undefined,
    key1: undefined,
    key2: undefined,
    key3: undefined,
    key4: undefined,
    key5: undefined,
    flags0: 0,
    flags1: 0,
    flags2: 0,
    flags3: 0,
    flags4: 0,
    flags5: 0,
  };
}

/*
 * The marker's fields by kind index, through switches (as kindIndex and answer): a computed name
 * (record[`key${kind}`]) would make each such site see six names and take V8's slowest path.
 */

/** The marker's key for kind index `kind`. */
function markedKey(record: EventRecord, kind: number): string | undefined {
  switch (kind) {
    case 0:
      return record.key0;
    case 1:
      return record.key1;
    case 2:
      return record.key2;
    case 3:
      return record.key3;
    case 4:
      return record.key4;
    default:
      return record.key5;
  }
}

/** The marker's flags for kind index `kind`. */
function markedFlags(record: EventRecord, kind: number): number {
  switch (kind) {
    case 0:
      return record.flags0;
    case 1:
      return record.flags1;
    case 2:
      return record.flags2;
    case 3:
      return record.flags3;
    case 4:
      return record.flags4;
    default:
      return record.flags5;
  }
}

/** Writes the marker of kind index `kind`. */
function mark(record: EventRecord, kind: number, key: string | undefined, flags: number): void {
  switch (kind) {
    case 0:
      record.key0 = key;
      record.flags0 = flags;
      break;
    case 1:
      record.key1 = key;
      record.flags1 = flags;
      break;
    case 2:
      record.key2 = key;
      record.flags2 = flags;
      break;
    case 3:
      record.key3 = key;
      record.flags3 = flags;
      break;
    case 4:
      record.key4 = key;
      record.flags4 = flags;
      break;
    default:
      record.key5 = key;
      record.flags5 = flags;
  }
}

/** Drops the record's marker (its keys too, which would keep their strings). */
function unmark(record: EventRecord): void {
  record.markerExpiresAt = -Infinity;
  for (let kind = 0; kind < ENTITY_KINDS.length; kind++) mark(record, kind, undefined, 0);
}

/**
 * Entity kind -> its index in ENTITY_KINDS (one state map per kind: no "kind:key" string built per
 * lookup). A switch, not a lookup by the kind as a key: one such site sees every kind, and V8 then
 * takes its slowest (megamorphic) path for every payment's every entity.
 */
function kindIndex(kind: EntityKind): number {
  switch (kind) {
    case 'account':
      return 0;
    case 'linkedAccount':
      return 1;
    case 'device':
      return 2;
    case 'ip':
      return 3;
    case 'instrument':
      return 4;
    case 'merchant':
      return 5;
  }
}

/** snapshot[ENTITY_KINDS[kind]] = velocity, as one named store per kind (see kindIndex). */
function answer(snapshot: VelocitySnapshot, kind: number, velocity: EntityVelocity): void {
  switch (kind) {
    case 0:
      snapshot.account = velocity;
      break;
    case 1:
      snapshot.linkedAccount = velocity;
      break;
    case 2:
      snapshot.device = velocity;
      break;
    case 3:
      snapshot.ip = velocity;
      break;
    case 4:
      snapshot.instrument = velocity;
      break;
    case 5:
      snapshot.merchant = velocity;
      break;
  }
}

/** Claim answers without a decision, shared (a claim is never changed by its reader). */
const CLAIMED: Claim = Object.freeze({ state: 'claimed' });
const TAKEOVER: Claim = Object.freeze({ state: 'takeover' });
const PENDING: Claim = Object.freeze({ state: 'pending' });

const SWEEP_EVERY = 1_000;
const AMOUNT = new Set<Metric>(['amount', 'passwordFreeAmount', 'untrustedPasswordFreeAmount', 'approvedAmount']);

export class MemoryVelocityStore implements VelocityStore {
  readonly name = 'memory' as const;
  readonly #limits: StoreLimits;
  readonly #plan: StorePlan;
  readonly #now: () => number;
  /** ENTITY_KINDS index -> entity key -> state */
  readonly #entities: Map<string, EntityState>[] = ENTITY_KINDS.map(() => new Map<string, EntityState>());
  /** event key -> its claim, decision and the novelty flags of its first count */
  readonly #decisions = new Map<string, EventRecord>();
  /**
   * The event record last looked up or written, while no record was dropped since (epoch): claim,
   * commit and saveDecision of one event then look it up once. A key's record changes only by being
   * dropped (expired, swept) and written anew, so while nothing was dropped the map holds this one.
   */
  #recent: { key: string | undefined; entry: EventRecord | undefined; epoch: number } = { key: undefined, entry: undefined, epoch: -1 };
  #dropped = 0;
  /** ENTITY_KINDS index -> its plan and what the hot paths need of it (undefined: the policy keeps nothing for the kind). */
  readonly #plans: (EntityPlan | undefined)[];
  readonly #prepared: (PreparedPlan | undefined)[];
  /** Bumped whenever an entity state is created or dropped: while unchanged, a key finds the same state. */
  #epoch = 0;
  /** What the last record() found, by position in its request's entities, for a commit() of the same request. */
  #recorded: { entities: readonly EntityUpdate[] | undefined; states: (EntityState | undefined)[]; epoch: number } = { entities: undefined, states: [], epoch: -1 };
  #writes = 0;
  /** #count's scratch: the event's own contribution per count and per amount metric (plan order). */
  readonly #countAdds = new Float64Array(COUNT_METRICS.length);
  readonly #amountAdds = new Float64Array(AMOUNT_METRICS.length);
  /** The next sweep: after as many writes as there are entries (amortised constant cost per write). */
  #nextSweep = SWEEP_EVERY;
  /**
   * The in-turn record's answer, reused: a snapshot with every kind (undefined when the request has
   * none) and, per kind, its velocity with its windows, distinct and newRelations objects, written
   * in place. A payment's answer was ~2 KB of new objects for the few microseconds decide reads it.
   */
  readonly #reusedSnapshot: Record<EntityKind, EntityVelocity | undefined> = {
    account: undefined,
    linkedAccount: undefined,
    device: undefined,
    ip: undefined,
    instrument: undefined,
    merchant: undefined,
  };
  readonly #reused: (EntityVelocity | undefined)[];
  readonly #reusedPairs: ReusedPair[] = ENTITY_KINDS.map(() => ({ firstSeenAt: 0.5, lastSeenAt: 0.5, trustedAt: undefined }));

  constructor(limits: StoreLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#plan = planOf(limits);
    this.#now = now;
    this.#plans = ENTITY_KINDS.map((kind) => this.#plan.entities[kind]);
    this.#prepared = this.#plans.map((plan) => {
      if (!plan) return undefined;
      const distinctReads = plan.relations.reduce((n, r) => n + r.windows.length, 0);
      return {
        reads: plan.reads.map(({ metric, window }) => {
          const amount = AMOUNT.has(metric);
          return {
            metric,
            window,
            amount,
            k: amount ? plan.amounts.indexOf(metric as never) : plan.counts.indexOf(metric as never),
            own: plan.resolutions.findIndex((r) => r.bucketMs === window.bucketMs),
          };
        }),
        ...ringLayout(plan),
        approvedCount: plan.counts.indexOf('approvedCount'),
        approvedAmount: plan.amounts.indexOf('approvedAmount'),
        ...answerBuilders(plan),
        sums: new Float64Array(plan.reads.length),
        counts: new Float64Array(distinctReads),
      };
    });
    this.#reused = this.#prepared.map((prepared) => {
      if (!prepared) return undefined;
      // Every field from the start, times as doubles (one shape; no field changes representation later).
      return {
        isNew: false,
        firstSeenAt: 0.5,
        newestAt: 0.5,
        countedAt: 0.5,
        boundAt: undefined,
        windows: prepared.windows(prepared.sums),
        distinct: prepared.distinct(prepared.counts),
        newRelations: prepared.newRelations(0),
        device: undefined,
      };
    });
  }

  readonly inTurn: NonNullable<VelocityStore['inTurn']> = {
    claimRecord: (request, now) => this.#claimRecord(request, now, true),
    commit: (request) => this.#commit(request),
  };

  async claim(eventKey: string, now: number): Promise<Claim> {
    return this.#claim(eventKey, now);
  }

  /** claim, then record when this attempt may decide the event: one call, as on a single Redis node. */
  async claimRecord(request: RecordRequest, now: number): Promise<ClaimRecord> {
    return this.#claimRecord(request, now, false);
  }

  #claimRecord(request: RecordRequest, now: number, reuse: boolean): ClaimRecord {
    const claim = this.#claim(request.eventKey, now);
    return claim.state === 'claimed' || claim.state === 'takeover' ? { claim, snapshot: this.#record(request, reuse) } : { claim };
  }

  #claim(eventKey: string, now: number): Claim {
    const existing = this.#event(eventKey);
    if (existing === undefined) {
      const expiresAt = this.#now() + this.#limits.decisionTtlMs;
      const entry = this.#entry(eventKey);
      if (entry === undefined) this.#remember(eventKey, eventRecord(now, undefined, expiresAt));
      else {
        // Only its marker (or a lapsed claim) was left: the claim starts afresh.
        entry.claimedAt = now;
        entry.decision = undefined;
        entry.expiresAt = expiresAt;
      }
      return CLAIMED;
    }
    if (existing.decision === undefined) {
      if (now - existing.claimedAt < this.#limits.claimStaleMs) return PENDING;
      existing.claimedAt = now;
      existing.expiresAt = this.#now() + this.#limits.decisionTtlMs;
      return TAKEOVER;
    }
    return { state: 'decided', decision: copyOf(existing.decision) };
  }

  async readDecision(eventKey: string): Promise<Decision | undefined> {
    const decision = this.#event(eventKey)?.decision;
    return decision === undefined ? undefined : copyOf(decision);
  }

  async saveDecision(eventKey: string, decision: Decision): Promise<void> {
    this.#save(eventKey, decision);
  }

  #save(eventKey: string, decision: Decision): void {
    const expiresAt = this.#now() + this.#limits.decisionTtlMs;
    const existing = this.#entry(eventKey);
    if (existing === undefined) this.#remember(eventKey, eventRecord(0, decision, expiresAt));
    else {
      existing.decision = decision;
      existing.expiresAt = expiresAt;
    }
  }

  async record(request: RecordRequest): Promise<VelocitySnapshot> {
    return this.#record(request, false);
  }

  /** Counts the event once and reads its velocity; `reuse`: into the reused answer (the in-turn call), else into new objects. */
  #record(request: RecordRequest, reuse: boolean): VelocitySnapshot {
    if (++this.#writes >= this.#nextSweep) this.#sweep();
    const t = this.#clock(request);
    const now = this.#now();
    const entry = this.#entry(request.eventKey);
    // The record holding the event's marker: a live one (an earlier count), or a new marker.
    let marked = entry !== undefined && entry.markerExpiresAt > now ? entry : undefined;
    const first = marked === undefined;
    if (marked === undefined) {
      if (entry === undefined) this.#remember(request.eventKey, (marked = eventRecord(0, undefined, -Infinity)));
      else unmark((marked = entry));
      marked.markerExpiresAt = now + this.#limits.decisionTtlMs;
    }
    let snapshot: VelocitySnapshot;
    if (reuse) {
      snapshot = this.#reusedSnapshot;
      snapshot.account = snapshot.linkedAccount = snapshot.device = snapshot.ip = snapshot.instrument = snapshot.merchant = undefined;
    } else snapshot = {};
    const recorded = this.#recorded;
    const entities = request.entities;
    for (let i = 0; i < entities.length; i++) {
      const entity = entities[i]!;
      recorded.states[i] = undefined;
      const kind = kindIndex(entity.kind);
      const plan = this.#plans[kind];
      if (!plan) continue;
      let flags = markedKey(marked, kind) === entity.key ? markedFlags(marked, kind) : undefined;
      let state = this.#entity(kind, entity.key, now);
      if (flags === undefined && first) {
        state ??= this.#create(kind, entity.key);
        flags = this.#count(state, plan, this.#prepared[kind]!, request, entity, t);
        mark(marked, kind, state.key, flags);
        state.expiresAt = now + plan.ttlMs;
      }
      state ??= this.#create(kind, entity.key);
      recorded.states[i] = state;
      answer(snapshot, kind, this.#read(state, plan, this.#prepared[kind]!, request, entity, t, flags ?? 0, reuse ? this.#reused[kind] : undefined));
    }
    recorded.entities = entities;
    recorded.epoch = this.#epoch;
    return snapshot;
  }

  async commit(request: CommitRequest): Promise<void> {
    this.#commit(request);
  }

  #commit(request: CommitRequest): void {
    if (this.#event(request.eventKey)?.decision !== undefined) return; // committed already
    if (request.decision.decision === 'approve') {
      const t = this.#clock(request);
      const now = this.#now();
      const recorded = this.#recorded;
      // The states the record() of this very request found, while no state came or went since: the ones a lookup finds.
      const same = recorded.entities === request.entities && recorded.epoch === this.#epoch;
      const entities = request.entities;
      for (let i = 0; i < entities.length; i++) {
        const entity = entities[i]!;
        const kind = kindIndex(entity.kind);
        const plan = this.#plans[kind];
        if (!plan) continue;
        const cached = same ? recorded.states[i] : undefined;
        const state = cached !== undefined && cached.expiresAt > now ? cached : this.#entity(kind, entity.key, now);
        if (!state || state.newest === undefined) continue;
        this.#approve(state, plan, this.#prepared[kind]!, request, entity, t);
        state.expiresAt = now + plan.ttlMs;
      }
    }
    this.#save(request.eventKey, request.decision); // saveDecision without a second promise per commit
  }

  async recordBinding(request: BindingRequest): Promise<void> {
    const now = this.#now();
    for (const entity of request.entities) {
      const kind = kindIndex(entity.kind);
      const state = this.#entity(kind, entity.key, now) ?? this.#create(kind, entity.key);
      if (request.state === 'bound') state.boundAt = Math.max(state.boundAt ?? -Infinity, request.at);
      else state.unboundAt = Math.max(state.unboundAt ?? -Infinity, request.at);
      state.expiresAt = Math.max(state.expiresAt, now + (this.#plans[kind]?.ttlMs ?? 86_400_000));
    }
  }

  async close(): Promise<void> {
    for (const map of this.#entities) map.clear();
    this.#epoch++;
    this.#decisions.clear();
    this.#dropped++;
  }

  #clock(request: RecordRequest): number {
    return velocityClock(request.at, request.receivedAt ?? request.at, this.#limits.maxEventLagMs ?? DEFAULT_LIMITS.maxEventLagMs);
  }

  /** First count of an event on one entity; returns its novelty flags (bit 0 the entity, bit i + 1 kept relation i). */
  #count(state: EntityState, plan: EntityPlan, prepared: PreparedPlan, request: RecordRequest, entity: EntityUpdate, t: number): number {
    const isNew = state.newest === undefined;
    const newest = Math.max(state.newest ?? -Infinity, t);
    // Rings move with the entity's newest time: slots of buckets that fell out count as absent.
    state.newest = newest;
    state.firstSeen = Math.min(state.firstSeen ?? Infinity, t);

    const { currency, passwordFree } = request;
    const untrusted = passwordFree && this.#untrusted(state, plan, entity);
    const keepsCurrency = plan.amounts.length > 0 && this.#keepCurrency(state, plan, currency);
    const nCounts = plan.counts.length;
    const nAmounts = plan.amounts.length;
    // The event's own contribution to each metric, worked out once for every ring.
    const countAdds = this.#countAdds;
    const amountAdds = this.#amountAdds;
    for (let k = 0; k < nCounts; k++) countAdds[k] = ownContribution(plan.counts[k]!, request, untrusted);
    for (let k = 0; k < nAmounts; k++) amountAdds[k] = ownContribution(plan.amounts[k]!, request, untrusted);
    const data = plan.resolutions.length > 0 ? (state.counts ??= prepared.emptyCounts.slice()) : undefined;
    let sums: Rings | undefined;
    let counted = false;
    for (let i = 0; i < plan.resolutions.length; i++) {
      const r = plan.resolutions[i]!;
      const idx = Math.floor(t / r.bucketMs);
      const top = Math.floor(newest / r.bucketMs);
      if (idx <= top - r.slots) continue; // older than the ring: counts only in its own answer
      const s = idx >= 0 ? idx % r.slots : slotOf(idx, r.slots); // the modulo inline: #count is too long for V8 to inline slotOf
      const ring = prepared.countRing[i]!;
      const totals = advance(data!, prepared.countHead[i]!, ring, r.slots, nCounts, top);
      const at = bucketAt(data!, ring, s, idx, nCounts);
      for (let k = 0; k < nCounts; k++) data![at + k]! += countAdds[k]!;
      if (totals >= 0) for (let k = 0; k < nCounts; k++) data![totals + k]! += countAdds[k]!;
      if (keepsCurrency && r.amounts) {
        counted = true;
        sums ??= amountRings(state, prepared, currency);
        const amountRing = prepared.amountRing[i]!;
        const amountHead = prepared.amountHead[i]!;
        const amountTotals = advance(sums, amountHead, amountRing, r.slots, nAmounts, top);
        const from = bucketAt(sums, amountRing, s, idx, nAmounts);
        for (let k = 0; k < nAmounts; k++) sums[from + k] = saturatingAdd(sums[from + k]!, amountAdds[k]!);
        if (amountTotals >= 0) addToTotals(sums, amountHead, nAmounts, amountAdds, -1);
      }
    }
    if (counted && keepsCurrency) {
      const currencies = (state.currencies ??= new Map());
      const seen = currencies.get(currency);
      if (seen === undefined) currencies.set(currency, { last: t });
      else if (t > seen.last) seen.last = t;
    }

    let flags = isNew ? 1 : 0;
    const relations = plan.relations;
    for (let i = 0; i < relations.length; i++) {
      const { relation, retentionMs } = relations[i]!;
      const member = memberOf(entity, relation);
      if (member === undefined) continue;
      const set = (state.related[i] ??= new RecencySet());
      const cutoff = newest - retentionMs;
      const seen = set.touch(member, t);
      const novel = seen === undefined || seen <= cutoff;
      if (novel) {
        flags |= 1 << (i + 1);
        // Forget members last seen at or before the cutoff, then any over the cap.
        if (set.lowest() <= cutoff) set.forgetUpTo(cutoff);
        set.dropLowest(set.size - this.#limits.distinctCap);
      }
    }
    return flags;
  }

  /**
   * Whether amounts in `currency` are kept: it is kept already, or there is room (after forgetting
   * currencies with no live bucket left). At the cap a further currency counts only in its own answer.
   */
  #keepCurrency(state: EntityState, plan: EntityPlan, currency: string): boolean {
    const currencies = state.currencies;
    if (currencies === undefined) return true; // none kept yet: room
    if (currencies.has(currency)) return true;
    if (currencies.size >= CURRENCY_CAP) {
      const cutoff = state.newest! - amountSpan(plan);
      for (const [cur, { last }] of currencies) {
        if (last > cutoff) continue;
        currencies.delete(cur);
        // No live bucket holds it any more: its amount rings go too.
        state.amounts?.delete(cur);
      }
    }
    return currencies.size < CURRENCY_CAP;
  }

  /** Approved spend and device trust, written by commit. */
  #approve(state: EntityState, plan: EntityPlan, prepared: PreparedPlan, request: CommitRequest, entity: EntityUpdate, t: number): void {
    const newest = state.newest!;
    const { approvedCount: counts, approvedAmount: amounts } = prepared;
    if (counts >= 0 || amounts >= 0) {
      const nCounts = plan.counts.length;
      for (let i = 0; i < plan.resolutions.length; i++) {
        const r = plan.resolutions[i]!;
        const idx = Math.floor(t / r.bucketMs);
        const top = Math.floor(newest / r.bucketMs);
        if (idx <= top - r.slots) continue;
        const data = (state.counts ??= prepared.emptyCounts.slice());
        const s = idx >= 0 ? idx % r.slots : slotOf(idx, r.slots);
        const ring = prepared.countRing[i]!;
        const totals = advance(data, prepared.countHead[i]!, ring, r.slots, nCounts, top);
        const at = bucketAt(data, ring, s, idx, nCounts);
        if (counts >= 0) {
          data[at + counts]! += 1;
          if (totals >= 0) data[totals + counts]! += 1;
        }
        if (amounts >= 0 && r.amounts && state.currencies?.has(request.currency) === true) {
          const sums = amountRings(state, prepared, request.currency);
          const nAmounts = plan.amounts.length;
          const amountRing = prepared.amountRing[i]!;
          const amountHead = prepared.amountHead[i]!;
          const amountTotals = advance(sums, amountHead, amountRing, r.slots, nAmounts, top);
          const from = bucketAt(sums, amountRing, s, idx, nAmounts) + amounts;
          sums[from] = saturatingAdd(sums[from]!, request.amountMinor);
          if (amountTotals >= 0) addToTotals(sums, amountHead, nAmounts, request.amountMinor, amounts);
        }
      }
    }
    const device = plan.pairs ? memberOf(entity, 'device') : undefined;
    if (device === undefined) return;
    const cutoff = newest - this.#plan.deviceRetentionMs;
    const pairs = (state.pairs ??= new Map());
    const found = pairs.get(device);
    const strong = request.strongAuth;
    if (found !== undefined) {
      // Updated in place (#pair hands out copies): a live pair widens, an expired one starts over.
      if (found.last > cutoff) {
        found.first = Math.min(found.first, t);
        found.last = Math.max(found.last, t);
        if (strong) found.trusted = Math.min(found.trusted ?? Infinity, t);
      } else {
        found.first = t;
        found.last = t;
        found.trusted = strong ? t : undefined;
      }
      return;
    }
    const pair: Pair = { first: t, last: t, trusted: strong ? t : undefined };
    if (pairs.size >= this.#limits.distinctCap) {
      pairs.forEach((p, d) => {
        if (p.last <= cutoff) pairs.delete(d);
      });
      const excess = pairs.size - this.#limits.distinctCap + 1;
      if (excess > 0) {
        const last = new Map([...pairs].map(([d, p]) => [d, p.last]));
        for (const [d] of lowestFirst(last).slice(0, excess)) pairs.delete(d);
      }
    }
    pairs.set(device, pair);
  }

  /** As !pair || pair.trustedAt === undefined on #pair, without building the pair's facts. */
  #untrusted(state: EntityState, plan: EntityPlan, entity: EntityUpdate): boolean {
    if (!plan.pairs) return true;
    const device = memberOf(entity, 'device');
    if (device === undefined) return true;
    const pair = state.pairs?.get(device);
    if (!pair || pair.last <= (state.newest ?? -Infinity) - this.#plan.deviceRetentionMs) return true;
    return pair.trusted === undefined;
  }

  /** The pair's facts: written into `into` when given (the reused answer's), else a new object. */
  #pair(state: EntityState, plan: EntityPlan, entity: EntityUpdate, into: ReusedPair | undefined): PairFacts | null | undefined {
    if (!plan.pairs) return undefined;
    const device = memberOf(entity, 'device');
    if (device === undefined) return undefined;
    const pair = state.pairs?.get(device);
    if (!pair || pair.last <= (state.newest ?? -Infinity) - this.#plan.deviceRetentionMs) return null;
    if (into !== undefined) {
      into.firstSeenAt = pair.first;
      into.lastSeenAt = pair.last;
      into.trustedAt = pair.trusted;
      return into;
    }
    // Two literals, not a conditional spread (an extra object and a slow copy per read).
    return pair.trusted !== undefined ? { firstSeenAt: pair.first, lastSeenAt: pair.last, trustedAt: pair.trusted } : { firstSeenAt: pair.first, lastSeenAt: pair.last };
  }

  /** The entity's velocity for this event: written into `into` when given (the reused answer), else a new object. */
  #read(
    state: EntityState,
    plan: EntityPlan,
    prepared: PreparedPlan,
    request: RecordRequest,
    entity: EntityUpdate,
    t: number,
    flags: number,
    into: EntityVelocity | undefined,
  ): EntityVelocity {
    const newest = state.newest ?? t;
    const untrusted = request.passwordFree && this.#untrusted(state, plan, entity);
    const nCounts = plan.counts.length;
    const nAmounts = plan.amounts.length;
    const counts = state.counts;
    const answers = prepared.sums;
    const reads = prepared.reads;
    // Looked up at the first amount read (a currency never counted has no rings: its sums are 0).
    let sums: Rings | undefined | null = null;
    for (let j = 0; j < reads.length; j++) {
      const { metric, window, amount, k, own } = reads[j]!;
      const ri = resolutionFor(plan, own, window.ms, t, newest, amount);
      const r = plan.resolutions[ri]!;
      // Buckets from the window's start on, among those still in the ring.
      const top = Math.floor(newest / r.bucketMs);
      const live = top - r.slots + 1;
      const lo = Math.max(Math.floor((t - window.ms) / r.bucketMs), live);
      let sum = 0;
      if (amount) {
        if (sums === null) sums = state.amounts?.get(request.currency);
        const ring = prepared.amountRing[ri]!;
        if (sums && ring >= 0) {
          // Every live bucket (the usual case: a window spans its ring): the running total, when exact.
          const totals = lo === live ? advance(sums, prepared.amountHead[ri]!, ring, r.slots, nAmounts, top) : -1;
          if (totals >= 0) sum = sums[totals + k]!;
          else {
            const stride = nAmounts + 1;
            for (let s = 0, at = ring; s < r.slots; s++, at += stride) if (sums[at]! >= lo) sum = saturatingAdd(sum, sums[at + 1 + k]!);
          }
        }
      } else if (counts) {
        const ring = prepared.countRing[ri]!;
        const totals = lo === live ? advance(counts, prepared.countHead[ri]!, ring, r.slots, nCounts, top) : -1;
        if (totals >= 0) sum = counts[totals + k]!;
        else {
          const stride = nCounts + 1;
          for (let s = 0, at = ring; s < r.slots; s++, at += stride) if (counts[at]! >= lo) sum += counts[at + 1 + k]!;
        }
      }
      const missed = Math.floor(t / r.bucketMs) <= Math.floor(newest / r.bucketMs) - r.slots || (amount && state.currencies?.has(request.currency) !== true);
      if (missed) sum = saturatingAdd(sum, ownContribution(metric, request, untrusted));
      answers[j] = Math.min(sum, MAX_SUM);
    }
    const distinctCounts = prepared.counts;
    const relations = plan.relations;
    for (let i = 0, c = 0; i < relations.length; i++) {
      const read = relations[i]!.windows;
      const set = state.related[i];
      for (let w = 0; w < read.length; w++) distinctCounts[c++] = set ? set.countAfter(t - read[w]!.ms) : 0;
    }
    const bound = state.boundAt !== undefined && (state.unboundAt === undefined || state.unboundAt < state.boundAt);
    const isNew = (flags & 1) !== 0;
    const firstSeenAt = state.firstSeen ?? t;
    if (into !== undefined) {
      prepared.fillWindows(into.windows, answers);
      prepared.fillDistinct(into.distinct, distinctCounts);
      prepared.fillNewRelations(into.newRelations, flags);
      into.isNew = isNew;
      into.firstSeenAt = firstSeenAt;
      into.newestAt = newest;
      into.countedAt = t;
      into.boundAt = bound ? state.boundAt : undefined;
      into.device = this.#pair(state, plan, entity, this.#reusedPairs[kindIndex(entity.kind)]);
      return into;
    }
    const windows = prepared.windows(answers);
    const distinct = prepared.distinct(distinctCounts);
    const newRelations = prepared.newRelations(flags);
    const pair = this.#pair(state, plan, entity, undefined);
    // Written out in the order of the type (boundAt and device only when there are some).
    const velocity: EntityVelocity = bound
      ? { isNew, firstSeenAt, newestAt: newest, countedAt: t, boundAt: state.boundAt!, windows, distinct, newRelations }
      : { isNew, firstSeenAt, newestAt: newest, countedAt: t, windows, distinct, newRelations };
    if (pair !== undefined) velocity.device = pair;
    return velocity;
  }

  #entity(kind: number, key: string, now: number): EntityState | undefined {
    const map = this.#entities[kind]!;
    const state = map.get(key);
    if (state && state.expiresAt <= now) {
      map.delete(key);
      this.#epoch++;
      return undefined;
    }
    return state;
  }

  #create(kind: number, key: string): EntityState {
    // Times are added when first known (a field that starts undefined would box every time written to it).
    const state: EntityState = {
      key,
      currencies: undefined,
      counts: undefined,
      amounts: undefined,
      related: [],
      pairs: undefined,
      expiresAt: 0,
    };
    this.#entities[kind]!.set(key, state);
    this.#epoch++;
    return state;
  }

  /** The event id's record while it lives. */
  /** The event id's record while its claim or decision lives (its marker alone does not count). */
  #event(eventKey: string): EventRecord | undefined {
    const entry = this.#entry(eventKey);
    return entry !== undefined && entry.expiresAt > this.#now() ? entry : undefined;
  }

  /** The event id's entry, live or not (the sweep drops it once its claim, decision and marker all expired). */
  #entry(eventKey: string): EventRecord | undefined {
    const recent = this.#recent;
    if (recent.key === eventKey && recent.epoch === this.#dropped) return recent.entry;
    const entry = this.#decisions.get(eventKey);
    if (entry !== undefined) {
      recent.key = eventKey;
      recent.entry = entry;
      recent.epoch = this.#dropped;
    }
    return entry;
  }

  /** Writes a new event record (none is live under this key). */
  #remember(eventKey: string, entry: EventRecord): void {
    this.#decisions.set(eventKey, entry);
    const recent = this.#recent;
    recent.key = eventKey;
    recent.entry = entry;
    recent.epoch = this.#dropped;
  }

  /** Drops expired entries so a long local run stays bounded. */
  #sweep(): void {
    const now = this.#now();
    let size = 0;
    for (const map of this.#entities) {
      map.forEach((entry, key) => {
        if (entry.expiresAt <= now) map.delete(key);
      });
      size += map.size;
    }
    this.#decisions.forEach((entry, key) => {
      if (entry.markerExpiresAt <= now) {
        if (entry.expiresAt <= now) this.#decisions.delete(key);
        else unmark(entry);
      } else if (entry.expiresAt <= now) {
        entry.decision = undefined;
      }
    });
    size += this.#decisions.size;
    this.#epoch++;
    this.#dropped++;
    this.#nextSweep = this.#writes + Math.max(SWEEP_EVERY, size);
  }
}

/** A stored decision as a store hands it out: its JSON round trip (what Redis returns), never the kept object. */
function copyOf(decision: Decision): Decision {
  return JSON.parse(JSON.stringify(decision)) as Decision;
}

/** What one event adds to a metric at record time (approved metrics are added by commit). */
function ownContribution(metric: Metric, request: RecordRequest, untrusted: boolean): number {
  const pf = request.passwordFree;
  switch (metric) {
    case 'count':
      return 1;
    case 'passwordFreeCount':
      return pf ? 1 : 0;
    case 'untrustedPasswordFreeCount':
      return pf && untrusted ? 1 : 0;
    case 'amount':
      return Math.min(request.amountMinor, MAX_SUM);
    case 'passwordFreeAmount':
      return pf ? Math.min(request.amountMinor, MAX_SUM) : 0;
    case 'untrustedPasswordFreeAmount':
      return pf && untrusted ? Math.min(request.amountMinor, MAX_SUM) : 0;
    default:
      return 0; // approvedCount, approvedAmount
  }
}

/**
 * The functions that build an entity's windows, distinct and newRelations answers, compiled once per
 * plan into object literals: the same objects, keys in the same order (windows by first read, each
 * with its metrics in read order; relations in plan order), as building them key by key, but with
 * each key a constant. Keyed stores with a different key per read send V8 down its slowest
 * (megamorphic) path for every one; a literal is one allocation of the final shape. Names are
 * embedded as JSON strings (window names come from the policy file).
 */
function answerBuilders(plan: EntityPlan): Pick<PreparedPlan, 'windows' | 'distinct' | 'newRelations' | 'fillWindows' | 'fillDistinct' | 'fillNewRelations'> {
  const key = (name: string) => JSON.stringify(name);
  // [outer key, [inner key, value]...] per object, for both the literal and the writes into a reused one.
  const byWindow = new Map<string, [string, string][]>();
  plan.reads.forEach(({ metric, window }, j) => {
    const fields = byWindow.get(window.name) ?? [];
    fields.push([key(metric), `sums[${j}]`]);
    byWindow.set(window.name, fields);
  });
  const windows = [...byWindow].map(([name, fields]) => [key(name), fields] as const);
  let c = 0;
  const distinct = plan.relations
    .filter((r) => r.windows.length > 0)
    .map((r) => [key(r.relation), r.windows.map((w) => [key(w.name), `counts[${c++}]`] as [string, string])] as const);
  const relations = plan.relations.map((r, i) => [key(r.relation), `(flags & ${1 << (i + 1)}) !== 0`] as const);
  const literal = (fields: readonly (readonly [string, string | [string, string][]])[]): string =>
    `{ ${fields.map(([k, v]) => `${k}: ${typeof v === 'string' ? v : literal(v)}`).join(', ')} }`;
  const compile = (parameter: string, fields: readonly (readonly [string, string | [string, string][]])[]) =>
    new Function(parameter, `return ${literal(fields)};`) as never;
  // o["name"] with a literal name is a named store, as in the literal.
  const writes = (fields: readonly (readonly [string, string | [string, string][]])[]): string[] =>
    fields.flatMap(([k, v]) => (typeof v === 'string' ? [`into[${k}] = ${v};`] : v.map(([inner, value]) => `into[${k}][${inner}] = ${value};`)));
  const fill = (parameter: string, fields: readonly (readonly [string, string | [string, string][]])[]) =>
    new Function('into', parameter, writes(fields).join('\n')) as never;
  return {
    windows: compile('sums', windows),
    distinct: compile('counts', distinct),
    newRelations: compile('flags', relations),
    fillWindows: fill('sums', windows),
    fillDistinct: fill('counts', distinct),
    fillNewRelations: fill('flags', relations),
  };
}

/** Where each resolution's head and slots start in an entity's count rings and in a currency's amount rings, and both empty. */
function ringLayout(plan: EntityPlan): Pick<PreparedPlan, 'countHead' | 'countRing' | 'amountHead' | 'amountRing' | 'emptyCounts' | 'emptyAmounts'> {
  // Heads first (each the totals' bucket index and a total per metric), then the slots (each its bucket index and its metrics).
  const layout = (resolutions: readonly { slots: number }[], width: number) => {
    const heads: number[] = [];
    const rings: number[] = [];
    let at = 0;
    for (let i = 0; i < resolutions.length; i++, at += 1 + width) heads.push(at);
    for (const r of resolutions) {
      rings.push(at);
      at += r.slots * (1 + width);
    }
    // Every slot and every head start absent (-Infinity): no bucket, totals to be worked out.
    const empty = new Float64Array(at);
    for (const head of heads) empty[head] = -Infinity;
    resolutions.forEach((r, i) => {
      for (let s = 0; s < r.slots; s++) empty[rings[i]! + s * (1 + width)] = -Infinity;
    });
    return { heads, rings, empty };
  };
  const counts = layout(plan.resolutions, plan.counts.length);
  const kept = plan.resolutions.filter((r) => r.amounts);
  const amounts = layout(kept, plan.amounts.length);
  // Amount positions by resolution index (-1 where amounts are not kept).
  let k = 0;
  const amountIndex = plan.resolutions.map((r) => (r.amounts ? k++ : -1));
  const amountHead = amountIndex.map((j) => (j < 0 ? -1 : amounts.heads[j]!));
  const amountRing = amountIndex.map((j) => (j < 0 ? -1 : amounts.rings[j]!));
  return { countHead: counts.heads, countRing: counts.rings, amountHead, amountRing, emptyCounts: counts.empty, emptyAmounts: amounts.empty };
}

/**
 * Running totals: a ring's head keeps the sum per metric of its live buckets (those after its newest
 * bucket `top` minus its size), with the `top` they are valid for. A window that spans its ring
 * (plan.ts sizes a ring to its longest window: window / bucket + 1 slots) then reads one number
 * instead of every slot; the scan stays for reads that start later (a late event's window) and for
 * totals that cannot be exact (an amount total past 2^53 - 1). Brings the totals to `top`: subtracts
 * the buckets that left the ring since (fewer than its size), or works them out again from the slots
 * (first use, a jump of a whole ring, or not exact before). Returns where the totals start (head + 1),
 * or -1 when they are not exact (the caller scans; the next advance works them out again).
 */
function advance(rings: Rings, head: number, ring: number, slots: number, width: number, top: number): number {
  const valid = rings[head]!;
  if (valid === top) return head + 1;
  const live = top - slots + 1;
  const stride = width + 1;
  if (valid < top && top - valid < slots) {
    // Buckets valid - slots + 1 .. live - 1 were live and are not any more.
    for (let idx = valid - slots + 1; idx < live; idx++) {
      const at = ring + (idx >= 0 ? idx % slots : slotOf(idx, slots)) * stride;
      if (rings[at] !== idx) continue;
      for (let k = 1; k <= width; k++) rings[head + k]! -= rings[at + k]!;
    }
    rings[head] = top;
    return head + 1;
  }
  for (let k = 1; k <= width; k++) rings[head + k] = 0;
  let exact = true;
  for (let s = 0, at = ring; s < slots; s++, at += stride) {
    if (rings[at]! < live) continue;
    for (let k = 1; k <= width; k++) if ((rings[head + k]! += rings[at + k]!) > MAX_SUM) exact = false;
  }
  rings[head] = exact ? top : NaN;
  return exact ? head + 1 : -1;
}

/**
 * Adds to an amount ring's totals (every metric's `adds`, or `add` to metric `only`); a total past
 * 2^53 - 1 is no longer exact, and the ring's totals are then worked out again at the next advance.
 */
function addToTotals(rings: Rings, head: number, width: number, adds: Float64Array | number, only: number): void {
  let exact = true;
  if (typeof adds === 'number') exact = (rings[head + 1 + only]! += adds) <= MAX_SUM;
  else for (let k = 0; k < width; k++) if ((rings[head + 1 + k]! += adds[k]!) > MAX_SUM) exact = false;
  if (!exact) rings[head] = NaN;
}

/**
 * Where bucket idx's metrics start in the ring whose slots start at `ring` (slot s), the slot
 * cleared first when it held an older bucket (never a live one: see advance).
 */
function bucketAt(rings: Rings, ring: number, s: number, idx: number, width: number): number {
  const at = ring + s * (width + 1);
  if (rings[at] !== idx) {
    rings[at] = idx;
    for (let k = at + 1; k <= at + width; k++) rings[k] = 0; // a metric or three: a loop, not a call into fill
  }
  return at + 1;
}

/** The currency's amount rings of an entity, made empty at its first write. */
function amountRings(state: EntityState, prepared: PreparedPlan, currency: string): Rings {
  const amounts = (state.amounts ??= new Map());
  let found = amounts.get(currency);
  if (found === undefined) amounts.set(currency, (found = prepared.emptyAmounts.slice()));
  return found;
}

function slotOf(idx: number, slots: number): number {
  const s = idx % slots;
  return s < 0 ? s + slots : s;
}

/**
 * readResolution (plan.ts) with the window's own resolution found once: the own bucket size when
 * its ring still holds the bucket of t - W, else the next by span that does, else the longest.
 */
function resolutionFor(plan: EntityPlan, own: number, windowMs: number, t: number, newest: number, amount: boolean): number {
  const resolutions = plan.resolutions;
  let last = own;
  for (let i = own; i < resolutions.length; i++) {
    const r = resolutions[i]!;
    if (amount && !r.amounts) continue;
    if (Math.floor((t - windowMs) / r.bucketMs) > Math.floor(newest / r.bucketMs) - r.slots) return i;
    last = i;
  }
  return last;
}

function memberOf(entity: EntityUpdate, relation: EntityKind): string | undefined {
  for (const m of entity.members) if (m.relation === relation) return m.member;
  return undefined;
}

/** Entries by value then key bytes: a Redis sorted set's order (the cap drops from the front). */
function lowestFirst(entries: Map<string, number>): [string, number][] {
  return [...entries].sort(([ka, va], [kb, vb]) => va - vb || (ka < kb ? -1 : ka > kb ? 1 : 0));
}

