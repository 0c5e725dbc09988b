/**
 * The Lambda handler over a runtime on a real Redis: API Gateway event in, response out.
 * Refused requests leave no key in Redis; base64 bodies (as API Gateway sends some) verify.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { createWebhookHandler } from '../../lib/http.js';
import { apiGatewayEvent, signGenericEvent } from '../../lib/providers/generic-sender.js';
import { type Runtime, createRuntime } from '../../lib/runtime.js';
import { keys } from '../../lib/velocity/redis.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
let runtime: Runtime;
let admin: Redis;
const handler = createWebhookHandler(() => runtime);

beforeAll(() => {
  runtime = createRuntime(
    loadConfig({ GENERIC_WEBHOOK_SECRETS: secret, RISKHOOK_PEPPER: randomBytes(16).toString('hex'), REDIS_URL: inject('redisUrl'), RISKHOOK_STAGE: 'test' }),
  );
  admin = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await runtime.store.close();
  admin.disconnect();
});

function wire(account = `acct_${randomBytes(6).toString('hex')}`) {
  return {
    id: `evt_${randomBytes(6).toString('hex')}`,
    kind: 'authorization',
    occurredAt: new Date().toISOString(),
    amount: { minor: 2_500, currency: 'CNY' },
    account: { id: account, twoFactor: true },
    merchant: { id: 'merchant_1' },
    authMethod: 'password_free',
    device: { id: `dev_${account}` },
  };
}

const gatewayEvent = (body: object, overrides: Partial<APIGatewayProxyEventV2> = {}) =>
  ({ ...apiGatewayEvent(signGenericEvent(secret, body)), ...overrides }) as unknown as APIGatewayProxyEventV2;

/** Whether Redis holds anything for this account (its bucket hash). */
const counted = async (account: string) =>
  (await admin.exists(keys.buckets(keys.tag({ kind: 'account', key: runtime.hasher.entity('account', account) })))) === 1;

describe('webhook handler on Redis', () => {
  it('scores a signed event and answers the pinned JSON shape', async () => {
    const body = wire();
    const res = await handler(gatewayEvent(body));
    expect(res.statusCode).toBe(200);
    const json = JSON.parse(res.body!);
    expect(Object.keys(json).sort()).toEqual(['decision', 'degraded', 'eventId', 'policyVersion', 'reasons', 'score']);
    expect(json).toMatchObject({ eventId: body.id, decision: 'approve', degraded: false, policyVersion: runtime.config.policy.version });
    expect(await counted(body.account.id)).toBe(true);
  });

  it('verifies a base64-encoded body (API Gateway encodes some content types)', async () => {
    const body = wire();
    const event = gatewayEvent(body);
    const res = await handler({ ...event, body: Buffer.from(event.body!, 'utf8').toString('base64'), isBase64Encoded: true });
    expect(res.statusCode).toBe(200);
    expect(await counted(body.account.id)).toBe(true);
  });

  it('refuses a tampered body with 401 and writes nothing to Redis', async () => {
    const body = wire();
    const event = gatewayEvent(body);
    const res = await handler({ ...event, body: event.body!.replace('2500', '2501') });
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body!).error.code).toBe('invalid_signature');
    expect(await counted(body.account.id)).toBe(false);
  });

  it('refuses an oversized base64 body with 413 before decoding it', async () => {
    const big = Buffer.alloc(70_000, 'a').toString('base64');
    const res = await handler({ ...gatewayEvent(wire()), body: big, isBase64Encoded: true });
    expect(res.statusCode).toBe(413);
  });

  it('refuses a schema violation with 422 naming the field, and writes nothing', async () => {
    const body = { ...wire(), amount: { minor: 12.5, currency: 'CNY' } };
    const res = await handler(gatewayEvent(body));
    expect(res.statusCode).toBe(422);
    expect(JSON.parse(res.body!).error.message).toContain('amount.minor');
    expect(await counted(body.account.id)).toBe(false);
  });

  it('answers 405 to other methods and 404 to unknown providers', async () => {
    const event = gatewayEvent(wire());
    const get = await handler({ ...event, requestContext: { ...event.requestContext, http: { ...event.requestContext.http, method: 'GET' } } });
    expect(get.statusCode).toBe(405);
    const unknown = await handler({ ...event, pathParameters: { provider: 'nope' } });
    expect(unknown.statusCode).toBe(404);
    expect(JSON.parse(unknown.body!).error.code).toBe('unknown_provider');
    // Which providers are configured is not the caller's business: the answer names none.
    expect(JSON.parse(unknown.body!).error.message).toBe('no provider "nope"');
    expect(unknown.body).not.toContain('generic');
  });
});
