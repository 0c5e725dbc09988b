/**
 * npm run bench:autopipelining: the handler on one Redis node with ioredis auto-pipelining off (what
 * riskhook ships, lambdaRedisOptions) and on, in alternating rounds on the same private
 * redis-server, at 1 in flight (a Lambda container serves one request at a time) and at 16 (a
 * long-lived process such as `npm start`). Prints events/s, p50 / p99 latency and Redis CPU per
 * event for each. BENCH_SECONDS (default 3) sets each round, BENCH_ROUNDS (default 3) the rounds.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { loadConfig } from '../lib/config.js';
import { createWebhookHandler } from '../lib/http.js';
import { apiGatewayEvent, signGenericEvent } from '../lib/providers/generic-sender.js';
import { createRuntime } from '../lib/runtime.js';
import { RedisVelocityStore, createRedisClient } from '../lib/velocity/redis.js';
import { startRedisServer } from '../scripts/redis-server.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const POPULATION = 5_000;
const pick = (n: number) => Math.floor(Math.random() * n);

function wireEvent(): Record<string, unknown> {
  const i = pick(POPULATION);
  return {
    id: `evt_${randomBytes(8).toString('hex')}`,
    kind: 'authorization',
    occurredAt: new Date().toISOString(),
    amount: { minor: 100 + pick(200_000), currency: 'CNY' },
    account: { id: `acct_${i}`, twoFactor: i % 2 === 0 },
    linkedAccount: { id: `apple_${i}`, kind: 'apple_id' },
    merchant: { id: `merchant_${pick(POPULATION)}`, category: '5818' },
    instrument: { id: `card_${i}`, kind: 'card' },
    authMethod: pick(2) ? 'password_free' : 'biometric',
    device: { id: `dev_${i}` },
    ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
  };
}

async function redisCpuUs(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1e6;
}

interface Totals { events: number; seconds: number; cpuUs: number; latencies: number[] }

const server = await startRedisServer();
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const config = loadConfig({ REDIS_URL: server.url, GENERIC_WEBHOOK_SECRETS: secret, RISKHOOK_PEPPER: randomBytes(16).toString('hex'), RISKHOOK_STAGE: 'bench' });
const admin = new Redis(server.url);
const handlers = Object.fromEntries(
  (['off', 'on'] as const).map((mode) => {
    const client = createRedisClient(server.url, config.deadlineMs, undefined, { enableAutoPipelining: mode === 'on' });
    const runtime = createRuntime(config, new RedisVelocityStore(client, config.limits));
    return [mode, { runtime, handler: createWebhookHandler(() => runtime) }];
  }),
) as Record<'off' | 'on', { runtime: ReturnType<typeof createRuntime>; handler: ReturnType<typeof createWebhookHandler> }>;

const totals = new Map<string, Totals>();
for (let round = 0; round < ROUNDS; round++) {
  for (const inFlight of [1, 16]) {
    for (const mode of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const { handler } = handlers[mode];
      const one = () => handler(apiGatewayEvent(signGenericEvent(secret, wireEvent())) as unknown as APIGatewayProxyEventV2);
      const warm = Date.now() + 300;
      await Promise.all(Array.from({ length: inFlight }, async () => { while (Date.now() < warm) await one(); }));
      const t = totals.get(`${mode}/${inFlight}`) ?? { events: 0, seconds: 0, cpuUs: 0, latencies: [] };
      const cpu = await redisCpuUs(admin);
      const started = process.hrtime.bigint();
      const until = Date.now() + SECONDS * 1000;
      await Promise.all(Array.from({ length: inFlight }, async () => {
        while (Date.now() < until) {
          const s = process.hrtime.bigint();
          await one();
          t.latencies.push(Number(process.hrtime.bigint() - s) / 1000);
          t.events++;
        }
      }));
      t.seconds += Number(process.hrtime.bigint() - started) / 1e9;
      t.cpuUs += (await redisCpuUs(admin)) - cpu;
      totals.set(`${mode}/${inFlight}`, t);
    }
  }
}

console.log('auto-pipelining  in flight  events/s  p50 µs  p99 µs  Redis CPU µs/event');
for (const [key, t] of [...totals].sort()) {
  const [mode, inFlight] = key.split('/');
  const sorted = t.latencies.sort((a, b) => a - b);
  const q = (p: number) => Math.round(sorted[Math.floor(p * (sorted.length - 1))]!);
  console.log(
    `${mode!.padEnd(16)} ${inFlight!.padStart(9)}  ${Math.round(t.events / t.seconds).toString().padStart(8)}  ${q(0.5).toString().padStart(6)}  ${q(0.99).toString().padStart(6)}  ${(t.cpuUs / t.events).toFixed(0).padStart(18)}`,
  );
}
await Promise.all(Object.values(handlers).map((h) => h.runtime.store.close()));
admin.disconnect();
server.stop();
