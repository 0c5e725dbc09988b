/**
 * What the handler writes to stdout: a JSON log line per decision (the contract the replay tool
 * reads back) and EMF metrics, with no raw identifier, secret or body in any of it. Logs and
 * metrics are switched on for this file only.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, expect, inject, it } from 'vitest';
import { type CapturedOutput, captureOutput, releaseOutput } from '../support/captured-output.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const pepper = randomBytes(16).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'riskhook-observability-'));
const policyPath = join(dir, 'policy.yaml');
// An active rule that fires, a shadow rule that fires, and one that does not: the log line carries
// the features of all three (what the rules read), not only those of the rule that fired.
writeFileSync(
  policyPath,
  `version: obs-test-7
holdAt: 70
windows: { 24h: 1h }
rules:
  - id: big-amount
    when: { feature: event.amount, gt: 700000 }
    hold: true
    message: "amount {event.amount} over 7,000"
  - id: pf-watch
    mode: shadow
    when: { feature: event.passwordFree, eq: true }
    score: 10
    message: password-free
  - id: busy-account
    when: { feature: account.count.24h, gt: 50 }
    score: 30
    message: "{account.count.24h} payments in 24 h"
`,
);

let out: CapturedOutput;
beforeAll(() => {
  out = captureOutput();
});
beforeEach(() => out.clear());
afterAll(() => {
  releaseOutput();
  rmSync(dir, { recursive: true, force: true });
});

async function setUp() {
  const { loadConfig } = await import('../../lib/config.js');
  const { createRuntime } = await import('../../lib/runtime.js');
  const { createWebhookHandler } = await import('../../lib/http.js');
  const { apiGatewayEvent, signGenericEvent } = await import('../../lib/providers/generic-sender.js');
  const runtime = createRuntime(
    loadConfig({ GENERIC_WEBHOOK_SECRETS: secret, RISKHOOK_PEPPER: pepper, REDIS_URL: inject('redisUrl'), RISKHOOK_STAGE: 'test', RISKHOOK_POLICY: policyPath }),
  );
  const handler = createWebhookHandler(() => runtime);
  const raw = {
    account: `acct_${randomBytes(8).toString('hex')}`,
    linked: `appleid_${randomBytes(8).toString('hex')}`,
    device: `dev_${randomBytes(8).toString('hex')}`,
    card: `card_${randomBytes(8).toString('hex')}`,
    merchant: `merchant_${randomBytes(8).toString('hex')}`,
    ip: `192.0.2.${1 + (randomBytes(1)[0]! % 250)}`,
  };
  const occurredAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  const body = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    kind: 'authorization',
    occurredAt: occurredAt.toISOString(),
    amount: { minor: 777_001, currency: 'CNY' },
    account: { id: raw.account, twoFactor: false },
    linkedAccount: { id: raw.linked, kind: 'apple_id' },
    merchant: { id: raw.merchant, category: '5816' },
    instrument: { id: raw.card, kind: 'card' },
    authMethod: 'password_free',
    device: { id: raw.device },
    ip: raw.ip,
    country: 'CN',
  };
  const event = apiGatewayEvent(signGenericEvent(secret, body)) as unknown as APIGatewayProxyEventV2;
  return { runtime, handler, raw, body, event, occurredAt };
}

it('logs each decision with the documented keys and the pseudonymized event, and emits its metrics, without identifiers, secrets or bodies', async () => {
  const { runtime, handler, raw, body, event, occurredAt } = await setUp();
  const before = Date.now();
  const ok = await handler(event);
  const refused = await handler({ ...event, body: event.body!.replace('777001', '777002') });
  await runtime.store.close();
  expect([ok.statusCode, refused.statusCode]).toEqual([200, 401]);

  const [decision, ...more] = out.logs('decision');
  expect(more).toHaveLength(0);
  // Exactly these keys (the replay tool parses this line), plus Powertools' own.
  const powertools = ['level', 'message', 'timestamp', 'service', 'sampling_rate', 'xray_trace_id'];
  expect(Object.keys(decision!).filter((k) => !powertools.includes(k)).sort()).toEqual(
    ['decision', 'degraded', 'duplicate', 'event', 'eventId', 'features', 'latencyMs', 'policyVersion', 'provider', 'reasons', 'receivedAt', 'score'].sort(),
  );
  expect(decision).toMatchObject({
    level: 'INFO',
    provider: 'generic',
    eventId: body.id,
    decision: 'hold',
    score: 70,
    reasons: [{ rule: 'big-amount', message: 'amount 777001 over 7,000' }],
    policyVersion: 'obs-test-7',
    degraded: false,
    duplicate: false,
  });
  // Every feature the rules read, including those of the shadow rule and of the rule that did not fire.
  expect(decision!.features).toEqual({ 'event.amount': 777_001, 'event.passwordFree': true, 'account.count.24h': 1 });
  expect(decision!.receivedAt).toBeGreaterThanOrEqual(before);
  expect(decision!.receivedAt).toBeLessThanOrEqual(Date.now());
  expect(decision!.latencyMs).toBeGreaterThanOrEqual(0);
  // The canonical event, every field kept, each identifier replaced by the hash velocity uses.
  const h = runtime.hasher;
  expect(decision!.event).toEqual({
    id: body.id,
    provider: 'generic',
    kind: 'authorization',
    occurredAt: occurredAt.getTime(),
    amount: { minor: 777_001, currency: 'CNY' },
    account: { id: h.entity('account', raw.account), twoFactor: false },
    linkedAccount: { id: h.entity('linkedAccount', raw.linked), kind: 'apple_id' },
    merchant: { id: h.entity('merchant', raw.merchant), category: '5816' },
    instrument: { id: h.entity('instrument', raw.card), kind: 'card' },
    authMethod: 'password_free',
    device: { id: h.entity('device', raw.device) },
    ip: h.entity('ip', raw.ip),
    country: 'CN',
  });

  expect(out.logs('request refused')[0]).toMatchObject({ status: 401, code: 'invalid_signature' });
  expect(out.metrics('decisions').filter((m) => m.provider === 'generic')).toEqual([expect.objectContaining({ decision: 'hold', decisions: 1 })]);
  expect(out.metrics('ruleHits').map((m) => [m.rule, m.mode, m.ruleHits])).toEqual([
    ['big-amount', 'active', 1],
    ['pf-watch', 'shadow', 1],
  ]);
  expect(out.metrics('refusedRequests')).toEqual([expect.objectContaining({ provider: 'generic', code: 'invalid_signature', refusedRequests: 1 })]);
  expect(out.metrics('duplicateDeliveries')).toEqual([]);

  const everything = out.lines.join('\n');
  for (const value of [...Object.values(raw), secret, secret.slice(6), pepper, event.body!, '777002']) {
    expect(everything, `stdout must not contain ${value.slice(0, 12)}…`).not.toContain(value);
  }
});

it('logs a duplicate delivery as duplicate, with the stored decision, and counts it as duplicateDeliveries, not as a decision again', async () => {
  const { runtime, handler, event, body } = await setUp();
  const first = await handler(event);
  const again = await handler(event);
  await runtime.store.close();
  expect(again.body).toBe(first.body);

  expect(out.logs('decision').map((l) => [l.eventId, l.decision, l.duplicate])).toEqual([
    [body.id, 'hold', false],
    [body.id, 'hold', true],
  ]);
  // The duplicate reports the features stored with the decision (those of the rules that fired).
  expect(out.logs('decision')[1]!.features).toEqual({ 'event.amount': 777_001 });
  expect(out.metrics('decisions').filter((m) => m.provider === 'generic').map((m) => m.decisions)).toEqual([1]);
  expect(out.metrics('duplicateDeliveries')).toEqual([expect.objectContaining({ provider: 'generic', duplicateDeliveries: 1 })]);
  // Rules fired once: the duplicate evaluated nothing.
  expect(out.metrics('ruleHits').filter((m) => m.rule === 'big-amount')).toHaveLength(1);
});

it('counts refused requests by code, with an unknown provider as "(unknown)", and configuration errors', async () => {
  const { runtime, handler, event } = await setUp();
  await handler({ ...event, pathParameters: { provider: 'no-such-provider-1234' } });
  await handler({ ...event, headers: {} });
  await runtime.store.close();
  const { createWebhookHandler } = await import('../../lib/http.js');
  const { ConfigError } = await import('../../lib/errors.js');
  const broken = createWebhookHandler(() => {
    throw new ConfigError('configuration: RISKHOOK_PEPPER: required');
  });
  expect((await broken(event)).statusCode).toBe(500);

  expect(out.metrics('refusedRequests').map((m) => [m.provider, m.code, m.refusedRequests])).toEqual([
    ['(unknown)', 'unknown_provider', 1],
    ['generic', 'invalid_signature', 1],
    ['(unknown)', 'configuration_error', 1],
  ]);
  expect(out.metrics('configurationErrors')).toEqual([expect.objectContaining({ configurationErrors: 1 })]);
  // A caller's path never becomes a metric dimension (each new value would be a new CloudWatch metric).
  expect(JSON.stringify(out.metrics('refusedRequests'))).not.toContain('no-such-provider-1234');
});
