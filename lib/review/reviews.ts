/**
 * The review queue. open() is called by decide for every hold: the review, its place in the holds
 * index and its review.opened outbox entry are one commit. close() moves an open review to released
 * or confirmed_fraud exactly once: the review, the list entries it creates, the outbox entry and the
 * audit entries are one commit conditioned on the review as read, so of two concurrent closes one
 * wins; the same action again answers the same review, another action 409.
 */
import { auditWrites, type AuditInput } from '../audit/trail.js';
import { InvalidRequestError, NotFoundError, ReviewClosedError } from '../errors.js';
import { type Decision, ENTITY_KINDS, type EntityKind } from '../events.js';
import { BLOCK_DEFAULT_DAYS, type ListEntry, entryWrites, parseNote, resolveExpiry, writeMembership } from '../lists/lists.js';
import { type Write, opsKeys } from '../operations/backend.js';
import type { OpsContext } from '../operations/context.js';
import { type Page, pageByScore } from '../operations/paging.js';
import { transact } from '../operations/transact.js';
import { type EntityUpdate, RELATIONS } from '../velocity/store.js';
import { enqueueWrites, newOutboxEntry } from '../outbox/outbox.js';
import { CLOSED_STATUS, type CloseAction, type Review, type ReviewStatus, type StoredReview, publicReview } from './review.js';

/** What confirm-fraud blocks unless the request says otherwise. */
export const DEFAULT_BLOCK_KINDS: readonly EntityKind[] = ['account', 'linkedAccount', 'device', 'instrument'];

const member = (provider: string, eventKey: string) => `${provider}:${eventKey}`;

export class Reviews {
  constructor(private readonly ctx: OpsContext) {}

  /**
   * Opens the review of a hold (idempotent: a review already there is kept). `entities` are the
   * event's peppered hashes by kind. Returns false when the review existed already.
   */
  async open(decision: Decision, entities: Partial<Record<EntityKind, string>>, openedAt = this.ctx.now()): Promise<boolean> {
    const provider = decision.provider ?? 'unknown';
    const eventKey = this.ctx.hasher.event(provider, decision.eventId);
    const review: StoredReview = {
      provider,
      eventId: decision.eventId,
      status: 'open',
      openedAt: new Date(openedAt).toISOString(),
      closedAt: null,
      note: null,
      reference: decision.reference ?? null,
      decision,
      entities,
      listEntries: [],
    };
    const receivedAt = decision.receivedAt ? Date.parse(decision.receivedAt) : openedAt;
    const m = member(provider, eventKey);
    const writes: Write[] = [
      { op: 'set', key: opsKeys.review(eventKey), value: JSON.stringify(review) },
      { op: 'zadd', key: opsKeys.reviews('open'), score: openedAt, member: m },
      { op: 'zadd', key: opsKeys.holds, score: receivedAt, member: m },
      { op: 'zremrangebyscore', key: opsKeys.holds, max: openedAt - this.ctx.decisionTtlMs },
      ...this.#outbox('review.opened', eventKey, publicReview(review), openedAt),
    ];
    return this.ctx.backend.commit({ conditions: [{ key: opsKeys.review(eventKey), equals: null }], writes });
  }

