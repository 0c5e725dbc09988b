/**
 * The API reads the review console uses, on every store (memory, a real Redis, a real Redis
 * Cluster), through the api handler: holds per hour by rule, a review's merchant-webhook
 * deliveries, audit entries about one target; their input errors and scopes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
