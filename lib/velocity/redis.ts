/**
 * The Redis store. It only moves bytes: the arithmetic lives in the Lua scripts (mirroring
 * windows.ts). On a single node an event's entities go in one EVALSHA (one round trip, one script
 * run); on a cluster, one EVALSHA per entity, all sent at once, each to its shard (every key of an
 * entity shares its hash tag). Every Redis failure surfaces as StoreUnavailableError.
 */
import type { Cluster, Redis } from 'ioredis';
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

// Client creation lives in redis-client.ts; re-exported here, where tests and the benchmark import it.
export { createRedisClient, createRedisClusterClient, lambdaClusterOptions, lambdaRedisOptions } from './redis-client.js';

type ScriptClient = (Redis | Cluster) & {
  claimDecision(key: string, now: number, staleMs: number, ttlMs: number): Promise<[string, string?]>;
  recordEntities(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<(string | number)[]>;
  recordBinding(key: string, at: number, field: 'b' | 'u', ttlMs: number): Promise<number>;
};

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
  /** The constant part of every record-entities call's arguments: TTLs, caps, windows. */
  readonly #fixedArgs: (string | number)[];
  /** On a cluster each entity's script goes to its own shard; on one node an event is one script. */
  readonly #cluster: boolean;

  constructor(client: Redis | Cluster, limits: StoreLimits) {
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in client)) client.defineCommand(name, { lua: script.lua, ...(script.keys !== undefined && { numberOfKeys: script.keys }) });
    }
    this.#cluster = (client as Cluster).isCluster === true;
    this.#client = client as ScriptClient;
    this.#limits = limits;
    const resolutions = [...new Set(limits.windows.map((w) => w.bucketMs))];
    this.#fixedArgs = [
      entityTtlMs(limits.windows),
      limits.markerTtlMs,
      limits.distinctCap,
      longestWindowMs(limits.windows),
      resolutions.join(','),
      limits.windows.length,
      ...limits.windows.flatMap((w) => [w.ms, w.bucketMs, resolutions.indexOf(w.bucketMs)]),
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
    const batches = this.#cluster ? request.entities.map((e) => [e]) : [request.entities];
    const replies = await this.#call(() => Promise.all(batches.map((batch) => this.#recordEntities(request, batch))));
    const snapshot: VelocitySnapshot = {};
    batches.forEach((batch, b) => {
      let offset = 0;
      for (const entity of batch) {
        const [velocity, next] = parseEntityReply(replies[b]!, offset, entity, this.#limits);
        snapshot[entity.kind] = velocity;
        offset = next;
      }
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

  #recordEntities(request: RecordRequest, entities: readonly EntityUpdate[]) {
    const entityKeys = entities.flatMap((entity) => {
      const tag = keys.tag(entity);
      return [keys.buckets(tag), keys.related(tag), keys.marker(tag, request.eventKey)];
    });
    return this.#client.recordEntities(
      entityKeys.length,
      ...entityKeys,
      request.at,
      request.amountMinor,
      request.currency,
      request.passwordFree ? '1' : '0',
      ...this.#fixedArgs,
      ...entities.flatMap((entity) => [
        entity.relations.length,
        ...entity.relations.map((r) => KIND_CODE[r]),
        entity.members.length,
        ...entity.members.map((m) => KIND_CODE[m.relation] + m.member),
      ]),
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

/** Reads one entity's part of record-entities.lua's flat reply, from `offset`; returns it and where the next starts. */
export function parseEntityReply(
  reply: readonly (string | number)[],
  offset: number,
  entity: EntityUpdate,
  limits: StoreLimits,
): [EntityVelocity, number] {
  const firstSeenAt = Number(reply[offset]);
  const flags = String(reply[offset + 1]);
  const boundAt = Number(reply[offset + 2]);
  let i = offset + 3;
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
  const velocity: EntityVelocity = {
    isNew: flags[0] === '1',
    firstSeenAt,
    ...(boundAt > 0 && { boundAt }),
    windows,
    distinct,
    newRelations,
  };
  return [velocity, i];
}

/** Count, amount, password-free count and amount. */
export interface BucketTotals {
  n: number;
  a: number;
  p: number;
  q: number;
}

/**
 * What an entity's bucket hash (rh:{<k>:<hash>}:v, as HGETALL returns it) holds, summed over every
 * bucket, per bucket size in seconds ("60", "300", ...), amounts in `currency`. For operators and
 * tests: it decodes the layout record-entities.lua writes, and reading counts nothing.
 */
export function decodeBucketHash(hash: Readonly<Record<string, string>>, currency = 'CNY'): Map<string, BucketTotals> {
  const sizes = (hash.w ?? '').split(',').map((ms) => String(Number(ms) / 1000));
  const out = new Map<string, BucketTotals>();
  const add = (r: number, metric: keyof BucketTotals, value: number) => {
    const size = sizes[r];
    if (size === undefined) return;
    const totals = out.get(size) ?? { n: 0, a: 0, p: 0, q: 0 };
    totals[metric] += value;
    out.set(size, totals);
  };
  for (const [field, value] of Object.entries(hash)) {
    if (/^\d+$/.test(field)) {
      const code = Number(field);
      const rest = code % 32;
      const metric = (['n', 'p', 'a', 'q'] as const)[rest % 4]!;
      if ((metric === 'n' || metric === 'p') || hash.c === currency) add(Math.floor(rest / 4), metric, Number(value));
      continue;
    }
    const other = /^([xy])(\d+):\d+:([A-Z]{3})$/.exec(field);
    if (other && other[3] === currency) add(Number(other[2]), other[1] === 'x' ? 'a' : 'q', Number(value));
  }
  return out;
}
