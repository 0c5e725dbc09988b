/**
 * The operations store on Redis (one node or a cluster): reads are plain commands, a commit is one
 * EVALSHA of commit.lua over keys of one slot (the `{ops}` tag, or one entity's tag for a list
 * membership). Every Redis failure surfaces as StoreUnavailableError.
 */
import type { Cluster, Redis } from 'ioredis';
import { StoreUnavailableError } from '../errors.js';
import type { Commit, OpsBackend, Write } from './backend.js';
import commitLua from './scripts/commit.lua';
import countLua from './scripts/count.lua';

type Client = (Redis | Cluster) & {
  opsCommit(numberOfKeys: number, ...keysThenArgs: string[]): Promise<number>;
  opsCount(numberOfKeys: number, ...keysThenArgs: string[]): Promise<number>;
};

export class RedisOpsBackend implements OpsBackend {
  readonly name = 'redis' as const;
  readonly #client: Client;
  readonly #cluster: boolean;

  readonly #tag: string | undefined;

  /** `tag` replaces the `ops` hash tag (tests and tools that share a Redis keep their own operations data). */
  constructor(client: Redis | Cluster, { tag }: { tag?: string } = {}) {
    if (!('opsCommit' in client)) client.defineCommand('opsCommit', { lua: commitLua });
    if (!('opsCount' in client)) client.defineCommand('opsCount', { lua: countLua });
    this.#client = client as Client;
    this.#cluster = (client as Cluster).isCluster === true;
    this.#tag = tag;
  }

  /** The Redis key a logical key maps to (tools and tests that read Redis directly). */
  keyOf(key: string): string {
    return this.#k(key);
  }

  #k(key: string): string {
    return this.#tag !== undefined && key.startsWith('rh:{ops}:') ? `rh:{${this.#tag}}:${key.slice('rh:{ops}:'.length)}` : key;
  }

  get client(): Redis | Cluster {
    return this.#client;
  }

  get(key: string) {
    return this.#call(() => this.#client.get(this.#k(key)));
  }

  async mget(keys: readonly string[]) {
    if (keys.length === 0) return [];
    return this.#call(() => this.#client.mget(...keys.map((k) => this.#k(k))));
  }

  hgetall(key: string) {
    return this.#call(() => this.#client.hgetall(this.#k(key)));
  }

  hmget(key: string, fields: readonly string[]) {
    return this.#call(() => this.#client.hmget(this.#k(key), ...fields));
  }

  /** One pipeline on a single node (one round trip); on a cluster, one command per key, sent together. */
  async hgetallMany(keys: readonly string[]) {
    if (keys.length === 0) return [];
    if (this.#cluster) return this.#call(() => Promise.all(keys.map((k) => this.#client.hgetall(this.#k(k)))));
    const replies = await this.#call(() => keys.reduce((p, k) => p.hgetall(this.#k(k)), (this.#client as Redis).pipeline()).exec());
    return (replies ?? []).map(([error, value]) => {
      if (error) throw new StoreUnavailableError(`redis: ${error.message}`);
      return value as Record<string, string>;
    });
  }

  async zrangeByScore(name: string, min: number, max: number, { offset, count, rev = false }: { offset: number; count: number; rev?: boolean }) {
    const key = this.#k(name);
    const flat = await this.#call(() =>
      rev
        ? this.#client.zrevrangebyscore(key, max, min, 'WITHSCORES', 'LIMIT', offset, count)
        : this.#client.zrangebyscore(key, min, max, 'WITHSCORES', 'LIMIT', offset, count),
    );
    const out: { member: string; score: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ member: flat[i]!, score: Number(flat[i + 1]) });
    return out;
  }

  zrangeByLex(key: string, after: string | undefined, count: number) {
    return this.#call(() => this.#client.zrangebylex(this.#k(key), after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, count));
  }

  zcard(key: string) {
    return this.#call(() => this.#client.zcard(this.#k(key)));
  }

  async xrange(key: string, start: string, end: string, count: number) {
    const entries = await this.#call(() => this.#client.xrange(this.#k(key), start, end, 'COUNT', count));
    return entries.map(([id, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return { id, fields };
    });
  }

  async xdel(key: string, id: string) {
    await this.#call(() => this.#client.xdel(this.#k(key), id));
  }

  async commit({ conditions, writes }: Commit) {
    const keys: string[] = [];
    const index = new Map<string, number>();
    const at = (key: string) => {
      let i = index.get(key);
      if (i === undefined) {
        keys.push(this.#k(key));
        i = keys.length;
        index.set(key, i);
      }
      return i;
    };
    const spec = {
      c: conditions.map((c) => [at(c.key), c.equals ?? false]),
      // Numbers travel as strings: a Lua number would reach Redis through %.14g.
      w: writes.map((w) => encode(w, at(w.key)).map((v, i) => (i === 1 ? v : String(v)))),
    };
    if (spec.w.length === 0 && spec.c.length === 0) return true;
    const applied = await this.#call(() => this.#client.opsCommit(keys.length, ...keys, JSON.stringify(spec)));
    return applied === 1;
  }

  async count(key: string, increments: readonly (readonly [string, number])[], ttlMs: number) {
    if (increments.length === 0) return;
    const args = [String(ttlMs), ...increments.flatMap(([field, by]) => [field, String(by)])];
    await this.#call(() => this.#client.opsCount(1, this.#k(key), ...args));
  }

  async close() {
    await this.#client.quit().catch(() => this.#client.disconnect());
  }

  async #call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(`redis: ${(error as Error).message}`, { cause: error });
    }
  }
}

function encode(w: Write, key: number): (string | number)[] {
  switch (w.op) {
    case 'set':
      return ['set', key, w.value, w.pxMs ?? 0];
    case 'del':
      return ['del', key];
    case 'pexpireat':
      return ['pexpireat', key, w.atMs];
    case 'zadd':
      return ['zadd', key, w.score, w.member];
    case 'zrem':
      return ['zrem', key, w.member];
    case 'zremrangebyscore':
      return ['zremrangebyscore', key, w.max];
    case 'hset':
      return ['hset', key, w.field, w.value];
    case 'hdel':
      return ['hdel', key, w.field];
    case 'xadd':
      return ['xadd', key, w.minIdMs, ...Object.entries(w.fields).flat()];
  }
}
