/**
 * The embedded in-memory store: the default for local runs without Redis, and replay's store. It
 * keeps exactly the semantics of record.lua and commit.lua (same clock, rings, caps, trimming and
 * plan) and passes the same contract suite and the differential test. State lives in this process only.
 */
import type { Decision, EntityKind } from '../events.js';
import {
  CURRENCY_CAP,
  type EntityPlan,
  type Metric,
  type StorePlan,
  amountSpan,
  planOf,
  readResolution,
} from './plan.js';
import {
  type BindingRequest,
  type Claim,
  type CommitRequest,
  type EntityUpdate,
  type EntityVelocity,
  type PairFacts,
  type RecordRequest,
  type StoreLimits,
  type VelocitySnapshot,
  type VelocityStore,
  DEFAULT_LIMITS,
  KIND_CODE,
} from './store.js';
import { MAX_SUM, saturatingAdd, velocityClock } from './windows.js';

/**
 * One resolution's ring: a slot per bucket (bucket index modulo the ring size), holding the bucket
 * index it was last written for. A slot whose index fell out of the ring (at or before the entity's
 * newest bucket minus the ring size) or was overwritten counts as absent: the same buckets as
 * dropping them, without allocating a bucket per write.
 */
interface Ring {
  idx: Float64Array;
  /** slot x count metric (plan.counts order) */
  counts: Float64Array;
  /** currency -> its amount slots (kept only at resolutions that keep amounts) */
  amounts: Map<string, AmountSlots>;
}

interface AmountSlots {
  idx: Float64Array;
  /** slot x amount metric (plan.amounts order) */
  sums: Float64Array;
}

/** A read of the plan with its metric's place worked out once. */
interface PreparedRead {
  metric: Metric;
  window: EntityPlan['reads'][number]['window'];
  amount: boolean;
  k: number;
}

interface Pair {
  first: number;
  last: number;
  trusted?: number;
}

interface EntityState {
  /** Unset while the entity is only known from a binding (no payment yet). */
  newest?: number;
  firstSeen?: number;
  boundAt?: number;
  unboundAt?: number;
  /** currency -> newest counted time in it (at most CURRENCY_CAP). */
  currencies: Map<string, number>;
  /** resolution index -> ring of bucket totals */
  rings: Ring[];
  /** relation -> member hash -> last seen (counted time) */
  related: Map<EntityKind, Map<string, number>>;
  /** device hash -> pair */
  pairs: Map<string, Pair>;
  expiresAt: number;
}

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

const SWEEP_EVERY = 1_000;
const AMOUNT = new Set<Metric>(['amount', 'passwordFreeAmount', 'untrustedPasswordFreeAmount', 'approvedAmount']);

export class MemoryVelocityStore implements VelocityStore {
  readonly name = 'memory' as const;
  readonly #limits: StoreLimits;
  readonly #plan: StorePlan;
  readonly #now: () => number;
  readonly #entities = new Map<string, EntityState>();
  /** event key -> the novelty flags of its first count, per entity tag */
  readonly #markers = new Map<string, Expiring<Map<string, string>>>();
  readonly #decisions = new Map<string, Expiring<string>>();
  readonly #reads = new Map<EntityPlan, PreparedRead[]>();
  #writes = 0;
  /** The next sweep: after as many writes as there are entries (amortised constant cost per write). */
  #nextSweep = SWEEP_EVERY;

  constructor(limits: StoreLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#plan = planOf(limits);
    this.#now = now;
    for (const plan of Object.values(this.#plan.entities)) {
      this.#reads.set(
        plan,
        plan.reads.map(({ metric, window }) => {
          const amount = AMOUNT.has(metric);
          return { metric, window, amount, k: amount ? plan.amounts.indexOf(metric as never) : plan.counts.indexOf(metric as never) };
        }),
      );
    }
  }

