/**
 * POST /webhooks/stripe through the Lambda handler (lib/http) over a runtime on a real Redis:
 * an ordinary authorization is approved, a password-free burst on one card is declined, duplicate
 * deliveries count once and get the same answer, and refused requests touch no counter.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import type { EntityKind } from '../../lib/events.js';
import { createWebhookHandler } from '../../lib/http.js';
import { apiGatewayEvent } from '../../lib/providers/generic-sender.js';
import { STRIPE_API_VERSION, signStripePayload } from '../../lib/providers/stripe.js';
import { type Runtime, createRuntime } from '../../lib/runtime.js';
import { decodeBucketHash, keys } from '../../lib/velocity/redis.js';
import { keepEverythingPolicy } from '../support/stores.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const secret = `whsec_${randomBytes(24).toString('base64url')}`;
let runtime: Runtime;
let admin: Redis;
const handler = createWebhookHandler(() => runtime);

beforeAll(() => {
  runtime = createRuntime(
    loadConfig({ STRIPE_WEBHOOK_SECRETS: secret, RISKHOOK_PEPPER: randomBytes(16).toString('hex'), REDIS_URL: inject('redisUrl'), RISKHOOK_STAGE: 'test', RISKHOOK_POLICY: keepEverythingPolicy() }),
  );
  admin = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await runtime.store.close();
  admin.disconnect();
});

const EXAMPLE = JSON.parse(readFileSync('examples/stripe-authorization.json', 'utf8')).event as Json;
const BURST_ITEM = JSON.parse(readFileSync('examples/stripe-burst.json', 'utf8'))[0].event as Json;
const hex = (n: number) => randomBytes(n).toString('hex');

interface Card {
  readonly card: string;
  readonly cardholder: string;
}
const newCard = (): Card => ({ card: `ic_${hex(8)}`, cardholder: `ich_${hex(8)}` });

/** An issuing_authorization.request for this card, `agoMs` ago, from one of the examples. */
function authorization(card: Card, { agoMs = 0, from = EXAMPLE }: { agoMs?: number; from?: Json } = {}): Json {
  const event = structuredClone(from);
  const created = Math.floor((Date.now() - agoMs) / 1_000);
  event.id = `evt_${hex(10)}`;
  event.created = created;
  const auth = event.data.object;
  auth.id = `iauth_${hex(10)}`;
  auth.created = created;
  auth.card.id = card.card;
  auth.card.cardholder.id = card.cardholder;
  auth.cardholder = card.cardholder;
  return event;
}

/** The API Gateway event for a body signed now (or with the given header). */
function gatewayEvent(body: string, header = signStripePayload(secret, body)): APIGatewayProxyEventV2 {
  return apiGatewayEvent({
    path: '/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
    body,
  }) as unknown as APIGatewayProxyEventV2;
}
const send = (event: Json) => handler(gatewayEvent(JSON.stringify(event)));

interface Answer {
  approved: boolean;
  metadata: { score: string; reasons: string };
}
function answer(res: APIGatewayProxyStructuredResultV2): Answer {
  expect(res.statusCode).toBe(200);
  expect(res.headers?.['Stripe-Version']).toBe(STRIPE_API_VERSION);
  return JSON.parse(res.body!) as Answer;
}

const entityTag = (kind: EntityKind, id: string) => keys.tag({ kind, key: runtime.hasher.entity(kind, id) });
/** Whether Redis holds anything for this entity (its bucket hash). */
const counted = async (kind: EntityKind, id: string) => (await admin.exists(keys.buckets(entityTag(kind, id)))) === 1;
/** How many events Redis counted for this entity: the counts of its 1-minute buckets, summed. */
async function countOf(kind: EntityKind, id: string): Promise<number> {
  const fields = await admin.hgetallBuffer(keys.buckets(entityTag(kind, id)));
  return decodeBucketHash(fields, runtime.config.policy.plan.entities[kind]!).get('60')?.n ?? 0;
}
const decisionStored = async (eventId: string) => (await admin.exists(keys.decision(runtime.hasher.event('stripe', eventId)))) === 1;

