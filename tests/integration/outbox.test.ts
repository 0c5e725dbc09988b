/**
 * Merchant webhooks against a real local HTTP receiver, on every store: signed with Standard
 * Webhooks headers (checked with the standardwebhooks library, each secret of a rotation), the
 * webhook-id stable across retries, backoff through failures and a timeout until the receiver
 * recovers, failed after the retry horizon (listed, retried on request), 410 disables the endpoint,
 * and an outbox entry written with its review survives a crash before delivery.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperations } from '../../lib/operations/index.js';
import { DEFAULT_DELIVERY, type DeliveryOptions, deliverDue } from '../../lib/outbox/deliver.js';
import { type OpsHarness, genericEvent, opsHarness } from '../support/operations.js';
import { type Receiver, startReceiver } from '../support/receiver.js';
import { STORE_KINDS } from '../support/stores.js';

const HOUR = 3_600_000;
const secrets = [`whsec_${randomBytes(32).toString('base64')}`, `whsec_${randomBytes(32).toString('base64')}`];
const fast: DeliveryOptions = { ...DEFAULT_DELIVERY, timeoutMs: 500 };

describe.each(STORE_KINDS)('merchant webhooks on the %s store', (kind) => {
  let h: OpsHarness;
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
    h = await opsHarness(kind, { merchantWebhook: { url: receiver.url, secrets } });
  });
  afterAll(async () => {
    await receiver.stop();
    await h.close();
  });

  async function hold() {
    const event = genericEvent();
    await h.api('PUT', `/v1/lists/block/device/${(event.device as { id: string }).id}`, { body: {} });
    expect((await h.send(event)).body).toMatchObject({ decision: 'hold' });
    return event;
  }
  const deliver = (options = fast) => deliverDue(h.ops.ctx, options);
  const bodiesFor = (eventId: string) => receiver.received.filter((r) => JSON.parse(r.body).data.eventId === eventId);

  it('retries through a failure and a timeout, then delivers the signed review.opened once the receiver recovers', async () => {
    const event = await hold();
    receiver.mode = 'fail';
    expect(await deliver()).toMatchObject({ retrying: 1, delivered: 0 });
    expect(await deliver()).toMatchObject({ retrying: 0, delivered: 0 }); // not due yet: backoff
    h.clock.offsetMs += 31_000;
    receiver.mode = 'hang';
    expect(await deliver()).toMatchObject({ retrying: 1 });
    h.clock.offsetMs += 121_000;
    receiver.mode = 'ok';
    expect(await deliver()).toMatchObject({ delivered: 1 });
    expect(await deliver()).toMatchObject({ delivered: 0, retrying: 0 });
    h.clock.offsetMs = 0;
    const attempts = bodiesFor(event.id);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((a) => a.headers['webhook-id'])).size).toBe(1);
    const body = JSON.parse(attempts[2]!.body);
    expect(body).toMatchObject({ type: 'review.opened', timestamp: expect.stringMatching(/Z$/), data: { provider: 'generic', eventId: event.id, status: 'open', reference: event.reference } });
    expect(attempts[2]!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
  });

  it('signs with every secret: a receiver holding either one verifies (standardwebhooks library)', async () => {
    const event = await hold();
    await h.api('POST', `/v1/reviews/generic/${event.id}/release`, { body: { note: 'ok' } });
    receiver.mode = 'ok';
    expect(await deliver()).toMatchObject({ delivered: 2 });
    const [opened, released] = bodiesFor(event.id);
    for (const secret of secrets) {
      expect(new Webhook(secret).verify(released!.body, released!.headers)).toMatchObject({ type: 'review.released', data: { status: 'released', note: 'ok' } });
      expect(new Webhook(secret).verify(opened!.body, opened!.headers)).toMatchObject({ type: 'review.opened' });
    }
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(released!.body, released!.headers)).toThrow();
  });

  it('a crash between writing the review and delivering: another container delivers the entry', async () => {
    receiver.mode = 'ok';
    const event = await hold(); // the review and its outbox entry are written; this "container" dies before delivering
    const fresh = createOperations(h.backend, h.runtime.hasher, h.ops.ctx.config, h.ops.ctx.decisionTtlMs, h.ops.ctx.now);
    expect(await deliverDue(fresh.ctx, fast)).toMatchObject({ delivered: 1 });
    expect(bodiesFor(event.id)).toHaveLength(1);
  });

  it('after the retry horizon (at least 24 h) a delivery is failed: listed, audited, and retried on request', async () => {
    const event = await hold();
    receiver.mode = 'fail';
    let report = await deliver();
    let attempts = 1;
    const start = Date.now() + h.clock.offsetMs;
    while (report.failed === 0 && attempts < 50) {
      h.clock.offsetMs += 12 * HOUR;
      report = await deliver();
      attempts += 1;
    }
    const elapsed = Date.now() + h.clock.offsetMs - start;
    expect(report.failed).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(24 * HOUR);
    const failed = await h.api('GET', '/v1/webhooks/failed');
    const entry = failed.body.data.find((d: { data: { eventId: string } }) => d.data.eventId === event.id);
    expect(entry).toMatchObject({ type: 'review.opened', attempts, lastStatus: 500, failedAt: expect.any(String), nextAttemptAt: null });
    const audit = await h.api('GET', '/v1/audit?limit=100');
    expect(audit.body.data.some((e: { action: string; target: string }) => e.action === 'webhook.failed' && e.target === `webhook/${entry.id}`)).toBe(true);
    h.clock.offsetMs += 12 * HOUR;
    expect(await deliver()).toMatchObject({ delivered: 0, retrying: 0, failed: 0 }); // failed entries are not retried by themselves
    receiver.mode = 'ok';
    expect((await h.api('POST', `/v1/webhooks/failed/${entry.id}/retry`, { body: {} })).body).toMatchObject({ id: entry.id, failedAt: null });
    expect(await deliver()).toMatchObject({ delivered: 1 });
    expect((await h.api('GET', '/v1/webhooks/failed')).body.data.find((d: { id: string }) => d.id === entry.id)).toBeUndefined();
    h.clock.offsetMs = 0;
  });

  it('410 disables the endpoint until a failed delivery is retried', async () => {
    receiver.mode = 'gone';
    const first = await hold();
    expect(await deliver()).toMatchObject({ failed: 1, disabled: true });
    const second = await hold();
    receiver.mode = 'ok';
    const before = receiver.received.length;
    expect(await deliver()).toMatchObject({ disabled: true, delivered: 0 });
    expect(receiver.received.length).toBe(before);
    const failed = (await h.api('GET', '/v1/webhooks/failed')).body.data.find((d: { data: { eventId: string } }) => d.data.eventId === first.id);
    expect(failed.lastStatus).toBe(410);
    await h.api('POST', `/v1/webhooks/failed/${failed.id}/retry`, { body: {} });
    expect(await deliver()).toMatchObject({ delivered: 2 });
    expect(bodiesFor(second.id)).toHaveLength(1);
  });
});