  async claim(eventKey: string, now: number): Promise<Claim> {
    const existing = this.#live(this.#decisions, eventKey);
    if (existing === undefined) {
      this.#decisions.set(eventKey, { value: `P${now}`, expiresAt: this.#now() + this.#limits.decisionTtlMs });
      return { state: 'claimed' };
    }
    if (existing.startsWith('P')) {
      if (now - Number(existing.slice(1)) < this.#limits.claimStaleMs) return { state: 'pending' };
      this.#decisions.set(eventKey, { value: `P${now}`, expiresAt: this.#now() + this.#limits.decisionTtlMs });
      return { state: 'takeover' };
    }
    return { state: 'decided', decision: JSON.parse(existing) as Decision };
  }

  async readDecision(eventKey: string): Promise<Decision | undefined> {
    const value = this.#live(this.#decisions, eventKey);
    return value === undefined || value.startsWith('P') ? undefined : (JSON.parse(value) as Decision);
  }

  async saveDecision(eventKey: string, decision: Decision): Promise<void> {
    this.#decisions.set(eventKey, { value: JSON.stringify(decision), expiresAt: this.#now() + this.#limits.decisionTtlMs });
  }

  async record(request: RecordRequest): Promise<VelocitySnapshot> {
    if (++this.#writes >= this.#nextSweep) this.#sweep();
    const t = this.#clock(request);
    const now = this.#now();
    let marker = this.#live(this.#markers, request.eventKey);
    const first = marker === undefined;
    if (!marker) {
      marker = new Map();
      this.#markers.set(request.eventKey, { value: marker, expiresAt: now + this.#limits.decisionTtlMs });
    }
    const snapshot: VelocitySnapshot = {};
    for (const entity of request.entities) {
      const plan = this.#plan.entities[entity.kind];
      if (!plan) continue;
      const tag = `${KIND_CODE[entity.kind]}:${entity.key}`;
      let flags = marker.get(tag);
      let state = this.#entity(tag, now);
      if (flags === undefined && first) {
        state ??= this.#create(tag);
        flags = this.#count(state, plan, request, entity, t);
        marker.set(tag, flags);
        state.expiresAt = now + plan.ttlMs;
      }
      snapshot[entity.kind] = this.#read(state ?? this.#create(tag), plan, request, entity, t, flags ?? '');
    }
    return snapshot;
  }

  async commit(request: CommitRequest): Promise<void> {
    const stored = this.#live(this.#decisions, request.eventKey);
    if (stored !== undefined && !stored.startsWith('P')) return; // committed already
    if (request.decision.decision === 'approve') {
      const t = this.#clock(request);
      const now = this.#now();
      for (const entity of request.entities) {
        const plan = this.#plan.entities[entity.kind];
        const state = plan && this.#entity(`${KIND_CODE[entity.kind]}:${entity.key}`, now);
        if (!plan || !state || state.newest === undefined) continue;
        this.#approve(state, plan, request, entity, t);
        state.expiresAt = now + plan.ttlMs;
      }
    }
    await this.saveDecision(request.eventKey, request.decision);
  }

  async recordBinding(request: BindingRequest): Promise<void> {
    const now = this.#now();
    for (const entity of request.entities) {
      const tag = `${KIND_CODE[entity.kind]}:${entity.key}`;
      const state = this.#entity(tag, now) ?? this.#create(tag);
      if (request.state === 'bound') state.boundAt = Math.max(state.boundAt ?? -Infinity, request.at);
      else state.unboundAt = Math.max(state.unboundAt ?? -Infinity, request.at);
      state.expiresAt = Math.max(state.expiresAt, now + (this.#plan.entities[entity.kind]?.ttlMs ?? 86_400_000));
    }
  }

  async close(): Promise<void> {
    this.#entities.clear();
    this.#markers.clear();
    this.#decisions.clear();
  }

  #clock(request: RecordRequest): number {
    return velocityClock(request.at, request.receivedAt ?? request.at, this.#limits.maxEventLagMs ?? DEFAULT_LIMITS.maxEventLagMs);
  }

  /** First count of an event on one entity; returns its novelty flags (entity, then each kept relation). */
  #count(state: EntityState, plan: EntityPlan, request: RecordRequest, entity: EntityUpdate, t: number): string {
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
    let counted = false;
    for (let i = 0; i < plan.resolutions.length; i++) {
      const r = plan.resolutions[i]!;
      const ring = (state.rings[i] ??= newRing(r.slots, nCounts));
      const idx = Math.floor(t / r.bucketMs);
      if (idx <= Math.floor(newest / r.bucketMs) - r.slots) continue; // older than the ring: counts only in its own answer
      const s = slotOf(idx, r.slots);
      if (ring.idx[s] !== idx) {
        ring.idx[s] = idx;
        ring.counts.fill(0, s * nCounts, s * nCounts + nCounts);
      }
      for (let k = 0; k < nCounts; k++) ring.counts[s * nCounts + k]! += ownContribution(plan.counts[k]!, request, untrusted);
      if (keepsCurrency && r.amounts) {
        counted = true;
        const sums = amountSlots(ring, currency, r.slots, nAmounts, idx, s);
        for (let k = 0; k < nAmounts; k++) sums[s * nAmounts + k] = saturatingAdd(sums[s * nAmounts + k]!, ownContribution(plan.amounts[k]!, request, untrusted));
      }
    }
    if (counted && keepsCurrency) state.currencies.set(currency, Math.max(state.currencies.get(currency) ?? -Infinity, t));

    let flags = isNew ? '1' : '0';
    for (const { relation, retentionMs } of plan.relations) {
      const member = memberOf(entity, relation);
      if (member === undefined) {
        flags += '0';
        continue;
      }
      let set = state.related.get(relation);
      if (!set) state.related.set(relation, (set = new Map<string, number>()));
      const cutoff = newest - retentionMs;
      const seen = set.get(member);
      const novel = seen === undefined || seen <= cutoff;
      flags += novel ? '1' : '0';
      set.set(member, Math.max(seen ?? -Infinity, t));
      if (novel) {
        for (const [m, last] of set) if (last <= cutoff) set.delete(m);
        dropLowest(set, set.size - this.#limits.distinctCap);
      }
    }
    return flags;
  }

  /**
   * Whether amounts in `currency` are kept: it is kept already, or there is room (after forgetting
   * currencies with no live bucket left). At the cap a further currency counts only in its own answer.
   */
  #keepCurrency(state: EntityState, plan: EntityPlan, currency: string): boolean {
    if (state.currencies.has(currency)) return true;
    if (state.currencies.size >= CURRENCY_CAP) {
      const cutoff = state.newest! - amountSpan(plan);
      for (const [cur, last] of state.currencies) {
        if (last > cutoff) continue;
        state.currencies.delete(cur);
        // No live bucket holds it any more: its amount slots go too.
        for (const ring of state.rings) ring?.amounts.delete(cur);
      }
    }
    return state.currencies.size < CURRENCY_CAP;
  }

  /** Approved spend and device trust, written by commit. */
  #approve(state: EntityState, plan: EntityPlan, request: CommitRequest, entity: EntityUpdate, t: number): void {
    const newest = state.newest!;
    const counts = plan.counts.indexOf('approvedCount');
    const amounts = plan.amounts.indexOf('approvedAmount');
    if (counts >= 0 || amounts >= 0) {
      const nCounts = plan.counts.length;
      for (let i = 0; i < plan.resolutions.length; i++) {
        const r = plan.resolutions[i]!;
        const idx = Math.floor(t / r.bucketMs);
        if (idx <= Math.floor(newest / r.bucketMs) - r.slots) continue;
        const ring = (state.rings[i] ??= newRing(r.slots, nCounts));
        const s = slotOf(idx, r.slots);
        if (ring.idx[s] !== idx) {
          ring.idx[s] = idx;
          ring.counts.fill(0, s * nCounts, s * nCounts + nCounts);
        }
        if (counts >= 0) ring.counts[s * nCounts + counts]! += 1;
        if (amounts >= 0 && r.amounts && state.currencies.has(request.currency)) {
          const nAmounts = plan.amounts.length;
          const sums = amountSlots(ring, request.currency, r.slots, nAmounts, idx, s);
          sums[s * nAmounts + amounts] = saturatingAdd(sums[s * nAmounts + amounts]!, request.amountMinor);
        }
      }
    }
    const device = plan.pairs ? memberOf(entity, 'device') : undefined;
    if (device === undefined) return;
    const cutoff = newest - this.#plan.deviceRetentionMs;
    const found = state.pairs.get(device);
    const valid = found !== undefined && found.last > cutoff;
    const strong = request.strongAuth;
    const pair: Pair = valid
      ? { first: Math.min(found.first, t), last: Math.max(found.last, t), ...((found.trusted !== undefined || strong) && { trusted: Math.min(found.trusted ?? Infinity, strong ? t : Infinity) }) }
      : { first: t, last: t, ...(strong && { trusted: t }) };
    if (found === undefined && state.pairs.size >= this.#limits.distinctCap) {
      for (const [d, p] of state.pairs) if (p.last <= cutoff) state.pairs.delete(d);
      const excess = state.pairs.size - this.#limits.distinctCap + 1;
      if (excess > 0) {
        const last = new Map([...state.pairs].map(([d, p]) => [d, p.last]));
        for (const [d] of lowestFirst(last).slice(0, excess)) state.pairs.delete(d);
      }
    }
    state.pairs.set(device, pair);
  }

  #untrusted(state: EntityState, plan: EntityPlan, entity: EntityUpdate): boolean {
    const pair = this.#pair(state, plan, entity);
    return !pair || pair.trustedAt === undefined;
  }

  #pair(state: EntityState, plan: EntityPlan, entity: EntityUpdate): PairFacts | null | undefined {
    if (!plan.pairs) return undefined;
    const device = memberOf(entity, 'device');
    if (device === undefined) return undefined;
    const pair = state.pairs.get(device);
    if (!pair || pair.last <= (state.newest ?? -Infinity) - this.#plan.deviceRetentionMs) return null;
    return { firstSeenAt: pair.first, lastSeenAt: pair.last, ...(pair.trusted !== undefined && { trustedAt: pair.trusted }) };
  }

  #read(state: EntityState, plan: EntityPlan, request: RecordRequest, entity: EntityUpdate, t: number, flags: string): EntityVelocity {
    const newest = state.newest ?? t;
    const untrusted = request.passwordFree && this.#untrusted(state, plan, entity);
    const windows: EntityVelocity['windows'] = {};
    const nCounts = plan.counts.length;
    const nAmounts = plan.amounts.length;
    for (const { metric, window, amount, k } of this.#reads.get(plan)!) {
      const ri = readResolution(plan, window, t, newest, amount);
      const r = plan.resolutions[ri]!;
      const ring = state.rings[ri];
      // Buckets from the window's start on, among those still in the ring.
      const lo = Math.max(Math.floor((t - window.ms) / r.bucketMs), Math.floor(newest / r.bucketMs) - r.slots + 1);
      let sum = 0;
      if (ring) {
        if (amount) {
          const slots = ring.amounts.get(request.currency);
          if (slots) for (let s = 0; s < r.slots; s++) if (slots.idx[s]! >= lo) sum = saturatingAdd(sum, slots.sums[s * nAmounts + k]!);
        } else {
          for (let s = 0; s < r.slots; s++) if (ring.idx[s]! >= lo) sum += ring.counts[s * nCounts + k]!;
        }
      }
      const missed = Math.floor(t / r.bucketMs) <= Math.floor(newest / r.bucketMs) - r.slots || (amount && !state.currencies.has(request.currency));
      if (missed) sum = saturatingAdd(sum, ownContribution(metric, request, untrusted));
      (windows[window.name] ??= {})[metric] = Math.min(sum, MAX_SUM);
    }
    const distinct: EntityVelocity['distinct'] = {};
    const newRelations: EntityVelocity['newRelations'] = {};
    plan.relations.forEach(({ relation, windows: read }, i) => {
      newRelations[relation] = flags[i + 1] === '1';
      if (read.length === 0) return;
      const set = state.related.get(relation);
      const ns = new Array<number>(read.length).fill(0);
      if (set) {
        for (const last of set.values()) for (let w = 0; w < read.length; w++) if (last > t - read[w]!.ms) ns[w]!++;
      }
      const counts: Record<string, number> = {};
      for (let w = 0; w < read.length; w++) counts[read[w]!.name] = ns[w]!;
      distinct[relation] = counts;
    });
    const bound = state.boundAt !== undefined && (state.unboundAt === undefined || state.unboundAt < state.boundAt);
    const pair = this.#pair(state, plan, entity);
    return {
      isNew: flags[0] === '1',
      firstSeenAt: state.firstSeen ?? t,
      newestAt: newest,
      countedAt: t,
      ...(bound && { boundAt: state.boundAt }),
      windows,
      distinct,
      newRelations,
      ...(pair !== undefined && { device: pair }),
    };
  }

