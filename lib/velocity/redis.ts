/**
 * The Redis store. It only moves bytes: the arithmetic lives in the velocity library (velocity.lua
 * with the recorders library.ts generates from the plan, mirroring memory.ts). On a single node an
 * event's claim and record are one function call for all its entities, its marker folded into the
 * decision record (one round trip, one script run), then commit; on a cluster, the claim, then one
 * call per entity, all sent at once, each to its shard with a per-entity marker (every key of an
 * entity shares its hash tag). Every Redis failure surfaces as StoreUnavailableError (a command
 * timeout as StoreTimeoutError).
 */
import type { Cluster, Redis } from 'ioredis';
import { StoreTimeoutError, StoreUnavailableError } from '../errors.js';
import { opsKeys } from '../operations/backend.js';
import type { Decision, EntityKind } from '../events.js';
import { velocityLibrary } from './library.js';
import { CURRENCY_CAP, type EntityPlan, type StorePlan, planOf } from './plan.js';
import { SCRIPTS } from './scripts/index.js';
import {
  type BindingRequest,
  type Claim,
  type ClaimRecord,
  type CommitRequest,
  type EntityUpdate,
  type EntityVelocity,
  type ListExpiries,
  type RecordRequest,
  type StoreLimits,
  type VelocitySnapshot,
  type VelocityStore,
  DEFAULT_LIMITS,
  KIND_CODE,
} from './store.js';
import { velocityClock } from './windows.js';

// Client creation lives in redis-client.ts; re-exported here, where tests and the benchmark import it.
export { createRedisClient, createRedisClusterClient, lambdaClusterOptions, lambdaRedisOptions } from './redis-client.js';

type ScriptClient = (Redis | Cluster) & {
  claimDecision(key: string, now: number, staleMs: number, ttlMs: number): Promise<[string, string?]>;
  recordBinding(key: string, at: number, field: 'b' | 'u', ttlMs: number): Promise<number>;
};

type Reply = (string | number)[] | number;

export const keys = {
  tag: (entity: Pick<EntityUpdate, 'kind' | 'key'>) => `${KIND_CODE[entity.kind]}:${entity.key}`,
  buckets: (tag: string) => `rh:{${tag}}:v`,
  /** Block and allow list entries' expiry (lib/lists' key, on the entity's tag), read with the record on a single node. */
  lists: opsKeys.membership,
  /** One sorted set per relation: related entity hash -> last seen. */
  related: (tag: string, relation: string) => `rh:{${tag}}:d${relation}`,
  pairs: (tag: string) => `rh:{${tag}}:p`,
  marker: (tag: string, eventKey: string) => `rh:{${tag}}:m:${eventKey}`,
  decision: (eventKey: string) => `rh:{e:${eventKey}}`,
};

export class RedisVelocityStore implements VelocityStore {
  readonly name = 'redis' as const;
  readonly #client: ScriptClient;
  readonly #limits: StoreLimits;
  readonly #plan: StorePlan;
  /** velocity.lua as a Functions library with this store's plans written in, and its function's name. */
  readonly #library: string;
  /** The library's name (FUNCTION LIST LIBRARYNAME) and its function's (FCALL). */
  readonly velocityLibrary: string;
  readonly velocityFunction: string;
  #loading: Promise<void> | undefined;
  /** On a cluster each entity's script goes to its own shard; on one node an event is one script. */
  readonly #cluster: boolean;
  /** Some entity keeps state that commit writes (approved spend, pairs): else commit is the decision SET. */
  readonly #commits: boolean;

