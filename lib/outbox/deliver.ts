/**
 * Delivers due outbox entries to MERCHANT_WEBHOOK_URL, signed with Standard Webhooks headers (one
 * v1 signature per secret in MERCHANT_WEBHOOK_SECRETS, for rotation). An entry is claimed with a
 * compare-and-set (so two deliverers never send it at once), sent, then removed (2xx), retried with
 * backoff (anything else, a timeout or a network error) or, past the retry horizon, kept as failed.
 * A 410 disables the endpoint until a failed entry is retried. Failures are audited.
 */
import { auditWrites } from '../audit/trail.js';
import { type Write, opsKeys } from '../operations/backend.js';
import type { OpsContext } from '../operations/context.js';
import { transact } from '../operations/transact.js';
import { signStandardWebhook } from '../providers/standard-webhooks.js';
import { type OutboxEntry, enqueueWrites, readOutboxEntry, webhookBody } from './outbox.js';

export interface DeliveryOptions {
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Retries continue this long after the first attempt (at least 24 h). */
  readonly horizonMs: number;
  /** Delay after the 1st, 2nd, ... failed attempt; the last repeats. */
  readonly backoffMs: readonly number[];
  /** How long a claimed entry is withheld from other deliverers while it is being sent. */
  readonly leaseMs: number;
  readonly batch: number;
}

/** Marble's schedule (30 s, 2 min, 10 min, 1 h, 4 h, then every 12 h): the last attempt lands ~30 h after the first. */
export const DEFAULT_DELIVERY: DeliveryOptions = {
  timeoutMs: 10_000,
  horizonMs: 24 * 3_600_000,
  backoffMs: [30_000, 120_000, 600_000, 3_600_000, 4 * 3_600_000, 12 * 3_600_000],
  leaseMs: 60_000,
  batch: 50,
};

export interface DeliveryReport {
  delivered: number;
  retrying: number;
  failed: number;
  disabled: boolean;
}

export function signedHeaders(secrets: readonly string[], id: string, body: string, nowMs: number): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  const signatures = secrets.map((s) => signStandardWebhook(s, id, body, timestamp)['webhook-signature']);
  return {
    'content-type': 'application/json',
    'user-agent': 'riskhook-webhooks/1',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

export async function deliverDue(ctx: OpsContext, options: DeliveryOptions = DEFAULT_DELIVERY): Promise<DeliveryReport> {
  const report: DeliveryReport = { delivered: 0, retrying: 0, failed: 0, disabled: false };
  const target = ctx.config.merchantWebhook;
  if (!target) return report;
  if ((await ctx.backend.get(opsKeys.endpointDisabled)) === target.url) return { ...report, disabled: true };
  const due = await ctx.backend.zrangeByScore(opsKeys.outboxDue, 0, ctx.now(), { offset: 0, count: options.batch });
  for (const { member: id } of due) {
    const claimed = await claim(ctx, id, options);
    if (!claimed) continue;
    const outcome = await send(target.url, target.secrets, claimed.entry, ctx.now(), options.timeoutMs);
    const result = await settle(ctx, claimed, outcome, options);
    report[result] += 1;
    if (outcome.status === 410) {
      report.disabled = true;
      break;
    }
  }
  return report;
}

async function claim(ctx: OpsContext, id: string, options: DeliveryOptions): Promise<{ entry: OutboxEntry; raw: string } | undefined> {
  const found = await readOutboxEntry(ctx.backend, id);
  const now = ctx.now();
  if (!found) {
    await ctx.backend.commit({ conditions: [{ key: opsKeys.outbox(id), equals: null }], writes: [{ op: 'zrem', key: opsKeys.outboxDue, member: id }] });
    return undefined;
  }
  if (found.entry.nextAt > now || found.entry.failedAt !== null) return undefined;
  const entry: OutboxEntry = { ...found.entry, attempts: found.entry.attempts + 1, nextAt: now + options.leaseMs };
  const raw = JSON.stringify(entry);
  const ok = await ctx.backend.commit({
    conditions: [{ key: opsKeys.outbox(id), equals: found.raw }],
    writes: [{ op: 'set', key: opsKeys.outbox(id), value: raw }, { op: 'zadd', key: opsKeys.outboxDue, score: entry.nextAt, member: id }],
  });
  return ok ? { entry, raw } : undefined;
}

interface Outcome {
  readonly status: number | null;
  readonly error: string | null;
}

async function send(url: string, secrets: readonly string[], entry: OutboxEntry, now: number, timeoutMs: number): Promise<Outcome> {
  const body = webhookBody(entry);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: signedHeaders(secrets, entry.id, body, now),
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel().catch(() => {});
    return { status: response.status, error: response.ok ? null : `HTTP ${response.status}` };
  } catch (error) {
    const name = (error as Error).name;
    return { status: null, error: name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `network error: ${(error as Error).message.slice(0, 200)}` };
  }
}

async function settle(ctx: OpsContext, claimed: { entry: OutboxEntry; raw: string }, outcome: Outcome, options: DeliveryOptions): Promise<'delivered' | 'retrying' | 'failed'> {
  const { entry, raw } = claimed;
  const key = opsKeys.outbox(entry.id);
  if (outcome.status !== null && outcome.status >= 200 && outcome.status < 300) {
    await ctx.backend.commit({ conditions: [{ key, equals: raw }], writes: [{ op: 'del', key }, { op: 'zrem', key: opsKeys.outboxDue, member: entry.id }] });
    return 'delivered';
  }
  const now = ctx.now();
  const gone = outcome.status === 410;
  const giveUp = gone || now - entry.retriesSince >= options.horizonMs;
  const next: OutboxEntry = {
    ...entry,
    lastStatus: outcome.status,
    lastError: outcome.error,
    nextAt: giveUp ? entry.nextAt : now + options.backoffMs[Math.min(entry.attempts - 1, options.backoffMs.length - 1)]!,
    failedAt: giveUp ? now : null,
  };
  if (!giveUp) {
    await ctx.backend.commit({ conditions: [{ key, equals: raw }], writes: enqueueWrites(next) });
    return 'retrying';
  }
  const url = ctx.config.merchantWebhook!.url;
  await transact(ctx.backend, async () => {
    const head = await ctx.backend.get(opsKeys.auditHead);
    const summary = { id: entry.id, type: entry.type, attempts: entry.attempts, lastStatus: outcome.status, lastError: outcome.error };
    const trail = auditWrites(
      head,
      [
        { actor: 'system', action: 'webhook.failed', target: `webhook/${entry.id}`, before: null, after: summary },
        ...(gone ? [{ actor: 'system', action: 'webhook.endpoint_disabled', target: 'webhook/endpoint', before: null, after: { status: 410 } }] : []),
      ],
      now,
      ctx.config.auditRetentionMs,
    );
    const writes: Write[] = [
      { op: 'set', key, value: JSON.stringify(next) },
      { op: 'zrem', key: opsKeys.outboxDue, member: entry.id },
      { op: 'zadd', key: opsKeys.outboxFailed, score: now, member: entry.id },
      ...(gone ? [{ op: 'set' as const, key: opsKeys.endpointDisabled, value: url }] : []),
      ...trail.writes,
    ];
    return { result: undefined, commit: { conditions: [{ key, equals: raw }, trail.condition], writes } };
  });
  return 'failed';
}
