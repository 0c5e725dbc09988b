/**
 * What the handler writes to stdout: a JSON log line per decision and EMF metrics, with no raw
 * identifier, secret or body in any of it. Logs and metrics are switched on for this file only.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, expect, inject, it, vi } from 'vitest';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const pepper = randomBytes(16).toString('hex');
const lines: string[] = [];

beforeAll(() => {
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_DEV', 'true'); // Powertools writes through the global console, where we can read it
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  }
  vi.resetModules();
});
afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

it('logs each decision and emits the decision metric, without identifiers, secrets or bodies', async () => {
  const { loadConfig } = await import('../../lib/config.js');
  const { createRuntime } = await import('../../lib/runtime.js');
  const { createWebhookHandler } = await import('../../lib/http.js');
  const { apiGatewayEvent, signGenericEvent } = await import('../../lib/providers/generic-sender.js');
  const runtime = createRuntime(loadConfig({ GENERIC_WEBHOOK_SECRETS: secret, RISKHOOK_PEPPER: pepper, REDIS_URL: inject('redisUrl'), RISKHOOK_STAGE: 'test' }));
  const handler = createWebhookHandler(() => runtime);
  const raw = {
    account: `acct_${randomBytes(8).toString('hex')}`,
    linked: `appleid_${randomBytes(8).toString('hex')}`,
    device: `dev_${randomBytes(8).toString('hex')}`,
    card: `card_${randomBytes(8).toString('hex')}`,
    ip: `192.0.2.${1 + (randomBytes(1)[0]! % 250)}`,
  };
  const body = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    kind: 'authorization',
    occurredAt: new Date().toISOString(),
    amount: { minor: 777_001, currency: 'CNY' },
    account: { id: raw.account, twoFactor: false },
    linkedAccount: { id: raw.linked, kind: 'apple_id' },
    merchant: { id: 'merchant_1' },
    instrument: { id: raw.card, kind: 'card' },
    authMethod: 'password_free',
    device: { id: raw.device },
    ip: raw.ip,
  };
  const event = apiGatewayEvent(signGenericEvent(secret, body)) as unknown as APIGatewayProxyEventV2;
  const ok = await handler(event);
  const refused = await handler({ ...event, body: event.body!.replace('777001', '777002') });
  await runtime.store.close();
  expect([ok.statusCode, refused.statusCode]).toEqual([200, 401]);

  const json = lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  const decision = json.find((l) => l.message === 'decision');
  expect(decision).toMatchObject({ level: 'INFO', provider: 'generic', eventId: body.id, decision: 'hold' });
  expect(json.find((l) => l.message === 'request refused')).toMatchObject({ status: 401, code: 'invalid_signature' });
  const metric = json.find((l) => (l._aws as { CloudWatchMetrics?: unknown } | undefined)?.CloudWatchMetrics && 'decisions' in l);
  expect(metric).toMatchObject({ provider: 'generic', decision: 'hold', decisions: 1 });

  const everything = lines.join('\n');
  for (const value of [...Object.values(raw), secret, secret.slice(6), pepper, event.body!, '777001']) {
    expect(everything, `stdout must not contain ${value.slice(0, 12)}…`).not.toContain(value);
  }
});