  #entity(tag: string, now: number): EntityState | undefined {
    const state = this.#entities.get(tag);
    if (state && state.expiresAt <= now) {
      this.#entities.delete(tag);
      return undefined;
    }
    return state;
  }

  #create(tag: string): EntityState {
    const state: EntityState = { currencies: new Map(), rings: [], related: new Map(), pairs: new Map(), expiresAt: 0 };
    this.#entities.set(tag, state);
    return state;
  }

  #live<T>(map: Map<string, Expiring<T>>, key: string): T | undefined {
    const entry = map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > this.#now()) return entry.value;
    map.delete(key);
    return undefined;
  }

  /** Drops expired entries so a long local run stays bounded. */
  #sweep(): void {
    const now = this.#now();
    for (const map of [this.#entities, this.#markers, this.#decisions] as Map<string, { expiresAt: number }>[]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
    this.#nextSweep = this.#writes + Math.max(SWEEP_EVERY, this.#entities.size + this.#markers.size + this.#decisions.size);
  }
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

function newRing(slots: number, nCounts: number): Ring {
  return { idx: new Float64Array(slots).fill(-Infinity), counts: new Float64Array(slots * nCounts), amounts: new Map() };
}

function slotOf(idx: number, slots: number): number {
  return ((idx % slots) + slots) % slots;
}

/** The currency's amount slots of a ring, with slot `s` holding bucket `idx` (zeroed when it held another). */
function amountSlots(ring: Ring, currency: string, slots: number, nAmounts: number, idx: number, s: number): Float64Array {
  let found = ring.amounts.get(currency);
  if (!found) ring.amounts.set(currency, (found = { idx: new Float64Array(slots).fill(-Infinity), sums: new Float64Array(slots * nAmounts) }));
  if (found.idx[s] !== idx) {
    found.idx[s] = idx;
    found.sums.fill(0, s * nAmounts, s * nAmounts + nAmounts);
  }
  return found.sums;
}

function memberOf(entity: EntityUpdate, relation: EntityKind): string | undefined {
  for (const m of entity.members) if (m.relation === relation) return m.member;
  return undefined;
}

/**
 * Drops the `excess` lowest members (by last seen, then key bytes: a Redis sorted set's order);
 * the usual case, one over the cap, is one pass without sorting.
 */
function dropLowest(set: Map<string, number>, excess: number): void {
  if (excess <= 0) return;
  if (excess > 1) {
    for (const [m] of lowestFirst(set).slice(0, excess)) set.delete(m);
    return;
  }
  let lowKey: string | undefined;
  let lowValue = Infinity;
  for (const [k, v] of set) {
    if (lowKey === undefined || v < lowValue || (v === lowValue && k < lowKey)) {
      lowKey = k;
      lowValue = v;
    }
  }
  if (lowKey !== undefined) set.delete(lowKey);
}

/** Entries by value then key bytes: a Redis sorted set's order (the cap drops from the front). */
function lowestFirst(entries: Map<string, number>): [string, number][] {
  return [...entries].sort(([ka, va], [kb, vb]) => va - vb || (ka < kb ? -1 : ka > kb ? 1 : 0));
}

