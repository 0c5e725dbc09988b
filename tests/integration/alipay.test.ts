/**
 * Alipay notifies through the Lambda handler on a real Redis, as API Gateway delivers them (form
 * posts base64-encoded). Alipay only ever sees `success` or `fail`: what riskhook decided is read
 * back from the store, where the merchant's systems find it.
 */
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import type { Decision, EntityKind } from '../../lib/events.js';
import { createWebhookHandler } from '../../lib/http.js';
import { ALIPAY_WEBHOOK_PATH, formatBeijingTime, signAlipayNotify } from '../../lib/providers/alipay.js';
import { encodeForm, parseForm } from '../../lib/providers/alipay-form.js';
import { apiGatewayEvent } from '../../lib/providers/generic-sender.js';
import { type Runtime, createRuntime } from '../../lib/runtime.js';
import { keys } from '../../lib/velocity/redis.js';
import { REAL_APP_ID, REAL_KEY_BASE64, REAL_NOTIFY } from '../support/alipay-real-notify.js';
import { freePort } from '../support/global-redis.js';

const MIN = 60_000;
const POLICY = `
version: alipay-integration
holdAt: 70
windows: { 10m: 1m, 1h: 5m, 24h: 1h, 7d: 12h }
rules:
  - id: count-probe
    when: { feature: account.count.24h, gte: 1 }
    score: 0
    message: "{account.count.24h} payments by this account in 24 h"
  - id: fresh-agreement
    when:
      all:
        - { feature: event.passwordFree, eq: true }
        - { feature: account.boundForMs, lt: 3600000 }
        - { feature: instrument.boundForMs, lt: 3600000 }
    hold: true
    message: "password-free charge {account.boundForMs} ms after the account signed an agreement"
`;

const pair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const alipay = pair();
const retired = pair();

let dir: string;
let runtime: Runtime;
let admin: Redis;
const handler = createWebhookHandler(() => runtime);

function env(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    // As Alipay's console shows keys: bare base64, comma-separated while they rotate.
    ALIPAY_PUBLIC_KEYS: `${retired.publicKey.toString('base64')},${alipay.publicKey.toString('base64')}`,
    ALIPAY_APP_IDS: '2021000000000001',
    RISKHOOK_PEPPER: randomBytes(16).toString('hex'),
    REDIS_URL: inject('redisUrl'),
    RISKHOOK_STAGE: 'test',
    RISKHOOK_POLICY: join(dir, 'policy.yaml'),
    ...overrides,
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'riskhook-alipay-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  runtime = createRuntime(loadConfig(env()));
  admin = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await runtime.store.close();
  admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');
const newAccount = () => `2088${digits(12)}`;
const newNotifyId = () => `${Date.now()}${digits(20)}`;
const newAgreementNo = () => `2026${digits(16)}`;

function payment(account: string, at: number, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    notify_type: 'trade_status_sync',
    notify_id: newNotifyId(),
    notify_time: formatBeijingTime(at + 2_000),
    app_id: '2021000000000001',
    version: '1.0',
    trade_no: `2026${digits(24)}`,
    out_trade_no: `ORDER${digits(12)}`,
    trade_status: 'TRADE_SUCCESS',
    total_amount: '1999.00',
    subject: 'App Store 充值',
    buyer_id: account,
    seller_id: '2088000000009002',
    gmt_payment: formatBeijingTime(at),
    ...overrides,
  };
}

function agreement(account: string, agreementNo: string, logon: string, at: number, state: 'sign' | 'unsign'): Record<string, string> {
  return {
    notify_type: state === 'sign' ? 'dut_user_sign' : 'dut_user_unsign',
    notify_id: newNotifyId(),
    notify_time: formatBeijingTime(at + 1_000),
    app_id: '2021000000000001',
    version: '1.0',
    status: state === 'sign' ? 'NORMAL' : 'UNSIGN',
    agreement_no: agreementNo,
    external_agreement_no: `SIGN${agreementNo}`,
    external_logon_id: logon,
    alipay_user_id: account,
    personal_product_code: 'GENERAL_WITHHOLDING_P',
    sign_scene: 'INDUSTRY|DIGITAL_MEDIA',
    [state === 'sign' ? 'sign_time' : 'unsign_time']: formatBeijingTime(at),
  };
}

const gatewayEvent = (fields: Record<string, string>, charset: 'utf-8' | 'gbk' = 'utf-8') =>
  apiGatewayEvent({
    path: ALIPAY_WEBHOOK_PATH,
    headers: { 'content-type': `application/x-www-form-urlencoded; charset=${charset}` },
    body: signAlipayNotify(alipay.privateKey, fields, charset),
  }) as unknown as APIGatewayProxyEventV2;

const post = (fields: Record<string, string>, charset: 'utf-8' | 'gbk' = 'utf-8') => handler(gatewayEvent(fields, charset));

const success = { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'success' };

