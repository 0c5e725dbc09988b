/**
 * npm run bench: riskhook against a real Redis on this machine (its own redis-server on a free port,
 * or REDIS_URL), default policy, all entities and windows.
 *   decide   the decision core: canonical event in, decision out (claim, 6 entity scripts, store)
 *   handler  the Lambda handler: signed API Gateway event in, response out (adds verify, parse, respond)
 * at 1, 16 and 64 events in flight on one connection; plus Redis CPU per event (INFO deltas).
 * Prints a table and writes bench/results/latest.json. Logs and metrics are switched off (stdout).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { loadConfig } from '../lib/config.js';
import { decide } from '../lib/decide.js';
import type { PaymentEvent } from '../lib/events.js';
import { createWebhookHandler } from '../lib/http.js';
import { apiGatewayEvent, signGenericEvent } from '../lib/providers/generic-sender.js';
import { createRuntime } from '../lib/runtime.js';
import { RedisVelocityStore, createRedisClient } from '../lib/velocity/redis.js';
import { startRedisServer } from '../scripts/redis-server.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const LEVELS = [1, 16, 64];
const POPULATION = 10_000;

interface Cell {
  scenario: string;
  inFlight: number;
  events: number;
  eventsPerSecond: number;
  p50us: number;
  p99us: number;
  redisCpuUsPerEvent: number;
}

const pick = (n: number) => Math.floor(Math.random() * n);
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}_${i}`);
const accounts = ids('acct', POPULATION);
const devices = ids('dev', POPULATION);
const linked = ids('apple', POPULATION);
const cards = ids('card', POPULATION);
const merchants = ids('merchant', 50);

function wireEvent(): Record<string, unknown> {
  const i = pick(POPULATION);
  return {
    id: `evt_${randomBytes(8).toString('hex')}`,
    kind: 'authorization',
    occurredAt: new Date().toISOString(),
    amount: { minor: 100 + pick(200_000), currency: 'CNY' },
    account: { id: accounts[i], twoFactor: i % 2 === 0 },
    linkedAccount: { id: linked[i], kind: 'apple_id' },
    merchant: { id: merchants[pick(merchants.length)], category: '5818' },
    instrument: { id: cards[pick(POPULATION)], kind: 'card' },
    authMethod: pick(2) ? 'password_free' : 'biometric',
    device: { id: devices[pick(POPULATION)] },
    ip: `10.${pick(40)}.${pick(256)}.${pick(256)}`,
  };
}

function canonical(wire: Record<string, unknown>): PaymentEvent {
  const w = wire as any;
  return { ...w, provider: 'generic', occurredAt: Date.parse(w.occurredAt), account: { id: w.account.id, twoFactor: w.account.twoFactor } };
}

async function redisCpu(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1e6;
}

async function measure(scenario: string, inFlight: number, admin: Redis, one: () => Promise<void>): Promise<Cell> {
  const warmUntil = Date.now() + 300;
  await Promise.all(Array.from({ length: inFlight }, async () => { while (Date.now() < warmUntil) await one(); }));
  const latencies: number[] = [];
  const cpuBefore = await redisCpu(admin);
  const started = process.hrtime.bigint();
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < until) {
        const t = process.hrtime.bigint();
        await one();
        latencies.push(Number(process.hrtime.bigint() - t) / 1000);
      }
    }),
  );
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = (await redisCpu(admin)) - cpuBefore;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!);
  return {
    scenario, inFlight, events: latencies.length, eventsPerSecond: Math.round(latencies.length / elapsedS),
    p50us: q(0.5), p99us: q(0.99), redisCpuUsPerEvent: Math.round((cpu / latencies.length) * 10) / 10,
  };
}

async function main() {
  const server = process.env.REDIS_URL ? undefined : await startRedisServer();
  const url = process.env.REDIS_URL ?? server!.url;
  const config = loadConfig({
    GENERIC_WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString('base64')}`,
    RISKHOOK_PEPPER: randomBytes(16).toString('hex'),
    RISKHOOK_STAGE: 'bench',
    REDIS_URL: url,
    RISKHOOK_DEADLINE_MS: '5000',
  });
  const secret = config.providers.genericSecrets[0]!;
  const store = new RedisVelocityStore(createRedisClient(url, config.deadlineMs), config.limits);
  const runtime = createRuntime(config, store);
  const handler = createWebhookHandler(() => runtime);
  const admin = new Redis(url);
  const deps = { store, policy: config.policy, hasher: runtime.hasher, deadlineMs: config.deadlineMs, onStoreFailure: config.onStoreFailure };
  const cells: Cell[] = [];
  let degraded = 0;
  try {
    for (const inFlight of LEVELS) {
      cells.push(
        await measure('decide', inFlight, admin, async () => {
          const d = await decide(canonical(wireEvent()), deps);
          if (d.degraded) degraded++;
        }),
      );
    }
    for (const inFlight of LEVELS) {
      cells.push(
        await measure('handler', inFlight, admin, async () => {
          const event = apiGatewayEvent(signGenericEvent(secret, wireEvent())) as unknown as APIGatewayProxyEventV2;
          const res = await handler(event);
          if (res.statusCode !== 200 || JSON.parse(res.body as string).degraded) degraded++;
        }),
      );
    }
  } finally {
    await store.close();
    admin.disconnect();
    server?.stop();
  }
  console.log(`riskhook bench: Redis ${url.replace(/:\d+$/, ':*')}, default policy (6 entities x 4 windows), ${SECONDS} s per cell`);
  console.log('scenario  in-flight    events/s    p50 µs    p99 µs   Redis CPU µs/event');
  for (const c of cells) {
    console.log(
      `${c.scenario.padEnd(8)}  ${String(c.inFlight).padStart(9)}  ${String(c.eventsPerSecond).padStart(10)}  ${String(c.p50us).padStart(8)}  ${String(c.p99us).padStart(8)}  ${String(c.redisCpuUsPerEvent).padStart(19)}`,
    );
  }
  if (degraded > 0) console.log(`WARNING: ${degraded} degraded or failed decisions during the run`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/latest.json', `${JSON.stringify({ at: new Date().toISOString(), seconds: SECONDS, cells, degraded }, null, 2)}\n`);
  console.log('written: bench/results/latest.json');
}

await main();
