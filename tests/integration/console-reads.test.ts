/**
 * The API reads the review console uses, on every store (memory, a real Redis, a real Redis
 * Cluster), through the api handler: holds per hour by rule, a review's merchant-webhook
 * deliveries, audit entries about one target; their input errors and scopes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opsKeys } from '../../lib/operations/backend.js';
import { RedisOpsBackend } from '../../lib/operations/redis.js';
import { DECISION_STATS_TTL_MS } from '../../lib/operations/stats.js';
import { deliverDue } from '../../lib/outbox/deliver.js';
import { type OpsHarness, TOKENS, genericEvent, heldEvent, opsHarness } from '../support/operations.js';
import { type Receiver, startReceiver } from '../support/receiver.js';
import { STORE_KINDS } from '../support/stores.js';

const HOUR = 3_600_000;
const secrets = [`whsec_${Buffer.alloc(32, 7).toString('base64')}`];
const fast = { batch: 50, timeoutMs: 5_000, leaseMs: 30_000, backoffMs: [0], horizonMs: 86_400_000 };

describe.each(STORE_KINDS)('console reads on the %s store', (kind) => {
  let h: OpsHarness;
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
    h = await opsHarness(kind, { merchantWebhook: { url: receiver.url, secrets } });
  });
  afterAll(() => Promise.all([receiver.stop(), h.close()]));

  const hold = () => heldEvent(h);

  it('counts holds per UTC hour and per rule over the last 7 days', async () => {
    const before = await h.api('GET', '/v1/stats/holds');
    expect(before.status).toBe(200);
    const hourOf = (ms: number) => new Date(Math.floor(ms / HOUR) * HOUR).toISOString();
    const countNow = (body: { data: { hour: string; holds: number; byRule: Record<string, number> }[] }) =>
      body.data.find((b) => b.hour === hourOf(Date.now())) ?? { holds: 0, byRule: {} as Record<string, number> };
    const startHolds = countNow(before.body).holds;
    const startBlocked = countNow(before.body).byRule['blocked-entity'] ?? 0;
    await hold();
    await hold();
    const after = await h.api('GET', '/v1/stats/holds');
    // 7 days of hours (168 full ones and the current one), oldest first.
    expect(after.body.data.length).toBeGreaterThanOrEqual(168);
    expect(after.body.data.length).toBeLessThanOrEqual(170);
    expect(Date.parse(after.body.data[1].hour) - Date.parse(after.body.data[0].hour)).toBe(HOUR);
    expect(after.body.rules).toContain('blocked-entity');
    expect(after.body.truncated).toBe(false);
    expect(Date.parse(after.body.indexedFrom)).toBeGreaterThan(Date.now() - 73 * HOUR);
    // The current hour gained the two holds (unless the hour turned between the reads: then at least them).
    const now = countNow(after.body);
    const sameHour = hourOf(Date.parse(before.body.to)) === hourOf(Date.parse(after.body.to));
    expect(now.holds).toBe(sameHour ? startHolds + 2 : now.holds);
    expect(now.holds).toBeGreaterThanOrEqual(2);
    expect(now.byRule['blocked-entity']).toBe(sameHour ? startBlocked + 2 : now.byRule['blocked-entity']);
    // A window before the holds counts none of them.
    const old = await h.api('GET', `/v1/stats/holds?from=${new Date(Date.now() - 5 * HOUR).toISOString()}&to=${new Date(Date.now() - 4 * HOUR).toISOString()}`);
    expect(old.body.data.reduce((n: number, b: { holds: number }) => n + b.holds, 0)).toBe(0);
  });

  it('counts decisions, holds and rule hits per UTC hour, approvals included; a retry is not counted again', async () => {
    type Hour = { hour: string; decisions: number; holds: number; byRule: Record<string, { fired: number; held: number; shadow: number }> };
    const hourOf = (ms: number) => new Date(Math.floor(ms / HOUR) * HOUR).toISOString();
    const current = (body: { data: Hour[] }): Hour => body.data.find((b) => b.hour === hourOf(Date.now())) ?? { hour: '', decisions: 0, holds: 0, byRule: {} };
    const before = await h.api('GET', '/v1/stats/decisions');
    expect(before.status).toBe(200);
    const start = current(before.body);
    const approved = genericEvent();
    expect((await h.send(approved)).body.decision).toBe('approve');
    expect((await h.send(approved)).body.decision).toBe('approve'); // a provider retry: answered from the stored decision
    expect((await h.send(genericEvent())).body.decision).toBe('approve');
    await hold();
    const after = await h.api('GET', '/v1/stats/decisions');
    expect(after.status).toBe(200);
    expect(after.body.data.length).toBeGreaterThanOrEqual(168);
    expect(after.body.data.length).toBeLessThanOrEqual(170);
    expect(after.body.rules).toContain('blocked-entity');
    const now = current(after.body);
    // Unless the hour turned between the reads, the current hour gained exactly two approvals (the retry is not counted) and one hold.
    if (hourOf(Date.parse(before.body.to)) === hourOf(Date.parse(after.body.to))) {
      expect(now.decisions - start.decisions).toBe(3);
      expect(now.holds - start.holds).toBe(1);
      expect(now.byRule['blocked-entity']!.held - (start.byRule['blocked-entity']?.held ?? 0)).toBe(1);
    }
    expect(now.byRule['blocked-entity']).toMatchObject({ fired: now.byRule['blocked-entity']!.held });
    expect(after.body.totals.decisions).toBe(after.body.data.reduce((n: number, b: Hour) => n + b.decisions, 0));
    expect(after.body.totals.holds).toBeGreaterThanOrEqual(1);
    // A window before them counts none; the same window checks as the holds stats; the scope is decisions:read.
    const old = await h.api('GET', `/v1/stats/decisions?from=${new Date(Date.now() - 5 * HOUR).toISOString()}&to=${new Date(Date.now() - 4 * HOUR).toISOString()}`);
    expect(old.body.totals).toMatchObject({ decisions: 0, holds: 0 });
    expect(old.body.data).toHaveLength(2);
    expect((await h.api('GET', `/v1/stats/decisions?from=${new Date(Date.now() - 9 * 24 * HOUR).toISOString()}`)).body.error.message).toMatch(/^from: at most 8 days/);
    expect((await h.api('GET', '/v1/stats/decisions?rule=x')).body.error.message).toMatch(/^rule: unknown query parameter/);
    expect((await h.api('GET', '/v1/stats/decisions', { token: TOKENS.reader!.token })).status).toBe(200);
    expect((await h.api('GET', '/v1/stats/decisions', { token: null })).status).toBe(401);
  });

  it("keeps an hour's decision counts 8 days from the hour's first decision, whatever comes later", async () => {
    const receivedAt = new Date(Date.now() - 2 * 24 * HOUR);
    const decision = { eventId: 'evt_stats', decision: 'hold' as const, score: 100, reasons: [{ rule: 'r1', message: 'm' }], features: {}, policyVersion: 'p', degraded: false as const, receivedAt: receivedAt.toISOString() };
    await h.ops.stats.count(decision, ['shadow-1']);
    await h.ops.stats.count({ ...decision, decision: 'approve' }, []);
    const read = await h.ops.stats.read(receivedAt.getTime(), receivedAt.getTime());
    expect(read.data).toEqual([
      { hour: new Date(Math.floor(receivedAt.getTime() / HOUR) * HOUR).toISOString(), decisions: 2, holds: 1, byRule: { r1: { fired: 2, held: 1, shadow: 0 }, 'shadow-1': { fired: 0, held: 0, shadow: 1 } } },
    ]);
    const key = opsKeys.decisionStats(Math.floor(receivedAt.getTime() / HOUR) * HOUR);
    if (h.backend instanceof RedisOpsBackend) {
      const ttl = await h.backend.client.pttl(h.backend.keyOf(key));
      expect(ttl).toBeGreaterThan(DECISION_STATS_TTL_MS - 60_000);
      expect(ttl).toBeLessThanOrEqual(DECISION_STATS_TTL_MS);
    } else {
      h.clock.offsetMs = DECISION_STATS_TTL_MS - 60_000;
      await h.ops.stats.count({ ...decision, decision: 'approve' }, []); // does not extend the TTL
      expect((await h.ops.stats.read(receivedAt.getTime(), receivedAt.getTime())).totals.decisions).toBe(3);
      h.clock.offsetMs = DECISION_STATS_TTL_MS + 1_000;
      expect((await h.ops.stats.read(receivedAt.getTime(), receivedAt.getTime())).totals.decisions).toBe(0);
      h.clock.offsetMs = 0;
    }
  });

  it('refuses a bad stats window, naming the field', async () => {
    const from = new Date(Date.now() - HOUR).toISOString();
    const to = new Date(Date.now() - 2 * HOUR).toISOString();
    expect((await h.api('GET', `/v1/stats/holds?from=${from}&to=${to}`)).body.error.message).toMatch(/^from: must not be after to/);
    expect((await h.api('GET', `/v1/stats/holds?from=${new Date(Date.now() - 9 * 24 * HOUR).toISOString()}`)).body.error.message).toMatch(/^from: at most 8 days/);
    expect((await h.api('GET', '/v1/stats/holds?from=yesterday')).status).toBe(400);
    expect((await h.api('GET', '/v1/stats/holds?rule=x')).body.error.message).toMatch(/^rule: unknown query parameter/);
    expect((await h.api('GET', '/v1/stats/holds', { token: null })).status).toBe(401);
  });

  it("shows a review's deliveries: pending, then delivered once the receiver took them", async () => {
    const event = await hold();
    const path = `/v1/reviews/generic/${event.id}/deliveries`;
    const opened = await h.api('GET', path, { token: TOKENS.reader!.token });
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ configured: true, data: [{ type: 'review.opened', state: 'pending', attempts: 0, lastError: null }] });
    await h.api('POST', `/v1/reviews/generic/${event.id}/release`, { body: { note: 'ok' } });
    receiver.mode = 'fail';
    await deliverDue(h.ops.ctx, fast);
    const failing = await h.api('GET', path);
    expect(failing.body.data.map((d: { type: string }) => d.type)).toEqual(['review.opened', 'review.released']);
    expect(failing.body.data[0]).toMatchObject({ state: 'pending', attempts: 1, lastStatus: 500, lastError: 'HTTP 500' });
    receiver.mode = 'ok';
    await deliverDue(h.ops.ctx, fast);
    const done = await h.api('GET', path);
    expect(done.body.data.map((d: { state: string }) => d.state)).toEqual(['delivered', 'delivered']);
    expect((await h.api('GET', '/v1/reviews/generic/evt_nope/deliveries')).status).toBe(404);
  });

  it('without merchant webhooks configured, says so', async () => {
    const plain = await opsHarness(kind);
    try {
      const event = genericEvent();
      await plain.api('PUT', `/v1/lists/block/device/${(event.device as { id: string }).id}`, { body: {} });
      await plain.send(event);
      expect((await plain.api('GET', `/v1/reviews/generic/${event.id}/deliveries`)).body).toEqual({ configured: false, data: [] });
    } finally {
      await plain.close();
    }
  });

  it('filters the audit trail by target, pages through it, and needs audit:read', async () => {
    const event = await hold();
    await h.api('POST', `/v1/reviews/generic/${event.id}/confirm-fraud`, { body: { note: 'fraud', block: ['device'] } });
    const target = `review/generic/${event.id}`;
    const found = await h.api('GET', `/v1/audit?target=${encodeURIComponent(target)}`);
    expect(found.status).toBe(200);
    expect(found.body.data).toHaveLength(1);
    expect(found.body.data[0]).toMatchObject({ action: 'review.confirmed_fraud', target, actor: 'admin', after: { note: 'fraud' } });
    expect(found.body.nextCursor).toBeNull();

    // Two changes of one list entry: one page each with limit=1.
    const entry = `block/device/${encodeURIComponent('dev_audit_target')}`;
    await h.api('PUT', `/v1/lists/${entry}`, { body: { note: 'first' } });
    await h.api('PUT', `/v1/lists/${entry}`, { body: { note: 'second' } });
    const hash = (await h.api('GET', `/v1/lists/${entry}`)).body.id;
    const first = await h.api('GET', `/v1/audit?target=block/device/${hash}&limit=1`);
    expect(first.body.data.map((e: { after: { note: string } }) => e.after.note)).toEqual(['first']);
    const second = await h.api('GET', `/v1/audit?target=block/device/${hash}&limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body.data.map((e: { after: { note: string } }) => e.after.note)).toEqual(['second']);

    expect((await h.api('GET', `/v1/audit?target=${encodeURIComponent(target)}`, { token: TOKENS.reader!.token })).status).toBe(403);
    expect((await h.api('GET', '/v1/audit?target=')).body.error.message).toMatch(/^target:/);
  });
});
