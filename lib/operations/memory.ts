/**
 * The embedded operations store: the same reads and conditional commit as Redis, in this process
 * (one per embedded velocity store: lib/operations opsBackendFor).
 */
import type { Commit, OpsBackend, Scored, StreamEntry, Write } from './backend.js';

type Value =
  | { type: 'string'; value: string }
  | { type: 'hash'; value: Map<string, string> }
  | { type: 'zset'; value: Map<string, number> }
  | { type: 'stream'; value: StreamEntry[]; lastMs: number; seq: number };

interface Slot {
  data: Value;
  expiresAt?: number;
}

export class MemoryOpsBackend implements OpsBackend {
  readonly name = 'memory' as const;
  readonly #keys = new Map<string, Slot>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #slot(key: string): Slot | undefined {
    const slot = this.#keys.get(key);
    if (slot?.expiresAt !== undefined && slot.expiresAt <= this.#now()) {
      this.#keys.delete(key);
      return undefined;
    }
    return slot;
  }

  #typed<T extends Value['type']>(key: string, type: T): Extract<Value, { type: T }> | undefined {
    const slot = this.#slot(key);
    if (!slot) return undefined;
    if (slot.data.type !== type) throw new Error(`WRONGTYPE ${key} holds a ${slot.data.type}`);
    return slot.data as Extract<Value, { type: T }>;
  }

  #create<T extends Value['type']>(key: string, type: T, make: () => Extract<Value, { type: T }>): Extract<Value, { type: T }> {
    const existing = this.#typed(key, type);
    if (existing) return existing;
    const data = make();
    this.#keys.set(key, { data });
    return data;
  }

  async get(key: string) {
    return this.#typed(key, 'string')?.value ?? null;
  }

  async mget(keys: readonly string[]) {
    return keys.map((k) => this.#typed(k, 'string')?.value ?? null);
  }

  async hgetall(key: string) {
    return Object.fromEntries(this.#typed(key, 'hash')?.value ?? []);
  }

  async hmget(key: string, fields: readonly string[]) {
    const hash = this.#typed(key, 'hash')?.value;
    return fields.map((f) => hash?.get(f) ?? null);
  }

  async hgetallMany(keys: readonly string[]) {
    return Promise.all(keys.map((k) => this.hgetall(k)));
  }

  async zrangeByScore(key: string, min: number, max: number, { offset, count, rev = false }: { offset: number; count: number; rev?: boolean }) {
    const zset = this.#typed(key, 'zset')?.value;
    if (!zset) return [];
    const all: Scored[] = [...zset].filter(([, s]) => s >= min && s <= max).map(([member, score]) => ({ member, score }));
    all.sort((a, b) => a.score - b.score || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
    if (rev) all.reverse();
    return all.slice(offset, offset + count);
  }

  async zrangeByLex(key: string, after: string | undefined, count: number) {
    const zset = this.#typed(key, 'zset')?.value;
    if (!zset) return [];
    const members = [...zset.keys()].filter((m) => after === undefined || compareBytes(m, after) > 0);
    return members.sort(compareBytes).slice(0, count);
  }

  async zcard(key: string) {
    return this.#typed(key, 'zset')?.value.size ?? 0;
  }

  async xrange(key: string, start: string, end: string, count: number) {
    const stream = this.#typed(key, 'stream')?.value ?? [];
    const from = start === '-' ? [0, 0] : parseId(start);
    const to = end === '+' ? [Infinity, Infinity] : parseId(end);
    return stream.filter((e) => compareIds(parseId(e.id), from) >= 0 && compareIds(parseId(e.id), to) <= 0).slice(0, count);
  }

  async xdel(key: string, id: string) {
    const stream = this.#typed(key, 'stream');
    if (stream) stream.value = stream.value.filter((e) => e.id !== id);
  }

  /** Tests: replace a stream entry's fields in place (what an attacker with write access could do). */
  overwriteStreamEntry(key: string, id: string, fields: Record<string, string>): void {
    const stream = this.#typed(key, 'stream');
    const entry = stream?.value.findIndex((e) => e.id === id) ?? -1;
    if (stream && entry >= 0) stream.value[entry] = { id, fields };
  }

  async commit({ conditions, writes }: Commit) {
    for (const { key, equals } of conditions) {
      if ((this.#typed(key, 'string')?.value ?? null) !== equals) return false;
    }
    for (const write of writes) this.#apply(write);
    return true;
  }

  async count(key: string, increments: readonly (readonly [string, number])[], ttlMs: number) {
    if (increments.length === 0) return;
    const existed = this.#typed(key, 'hash') !== undefined;
    const hash = this.#create(key, 'hash', () => ({ type: 'hash', value: new Map() })).value;
    for (const [field, by] of increments) hash.set(field, String(Number(hash.get(field) ?? 0) + by));
    if (!existed) this.#keys.get(key)!.expiresAt = this.#now() + ttlMs;
  }

  #apply(w: Write): void {
    const now = this.#now();
    switch (w.op) {
      case 'set':
        this.#keys.set(w.key, { data: { type: 'string', value: w.value }, ...(w.pxMs !== undefined && { expiresAt: now + w.pxMs }) });
        return;
      case 'del':
        this.#keys.delete(w.key);
        return;
      case 'pexpireat': {
        const slot = this.#slot(w.key);
        if (slot) slot.expiresAt = w.atMs;
        return;
      }
      case 'zadd':
        this.#create(w.key, 'zset', () => ({ type: 'zset', value: new Map() })).value.set(w.member, w.score);
        return;
      case 'zrem': {
        const zset = this.#typed(w.key, 'zset');
        zset?.value.delete(w.member);
        if (zset?.value.size === 0) this.#keys.delete(w.key);
        return;
      }
      case 'zremrangebyscore': {
        const zset = this.#typed(w.key, 'zset');
        if (!zset) return;
        for (const [m, s] of zset.value) if (s <= w.max) zset.value.delete(m);
        if (zset.value.size === 0) this.#keys.delete(w.key);
        return;
      }
      case 'hset':
        this.#create(w.key, 'hash', () => ({ type: 'hash', value: new Map() })).value.set(w.field, w.value);
        return;
      case 'hdel': {
        const hash = this.#typed(w.key, 'hash');
        hash?.value.delete(w.field);
        if (hash?.value.size === 0) this.#keys.delete(w.key);
        return;
      }
      case 'xadd': {
        const stream = this.#create(w.key, 'stream', () => ({ type: 'stream', value: [], lastMs: 0, seq: 0 }));
        // Redis ids: <ms>-<seq>, never going backwards even when the clock does.
        if (now > stream.lastMs) {
          stream.lastMs = now;
          stream.seq = 0;
        } else stream.seq += 1;
        stream.value.push({ id: `${stream.lastMs}-${stream.seq}`, fields: { ...w.fields } });
        stream.value = stream.value.filter((e) => parseId(e.id)[0]! >= w.minIdMs);
        return;
      }
    }
  }

  async close() {}
}

const parseId = (id: string) => id.split('-').map(Number) as [number, number];
const compareIds = (a: readonly number[], b: readonly number[]) => a[0]! - b[0]! || (a[1] ?? 0) - (b[1] ?? 0);
const compareBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