  constructor(client: Redis | Cluster, limits: StoreLimits) {
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in client)) client.defineCommand(name, { lua: script.lua, numberOfKeys: script.keys });
    }
    this.#cluster = (client as Cluster).isCluster === true;
    if (!this.#cluster) this.claimRecord = (request, now, listKinds) => this.#claimRecord(request, now, listKinds);
    this.carriesLists = !this.#cluster;
    this.#client = client as ScriptClient;
    this.#limits = limits;
    this.#plan = planOf(limits);
    const library = velocityLibrary(this.#plan);
    this.#library = library.text;
    this.velocityLibrary = library.name;
    this.velocityFunction = library.function;
    this.#commits = Object.values(this.#plan.entities).some(
      (p) => p.pairs || p.counts.includes('approvedCount') || p.amounts.includes('approvedAmount'),
    );
  }

  get client(): Redis | Cluster {
    return this.#client;
  }

  get plan(): StorePlan {
    return this.#plan;
  }

  async claim(eventKey: string, now: number): Promise<Claim> {
    const [state, value] = await this.#call(() =>
      this.#client.claimDecision(keys.decision(eventKey), now, this.#limits.claimStaleMs, this.#limits.decisionTtlMs),
    );
    if (state === 'decided' && value !== undefined) return { state, decision: JSON.parse(value) as Decision };
    if (state === 'claimed' || state === 'takeover' || state === 'pending') return { state };
    throw new StoreUnavailableError(`unexpected claim reply: ${state}`);
  }

  /**
   * On a single node, claim and record are one function call (the marker is the decision record).
   * Unset on a cluster: decide claims, then records, checking its deadline in between.
   */
  readonly claimRecord?: (request: RecordRequest, now: number, listKinds?: readonly EntityKind[]) => Promise<ClaimRecord>;

  /** On a single node the list entries (same Redis) are read in the claim's call. */
  readonly carriesLists: boolean;

  async #claimRecord(request: RecordRequest, now: number, listKinds: readonly EntityKind[] | undefined): Promise<ClaimRecord> {
    const entities = request.entities.filter((e) => this.#plan.entities[e.kind]);
    const listed = listKinds ? request.entities.filter((e) => listKinds.includes(e.kind)) : [];
    const listKeys = listed.map((e) => keys.lists(keys.tag(e)));
    const reply = (await this.#call(() => this.#script('claim', request, entities, now, listKeys))) as (string | number)[];
    const state = reply[0];
    if (state === 'decided') return { claim: { state, decision: JSON.parse(String(reply[1])) as Decision } };
    if (state === 'pending') return { claim: { state } };
    if (state !== 'claimed' && state !== 'takeover') throw new StoreUnavailableError(`unexpected claim reply: ${state}`);
    const snapshot: VelocitySnapshot = {};
    let offset = 1;
    for (const entity of entities) [snapshot[entity.kind], offset] = parseEntityReply(reply, offset, entity, this.#plan.entities[entity.kind]!, this.#t(request));
    if (!listKinds) return { claim: { state }, snapshot };
    const expiries: ListExpiries = {};
    const any = listed.length > 0 && Number(reply[offset++]) > 0;
    for (const entity of listed) {
      expiries[entity.kind] = any ? { block: Number(reply[offset++] || 0), allow: Number(reply[offset++] || 0) } : NO_LIST_ENTRY;
    }
    return { claim: { state }, snapshot, lists: expiries };
  }

  async readDecision(eventKey: string): Promise<Decision | undefined> {
    const value = await this.#call(() => this.#client.get(keys.decision(eventKey)));
    return value === null || value.startsWith('P') ? undefined : (JSON.parse(value) as Decision);
  }

  async saveDecision(eventKey: string, decision: Decision): Promise<void> {
    await this.#call(() =>
      this.#client.set(keys.decision(eventKey), JSON.stringify(decision), 'PX', this.#limits.decisionTtlMs),
    );
  }

  async record(request: RecordRequest): Promise<VelocitySnapshot> {
    const entities = request.entities.filter((e) => this.#plan.entities[e.kind]);
    const batches = this.#cluster ? entities.map((e) => [e]) : [entities];
    const replies = await this.#call(() => Promise.all(batches.map((batch) => this.#script('record', request, batch))));
    return this.#snapshot(batches, replies, request);
  }

  /** The record replies of `batches` as one snapshot. */
  #snapshot(batches: readonly (readonly EntityUpdate[])[], replies: readonly Reply[], request: RecordRequest): VelocitySnapshot {
    const snapshot: VelocitySnapshot = {};
    batches.forEach((batch, b) => {
      let offset = 0;
      for (const entity of batch) {
        const [velocity, next] = parseEntityReply(replies[b] as (string | number)[], offset, entity, this.#plan.entities[entity.kind]!, this.#t(request));
        snapshot[entity.kind] = velocity;
        offset = next;
      }
    });
    return snapshot;
  }

  async commit(request: CommitRequest): Promise<void> {
    const approved = request.decision.decision === 'approve';
    const entities = approved && this.#commits ? request.entities.filter((e) => this.#plan.entities[e.kind]) : [];
    if (!this.#cluster) {
      if (entities.length === 0) return this.saveDecision(request.eventKey, request.decision);
      await this.#call(() => this.#script('commit', request, entities));
      return;
    }
    await this.#call(() => Promise.all(entities.map((e) => this.#script('commit', request, [e]))));
    await this.saveDecision(request.eventKey, request.decision);
  }

  async recordBinding(request: BindingRequest): Promise<void> {
    const field = request.state === 'bound' ? 'b' : 'u';
    await this.#call(() =>
      Promise.all(
        request.entities.map((e) =>
          this.#client.recordBinding(keys.buckets(keys.tag(e)), request.at, field, this.#plan.entities[e.kind]?.ttlMs ?? 86_400_000),
        ),
      ),
    );
  }

  async close(): Promise<void> {
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  #t(request: RecordRequest): number {
    return velocityClock(request.at, request.receivedAt ?? request.at, this.#limits.maxEventLagMs ?? DEFAULT_LIMITS.maxEventLagMs);
  }

  /** The velocity function's call; `listKeys` (claim on a single node) are read with the record. */
  #script(mode: 'claim' | 'record' | 'commit', request: RecordRequest | CommitRequest, entities: readonly EntityUpdate[], now = 0, listKeys: readonly string[] = []): Promise<Reply> {
    const single = !this.#cluster;
    const marker = single ? keys.decision(request.eventKey) : keys.marker(keys.tag(entities[0]!), request.eventKey);
    const commit = mode === 'commit' ? (request as CommitRequest) : undefined;
    const args: (string | number)[] = [
      mode,
      this.#t(request),
      request.receivedAt ?? request.at,
      request.amountMinor,
      request.currency,
      request.passwordFree ? '1' : '0',
      single ? this.#limits.decisionTtlMs : this.#limits.markerTtlMs,
      this.#limits.distinctCap,
      CURRENCY_CAP,
      this.#plan.deviceRetentionMs,
      mode === 'claim' ? now : commit && single ? JSON.stringify(commit.decision) : '',
      mode === 'claim' ? this.#limits.claimStaleMs : commit?.decision.decision === 'approve' ? '1' : '0',
      commit?.strongAuth ? '1' : '0',
      single ? 'd' : 'm',
      listKeys.length,
    ];
    for (const entity of entities) {
      const plan = this.#plan.entities[entity.kind]!;
      args.push(KIND_CODE[entity.kind]);
      for (const { relation } of plan.relations) args.push(entity.members.find((m) => m.relation === relation)?.member ?? '-');
      args.push((plan.pairs && entity.members.find((m) => m.relation === 'device')?.member) || '-');
    }
    return this.#fcall([marker, ...entities.map((e) => keys.buckets(keys.tag(e))), ...listKeys], args);
  }

  /** FCALL of the velocity function, loading the library first when the server lacks it (new, flushed or restarted empty). */
  async #fcall(keyList: string[], args: (string | number)[]): Promise<Reply> {
    const call = () => this.#client.fcall(this.velocityFunction, keyList.length, ...keyList, ...args) as Promise<Reply>;
    try {
      return await call();
    } catch (error) {
      if (!/function not found/i.test((error as Error).message)) throw error;
      // One load at a time per store: the calls that found no function all wait for it.
      this.#loading ??= this.#loadLibrary().finally(() => (this.#loading = undefined));
      await this.#loading;
      return call();
    }
  }

  /** FUNCTION LOAD on the node, or on every master of a cluster; a library loaded meanwhile by another client is fine. */
  async #loadLibrary(): Promise<void> {
    const nodes = this.#cluster ? (this.#client as Cluster).nodes('master') : [this.#client as Redis];
    await Promise.all(
      nodes.map((node) =>
        node.function('LOAD', this.#library).catch((error: Error) => {
          if (!/already exists/i.test(error.message)) throw error;
        }),
      ),
    );
  }

  async #call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      // ioredis's own command timeout is the same event as our deadline: Redis did not answer in time.
      const Failure = (error as Error).message === 'Command timed out' ? StoreTimeoutError : StoreUnavailableError;
      throw new Failure(`redis: ${(error as Error).message}`, { cause: error });
    }
  }
}

