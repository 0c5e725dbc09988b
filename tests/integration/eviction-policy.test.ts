/**
 * A Redis that evicts (maxmemory-policy other than noeviction, as ElastiCache's default
 * volatile-lru) silently erases velocity. The runtime reads the policy at its first connection and
 * says so: an ERROR line and a `misconfiguration` metric, without delaying or failing the request.
 * Against real redis-servers of this test's own, and the global cluster for the per-master check.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { type CapturedOutput, captureOutput, eventually, releaseOutput } from '../support/captured-output.js';
import { ControlledRedis } from '../support/redis-control.js';
import { clusterNodes } from '../support/stores.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
let out: CapturedOutput;
let evicting: ControlledRedis;
let safe: ControlledRedis;

beforeAll(async () => {
  out = captureOutput();
  evicting = await ControlledRedis.start({ extraArgs: ['--maxmemory-policy', 'volatile-lru'] });
  safe = await ControlledRedis.start({ extraArgs: ['--maxmemory-policy', 'noeviction'] });
});
beforeEach(() => out.clear());
afterAll(async () => {
  releaseOutput();
  await Promise.all([evicting?.close(), safe?.close()]);
});

/** A runtime on `redisUrl` and one decision through the handler, as a cold start's first request. */
async function coldStart(redisUrl: string) {
  const { loadConfig } = await import('../../lib/config.js');
  const { createRuntime } = await import('../../lib/runtime.js');
  const { createWebhookHandler } = await import('../../lib/http.js');
  const { apiGatewayEvent, signGenericEvent } = await import('../../lib/providers/generic-sender.js');
  const runtime = createRuntime(loadConfig({ GENERIC_WEBHOOK_SECRETS: secret, RISKHOOK_PEPPER: randomBytes(16).toString('hex'), REDIS_URL: redisUrl, RISKHOOK_STAGE: 'test' }));
  const handler = createWebhookHandler(() => runtime);
  const body = {
    id: `evt_${randomBytes(6).toString('hex')}`,
    kind: 'authorization',
    occurredAt: new Date().toISOString(),
    amount: { minor: 1_000, currency: 'CNY' },
    account: { id: `acct_${randomBytes(6).toString('hex')}` },
    merchant: { id: 'merchant_1' },
    authMethod: 'password',
  };
  const response = await handler(apiGatewayEvent(signGenericEvent(secret, body)) as unknown as APIGatewayProxyEventV2);
  return { runtime, response };
}

const policyLines = () => out.json().filter((l) => l.check === 'maxmemory_policy');

it('logs an ERROR and emits the misconfiguration metric on a volatile-lru Redis, and still decides', async () => {
  const { runtime, response } = await coldStart(evicting.url);
  try {
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body!)).toMatchObject({ degraded: false });
    const line = await eventually(() => policyLines()[0], 'the maxmemory-policy check');
    expect(line).toMatchObject({
      level: 'ERROR',
      policies: { [`127.0.0.1:${evicting.port}`]: 'volatile-lru' },
      evicting: [`127.0.0.1:${evicting.port}`],
    });
    expect(String(line.message)).toMatch(/noeviction/);
    const metrics = out.metrics('misconfiguration');
    expect(metrics.map((m) => [m.check, m.misconfiguration])).toEqual([['maxmemory_policy', 1]]);
    // Also aggregated without the check dimension: the total, which the alarm watches.
    expect(metrics[0]!._aws).toMatchObject({ CloudWatchMetrics: [{ Dimensions: [['service', 'check'], ['service']] }] });
  } finally {
    await runtime.store.close();
  }
});

it('logs no error and no metric on a noeviction Redis', async () => {
  const { runtime, response } = await coldStart(safe.url);
  try {
    expect(response.statusCode).toBe(200);
    const line = await eventually(() => policyLines()[0], 'the maxmemory-policy check');
    expect(line).toMatchObject({ level: 'INFO', policies: { [`127.0.0.1:${safe.port}`]: 'noeviction' } });
    expect(out.json().filter((l) => l.level === 'ERROR')).toEqual([]);
    expect(out.metrics('misconfiguration')).toEqual([]);
  } finally {
    await runtime.store.close();
  }
});

it('checks each master of a cluster and names the one that evicts', async () => {
  const { createRedisClusterClient, lambdaClusterOptions } = await import('../../lib/velocity/redis-client.js');
  const { checkEvictionPolicy } = await import('../../lib/velocity/eviction-policy.js');
  const cluster = createRedisClusterClient(clusterNodes(), lambdaClusterOptions(2_000));
  await cluster.connect();
  const masters = cluster.nodes('master');
  const target = masters[0]!;
  const before = (await target.config('GET', 'maxmemory-policy')) as string[];
  expect(before[1]).toBe('noeviction');
  // The global cluster sets no maxmemory, so the policy changes nothing for other test files meanwhile.
  await target.config('SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    const report = await checkEvictionPolicy(cluster);
    expect(Object.keys(report!.policies)).toHaveLength(masters.length);
    const name = `${target.options.host}:${target.options.port}`;
    expect(report!.evicting).toEqual([name]);
    expect(policyLines()[0]).toMatchObject({ level: 'ERROR', evicting: [name] });
  } finally {
    await target.config('SET', 'maxmemory-policy', 'noeviction');
    cluster.disconnect();
  }
});

it('logs a failed check without throwing', async () => {
  const { createRedisClient } = await import('../../lib/velocity/redis-client.js');
  const { checkEvictionPolicy } = await import('../../lib/velocity/eviction-policy.js');
  const stopped = await ControlledRedis.start();
  await stopped.close();
  const client = createRedisClient(stopped.url, 200);
  try {
    await expect(checkEvictionPolicy(client)).resolves.toBeUndefined();
    expect(out.logs('could not check the redis maxmemory-policy')).toHaveLength(1);
  } finally {
    client.disconnect();
  }
});
