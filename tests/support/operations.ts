/**
 * A runtime with the operations concerns on one of the stores (memory, Redis, Redis Cluster), an
 * adjustable clock for the operations (expiry, retention, backoff), and a caller for the admin API
 * that goes through the same authentication as the authorizer. Redis runs get their own `ops` tag,
 * so files running at the same time never see each other's reviews or audit trail.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { authenticate } from '../../lib/api/auth.js';
import { handleApi } from '../../lib/api/http.js';
import { loadConfig } from '../../lib/config.js';
import { createWebhookHandler } from '../../lib/http.js';
import type { OpsBackend } from '../../lib/operations/backend.js';
import { type ApiToken, type MerchantWebhookConfig, type OperationsConfig, SCOPES, type Scope, sha256Hex } from '../../lib/operations/config.js';
import { type Operations, createOperations } from '../../lib/operations/index.js';
import { MemoryOpsBackend } from '../../lib/operations/memory.js';
import { RedisOpsBackend } from '../../lib/operations/redis.js';
import { apiGatewayEvent, signGenericEvent } from '../../lib/providers/generic-sender.js';
import { type Runtime, createRuntime } from '../../lib/runtime.js';
import { RedisVelocityStore } from '../../lib/velocity/redis.js';
import { STORE_KINDS, makeStore } from './stores.js';

export const TOKENS: Record<string, { token: string; scopes: Scope[] }> = {
  admin: { token: `rh_admin_${randomBytes(12).toString('hex')}`, scopes: [...SCOPES] },
  reader: { token: `rh_reader_${randomBytes(12).toString('hex')}`, scopes: ['decisions:read'] },
  lists: { token: `rh_lists_${randomBytes(12).toString('hex')}`, scopes: ['decisions:read', 'lists:write'] },
};

export const apiTokens = (): ApiToken[] =>
  Object.entries(TOKENS).map(([name, t]) => ({ name, sha256: Buffer.from(sha256Hex(t.token), 'hex'), scopes: t.scopes }));

/** RISKHOOK_API_TOKENS for the same tokens (for a server started with them). */
export const apiTokensEnv = () => JSON.stringify(Object.fromEntries(Object.entries(TOKENS).map(([name, t]) => [name, { sha256: sha256Hex(t.token), scopes: t.scopes }])));

/** The operations' clock runs with real time, shifted by offsetMs (tests jump days ahead). */
export interface Clock {
  offsetMs: number;
}

export interface OpsHarness {
  readonly runtime: Runtime;
  readonly ops: Operations;
  readonly backend: OpsBackend;
  readonly clock: Clock;
  readonly secret: string;
  /** Signs and posts a generic event through the webhook handler; the parsed JSON answer. */
  send(event: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }>;
  api(method: string, path: string, options?: { token?: string | null; body?: unknown }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function opsHarness(
  kind: (typeof STORE_KINDS)[number],
  options: { merchantWebhook?: MerchantWebhookConfig; reviewRetentionDays?: number } = {},
): Promise<OpsHarness> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  // The memory store is for local runs only (config refuses it elsewhere); the Redis kinds bring their own store.
  const config = loadConfig({ IS_LOCAL: 'true', GENERIC_WEBHOOK_SECRETS: secret, RISKHOOK_PEPPER: randomBytes(16).toString('hex'), RISKHOOK_STAGE: 'test' });
  const store = makeStore(kind, config.limits);
  const clock: Clock = { offsetMs: 0 };
  const now = () => Date.now() + clock.offsetMs;
  const opsConfig: OperationsConfig = {
    tokens: apiTokens(),
    reviewRetentionMs: (options.reviewRetentionDays ?? 90) * 86_400_000,
    auditRetentionMs: 365 * 86_400_000,
    merchantWebhook: options.merchantWebhook,
    localDefaults: [],
  };
  const backend: OpsBackend =
    store instanceof RedisVelocityStore ? new RedisOpsBackend(store.client, { tag: `ops-${randomBytes(6).toString('hex')}` }) : new MemoryOpsBackend(now);
  const base = createRuntime(config, store, opsConfig);
  const ops = createOperations(backend, base.hasher, opsConfig, config.limits.decisionTtlMs, now, store);
  const runtime: Runtime = { ...base, operations: ops, deps: { ...base.deps, operations: ops } };
  const webhook = createWebhookHandler(() => runtime);
  return {
    runtime,
    ops,
    backend,
    clock,
    secret,
    async send(event) {
      const result = await webhook(apiGatewayEvent(signGenericEvent(secret, event)) as unknown as APIGatewayProxyEventV2);
      return { status: result.statusCode!, body: JSON.parse(result.body ?? '{}') };
    },
    async api(method, path, { token = TOKENS.admin!.token, body } = {}) {
      const url = new URL(path, 'http://x');
      const principal = token === null ? undefined : authenticate(`Bearer ${token}`, opsConfig.tokens);
      const event = {
        version: '2.0',
        rawPath: url.pathname,
        rawQueryString: url.search.slice(1),
        queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
        headers: {},
        requestContext: {
          http: { method, path: url.pathname },
          ...(token !== null && { authorizer: { lambda: { tokenName: principal?.name ?? '', scopes: principal?.scopes.join(' ') ?? '' } } }),
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        isBase64Encoded: false,
      } as unknown as APIGatewayProxyEventV2;
      const result = await handleApi(event, runtime);
      return { status: result.statusCode!, body: JSON.parse(result.body ?? 'null') };
    },
    async close() {
      await store.close();
    },
  };
}

/** A generic event (wire format v1) with fresh ids; `overrides` merge over it. */
export function genericEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> & { id: string } {
  const suffix = randomBytes(6).toString('hex');
  return {
    id: `evt_${suffix}`,
    kind: 'notification',
    occurredAt: new Date().toISOString(),
    amount: { minor: 6_800, currency: 'CNY' },
    account: { id: `acct_${suffix}`, twoFactor: true },
    linkedAccount: { id: `apple_${suffix}`, kind: 'apple_id' },
    merchant: { id: 'merchant_1' },
    instrument: { id: `agr_${suffix}`, kind: 'agreement' },
    authMethod: 'password',
    device: { id: `dev_${suffix}` },
    reference: { orderId: `ORDER-${suffix}`, transactionId: `TX-${suffix}` },
    ...overrides,
  } as Record<string, unknown> & { id: string };
}

/** A fresh generic event from a device put on the block list first: held by the default policy's blocked-entity rule. */
export async function heldEvent(h: OpsHarness): Promise<Record<string, unknown> & { id: string }> {
  const event = genericEvent();
  await h.api('PUT', `/v1/lists/block/device/${encodeURIComponent((event.device as { id: string }).id)}`, { body: {} });
  const answer = await h.send(event);
  if (answer.body.decision !== 'hold') throw new Error(`expected a hold, got ${JSON.stringify(answer.body)}`);
  return event;
}