export { encodePlan, layoutOf } from './library.js';

const NO_LIST_ENTRY = Object.freeze({ block: 0, allow: 0 });

/** Reads one entity's part of velocity.lua's flat reply, from `offset`; returns it and where the next starts. */
export function parseEntityReply(
  reply: readonly (string | number)[],
  offset: number,
  entity: EntityUpdate,
  plan: EntityPlan,
  countedAt: number,
): [EntityVelocity, number] {
  const firstSeenAt = Number(reply[offset]);
  const flags = String(reply[offset + 1]);
  const boundAt = Number(reply[offset + 2]);
  const newestAt = Number(reply[offset + 3]);
  let i = offset + 4;
  const next = () => Number(reply[i++]);
  const windows: EntityVelocity['windows'] = {};
  for (const { metric, window } of plan.reads) (windows[window.name] ??= {})[metric] = next();
  const distinct: EntityVelocity['distinct'] = {};
  const newRelations: EntityVelocity['newRelations'] = {};
  plan.relations.forEach(({ relation, windows: read }, r) => {
    newRelations[relation] = flags[r + 1] === '1';
    if (read.length === 0) return;
    const counts: Record<string, number> = {};
    for (const w of read) counts[w.name] = next();
    distinct[relation] = counts;
  });
  const velocity: EntityVelocity = {
    isNew: flags[0] === '1',
    firstSeenAt,
    newestAt,
    countedAt,
    ...(boundAt > 0 && { boundAt }),
    windows,
    distinct,
    newRelations,
  };
  if (plan.pairs && entity.members.some((m) => m.relation === 'device')) {
    const [first, last, trusted] = [next(), next(), next()];
    velocity.device = last > 0 ? { firstSeenAt: first, lastSeenAt: last, ...(trusted > 0 && { trustedAt: trusted }) } : null;
  }
  return [velocity, i];
}