/** Whether Redis holds anything for this entity (its bucket hash). */
const stored = async (kind: EntityKind, id: string) =>
  (await admin.exists(keys.buckets(keys.tag({ kind, key: runtime.hasher.entity(kind, id) })))) === 1;

const decisionOf = (notifyId: string): Promise<Decision | undefined> => runtime.store.readDecision(runtime.hasher.event('alipay', notifyId));

describe('Alipay notifies through the handler on Redis', () => {
  it('answers `success` to a verified notify (base64 body, as API Gateway sends it) and stores the decision', async () => {
    const account = newAccount();
    const fields = payment(account, Date.now() - MIN);
    const event = gatewayEvent(fields);
    expect(event.isBase64Encoded).toBe(true);
    expect(await handler(event)).toEqual(success);
    expect(await stored('account', account)).toBe(true);
    expect(await decisionOf(fields.notify_id!)).toMatchObject({
      eventId: fields.notify_id,
      decision: 'approve',
      reasons: [{ rule: 'count-probe', message: '1 payments by this account in 24 h' }],
      policyVersion: 'alipay-integration',
    });
  });

  it('verifies a UTF-8 body API Gateway passed as text, and a GBK one', async () => {
    const utf8 = payment(newAccount(), Date.now() - MIN, { subject: '会员月卡 100% + 返现' });
    const event = gatewayEvent(utf8);
    const text = Buffer.from(event.body!, 'base64').toString('utf8');
    expect(await handler({ ...event, body: text, isBase64Encoded: false })).toEqual(success);
    expect(await stored('account', utf8.buyer_id!)).toBe(true);

    const gbk = payment(newAccount(), Date.now() - MIN, { subject: '测试商品：会员月卡' });
    expect(await post(gbk, 'gbk')).toEqual(success);
    expect(await stored('account', gbk.buyer_id!)).toBe(true);
  });

  it('counts duplicate deliveries of a notify_id once (Alipay retries until it reads `success`)', async () => {
    const account = newAccount();
    const first = payment(account, Date.now() - 3 * MIN);
    const event = gatewayEvent(first);
    const answers = await Promise.all([handler(event), handler(event)]);
    answers.push(await handler(event));
    expect(answers).toEqual([success, success, success]);
    const second = payment(account, Date.now() - 2 * MIN);
    expect(await post(second)).toEqual(success);
    expect((await decisionOf(second.notify_id!))?.features['account.count.24h']).toBe(2);
  });

  it('answers a tampered notify 401 `fail` and writes nothing to Redis', async () => {
    const fields = payment(newAccount(), Date.now() - MIN);
    const event = gatewayEvent(fields);
    const tampered = Buffer.from(Buffer.from(event.body!, 'base64').toString('latin1').replace('total_amount=1999.00', 'total_amount=1.00'), 'latin1');
    const res = await handler({ ...event, body: tampered.toString('base64') });
    expect(res).toEqual({ statusCode: 401, headers: { 'content-type': 'text/plain', 'x-riskhook-error': 'invalid_signature' }, body: 'fail' });
    expect(await stored('account', fields.buyer_id!)).toBe(false);
    expect(await admin.exists(keys.decision(runtime.hasher.event('alipay', fields.notify_id!)))).toBe(0);
  });

  it('answers a bad amount 422 `fail` and an unpaid trade `success`, counting neither', async () => {
    const bad = payment(newAccount(), Date.now() - MIN, { total_amount: '1999.001' });
    const res = await post(bad);
    expect(res.statusCode).toBe(422);
    expect(res.body).toBe('fail');
    expect(res.headers).toMatchObject({ 'x-riskhook-error': 'schema_violation' });
    expect(await stored('account', bad.buyer_id!)).toBe(false);

    const unpaid = payment(newAccount(), Date.now() - MIN, { trade_status: 'WAIT_BUYER_PAY' });
    expect(await post(unpaid)).toEqual(success);
    expect(await stored('account', unpaid.buyer_id!)).toBe(false);
    expect(await decisionOf(unpaid.notify_id!)).toBeUndefined();
  });

  it('an agreement signed, then a password-free debit: account.boundForMs and instrument.boundForMs, a held decision Alipay never sees', async () => {
    const account = newAccount();
    const agreementNo = newAgreementNo();
    const logon = `appleid:${randomBytes(4).toString('hex')}@example.com`;
    const signedAt = Math.floor((Date.now() - 10 * MIN) / 1000) * 1000;
    expect(await post(agreement(account, agreementNo, logon, signedAt, 'sign'))).toEqual(success);
    // The binding is recorded on the linked account (the wallet-bound Apple ID) too.
    const linked = keys.buckets(keys.tag({ kind: 'linkedAccount', key: runtime.hasher.entity('linkedAccount', logon) }));
    expect(await admin.hget(linked, 'b')).toBe(String(signedAt));

    const debit = payment(account, signedAt + 2 * MIN, { agreement_no: agreementNo, product_code: 'GENERAL_WITHHOLDING' });
    expect(await post(debit)).toEqual(success);
    const decision = await decisionOf(debit.notify_id!);
    expect(decision).toMatchObject({
      decision: 'hold',
      features: { 'account.boundForMs': 2 * MIN, 'instrument.boundForMs': 2 * MIN },
    });
    expect(decision!.reasons.map((r) => r.rule)).toEqual(['count-probe', 'fresh-agreement']);
    expect(decision!.reasons[1]!.message).toBe(`password-free charge ${2 * MIN} ms after the account signed an agreement`);
  });

  it('an agreement signed then terminated: the debit after it has no boundForMs', async () => {
    const account = newAccount();
    const agreementNo = newAgreementNo();
    const logon = `appleid:${randomBytes(4).toString('hex')}@example.com`;
    const at = Math.floor((Date.now() - 10 * MIN) / 1000) * 1000;
    expect(await post(agreement(account, agreementNo, logon, at, 'sign'))).toEqual(success);
    expect(await post(agreement(account, agreementNo, logon, at + MIN, 'unsign'))).toEqual(success);
    const debit = payment(account, at + 2 * MIN, { agreement_no: agreementNo });
    expect(await post(debit)).toEqual(success);
    const decision = await decisionOf(debit.notify_id!);
    expect(decision?.decision).toBe('approve');
    expect(decision!.reasons.map((r) => r.rule)).toEqual(['count-probe']);
  });
});