describe('POST /webhooks/stripe on Redis', () => {
  it('approves an ordinary authorization and counts it on the cardholder and the card', async () => {
    const card = newCard();
    const event = authorization(card);
    expect(answer(await send(event))).toEqual({ approved: true, metadata: { score: '0', reasons: 'none' } });
    expect(await countOf('account', card.cardholder)).toBe(1);
    expect(await countOf('instrument', card.card)).toBe(1);
    expect(await counted('merchant', EXAMPLE.data.object.merchant_data.network_id)).toBe(true);
    expect(await decisionStored(event.id)).toBe(true);
  });

  it('verifies a base64-encoded body (API Gateway encodes some content types)', async () => {
    const card = newCard();
    const event = gatewayEvent(JSON.stringify(authorization(card)));
    const res = await handler({ ...event, body: Buffer.from(event.body!, 'utf8').toString('base64'), isBase64Encoded: true });
    expect(answer(res).approved).toBe(true);
    expect(await countOf('account', card.cardholder)).toBe(1);
  });

  it('declines the 5th password-free (SCA-exempt) authorization on one card within 10 minutes', async () => {
    const card = newCard();
    const answers: Answer[] = [];
    for (let n = 0; n < 5; n++) answers.push(answer(await send(authorization(card, { agoMs: (4 - n) * 60_000, from: BURST_ITEM }))));
    expect(answers.map((a) => a.approved)).toEqual([true, true, true, true, false]);
    // No device, so none trusted: pf-burst-untrusted (+40) from the 2nd, pf-burst-untrusted-severe (hold) at the 5th; policies/default.yaml.
    expect(answers.map((a) => a.metadata.reasons)).toEqual(['none', 'pf-burst-untrusted', 'pf-burst-untrusted', 'pf-burst-untrusted', 'pf-burst-untrusted,pf-burst-untrusted-severe']);
    expect(answers[2]!.metadata.score).toBe('40');
    expect(Number(answers[4]!.metadata.score)).toBeGreaterThanOrEqual(runtime.config.policy.holdAt);
    expect(await countOf('account', card.cardholder)).toBe(5);
  });

  it('approves the same burst when the cardholder authenticated (3DS): the default policy holds password-free bursts only', async () => {
    const card = newCard();
    const answers: Answer[] = [];
    for (let n = 0; n < 5; n++) answers.push(answer(await send(authorization(card, { agoMs: (4 - n) * 60_000 }))));
    expect(answers.every((a) => a.approved && a.metadata.reasons === 'none')).toBe(true);
    expect(await countOf('instrument', card.card)).toBe(5);
  });

  it('counts duplicate deliveries (same event id, re-signed) once and gives them the same answer', async () => {
    const card = newCard();
    const answers: Answer[] = [];
    // Four password-free authorizations, each delivered three times: counted four times, not twelve.
    for (let n = 0; n < 4; n++) {
      const event = authorization(card, { agoMs: (4 - n) * 60_000, from: BURST_ITEM });
      const body = JSON.stringify(event);
      const first = answer(await handler(gatewayEvent(body)));
      for (let retry = 0; retry < 2; retry++) {
        const again = answer(await handler(gatewayEvent(body, signStripePayload(secret, body, Math.floor(Date.now() / 1_000) - retry))));
        expect(again).toEqual(first);
      }
      answers.push(first);
    }
    expect(await countOf('account', card.cardholder)).toBe(4);
    expect(await countOf('instrument', card.card)).toBe(4);
    expect(answers.map((a) => a.approved)).toEqual([true, true, true, true]);
    // The next distinct one is the 5th: declined (had retries counted, the 3rd would already have been).
    expect(answer(await send(authorization(card, { from: BURST_ITEM }))).approved).toBe(false);
  });

  it.each([
    ['a changed body byte', (body: string, header: string) => gatewayEvent(body.replace('"amount":2499', '"amount":2490'), header)],
    ['another secret', (body: string) => gatewayEvent(body, signStripePayload(`whsec_${hex(24)}`, body))],
    ['a stale timestamp', (body: string) => gatewayEvent(body, signStripePayload(secret, body, Math.floor(Date.now() / 1_000) - 301))],
    ['a future timestamp', (body: string) => gatewayEvent(body, signStripePayload(secret, body, Math.floor(Date.now() / 1_000) + 301))],
    ['no Stripe-Signature', (body: string) => ({ ...gatewayEvent(body), headers: { 'content-type': 'application/json' } })],
  ])('refuses %s with 401 and touches no counter', async (_name, make) => {
    const card = newCard();
    const event = authorization(card, { from: BURST_ITEM });
    const body = JSON.stringify(event);
    expect(body).toContain('"amount":2499');
    const res = await handler(make(body, signStripePayload(secret, body)));
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body!).error.code).toBe('invalid_signature');
    expect(await counted('account', card.cardholder)).toBe(false);
    expect(await counted('instrument', card.card)).toBe(false);
    expect(await decisionStored(event.id)).toBe(false);
  });

  it('acknowledges other event types with 200 {"received": true}, scoring and counting nothing', async () => {
    const card = newCard();
    const event = authorization(card);
    event.type = 'issuing_authorization.created';
    const res = await send(event);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body!)).toEqual({ received: true });
    expect(await counted('account', card.cardholder)).toBe(false);
    expect(await decisionStored(event.id)).toBe(false);
  });

  it('answers 400 to bad JSON and 422 naming the field to a bad authorization, counting nothing', async () => {
    const bad = await handler(gatewayEvent('{"id":"evt_1","type":'));
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body!).error.code).toBe('invalid_body');

    const card = newCard();
    const event = authorization(card);
    event.data.object.pending_request.amount = 12.5;
    const res = await send(event);
    expect(res.statusCode).toBe(422);
    expect(JSON.parse(res.body!).error.message).toContain('data.object.pending_request.amount');
    expect(await counted('account', card.cardholder)).toBe(false);
  });
});
