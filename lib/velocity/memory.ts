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

interface Bucket {
  counts: number[];
  amounts: Map<string, number[]>;
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
  /** resolution index -> bucket index -> totals (only buckets inside the ring). */
  rings: Map<number, Bucket>[];
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
  #writes = 0;
  /** The next sweep: after as many writes as there are entries (amortised constant cost per write). */
  #nextSweep = SWEEP_EVERY;

  constructor(limits: StoreLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#plan = planOf(limits);
    this.#now = now;
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
    // Rings move with the entity's newest time: buckets that fell out are dropped.
    plan.resolutions.forEach((r, i) => {
      const ring = (state.rings[i] ??= new Map());
      const floor = Math.floor(newest / r.bucketMs) - r.slots;
      for (const idx of ring.keys()) if (idx <= floor) ring.delete(idx);
    });
    state.newest = newest;
    state.firstSeen = Math.min(state.firstSeen ?? Infinity, t);

    const { currency, passwordFree } = request;
    const untrusted = passwordFree && this.#untrusted(state, plan, entity);
    const keepsCurrency = plan.amounts.length > 0 && this.#keepCurrency(state, plan, currency);
    const own = ownContribution(request, untrusted);
    let counted = false;
    plan.resolutions.forEach((r, i) => {
      const idx = Math.floor(t / r.bucketMs);
      if (idx <= Math.floor(newest / r.bucketMs) - r.slots) return; // older than the ring: counts only in its own answer
      const ring = state.rings[i]!;
      let bucket = ring.get(idx);
      if (!bucket) ring.set(idx, (bucket = { counts: plan.counts.map(() => 0), amounts: new Map() }));
      plan.counts.forEach((m, k) => (bucket.counts[k]! += own[m]));
      if (keepsCurrency && r.amounts) {
        counted = true;
        const sums = bucket.amounts.get(currency) ?? plan.amounts.map(() => 0);
        plan.amounts.forEach((m, k) => (sums[k] = saturatingAdd(sums[k]!, own[m])));
        bucket.amounts.set(currency, sums);
      }
    });
    if (counted && keepsCurrency) state.currencies.set(currency, Math.max(state.currencies.get(currency) ?? -Infinity, t));

    let flags = isNew ? '1' : '0';
    for (const { relation, retentionMs } of plan.relations) {
      const member = entity.members.find((m) => m.relation === relation)?.member;
      if (member === undefined) {
        flags += '0';
        continue;
      }
      const set = state.related.get(relation) ?? new Map<string, number>();
      state.related.set(relation, set);
      const cutoff = newest - retentionMs;
      const seen = set.get(member);
      const novel = seen === undefined || seen <= cutoff;
      flags += novel ? '1' : '0';
      set.set(member, Math.max(seen ?? -Infinity, t));
      if (novel) {
        for (const [m, last] of set) if (last <= cutoff) set.delete(m);
        const excess = set.size - this.#limits.distinctCap;
        if (excess > 0) for (const [m] of lowestFirst(set).slice(0, excess)) set.delete(m);
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
      for (const [cur, last] of state.currencies) if (last <= cutoff) state.currencies.delete(cur);
    }
    return state.currencies.size < CURRENCY_CAP;
  }

  /** Approved spend and device trust, written by commit. */
  #approve(state: EntityState, plan: EntityPlan, request: CommitRequest, entity: EntityUpdate, t: number): void {
    const newest = state.newest!;
    const counts = plan.counts.indexOf('approvedCount');
    const amounts = plan.amounts.indexOf('approvedAmount');
    if (counts >= 0 || amounts >= 0) {
      plan.resolutions.forEach((r, i) => {
        const idx = Math.floor(t / r.bucketMs);
        if (idx <= Math.floor(newest / r.bucketMs) - r.slots) return;
        const ring = (state.rings[i] ??= new Map());
        let bucket = ring.get(idx);
        if (!bucket) ring.set(idx, (bucket = { counts: plan.counts.map(() => 0), amounts: new Map() }));
        if (counts >= 0) bucket.counts[counts]! += 1;
        if (amounts >= 0 && r.amounts && state.currencies.has(request.currency)) {
          const sums = bucket.amounts.get(request.currency) ?? plan.amounts.map(() => 0);
          sums[amounts] = saturatingAdd(sums[amounts]!, request.amountMinor);
          bucket.amounts.set(request.currency, sums);
        }
      });
    }
    const device = plan.pairs ? entity.members.find((m) => m.relation === 'device')?.member : undefined;
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
      const last = new Map([...state.pairs].map(([d, p]) => [d, p.last]));
      const excess = state.pairs.size - this.#limits.distinctCap + 1;
      if (excess > 0) for (const [d] of lowestFirst(last).slice(0, excess)) state.pairs.delete(d);
    }
    state.pairs.set(device, pair);
  }

  #untrusted(state: EntityState, plan: EntityPlan, entity: EntityUpdate): boolean {
    const pair = this.#pair(state, plan, entity);
    return !pair || pair.trustedAt === undefined;
  }

  #pair(state: EntityState, plan: EntityPlan, entity: EntityUpdate): PairFacts | null | undefined {
    if (!plan.pairs) return undefined;
    const device = entity.members.find((m) => m.relation === 'device')?.member;
    if (device === undefined) return undefined;
    const pair = state.pairs.get(device);
    if (!pair || pair.last <= (state.newest ?? -Infinity) - this.#plan.deviceRetentionMs) return null;
    return { firstSeenAt: pair.first, lastSeenAt: pair.last, ...(pair.trusted !== undefined && { trustedAt: pair.trusted }) };
  }

  #read(state: EntityState, plan: EntityPlan, request: RecordRequest, entity: EntityUpdate, t: number, flags: string): EntityVelocity {
    const newest = state.newest ?? t;
    const untrusted = request.passwordFree && this.#untrusted(state, plan, entity);
    const own = ownContribution(request, untrusted);
    const windows: EntityVelocity['windows'] = {};
    for (const { metric, window } of plan.reads) {
      const amount = AMOUNT.has(metric);
      const ri = readResolution(plan, window, t, newest, amount);
      const r = plan.resolutions[ri]!;
      const ring = state.rings[ri];
      const lo = Math.floor((t - window.ms) / r.bucketMs);
      const k = amount ? plan.amounts.indexOf(metric as never) : plan.counts.indexOf(metric as never);
      let sum = 0;
      if (ring) {
        for (const [idx, bucket] of ring) {
          if (idx < lo) continue;
          sum = amount ? saturatingAdd(sum, bucket.amounts.get(request.currency)?.[k] ?? 0) : sum + bucket.counts[k]!;
        }
      }
      const missed = Math.floor(t / r.bucketMs) <= Math.floor(newest / r.bucketMs) - r.slots || (amount && !state.currencies.has(request.currency));
      if (missed) sum = saturatingAdd(sum, own[metric]);
      (windows[window.name] ??= {})[metric] = Math.min(sum, MAX_SUM);
    }
    const distinct: EntityVelocity['distinct'] = {};
    const newRelations: EntityVelocity['newRelations'] = {};
    plan.relations.forEach(({ relation, windows: read }, i) => {
      newRelations[relation] = flags[i + 1] === '1';
      if (read.length === 0) return;
      const set = state.related.get(relation);
      const counts: Record<string, number> = {};
      for (const w of read) {
        let n = 0;
        if (set) for (const last of set.values()) if (last > t - w.ms) n++;
        counts[w.name] = n;
      }
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

/** What one event adds to each metric at record time (approved metrics are added by commit). */
function ownContribution(request: RecordRequest, untrusted: boolean): Record<Metric, number> {
  const a = request.amountMinor;
  const pf = request.passwordFree;
  return {
    count: 1,
    passwordFreeCount: pf ? 1 : 0,
    untrustedPasswordFreeCount: pf && untrusted ? 1 : 0,
    approvedCount: 0,
    amount: Math.min(a, MAX_SUM),
    passwordFreeAmount: pf ? Math.min(a, MAX_SUM) : 0,
    untrustedPasswordFreeAmount: pf && untrusted ? Math.min(a, MAX_SUM) : 0,
    approvedAmount: 0,
  };
}

/** Entries by value then key bytes: a Redis sorted set's order (the cap drops from the front). */
function lowestFirst(entries: Map<string, number>): [string, number][] {
  return [...entries].sort(([ka, va], [kb, vb]) => va - vb || (ka < kb ? -1 : ka > kb ? 1 : 0));
}