describe('the real 2025 notify through the handler today (issue 8: forged field boundaries, no age limit)', () => {
  let real: Runtime;
  const realHandler = createWebhookHandler(() => real);
  const OPEN_ID = '099luGU2ef8yeC95sroZ9WGyuuGqL7qD-VLY8B1mtPqj4w9';
  const NOTIFY_ID = '2025101701222153119086991451124623';
  const post = (body: Buffer | string) =>
    realHandler(apiGatewayEvent({ path: ALIPAY_WEBHOOK_PATH, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body }) as unknown as APIGatewayProxyEventV2);
  /** Nothing of the notify in Redis: no counter for its buyer or seller, no decision under either id. */
  const nothingRecorded = async (...notifyIds: string[]) => {
    for (const [kind, id] of [['account', OPEN_ID], ['merchant', '2088070256235011']] as const) {
      expect(await admin.exists(keys.buckets(keys.tag({ kind, key: real.hasher.entity(kind, id) }))), kind).toBe(0);
    }
    for (const id of notifyIds) expect(await real.store.readDecision(real.hasher.event('alipay', id)), id).toBeUndefined();
  };

  beforeAll(() => {
    real = createRuntime(loadConfig(env({ ALIPAY_PUBLIC_KEYS: REAL_KEY_BASE64, ALIPAY_APP_IDS: REAL_APP_ID })));
  });
  afterAll(async () => {
    await real.store.close();
  });

  it('notify_time merged into notify_id (same signed bytes) is refused 422 `fail`, never acknowledged, nothing recorded', async () => {
    const fields = new Map(parseForm(Buffer.from(REAL_NOTIFY)));
    fields.set('notify_id', Buffer.from(`${NOTIFY_ID}&notify_time=${fields.get('notify_time')!.toString()}`));
    fields.delete('notify_time');
    const res = await post(encodeForm(fields));
    expect(res).toEqual({ statusCode: 422, headers: { 'content-type': 'text/plain', 'x-riskhook-error': 'schema_violation' }, body: 'fail' });
    await nothingRecorded(NOTIFY_ID, `${NOTIFY_ID}&notify_time=2025-10-17 15:56:32`);
  });

  it('the notify itself, 13 months old, is acknowledged `success` and neither scored nor counted', async () => {
    expect(await post(REAL_NOTIFY)).toEqual(success);
    await nothingRecorded(NOTIFY_ID);
  });
});

describe('Alipay notifies when Redis is down', () => {
  let down: Runtime;
  const downHandler = createWebhookHandler(() => down);

  beforeAll(async () => {
    down = createRuntime(loadConfig(env({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RISKHOOK_DEADLINE_MS: '200' })));
  });
  afterAll(async () => {
    await Promise.race([down.store.close(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
  });

  it('answers an agreement notify 503 `fail`, so Alipay sends it again', async () => {
    const res: APIGatewayProxyStructuredResultV2 = await downHandler(
      gatewayEvent(agreement(newAccount(), '20261122000000000001', 'appleid:x@example.com', Date.now() - MIN, 'sign')),
    );
    expect(res).toEqual({ statusCode: 503, headers: { 'content-type': 'text/plain', 'x-riskhook-error': 'store_unavailable' }, body: 'fail' });
  });

  it('still answers a payment `success`: the money has moved, the fallback decision is taken and logged', async () => {
    expect(await downHandler(gatewayEvent(payment(newAccount(), Date.now() - MIN)))).toEqual(success);
  });
});
