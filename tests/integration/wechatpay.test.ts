/**
 * WeChat Pay notifications through the Lambda handler over a runtime on a real Redis: verified ones
 * are answered 204 with no body and their decision stored under the envelope id; retries of one
 * envelope count once; refusals are 4xx {"code":"FAIL"} and leave nothing in Redis.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { createWebhookHandler } from '../../lib/http.js';
import { apiGatewayEvent } from '../../lib/providers/generic-sender.js';
import type { SignedRequest } from '../../lib/providers/types.js';
import { rfc3339Beijing, signWechatpayBody, signWechatpayNotify } from '../../lib/providers/wechatpay.js';
import { type Runtime, createRuntime } from '../../lib/runtime.js';
import { decodeBucketHash, keys } from '../../lib/velocity/redis.js';
import { keepEverythingPolicy } from '../support/stores.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SERIAL = 'PUB_KEY_ID_0114232134912410000000000042';
const APIV3 = randomBytes(16).toString('hex');

let runtime: Runtime;
let admin: Redis;
const handler = createWebhookHandler(() => runtime);

beforeAll(() => {
  runtime = createRuntime(
    loadConfig({
      WECHATPAY_PUBLIC_KEYS: JSON.stringify({ [SERIAL]: publicKey.export({ type: 'spki', format: 'pem' }).toString() }),
      WECHATPAY_APIV3_KEY: APIV3,
      WECHATPAY_MCHIDS: '1230000109',
      RISKHOOK_PEPPER: randomBytes(16).toString('hex'),
      REDIS_URL: inject('redisUrl'),
      RISKHOOK_STAGE: 'test', RISKHOOK_POLICY: keepEverythingPolicy(),
    }),
  );
  admin = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await runtime.store.close();
  admin.disconnect();
});

const openid = () => `o${randomBytes(14).toString('base64url')}`;

function transaction(payer: string, over: Record<string, unknown> = {}) {
  const n = randomBytes(6).toString('hex');
  return {
    appid: 'wxd678efh567hg6787',
    mchid: '1230000109',
    out_trade_no: `order-${n}`,
    transaction_id: `42000020261122${n}`,
    trade_type: 'JSAPI',
    trade_state: 'SUCCESS',
    trade_state_desc: '支付成功',
    bank_type: 'CMB_DEBIT',
    success_time: rfc3339Beijing(Date.now() - 60_000),
    payer: { openid: payer },
    amount: { total: 3_500, payer_total: 3_500, currency: 'CNY', payer_currency: 'CNY' },
    scene_info: { device_id: `dev_${payer}` },
    ...over,
  };
}

const sign = (resource: object, id = `EV-${randomBytes(8).toString('hex')}`, eventType = 'TRANSACTION.SUCCESS') =>
  signWechatpayNotify({ privateKeyPem: PRIVATE_PEM, serial: SERIAL, apiV3Key: APIV3, eventType, resource, id });

/** As API Gateway (payload 2.0) delivers it: header names lower-cased. */
function gatewayEvent(signed: SignedRequest, overrides: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 {
  const headers = Object.fromEntries(Object.entries(signed.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { ...apiGatewayEvent({ ...signed, headers }), ...overrides } as unknown as APIGatewayProxyEventV2;
}

const accountTag = (account: string) => keys.tag({ kind: 'account', key: runtime.hasher.entity('account', account) });
/** Whether Redis holds anything for this account (its bucket hash). */
const counted = async (account: string) => (await admin.exists(keys.buckets(accountTag(account)))) === 1;
/** How many payments Redis counted for this account (the 12 h buckets of the 7 d window). */
async function countOf(account: string): Promise<number> {
  const fields = await admin.hgetallBuffer(keys.buckets(accountTag(account)));
  return decodeBucketHash(fields, runtime.config.policy.plan.entities['account']!).get('43200')?.n ?? 0;
}
const storedDecision = (id: string) => runtime.store.readDecision(runtime.hasher.event('wechatpay', id));

describe('wechatpay notifications on Redis', () => {
  it('answers a verified TRANSACTION.SUCCESS 204 with no body, and stores the decision under the envelope id', async () => {
    const payer = openid();
    const id = `EV-${randomBytes(8).toString('hex')}`;
    const res = await handler(gatewayEvent(sign(transaction(payer), id)));
    expect(res.statusCode).toBe(204);
    expect(res.body ?? '').toBe('');
    expect(await countOf(payer)).toBe(1);
    const decision = await storedDecision(id);
    expect(decision).toMatchObject({ eventId: id, decision: 'approve', degraded: false, policyVersion: runtime.config.policy.version });
  });

  it('verifies a base64-encoded body (as API Gateway sends some content types)', async () => {
    const payer = openid();
    const event = gatewayEvent(sign(transaction(payer)));
    const res = await handler({ ...event, body: Buffer.from(event.body!, 'utf8').toString('base64'), isBase64Encoded: true });
    expect(res.statusCode).toBe(204);
    expect(await counted(payer)).toBe(true);
  });

  it('refuses a tampered body with 401 {"code":"FAIL"} and writes nothing to Redis', async () => {
    const payer = openid();
    const id = `EV-${randomBytes(8).toString('hex')}`;
    const event = gatewayEvent(sign(transaction(payer), id));
    const res = await handler({ ...event, body: event.body!.replace('encrypt-resource', 'encrypt-resourcE') });
    expect(res.statusCode).toBe(401);
    expect(res.headers?.['content-type']).toBe('application/json');
    expect(JSON.parse(res.body!)).toEqual({ code: 'FAIL', message: 'Wechatpay-Signature does not match' });
    expect(await counted(payer)).toBe(false);
    expect(await storedDecision(id)).toBeUndefined();
  });

  it('refuses a resource the APIv3 key does not open (re-signed) with 401 FAIL, and writes nothing', async () => {
    const payer = openid();
    const signed = sign(transaction(payer));
    const envelope = JSON.parse(signed.body as string);
    const sealed = Buffer.from(envelope.resource.ciphertext, 'base64');
    sealed[0]! ^= 0x01;
    envelope.resource.ciphertext = sealed.toString('base64');
    const body = JSON.stringify(envelope);
    const res = await handler(gatewayEvent({ ...signed, headers: signWechatpayBody(PRIVATE_PEM, SERIAL, body), body }));
    expect(res.statusCode).toBe(401);
    expect(JSON.parse(res.body!).code).toBe('FAIL');
    expect(await counted(payer)).toBe(false);
  });

  it('refuses a schema violation with 422 FAIL naming the field, and writes nothing', async () => {
    const payer = openid();
    const res = await handler(gatewayEvent(sign(transaction(payer, { amount: { total: 35.5, currency: 'CNY' } }))));
    expect(res.statusCode).toBe(422);
    expect(JSON.parse(res.body!)).toMatchObject({ code: 'FAIL', message: expect.stringContaining('transaction.amount.total') });
    expect(await counted(payer)).toBe(false);
  });

  it('answers an oversized body 413 in the FAIL shape, before reading it', async () => {
    const res = await handler({ ...gatewayEvent(sign(transaction(openid()))), body: 'x'.repeat(70_000) });
    expect(res.statusCode).toBe(413);
    expect(JSON.parse(res.body!).code).toBe('FAIL');
  });

  it('acknowledges a verified REFUND.SUCCESS with 204, scoring and storing nothing', async () => {
    const id = `EV-${randomBytes(8).toString('hex')}`;
    const refund = { mchid: '1230000109', transaction_id: '4200002026112217000000000001', out_trade_no: 'o1', refund_id: 'r1', out_refund_no: 'rf1', refund_status: 'SUCCESS', amount: { total: 3_500, refund: 3_500, payer_total: 3_500, payer_refund: 3_500 } };
    const res = await handler(gatewayEvent(sign(refund, id, 'REFUND.SUCCESS')));
    expect(res.statusCode).toBe(204);
    expect(res.body ?? '').toBe('');
    expect(await admin.exists(keys.decision(runtime.hasher.event('wechatpay', id)))).toBe(0);
  });

  it('counts a retried envelope once: a password-free burst is counted once per envelope', async () => {
    const payer = openid();
    const ids = [1, 2, 3, 4].map((n) => `EV-${randomBytes(6).toString('hex')}-${n}`);
    const txs = ids.map((_, n) =>
      transaction(payer, { trade_type: 'PAP', amount: { total: 64_800, currency: 'CNY' }, success_time: rfc3339Beijing(Date.now() - (4 - n) * 120_000) }),
    );
    const deliver = async (n: number) => (await handler(gatewayEvent(sign(txs[n]!, ids[n]!)))).statusCode;
    expect(await deliver(0)).toBe(204);
    expect(await deliver(1)).toBe(204);
    // WeChat retries the second notification: same envelope id, a new signature timestamp and nonce.
    expect(await deliver(1)).toBe(204);
    expect(await deliver(1)).toBe(204);
    expect(await countOf(payer)).toBe(2);
    expect(await deliver(2)).toBe(204);
    expect(await countOf(payer)).toBe(3);
    // 3 x 648 CNY = 1,944 CNY: under the 2,000 CNY quota; a double count would already be over it. (Held all the
    // same: from no trusted device, over the untrusted-device budget; what matters here is what was counted.)
    const third = await storedDecision(ids[2]!);
    expect(third).toMatchObject({ features: { 'account.untrusted.passwordFree.count.10m': 3, 'account.untrusted.passwordFree.amount.24h': 3 * 64_800 } });
    expect(third!.reasons.map((r) => r.rule)).not.toContain('pf-quota-account');
    expect(await deliver(3)).toBe(204); // the answer never depends on the decision: the money has moved
    const fourth = await storedDecision(ids[3]!);
    expect(fourth?.decision).toBe('hold');
    expect(fourth!.reasons.map((r) => r.rule)).toContain('pf-quota-account');
    expect(fourth!.features['account.passwordFree.amount.24h']).toBe(4 * 64_800);
  });
});
