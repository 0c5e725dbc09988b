/**
 * The storage under reviews, lists, the outbox and the audit trail: a handful of Redis-shaped reads
 * and one conditional commit (check some keys' values, then apply every write, atomically). The
 * concerns (lib/review, lib/lists, lib/outbox, lib/audit) are written once over it; RedisOpsBackend
 * (one Lua script per commit, every key on one slot) and MemoryOpsBackend (the embedded default)
 * implement it and pass the same contract suite.
 */

/** A compare-and-set guard: the key's string value is `equals` (null: the key is absent). */
export interface Condition {
  readonly key: string;
  readonly equals: string | null;
}

export type Write =
  | { readonly op: 'set'; readonly key: string; readonly value: string; readonly pxMs?: number }
  | { readonly op: 'del'; readonly key: string }
  | { readonly op: 'pexpireat'; readonly key: string; readonly atMs: number }
  | { readonly op: 'zadd'; readonly key: string; readonly score: number; readonly member: string }
  | { readonly op: 'zrem'; readonly key: string; readonly member: string }
  /** Removes members scored at or below `max`. */
  | { readonly op: 'zremrangebyscore'; readonly key: string; readonly max: number }
  | { readonly op: 'hset'; readonly key: string; readonly field: string; readonly value: string }
  | { readonly op: 'hdel'; readonly key: string; readonly field: string }
  /** Appends to a stream (id assigned by the store), trimming entries older than minIdMs (MINID ~). */
  | { readonly op: 'xadd'; readonly key: string; readonly minIdMs: number; readonly fields: Readonly<Record<string, string>> };

export interface Commit {
  readonly conditions: readonly Condition[];
  readonly writes: readonly Write[];
}

export interface Scored {
  readonly member: string;
  readonly score: number;
}

export interface StreamEntry {
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

export interface OpsBackend {
  readonly name: 'memory' | 'redis';
  get(key: string): Promise<string | null>;
  /** Keys of one slot (the ops tag). */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  hgetall(key: string): Promise<Record<string, string>>;
  hmget(key: string, fields: readonly string[]): Promise<(string | null)[]>;
  /** Members with min <= score <= max, by score (then member), or the reverse; from `offset`, at most `count`. */
  zrangeByScore(key: string, min: number, max: number, options: { offset: number; count: number; rev?: boolean }): Promise<Scored[]>;
  /** Members strictly after `after` (or from the start), lexicographic order, at most `count` (all scores 0). */
  zrangeByLex(key: string, after: string | undefined, count: number): Promise<string[]>;
  zcard(key: string): Promise<number>;
  /** Entries with ids in [start, end] ('-' and '+' for the ends), at most `count`. */
  xrange(key: string, start: string, end: string, count: number): Promise<StreamEntry[]>;
  /** Each key's hash (entity list memberships, one key per entity slot), sent together. */
  hgetallMany(keys: readonly string[]): Promise<Record<string, string>[]>;
  /** Applies every write when every condition holds; false (nothing written) otherwise. */
  commit(commit: Commit): Promise<boolean>;
  /**
   * Adds to counters in one hash (HINCRBY each field, in order), and gives the hash `ttlMs` when
   * this call created it. The first field must be in every call on that key (it tells a new hash).
   */
  count(key: string, increments: readonly (readonly [field: string, by: number])[], ttlMs: number): Promise<void>;
  /** Test and tool access: delete a stream entry / overwrite one (audit tamper tests). */
  xdel(key: string, id: string): Promise<void>;
  close(): Promise<void>;
}

/** The Redis keys of the operations data: one hash tag, so every commit is single-slot on a cluster. */
export const opsKeys = {
  review: (id: string) => `rh:{ops}:r:${id}`,
  /** Review index per status: member `<provider>:<eventKey>`, score openedAt (open) or closedAt (closed). */
  reviews: (status: string) => `rh:{ops}:rs:${status}`,
  /** Holds by receivedAt, kept for the decision TTL. */
  holds: 'rh:{ops}:h',
  /** One string key per outbox entry (JSON), so a delivery can claim it with a compare-and-set. */
  outbox: (id: string) => `rh:{ops}:o:${id}`,
  outboxDue: 'rh:{ops}:od',
  outboxFailed: 'rh:{ops}:of',
  /** The endpoint URL that answered 410, while it stays disabled. */
  endpointDisabled: 'rh:{ops}:ox',
  audit: 'rh:{ops}:a',
  /** `<sequence>:<hash>` of the newest audit entry: the chain's head. */
  auditHead: 'rh:{ops}:ah',
  /** List entries (JSON) by entity hash, and their order for paging, per list and entity kind. */
  listEntries: (list: string, kindCode: string) => `rh:{ops}:le:${list}:${kindCode}`,
  listOrder: (list: string, kindCode: string) => `rh:{ops}:lo:${list}:${kindCode}`,
  /** Decision counts of one UTC hour (lib/operations/stats.ts), by the hour's start in ms. */
  decisionStats: (hourMs: number) => `rh:{ops}:st:${hourMs}`,
  /** Membership on the entity's own hash tag (velocity's tag): on a single node the velocity call reads it (velocity's keys.lists is this). */
  membership: (tag: string) => `rh:{${tag}}:l`,
};