  async get(provider: string, eventId: string): Promise<Review> {
    return publicReview(await this.#read(provider, eventId));
  }

  /** Open reviews oldest first; closed ones newest first. */
  async page(status: ReviewStatus, provider: string | undefined, cursor: string | undefined, limit: number): Promise<Page<Review>> {
    const now = this.ctx.now();
    const min = status === 'open' ? 0 : now - this.ctx.config.reviewRetentionMs;
    const { items, nextCursor } = await pageByScore(this.ctx.backend, opsKeys.reviews(status), {
      min,
      max: Number.MAX_SAFE_INTEGER,
      rev: status !== 'open',
      limit,
      cursor,
      ...(provider !== undefined && { keep: (m: string) => m.startsWith(`${provider}:`) }),
    });
    return { data: (await this.#load(items.map((i) => i.member))).map(publicReview), nextCursor };
  }

  /** Holds by the time they were received, newest first, within the decision TTL. */
  async holds(options: { provider?: string | undefined; fromMs?: number | undefined; toMs?: number | undefined; cursor?: string | undefined; limit: number }): Promise<Page<Decision>> {
    const now = this.ctx.now();
    const { items, nextCursor } = await pageByScore(this.ctx.backend, opsKeys.holds, {
      min: Math.max(options.fromMs ?? 0, now - this.ctx.decisionTtlMs),
      max: options.toMs ?? Number.MAX_SAFE_INTEGER,
      rev: true,
      limit: options.limit,
      cursor: options.cursor,
      ...(options.provider !== undefined && { keep: (m: string) => m.startsWith(`${options.provider}:`) }),
    });
    return { data: (await this.#load(items.map((i) => i.member))).map((r) => r.decision), nextCursor };
  }

  /** The stored decision of a hold (a degraded hold is only stored here). */
  async decisionOf(provider: string, eventId: string): Promise<Decision | undefined> {
    const raw = await this.ctx.backend.get(opsKeys.review(this.ctx.hasher.event(provider, eventId)));
    return raw ? (JSON.parse(raw) as StoredReview).decision : undefined;
  }

  async close(provider: string, eventId: string, action: CloseAction, body: Record<string, unknown>, actor: string): Promise<Review> {
    const note = parseNote(body.note);
    // The body is checked before the review is read: a bad request is 400 whatever the review's state.
    this.#listEntries(action, body, { entities: {} } as StoredReview, actor, this.ctx.now());
    const eventKey = this.ctx.hasher.event(provider, eventId);
    const key = opsKeys.review(eventKey);
    const stored = await transact(this.ctx.backend, async () => {
      const raw = await this.ctx.backend.get(key);
      if (!raw) throw new NotFoundError(`no review for ${provider} event ${eventId.slice(0, 256)}`);
      const before = JSON.parse(raw) as StoredReview;
      if (before.status !== 'open') {
        if (before.status === CLOSED_STATUS[action]) return { result: before };
        throw new ReviewClosedError(`the review is closed already (${before.status}); ${action} is not possible`);
      }
      const now = this.ctx.now();
      const listEntries = this.#listEntries(action, body, before, actor, now);
      const after: StoredReview = { ...before, status: CLOSED_STATUS[action], closedAt: new Date(now).toISOString(), note, listEntries };
      const m = member(provider, eventKey);
      const closedIndex = opsKeys.reviews(after.status);
      const audit: AuditInput[] = [
        { actor, action: `review.${after.status}`, target: `review/${provider}/${eventId}`, before: publicReview(before), after: publicReview(after) },
        ...listEntries.map((e) => ({ actor, action: 'list.put', target: `${e.list}/${e.entityKind}/${e.id}`, before: null, after: e })),
      ];
      const head = await this.ctx.backend.get(opsKeys.auditHead);
      const trail = auditWrites(head, audit, now, this.ctx.config.auditRetentionMs);
      const writes: Write[] = [
        { op: 'set', key, value: JSON.stringify(after), pxMs: this.ctx.config.reviewRetentionMs },
        { op: 'zrem', key: opsKeys.reviews('open'), member: m },
        { op: 'zadd', key: closedIndex, score: now, member: m },
        { op: 'zremrangebyscore', key: closedIndex, max: now - this.ctx.config.reviewRetentionMs },
        ...listEntries.flatMap(entryWrites),
        ...this.#outbox(`review.${CLOSED_STATUS[action]}`, eventKey, publicReview(after), now),
        ...trail.writes,
      ];
      return { result: after, commit: { conditions: [{ key, equals: raw }, trail.condition], writes } };
    });
    // On each entity's own slot, after the commit; repeated by a repeated close, so a crash in between heals.
    for (const entry of stored.listEntries) await writeMembership(this.ctx.backend, entry);
    if (stored.status === 'released') await this.#trustReleased(stored);
    return publicReview(stored);
  }

  /**
   * A release vouches for the held payment: it is committed to the velocity store as approved and
   * strongly authenticated, under a key of its own (so once, however often the release is repeated),
   * which makes its device trusted for the account and linked account and counts its money as
   * approved spend. The payment's own decision record is not touched.
   */
  async #trustReleased(stored: StoredReview): Promise<void> {
    const velocity = this.ctx.velocity;
    if (!velocity) return;
    const { decision, entities: hashed } = stored;
    const present = ENTITY_KINDS.filter((kind) => hashed[kind] !== undefined);
    const entities: EntityUpdate[] = present.map((kind) => ({
      kind,
      key: hashed[kind]!,
      members: RELATIONS[kind].filter((r) => hashed[r] !== undefined).map((relation) => ({ relation, member: hashed[relation]! })),
    }));
    const receivedAt = decision.receivedAt ? Date.parse(decision.receivedAt) : Date.parse(stored.openedAt);
    const at = decision.occurredAt ? Date.parse(decision.occurredAt) : receivedAt;
    await velocity.commit({
      eventKey: this.ctx.hasher.event(stored.provider, `${stored.eventId}#released`),
      at,
      receivedAt,
      amountMinor: decision.amount?.minor ?? 0,
      currency: decision.amount?.currency ?? 'XXX',
      passwordFree: false,
      entities,
      decision: { ...decision, decision: 'approve' },
      strongAuth: true,
    });
  }

  #listEntries(action: CloseAction, body: Record<string, unknown>, review: StoredReview, actor: string, now: number): ListEntry[] {
    const source = { type: 'review' as const, provider: review.provider, eventId: review.eventId };
    const entry = (list: 'block' | 'allow', entityKind: EntityKind, expiresAt: number): ListEntry | undefined => {
      const id = review.entities[entityKind];
      return id === undefined
        ? undefined
        : { list, entityKind, id, createdAt: new Date(now).toISOString(), expiresAt: new Date(expiresAt).toISOString(), note: parseNote(body.note), source, createdBy: actor };
    };
    if (action === 'release') {
      if (body.trustDays === undefined || body.trustDays === null) return [];
      const expiresAt = resolveExpiry('allow', { ttlDays: body.trustDays }, now);
      return [entry('allow', 'account', expiresAt)].filter((e): e is ListEntry => e !== undefined);
    }
    const block = body.block;
    let kinds = DEFAULT_BLOCK_KINDS;
    let ttlDays: unknown = BLOCK_DEFAULT_DAYS;
    if (block === false) kinds = [];
    else if (Array.isArray(block)) kinds = block.map((k, i) => parseKind(k, `block[${i}]`));
    else if (typeof block === 'object' && block !== null) {
      const b = block as { entities?: unknown; ttlDays?: unknown };
      if (b.entities !== undefined) {
        if (!Array.isArray(b.entities)) throw new InvalidRequestError('block.entities: expected a list of entity kinds');
        kinds = b.entities.map((k, i) => parseKind(k, `block.entities[${i}]`));
      }
      if (b.ttlDays !== undefined) ttlDays = b.ttlDays;
    } else if (block !== undefined) throw new InvalidRequestError('block: expected false, a list of entity kinds, or { entities, ttlDays }');
    const expiresAt = resolveExpiry('block', { ttlDays }, now);
    return kinds.map((k) => entry('block', k, expiresAt)).filter((e): e is ListEntry => e !== undefined);
  }

  #outbox(type: 'review.opened' | 'review.released' | 'review.confirmed_fraud', eventKey: string, review: Review, now: number): Write[] {
    if (!this.ctx.config.merchantWebhook) return [];
    return enqueueWrites(newOutboxEntry(`msg_${eventKey}_${type.slice('review.'.length)}`, type, review, now));
  }

  async #read(provider: string, eventId: string): Promise<StoredReview> {
    const raw = await this.ctx.backend.get(opsKeys.review(this.ctx.hasher.event(provider, eventId)));
    if (!raw) throw new NotFoundError(`no review for ${provider} event ${eventId.slice(0, 256)}`);
    return JSON.parse(raw) as StoredReview;
  }

  async #load(members: readonly string[]): Promise<StoredReview[]> {
    const raw = await this.ctx.backend.mget(members.map((m) => opsKeys.review(m.slice(m.indexOf(':') + 1))));
    return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as StoredReview);
  }
}

function parseKind(value: unknown, field: string): EntityKind {
  if (typeof value === 'string' && ['account', 'linkedAccount', 'device', 'ip', 'instrument', 'merchant'].includes(value)) return value as EntityKind;
  throw new InvalidRequestError(`${field}: expected one of account, linkedAccount, device, ip, instrument, merchant`);
}
