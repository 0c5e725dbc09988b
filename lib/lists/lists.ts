/**
 * Block and allow lists per entity kind. Raw ids are hashed with the pepper on arrival (the raw id
 * is never stored or echoed); every entry expires (allow: at most 180 days, 30 by default; block:
 * 180 days by default). Membership lives on the entity's own hash tag (rh:{<tag>}:l, the tag
 * velocity uses), so decide reads it alongside velocity; the entry itself (note, source, who) and
 * the order for listing live in the ops slot. Every change is audited.
 */
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { ENTITY_KINDS, type EntityKind } from '../events.js';
import { auditWrites, type AuditInput } from '../audit/trail.js';
import { type OpsBackend, type Write, opsKeys } from '../operations/backend.js';
import type { OpsContext } from '../operations/context.js';
import { type Page, encodeCursor, decodeCursor } from '../operations/paging.js';
import { transact } from '../operations/transact.js';
import { keys as velocityKeys } from '../velocity/redis.js';
import { KIND_CODE, type ListExpiries } from '../velocity/store.js';

export const LISTS = ['block', 'allow'] as const;
export type ListName = (typeof LISTS)[number];

const DAY_MS = 86_400_000;
export const ALLOW_MAX_DAYS = 180;
export const ALLOW_DEFAULT_DAYS = 30;
export const BLOCK_DEFAULT_DAYS = 180;
export const BLOCK_MAX_DAYS = 3650;

export type ListSource = { readonly type: 'manual' } | { readonly type: 'review'; readonly provider: string; readonly eventId: string };

export interface ListEntry {
  readonly list: ListName;
  readonly entityKind: EntityKind;
  /** The peppered hash of the id (what `npm run hash` prints). */
  readonly id: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly note: string | null;
  readonly source: ListSource;
  readonly createdBy: string;
}

export interface Membership {
  readonly blocked: boolean;
  readonly allowed: boolean;
}
export type ListMembership = Partial<Record<EntityKind, Membership>>;

export function parseListName(value: string | undefined): ListName {
  if (value === 'block' || value === 'allow') return value;
  throw new InvalidRequestError(`list: expected block or allow, got ${JSON.stringify(String(value).slice(0, 40))}`);
}

export function parseEntityKind(value: string | undefined): EntityKind {
  if ((ENTITY_KINDS as readonly string[]).includes(value ?? '')) return value as EntityKind;
  throw new InvalidRequestError(`entityKind: expected one of ${ENTITY_KINDS.join(', ')}, got ${JSON.stringify(String(value).slice(0, 40))}`);
}

/** ttlDays or expiresAt (ISO-8601), within the list's bounds; the default when neither is given. */
export function resolveExpiry(list: ListName, input: { ttlDays?: unknown; expiresAt?: unknown }, now: number): number {
  const maxDays = list === 'allow' ? ALLOW_MAX_DAYS : BLOCK_MAX_DAYS;
  if (input.ttlDays !== undefined && input.expiresAt !== undefined) throw new InvalidRequestError('ttlDays, expiresAt: give one of them, not both');
  let at: number;
  if (input.expiresAt !== undefined) {
    if (typeof input.expiresAt !== 'string' || Number.isNaN(Date.parse(input.expiresAt)) || !/T.*(Z|[+-]\d\d:\d\d)$/.test(input.expiresAt)) {
      throw new InvalidRequestError('expiresAt: expected an ISO-8601 date-time with a zone, e.g. 2027-01-01T00:00:00Z');
    }
    at = Date.parse(input.expiresAt);
    if (at <= now) throw new InvalidRequestError('expiresAt: must be in the future');
  } else {
    const days = input.ttlDays ?? (list === 'allow' ? ALLOW_DEFAULT_DAYS : BLOCK_DEFAULT_DAYS);
    if (typeof days !== 'number' || !Number.isFinite(days) || days <= 0) throw new InvalidRequestError('ttlDays: expected a positive number of days');
    at = now + Math.round(days * DAY_MS);
  }
  if (at > now + maxDays * DAY_MS) throw new InvalidRequestError(`${input.expiresAt !== undefined ? 'expiresAt' : 'ttlDays'}: a ${list} entry lasts at most ${maxDays} days`);
  return at;
}

export function parseNote(value: unknown, field = 'note'): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > 1000) throw new InvalidRequestError(`${field}: expected a string of at most 1,000 characters`);
  return value;
}

const tagOf = (kind: EntityKind, hash: string) => velocityKeys.tag({ kind, key: hash });

/** Ops-slot writes that record an entry (its JSON and its place in the list's order). */
export function entryWrites(entry: ListEntry): Write[] {
  const code = KIND_CODE[entry.entityKind];
  return [
    { op: 'hset', key: opsKeys.listEntries(entry.list, code), field: entry.id, value: JSON.stringify(entry) },
    { op: 'zadd', key: opsKeys.listOrder(entry.list, code), score: 0, member: entry.id },
  ];
}

/**
 * Writes the membership on the entity's own slot. Idempotent (a close repeated after a crash writes
 * it again). The key lives as long as its latest expiry; each field is checked against its own.
 */
export async function writeMembership(backend: OpsBackend, entry: ListEntry): Promise<void> {
  const key = opsKeys.membership(tagOf(entry.entityKind, entry.id));
  const current = await backend.hgetall(key);
  const expiresAt = Date.parse(entry.expiresAt);
  const other = Number(current[entry.list === 'block' ? 'allow' : 'block'] ?? 0);
  await backend.commit({
    conditions: [],
    writes: [
      { op: 'hset', key, field: entry.list, value: String(expiresAt) },
      { op: 'hset', key, field: `${entry.list}.source`, value: entry.source.type },
      { op: 'pexpireat', key, atMs: Math.max(expiresAt, other) },
    ],
  });
}

