/**
 * The embedded in-memory store: the default for local runs without Redis. It keeps the same
 * semantics as record-entities.lua (same window arithmetic, markers, trimming and caps) and passes
 * the same contract suite. State lives in this process only: it is not for deployed Lambdas.
 */
import type { Decision, EntityKind } from '../events.js';
import {
  type BindingRequest,
  type Claim,
  type EntityUpdate,
  type EntityVelocity,
  type RecordRequest,
  type StoreLimits,
  type VelocitySnapshot,
  type VelocityStore,
  KIND_CODE,
  entityTtlMs,
} from './store.js';
import { bucketIndex, longestWindowMs, oldestKeptBucket, sumWindow } from './windows.js';

interface Bucket {
  count: number;
  passwordFreeCount: number;
  amount: Map<string, number>;
  passwordFreeAmount: Map<string, number>;
}

interface EntityState {
  /** Unset while the entity is only known from a binding (no payment yet). */
  firstSeenAt?: number;
  boundAt?: number;
  unboundAt?: number;
  /** bucket size (ms) -> bucket index -> totals */
  resolutions: Map<number, Map<number, Bucket>>;
  /** relation code + member hash -> last seen (event time) */
  members: Map<string, number>;
  expiresAt: number;
}

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

const SWEEP_EVERY = 1_000;

export class MemoryVelocityStore implements VelocityStore {
  readonly name = 'memory' as const;
  readonly #limits: StoreLimits;
  readonly #now: () => number;
  readonly #entities = new Map<string, EntityState>();
  readonly #markers = new Map<string, Expiring<string>>();
  readonly #decisions = new Map<string, Expiring<string>>();
  readonly #resolutions: number[];
  readonly #ttlMs: number;
  readonly #retentionMs: number;
  #writes = 0;

  constructor(limits: StoreLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
    this.#resolutions = [...new Set(limits.windows.map((w) => w.bucketMs))];
    this.#ttlMs = entityTtlMs(limits.windows);
    this.#retentionMs = longestWindowMs(limits.windows);
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
    if (++this.#writes % SWEEP_EVERY === 0) this.#sweep();
    const snapshot: VelocitySnapshot = {};
    for (const entity of request.entities) snapshot[entity.kind] = this.#recordEntity(request, entity);
    return snapshot;
  }

  async recordBinding(request: BindingRequest): Promise<void> {
    const now = this.#now();
    for (const entity of request.entities) {
      const state = this.#entity(`${KIND_CODE[entity.kind]}:${entity.key}`, now) ?? this.#create(`${KIND_CODE[entity.kind]}:${entity.key}`);
      if (request.state === 'bound') state.boundAt = Math.max(state.boundAt ?? -Infinity, request.at);
      else state.unboundAt = Math.max(state.unboundAt ?? -Infinity, request.at);
      state.expiresAt = now + this.#ttlMs;
    }
  }

  async close(): Promise<void> {
    this.#entities.clear();
    this.#markers.clear();
    this.#decisions.clear();
  }

  #recordEntity(request: RecordRequest, entity: EntityUpdate): EntityVelocity {
    const tag = `${KIND_CODE[entity.kind]}:${entity.key}`;
    const markerKey = `${tag}|${request.eventKey}`;
    const now = this.#now();
    let state = this.#entity(tag, now);
    let flags = this.#live(this.#markers, markerKey);
    if (flags === undefined || !state) {
      state ??= this.#create(tag);
      const isNew = state.firstSeenAt === undefined;
      state.firstSeenAt = Math.min(state.firstSeenAt ?? Infinity, request.at);
      flags = (isNew ? '1' : '0') + this.#addMembers(state, request.at, entity);
      this.#count(state, request);
      state.expiresAt = now + this.#ttlMs;
      this.#markers.set(markerKey, { value: flags, expiresAt: now + this.#limits.markerTtlMs });
    }
    return this.#read(state, request, entity, flags);
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
    const state: EntityState = { resolutions: new Map(), members: new Map(), expiresAt: 0 };
    this.#entities.set(tag, state);
    return state;
  }

