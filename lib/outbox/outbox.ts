/**
 * The merchant-webhook outbox: an entry per review event (review.opened, review.released,
 * review.confirmed_fraud), written in the same commit as the review change, delivered later by the
 * deliver function. The webhook-id is the entry id, the same on every attempt.
 */
import { type OpsBackend, type Write, opsKeys } from '../operations/backend.js';
import type { Review } from '../review/review.js';

export const WEBHOOK_TYPES = ['review.opened', 'review.released', 'review.confirmed_fraud'] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

export interface OutboxEntry {
  /** msg_<...>: the webhook-id, stable across retries. */
  readonly id: string;
  readonly type: WebhookType;
  /** ISO-8601: when the review event happened (the body's timestamp). */
  readonly timestamp: string;
  readonly data: Review;
  readonly createdAt: number;
  /** Retries go on for the retry horizon from here: createdAt, or when someone asked to retry a failed entry. */
  retriesSince: number;
  attempts: number;
  nextAt: number;
  lastStatus: number | null;
  lastError: string | null;
  failedAt: number | null;
}

/** The body as sent: `{ type, timestamp, data }`. */
export const webhookBody = (entry: OutboxEntry) => JSON.stringify({ type: entry.type, timestamp: entry.timestamp, data: entry.data });

export function newOutboxEntry(id: string, type: WebhookType, review: Review, now: number): OutboxEntry {
  return { id, type, timestamp: new Date(now).toISOString(), data: review, createdAt: now, retriesSince: now, attempts: 0, nextAt: now, lastStatus: null, lastError: null, failedAt: null };
}

/** Writes that enqueue (or re-enqueue) an entry, due at entry.nextAt. */
export function enqueueWrites(entry: OutboxEntry): Write[] {
  return [
    { op: 'set', key: opsKeys.outbox(entry.id), value: JSON.stringify(entry) },
    { op: 'zadd', key: opsKeys.outboxDue, score: entry.nextAt, member: entry.id },
    { op: 'zrem', key: opsKeys.outboxFailed, member: entry.id },
  ];
}

export async function readOutboxEntry(backend: OpsBackend, id: string): Promise<{ entry: OutboxEntry; raw: string } | undefined> {
  const raw = await backend.get(opsKeys.outbox(id));
  return raw ? { entry: JSON.parse(raw) as OutboxEntry, raw } : undefined;
}