export class Lists {
  constructor(private readonly ctx: OpsContext) {}

  /** A raw id hashed with the pepper, or (idType=hash) a hash as the API lists it. */
  hashOf(kind: EntityKind, id: string, idType: string | undefined): string {
    if (id.length === 0 || id.length > 256) throw new InvalidRequestError('id: expected 1 to 256 characters');
    if (idType === undefined || idType === 'raw') return this.ctx.hasher.entity(kind, id);
    if (idType === 'hash') {
      if (!/^[A-Za-z0-9_-]{16}$/.test(id)) throw new InvalidRequestError('id: a hash is 16 base64url characters');
      return id;
    }
    throw new InvalidRequestError('idType: expected raw or hash');
  }

  async get(list: ListName, kind: EntityKind, hash: string): Promise<ListEntry> {
    const entry = await this.#read(list, kind, hash);
    if (!entry || Date.parse(entry.expiresAt) <= this.ctx.now()) throw new NotFoundError(`no ${list} entry for this ${kind}`);
    return entry;
  }

  async put(list: ListName, kind: EntityKind, hash: string, body: { ttlDays?: unknown; expiresAt?: unknown; note?: unknown }, actor: string): Promise<ListEntry> {
    const entry = await transact(this.ctx.backend, async () => {
      const now = this.ctx.now();
      const before = await this.#read(list, kind, hash);
      const entry: ListEntry = {
        list,
        entityKind: kind,
        id: hash,
        createdAt: new Date(now).toISOString(),
        expiresAt: new Date(resolveExpiry(list, body, now)).toISOString(),
        note: parseNote(body.note),
        source: { type: 'manual' },
        createdBy: actor,
      };
      return { result: entry, commit: await this.#audited(entryWrites(entry), [{ actor, action: 'list.put', target: `${list}/${kind}/${hash}`, before: before ?? null, after: entry }]) };
    });
    await writeMembership(this.ctx.backend, entry);
    return entry;
  }

  async remove(list: ListName, kind: EntityKind, hash: string, actor: string): Promise<ListEntry> {
    const code = KIND_CODE[kind];
    const removed = await transact(this.ctx.backend, async () => {
      const before = await this.#read(list, kind, hash);
      if (!before) throw new NotFoundError(`no ${list} entry for this ${kind}`);
      const writes: Write[] = [
        { op: 'hdel', key: opsKeys.listEntries(list, code), field: hash },
        { op: 'zrem', key: opsKeys.listOrder(list, code), member: hash },
      ];
      return { result: before, commit: await this.#audited(writes, [{ actor, action: 'list.removed', target: `${list}/${kind}/${hash}`, before, after: null }]) };
    });
    await this.ctx.backend.commit({ conditions: [], writes: [{ op: 'hdel', key: opsKeys.membership(tagOf(kind, hash)), field: list }] });
    return removed;
  }

  /** Entries by hash order; expired ones are skipped. */
  async page(list: ListName, kind: EntityKind, cursor: string | undefined, limit: number): Promise<Page<ListEntry>> {
    const code = KIND_CODE[kind];
    let after = decodeCursor(cursor, (v): v is string => typeof v === 'string');
    const data: ListEntry[] = [];
    const now = this.ctx.now();
    for (;;) {
      const hashes = await this.ctx.backend.zrangeByLex(opsKeys.listOrder(list, code), after, limit + 1 - data.length);
      if (hashes.length === 0) break;
      const raw = await this.ctx.backend.hmget(opsKeys.listEntries(list, code), hashes);
      hashes.forEach((hash, i) => {
        const entry = raw[i] ? (JSON.parse(raw[i]!) as ListEntry) : undefined;
        if (entry && Date.parse(entry.expiresAt) > now && data.length <= limit) data.push(entry);
      });
      after = hashes.at(-1);
      if (data.length > limit || hashes.length < limit + 1 - data.length) break;
    }
    const more = data.length > limit;
    const page = data.slice(0, limit);
    return { data: page, nextCursor: more ? encodeCursor(page.at(-1)!.id) : null };
  }

  /** Each entity's block and allow membership, now (one round trip on a single node). */
  async membership(entities: ReadonlyArray<{ readonly kind: EntityKind; readonly key: string }>, now = this.ctx.now()): Promise<ListMembership> {
    const hashes = await this.ctx.backend.hgetallMany(entities.map((e) => opsKeys.membership(tagOf(e.kind, e.key))));
    const out: ListMembership = {};
    entities.forEach((e, i) => {
      const h = hashes[i] ?? {};
      out[e.kind] = { blocked: Number(h.block ?? 0) > now, allowed: Number(h.allow ?? 0) > now };
    });
    return out;
  }

  /** Membership from entries' expiries read by the velocity store in its own call (the same hashes as membership()). */
  membershipOf(expiries: ListExpiries, now = this.ctx.now()): ListMembership {
    const out: ListMembership = {};
    for (const kind of ENTITY_KINDS) {
      const e = expiries[kind];
      if (e) out[kind] = { blocked: e.block > now, allowed: e.allow > now };
    }
    return out;
  }

  async #read(list: ListName, kind: EntityKind, hash: string): Promise<ListEntry | undefined> {
    const [raw] = await this.ctx.backend.hmget(opsKeys.listEntries(list, KIND_CODE[kind]), [hash]);
    return raw ? (JSON.parse(raw) as ListEntry) : undefined;
  }

  async #audited(writes: Write[], audit: AuditInput[]) {
    const head = await this.ctx.backend.get(opsKeys.auditHead);
    const trail = auditWrites(head, audit, this.ctx.now(), this.ctx.config.auditRetentionMs);
    return { conditions: [trail.condition], writes: [...writes, ...trail.writes] };
  }
}
