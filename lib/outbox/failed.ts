/** Deliveries that ran out of retries (or met a 410): listed, and sent again on request. */
import { auditWrites } from '../audit/trail.js';
import { NotFoundError } from '../errors.js';
import { type Write, opsKeys } from '../operations/backend.js';
import type { OpsContext } from '../operations/context.js';
import { type Page, pageByScore } from '../operations/paging.js';
import { transact } from '../operations/transact.js';
import { type OutboxEntry, enqueueWrites, readOutboxEntry } from './outbox.js';

/** A delivery as the API shows it (times in ISO-8601). */
export function publicDelivery(entry: OutboxEntry) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: entry.id,
    type: entry.type,
    timestamp: entry.timestamp,
    attempts: entry.attempts,
    lastStatus: entry.lastStatus,
    lastError: entry.lastError,
    createdAt: iso(entry.createdAt),
    failedAt: iso(entry.failedAt),
    nextAttemptAt: entry.failedAt === null ? iso(entry.nextAt) : null,
    data: entry.data,
  };
}
export type PublicDelivery = ReturnType<typeof publicDelivery>;

/** Failed deliveries, most recent failure first. */
export async function failedDeliveries(ctx: OpsContext, cursor: string | undefined, limit: number): Promise<Page<PublicDelivery>> {
  const { items, nextCursor } = await pageByScore(ctx.backend, opsKeys.outboxFailed, { min: 0, max: Number.MAX_SAFE_INTEGER, rev: true, limit, cursor });
  const raw = await ctx.backend.mget(items.map((i) => opsKeys.outbox(i.member)));
  return { data: raw.filter((r): r is string => r !== null).map((r) => publicDelivery(JSON.parse(r) as OutboxEntry)), nextCursor };
}

/** Puts a failed delivery back in the queue, due now, with a fresh retry horizon; re-enables the endpoint. */
export async function retryFailed(ctx: OpsContext, id: string, actor: string): Promise<PublicDelivery> {
  return transact(ctx.backend, async () => {
    const found = await readOutboxEntry(ctx.backend, id);
    if (!found || found.entry.failedAt === null) throw new NotFoundError(`no failed delivery ${id.slice(0, 100)}`);
    const now = ctx.now();
    const next: OutboxEntry = { ...found.entry, failedAt: null, nextAt: now, retriesSince: now };
    const head = await ctx.backend.get(opsKeys.auditHead);
    const trail = auditWrites(head, [{ actor, action: 'webhook.retry', target: `webhook/${id}`, before: publicDelivery(found.entry), after: publicDelivery(next) }], now, ctx.config.auditRetentionMs);
    const writes: Write[] = [...enqueueWrites(next), { op: 'del', key: opsKeys.endpointDisabled }, ...trail.writes];
    return { result: publicDelivery(next), commit: { conditions: [{ key: opsKeys.outbox(id), equals: found.raw }, trail.condition], writes } };
  });
}
