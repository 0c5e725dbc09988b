/**
 * Reads the review console needs beyond the API, each bounded in work per request:
 * - holds per hour by rule (from the holds index, which keeps holds for the decision TTL; approvals
 *   are not indexed, so there is no approval count to chart);
 * - a review's merchant-webhook deliveries (from the outbox: an entry is removed when delivered);
 * - audit entries about one target (a scan of the stream, resumable with a cursor).
 */
import { type AuditEntry, readAudit } from '../audit/trail.js';
import type { Decision } from '../events.js';
import type { Operations } from '../operations/index.js';
import { encodeCursor } from '../operations/paging.js';
import { type OutboxEntry, type WebhookType, readOutboxEntry } from '../outbox/outbox.js';

const HOUR_MS = 3_600_000;
/** Holds read for one stats answer at most; beyond it the answer says truncated. */
export const STATS_MAX_HOLDS = 5_000;
/** Audit entries scanned for one filtered page at most; the cursor continues the scan. */
export const AUDIT_SCAN_MAX = 5_000;

export interface HourBucket {
  /** Start of the hour, ISO-8601. */
  readonly hour: string;
  readonly holds: number;
  /** Holds per rule that fired (a hold with two rules counts for both). */
  readonly byRule: Record<string, number>;
}

export interface HoldStats {
  readonly from: string;
  readonly to: string;
  /** Holds older than this are out of the index (the decision TTL). */
  readonly indexedFrom: string;
  readonly rules: string[];
  readonly data: HourBucket[];
  readonly truncated: boolean;
}

/** Holds per hour and rule between fromMs and toMs (hours aligned to UTC). */
export async function holdStats(operations: Operations, fromMs: number, toMs: number): Promise<HoldStats> {
  const { ctx } = operations;
  const indexedFrom = ctx.now() - ctx.decisionTtlMs;
  const start = Math.floor(fromMs / HOUR_MS) * HOUR_MS;
  const buckets = new Map<number, { holds: number; byRule: Record<string, number> }>();
  for (let t = start; t <= toMs; t += HOUR_MS) buckets.set(t, { holds: 0, byRule: {} });
  const rules = new Set<string>();
  let cursor: string | undefined;
  let read = 0;
  let truncated = false;
  for (;;) {
    const page = await operations.reviews.holds({ fromMs, toMs, cursor, limit: 100 });
    for (const decision of page.data) count(decision);
    read += page.data.length;
    if (page.nextCursor === null) break;
    if (read >= STATS_MAX_HOLDS) {
      truncated = true;
      break;
    }
    cursor = page.nextCursor;
  }

  function count(decision: Decision) {
    const at = Date.parse(decision.receivedAt ?? decision.occurredAt ?? '');
    const bucket = buckets.get(Math.floor(at / HOUR_MS) * HOUR_MS);
    if (!bucket) return;
    bucket.holds += 1;
    for (const rule of new Set(decision.reasons.map((r) => r.rule))) {
      rules.add(rule);
      bucket.byRule[rule] = (bucket.byRule[rule] ?? 0) + 1;
    }
  }

  return {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    indexedFrom: new Date(indexedFrom).toISOString(),
    rules: [...rules].sort(),
    data: [...buckets].map(([t, b]) => ({ hour: new Date(t).toISOString(), ...b })),
    truncated,
  };
}

export interface DeliveryState {
  readonly type: WebhookType;
  readonly webhookId: string;
  /** delivered: the outbox entry is gone (removed on a 2xx); pending: due or retrying; failed: given up. */
  readonly state: 'delivered' | 'pending' | 'failed';
  readonly attempts: number | null;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  readonly nextAttemptAt: string | null;
}

/** The merchant webhooks of one review: review.opened, and the closing one when closed. */
export async function reviewDeliveries(operations: Operations, provider: string, eventId: string): Promise<{ configured: boolean; data: DeliveryState[] }> {
  const review = await operations.reviews.get(provider, eventId);
  const { ctx } = operations;
  if (!ctx.config.merchantWebhook) return { configured: false, data: [] };
  const eventKey = ctx.hasher.event(provider, eventId);
  const types: WebhookType[] = ['review.opened', ...(review.status === 'open' ? [] : [`review.${review.status}` as WebhookType])];
  const data: DeliveryState[] = [];
  for (const type of types) {
    // The id the review commit gave the entry (lib/review/reviews.ts).
    const webhookId = `msg_${eventKey}_${type.slice('review.'.length)}`;
    const found = await readOutboxEntry(ctx.backend, webhookId);
    data.push(found ? stateOf(found.entry) : { type, webhookId, state: 'delivered', attempts: null, lastStatus: null, lastError: null, nextAttemptAt: null });
  }
  return { configured: true, data };
}

function stateOf(entry: OutboxEntry): DeliveryState {
  return {
    type: entry.type,
    webhookId: entry.id,
    state: entry.failedAt !== null ? 'failed' : 'pending',
    attempts: entry.attempts,
    lastStatus: entry.lastStatus,
    lastError: entry.lastError,
    nextAttemptAt: entry.failedAt !== null ? null : new Date(entry.nextAt).toISOString(),
  };
}

/** Audit entries whose target is `target`, oldest first, scanning at most AUDIT_SCAN_MAX entries per call. */
export async function auditByTarget(
  operations: Operations,
  target: string,
  options: { fromMs?: number; toMs?: number; after?: string; limit: number },
): Promise<{ data: AuditEntry[]; nextCursor: string | null }> {
  const data: AuditEntry[] = [];
  let after = options.after;
  let scanned = 0;
  for (;;) {
    const page = await readAudit(operations.ctx.backend, {
      limit: 500,
      ...(after !== undefined ? { after } : options.fromMs !== undefined && { fromMs: options.fromMs }),
      ...(options.toMs !== undefined && { toMs: options.toMs }),
    });
    scanned += page.entries.length;
    for (const entry of page.entries) {
      after = entry.id;
      if (entry.target !== target) continue;
      data.push(entry);
      if (data.length >= options.limit) return { data, nextCursor: encodeCursor(entry.id) };
    }
    if (page.next === null) return { data, nextCursor: null };
    if (scanned >= AUDIT_SCAN_MAX) return { data, nextCursor: encodeCursor(after) };
  }
}