  /** Adds this event's related entities; returns one '1'/'0' per reported relation: was it new here. */
  #addMembers(state: EntityState, at: number, entity: EntityUpdate): string {
    let flags = '';
    for (const relation of entity.relations) {
      const found = entity.members.find((m) => m.relation === relation);
      const member = found ? KIND_CODE[relation] + found.member : undefined;
      flags += member !== undefined && !state.members.has(member) ? '1' : '0';
    }
    if (entity.members.length === 0) return flags;
    for (const { relation, member } of entity.members) {
      const key = KIND_CODE[relation] + member;
      state.members.set(key, Math.max(state.members.get(key) ?? -Infinity, at));
    }
    const cutoff = at - this.#retentionMs;
    for (const [member, seen] of state.members) if (seen <= cutoff) state.members.delete(member);
    const excess = state.members.size - this.#limits.distinctCap;
    if (excess > 0) {
      // Same order as a Redis sorted set: by score, then by member bytes (ASCII here).
      const oldest = [...state.members].sort(([ma, sa], [mb, sb]) => sa - sb || (ma < mb ? -1 : ma > mb ? 1 : 0));
      for (const [member] of oldest.slice(0, excess)) state.members.delete(member);
    }
    return flags;
  }

  #count(state: EntityState, request: RecordRequest): void {
    const { at, currency, amountMinor, passwordFree } = request;
    for (const bucketMs of this.#resolutions) {
      let buckets = state.resolutions.get(bucketMs);
      if (!buckets) state.resolutions.set(bucketMs, (buckets = new Map()));
      const index = bucketIndex(at, bucketMs);
      let bucket = buckets.get(index);
      if (!bucket) {
        bucket = { count: 0, passwordFreeCount: 0, amount: new Map(), passwordFreeAmount: new Map() };
        buckets.set(index, bucket);
      }
      bucket.count += 1;
      bucket.amount.set(currency, (bucket.amount.get(currency) ?? 0) + amountMinor);
      if (passwordFree) {
        bucket.passwordFreeCount += 1;
        bucket.passwordFreeAmount.set(currency, (bucket.passwordFreeAmount.get(currency) ?? 0) + amountMinor);
      }
      const keep = oldestKeptBucket(at, bucketMs, this.#limits.windows);
      for (const k of buckets.keys()) if (k < keep) buckets.delete(k);
    }
  }

  #read(state: EntityState, request: RecordRequest, entity: EntityUpdate, flags: string): EntityVelocity {
    const { at, currency } = request;
    const windows: EntityVelocity['windows'] = {};
    for (const w of this.#limits.windows) {
      const buckets = state.resolutions.get(w.bucketMs) ?? new Map<number, Bucket>();
      const pick = (f: (b: Bucket) => number) => sumWindow(new Map([...buckets].map(([k, b]) => [k, f(b)])), at, w);
      windows[w.name] = {
        count: pick((b) => b.count),
        amount: pick((b) => b.amount.get(currency) ?? 0),
        passwordFreeCount: pick((b) => b.passwordFreeCount),
        passwordFreeAmount: pick((b) => b.passwordFreeAmount.get(currency) ?? 0),
      };
    }
    const distinct: EntityVelocity['distinct'] = {};
    const newRelations: EntityVelocity['newRelations'] = {};
    entity.relations.forEach((relation: EntityKind, i) => {
      const code = KIND_CODE[relation];
      const counts: Record<string, number> = {};
      for (const w of this.#limits.windows) {
        let n = 0;
        for (const [member, seen] of state.members) if (member.startsWith(code) && seen > at - w.ms) n++;
        counts[w.name] = n;
      }
      distinct[relation] = counts;
      newRelations[relation] = flags[i + 1] === '1';
    });
    const bound = state.boundAt !== undefined && (state.unboundAt === undefined || state.unboundAt < state.boundAt);
    return {
      isNew: flags[0] === '1',
      firstSeenAt: state.firstSeenAt ?? request.at,
      ...(bound && { boundAt: state.boundAt }),
      windows,
      distinct,
      newRelations,
    };
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
  }
}
