/**
 * The Redis store. It only moves bytes: the arithmetic lives in the Lua scripts (mirroring
 * windows.ts). One EVALSHA per entity, all sent at once (auto-pipelining: one round trip on a single
 * node, one per shard on a cluster). Every Redis failure surfaces as StoreUnavailableError.
 */
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from '../errors.js';
import type { Decision } from '../events.js';
import { SCRIPTS } from './scripts/index.js';
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
import { longestWindowMs } from './windows.js';

type ScriptClient = (Redis | Cluster) & {
  claimDecision(key: string, now: number, staleMs: number, ttlMs: number): Promise<[string, string?]>;
  recordEntity(k1: string, k2: string, k3: string, ...args: (string | number)[]): Promise<(string | number)[]>;
  recordBinding(key: string, at: number, field: 'b' | 'u', ttlMs: number): Promise<number>;
};

/** Client settings fit for Lambda: no socket at import, fail fast, never the 20 retries (~74 s) of the defaults. */
export function lambdaRedisOptions(commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(commandTimeoutMs, 500),
    commandTimeout: commandTimeoutMs,
    keepAlive: 10_000,
    enableAutoPipelining: true,
    // Keep reconnecting with short delays: a client that gives up stays dead for the container's life.
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
  };
}

export function createRedisClient(url: string, commandTimeoutMs: number): Redis {
  const client = new Redis(url, lambdaRedisOptions(commandTimeoutMs));
  // Errors reach callers through rejected commands; the event only needs a listener to stay quiet.
  client.on('error', () => {});
  return client;
}

export const keys = {
  tag: (entity: Pick<EntityUpdate, 'kind' | 'key'>) => `${KIND_CODE[entity.kind]}:${entity.key}`,
  buckets: (tag: string) => `rh:{${tag}}:v`,
  related: (tag: string) => `rh:{${tag}}:d`,
  marker: (tag: string, eventKey: string) => `rh:{${tag}}:m:${eventKey}`,
  decision: (eventKey: string) => `rh:{e:${eventKey}}`,
};

export class RedisVelocityStore implements VelocityStore {
  readonly name = 'redis' as const;
  readonly #client: ScriptClient;
  readonly #limits: StoreLimits;
  /** The constant tail of every record-entity call's arguments: TTLs, caps, windows. */
  readonly #fixedArgs: (string | number)[];

  constructor(client: Redis | Cluster, limits: StoreLimits) {
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in client)) client.defineCommand(name, { lua: script.lua, numberOfKeys: script.keys });
    }
    this.#client = client as ScriptClient;
    this.#limits = limits;
    this.#fixedArgs = [
      entityTtlMs(limits.windows),
      limits.markerTtlMs,
      limits.distinctCap,
      longestWindowMs(limits.windows),
      limits.windows.length,
      ...limits.windows.flatMap((w) => [w.ms, w.bucketMs]),
    ];
  }

  get client(): Redis | Cluster {
    return this.#client;
  }

  async claim(eventKey: string, now: number): Promise<Claim> {
    const [state, value] = await this.#call(() =>
      this.#client.claimDecision(keys.decision(eventKey), now, this.#limits.claimStaleMs, this.#limits.decisionTtlMs),
    );
    if (state === 'decided' && value !== undefined) return { state, decision: JSON.parse(value) as Decision };
    if (state === 'claimed' || state === 'takeover' || state === 'pending') return { state };
    throw new StoreUnavailableError(`unexpected claim reply: ${state}`);
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
    const replies = await this.#call(() => Promise.all(request.entities.map((e) => this.#recordEntity(request, e))));
    const snapshot: VelocitySnapshot = {};
    request.entities.forEach((entity, i) => {
      snapshot[entity.kind] = parseEntityReply(replies[i]!, entity, this.#limits);
    });
    return snapshot;
  }

  async recordBinding(request: BindingRequest): Promise<void> {
    const field = request.state === 'bound' ? 'b' : 'u';
    const ttl = entityTtlMs(this.#limits.windows);
    await this.#call(() =>
      Promise.all(request.entities.map((e) => this.#client.recordBinding(keys.buckets(keys.tag(e)), request.at, field, ttl))),
    );
  }

  async close(): Promise<void> {
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  #recordEntity(request: RecordRequest, entity: EntityUpdate) {
    const tag = keys.tag(entity);
    return this.#client.recordEntity(
      keys.buckets(tag),
      keys.related(tag),
      keys.marker(tag, request.eventKey),
      request.at,
      request.amountMinor,
      request.currency,
      request.passwordFree ? '1' : '0',
      ...this.#fixedArgs,
      entity.relations.length,
      ...entity.relations.map((r) => KIND_CODE[r]),
      entity.members.length,
      ...entity.members.map((m) => KIND_CODE[m.relation] + m.member),
    );
  }

  async #call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw new StoreUnavailableError(`redis: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** Turns record-entity-3.lua's flat reply back into named windows and relations. */
export function parseEntityReply(
  reply: readonly (string | number)[],
  entity: EntityUpdate,
  limits: StoreLimits,
): EntityVelocity {
  const flags = String(reply[1]);
  const boundAt = Number(reply[2]);
  let i = 3;
  const next = () => Number(reply[i++]);
  const windows: EntityVelocity['windows'] = {};
  for (const w of limits.windows) {
    windows[w.name] = { count: next(), amount: next(), passwordFreeCount: next(), passwordFreeAmount: next() };
  }
  const distinct: EntityVelocity['distinct'] = {};
  const newRelations: EntityVelocity['newRelations'] = {};
  entity.relations.forEach((relation, r) => {
    const counts: Record<string, number> = {};
    for (const w of limits.windows) counts[w.name] = next();
    distinct[relation] = counts;
    newRelations[relation] = flags[r + 1] === '1';
  });
  return {
    isNew: flags[0] === '1',
    firstSeenAt: Number(reply[0]),
    ...(boundAt > 0 && { boundAt }),
    windows,
    distinct,
    newRelations,
  };
}