/** Count, amount, password-free count and amount (0 where the plan keeps none). */
export interface BucketTotals {
  n: number;
  a: number;
  p: number;
  q: number;
}

/**
 * What an entity's hash (rh:{<k>:<hash>}:v, read with HGETALL as buffers) holds, summed over its
 * live buckets, per bucket size in seconds ("60", "3600", ...), amounts in `currency`. For operators
 * and tests: it decodes the layout velocity.lua writes for `plan`, and reading counts nothing.
 */
export function decodeBucketHash(hash: Readonly<Record<string, Buffer>>, plan: EntityPlan, currency = 'CNY'): Map<string, BucketTotals> {
  const out = new Map<string, BucketTotals>();
  const state = hash.s;
  if (!state) return out;
  const newest = state.readIntLE(0, 6) + state[6]! * 2 ** 48;
  const metric = (m: string) => ({ count: 'n', amount: 'a', passwordFreeCount: 'p', passwordFreeAmount: 'q' })[m] as keyof BucketTotals | undefined;
  plan.resolutions.forEach((r, i) => {
    const totals = { n: 0, a: 0, p: 0, q: 0 };
    const head = Math.floor(newest / r.bucketMs);
    for (let slot = 0; slot < r.slots; slot++) {
      const idx = head - ((((head - slot) % r.slots) + r.slots) % r.slots);
      const counts = hash[String(i * 64 + slot)];
      if (counts) plan.counts.forEach((m, k) => metric(m) && (totals[metric(m)!] += counts.readUInt32LE(4 * k)));
      const amounts = hash[`${i * 64 + slot}${currency}`];
      if (amounts && amounts.readUInt32LE(0) === idx) {
        plan.amounts.forEach((m, k) => metric(m) && (totals[metric(m)!] += amounts.readIntLE(4 + 7 * k, 6) + amounts[4 + 7 * k + 6]! * 2 ** 48));
      }
    }
    out.set(String(r.bucketMs / 1_000), totals);
  });
  return out;
}
