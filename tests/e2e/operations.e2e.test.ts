/**
 * End to end over real HTTP through serverless-offline (the `npm start` server, embedded store):
 * the Lambda authorizer runs there (401 / 403 answered as specified), a hold from each provider's
 * example is found through the admin API and the review CLI, released or confirmed, and the signed
 * review.opened / .released / .confirmed_fraud deliveries reach a real receiver.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_GENERIC_SECRET } from '../../lib/local-defaults.js';
import { EXAMPLE_SIGNERS } from '../../lib/providers/examples.js';
import { freshEvents, signGenericEvent } from '../../lib/providers/generic-sender.js';
import type { SignedRequest } from '../../lib/providers/types.js';
import { type OfflineServer, startOffline } from '../support/offline.js';
import { TOKENS, apiTokensEnv } from '../support/operations.js';
import { type Receiver, startReceiver } from '../support/receiver.js';

const root = new URL('../../', import.meta.url);
const run = promisify(execFile);
const merchantSecret = `whsec_${randomBytes(32).toString('base64')}`;

/** Every request of an example file, signed fresh (unique ids, current times), as `npm run send` does. */
function signedExample(file: string): SignedRequest[] {
  const parsed = JSON.parse(readFileSync(new URL(`examples/${file}`, root), 'utf8')) as Record<string, unknown> | Record<string, unknown>[];
  const items = Array.isArray(parsed) ? parsed : [parsed];
  if (items[0]!.provider === undefined) return freshEvents(items as never).map((e) => signGenericEvent(LOCAL_GENERIC_SECRET, e));
  const suffix = randomBytes(4).toString('hex');
  const times = items.map((i) => Date.parse(String(i.at)));
  const last = Math.max(...times);
  const now = Date.now();
  return items.map((item, n) => EXAMPLE_SIGNERS[String(item.provider)]!(item, { now: now - (last - times[n]!), suffix, keepTime: false }));
}

describe('operations end to end (serverless-offline)', () => {
  let server: OfflineServer;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startOffline({
      env: { RISKHOOK_API_TOKENS: apiTokensEnv(), MERCHANT_WEBHOOK_URL: receiver.url, MERCHANT_WEBHOOK_SECRETS: merchantSecret },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await receiver?.stop();
  });

  const api = async (method: string, path: string, token: string | null = TOKENS.admin!.token, body?: unknown) => {
    const response = await fetch(new URL(path, server.baseUrl), {
      method,
      headers: { ...(token !== null && { authorization: `Bearer ${token}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };

  async function deliveries(eventId: string, type: string, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = receiver.received.filter((r) => {
        const body = JSON.parse(r.body);
        return body.type === type && body.data.eventId === eventId;
      });
      if (found.length > 0 || Date.now() > deadline) return found;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it('the authorizer runs: 401 without a token and with a wrong one, 403 without the scope', async () => {
    expect((await api('GET', '/v1/reviews', null)).status).toBe(401);
    const wrong = await api('GET', '/v1/reviews', 'rh_wrong_token');
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    const scope = await api('PUT', '/v1/lists/block/device/x', TOKENS.reader!.token, {});
    expect(scope).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect((await api('GET', '/v1/reviews', TOKENS.reader!.token)).status).toBe(200);
    expect(server.output()).toContain('Running Authorization function');
    // The webhook route has no authorizer: a provider posts without a bearer token.
    const [request] = signedExample('normal-purchase.json');
    const answer = await fetch(new URL(request!.path, server.baseUrl), { method: 'POST', headers: request!.headers, body: request!.body });
    expect(answer.status).toBe(200);
  });

  it.each([
    ['generic', 'attack-burst.json', 'release'],
    ['alipay', 'alipay-agreement-then-burst.json', 'confirm-fraud'],
    ['wechatpay', 'wechatpay-burst.json', 'release'],
    ['stripe', 'stripe-burst.json', 'confirm-fraud'],
  ] as const)('a %s hold is found, closed through the API and delivered signed', async (provider, file, action) => {
    for (const request of signedExample(file)) {
      const answer = await fetch(new URL(request.path, server.baseUrl), { method: 'POST', headers: request.headers, body: request.body });
      expect(answer.status).toBeLessThan(300);
    }
    const holds = await api('GET', `/v1/decisions?decision=hold&provider=${provider}&limit=100`);
    expect(holds.body.data.length).toBeGreaterThan(0);
    const hold = holds.body.data[0];
    expect(hold).toMatchObject({ provider, decision: 'hold' });
    if (provider !== 'generic') expect(hold.reference.transactionId).toEqual(expect.any(String));
    const open = await api('GET', `/v1/reviews?status=open&provider=${provider}&limit=100`);
    expect(open.body.data.map((r: { eventId: string }) => r.eventId)).toContain(hold.eventId);
    const path = `/v1/reviews/${provider}/${encodeURIComponent(hold.eventId)}`;
    const closed = await api('POST', `${path}/${action}`, TOKENS.admin!.token, { note: `e2e ${action}` });
    expect(closed.body.status).toBe(action === 'release' ? 'released' : 'confirmed_fraud');
    const [opened] = await deliveries(hold.eventId, 'review.opened');
    const [closing] = await deliveries(hold.eventId, `review.${closed.body.status}`);
    expect(opened && closing).toBeTruthy();
    expect(new Webhook(merchantSecret).verify(closing!.body, closing!.headers)).toMatchObject({ data: { provider, eventId: hold.eventId, note: `e2e ${action}` } });
  });

  it('the review CLI lists, releases and reports a 409 over HTTP', async () => {
    for (const request of signedExample('attack-burst.json')) {
      await fetch(new URL(request.path, server.baseUrl), { method: 'POST', headers: request.headers, body: request.body });
    }
    const env = { ...process.env, RISKHOOK_URL: server.baseUrl, RISKHOOK_API_TOKEN: TOKENS.admin!.token };
    const cli = (...args: string[]) => run('npx', ['tsx', 'scripts/review.ts', ...args], { cwd: root, env });
    const listed = await cli('list', '--provider', 'generic', '--json');
    const reviews = JSON.parse(listed.stdout) as { eventId: string; status: string }[];
    expect(reviews.length).toBeGreaterThan(0);
    const target = reviews[0]!.eventId;
    const released = await cli('release', 'generic', target, '--note', 'from the CLI', '--trust-days', '7');
    expect(released.stdout).toContain('released');
    await expect(cli('confirm-fraud', 'generic', target)).rejects.toMatchObject({ stderr: expect.stringContaining('409 review_closed') });
    expect((await deliveries(target, 'review.released')).length).toBe(1);
  });
});
