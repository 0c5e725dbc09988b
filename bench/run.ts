/**
 * npm run bench: riskhook and its peers against one real Redis on this machine (a private
 * redis-server on a free port, or REDIS_URL), side by side, default policy (6 entities x 4 windows).
 *   handler   the Lambda handler: signed API Gateway event in, response out
 *   decide    the decision core: canonical event in, decision out (claim, count + read, store)
 *   rlf       rate-limiter-flexible RateLimiterRedis.consume(): one counter per call
 *   ping, evalsha   the raw ioredis ceiling on the same connection settings
 * at 1, 16 and 64 in flight; Redis CPU per operation from INFO deltas; the handler's own cost
 * outside Redis (verify, parse, features, policy, respond) measured in-process; and Redis memory
 * per active entity after preloading 100,000 events over 10,000 entities per entity type.
 * Prints a table with the targets and writes bench/results/latest.json.
 * BENCH_SECONDS (default 4) sets each timed cell; BENCH_PRELOAD (default 100000) the preload.
 * With REDIS_URL (e.g. to size a target instance type) nothing is flushed, and the memory figure is
 * the growth during the preload: use an empty database.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { loadConfig } from '../lib/config.js';
import { decide, recordRequest } from '../lib/decide.js';
import type { PaymentEvent } from '../lib/events.js';
import { createWebhookHandler } from '../lib/http.js';
import { evaluate } from '../lib/policy/evaluate.js';
import { buildFeatures } from '../lib/policy/features.js';
import { apiGatewayEvent, signGenericEvent } from '../lib/providers/generic-sender.js';
import { createRuntime } from '../lib/runtime.js';
import { RedisVelocityStore, createRedisClient, lambdaRedisOptions } from '../lib/velocity/redis.js';
import { startRedisServer } from '../scripts/redis-server.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const PRELOAD = Number(process.env.BENCH_PRELOAD ?? 100_000);
const LEVELS = [1, 16, 64] as const;
const POPULATION = 10_000;
const DAY = 86_400_000;

interface Cell {
  scenario: string;
  inFlight: number;
  operations: number;
  perSecond: number;
  p50us: number;
  p99us: number;
  redisCpuUsPerOp: number;
}

const pick = (n: number) => Math.floor(Math.random() * n);
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}_${i}`);
const population = {
  account: ids('acct', POPULATION),
  linked: ids('apple', POPULATION),
  device: ids('dev', POPULATION),
  ip: Array.from({ length: POPULATION }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`),
  card: ids('card', POPULATION),
  merchant: ids('merchant', POPULATION),
};

/**
 * A generic event (wire format) over the population: every entity type present, half password-free.
 * Customer i mostly pays with their own device, card, linked account and IP, as real customers do
 * (15% another device, 20% another IP, 5% another card); merchants are drawn at random.
 */
function wireEvent(at = Date.now()): Record<string, unknown> {
  const i = pick(POPULATION);
  const own = (share: number) => (Math.random() < share ? i : pick(POPULATION));
  return {
    id: `evt_${randomBytes(8).toString('hex')}`,
    kind: 'authorization',
    occurredAt: new Date(at).toISOString(),
    amount: { minor: 100 + pick(200_000), currency: 'CNY' },
    account: { id: population.account[i], twoFactor: i % 2 === 0 },
    linkedAccount: { id: population.linked[i], kind: 'apple_id' },
    merchant: { id: population.merchant[pick(POPULATION)], category: '5818' },
    instrument: { id: population.card[own(0.95)], kind: 'card' },
    authMethod: pick(2) ? 'password_free' : 'biometric',
    device: { id: population.device[own(0.85)] },
    ip: population.ip[own(0.8)],
  };
}

function canonical(wire: Record<string, unknown>): PaymentEvent {
  const w = wire as { occurredAt: string; account: { id: string; twoFactor: boolean } } & Record<string, unknown>;
  return { ...(w as unknown as PaymentEvent), provider: 'generic', occurredAt: Date.parse(w.occurredAt), account: w.account };
}

async function redisCpuUs(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1e6;
}

const quantile = (sorted: number[], p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0);

/** Runs `one` with `inFlight` concurrent loops for SECONDS (after a short warm-up). */
async function measure(scenario: string, inFlight: number, admin: Redis, one: () => Promise<unknown>): Promise<Cell> {
  const warmUntil = Date.now() + 300;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (Date.now() < warmUntil) await one();
  }));
  const latencies: number[] = [];
  const cpuBefore = await redisCpuUs(admin);
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
  const cpu = (await redisCpuUs(admin)) - cpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    scenario,
    inFlight,
    operations: latencies.length,
    perSecond: Math.round(latencies.length / elapsedS),
    p50us: quantile(latencies, 0.5),
    p99us: quantile(latencies, 0.99),
    redisCpuUsPerOp: Math.round((cpu / latencies.length) * 10) / 10,
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
    RISKHOOK_DEADLINE_MS: '5000', // measure the work, not the fallback
  });
  const secret = config.providers.genericSecrets[0]!;
  const store = new RedisVelocityStore(createRedisClient(url, config.deadlineMs), config.limits);
  const runtime = createRuntime(config, store);
  const handler = createWebhookHandler(() => runtime);
  const { deps } = runtime;
  const admin = new Redis(url);
  const peer = new Redis(url, lambdaRedisOptions(5_000)); // the same client settings riskhook uses
  const limiter = new RateLimiterRedis({ storeClient: peer, keyPrefix: 'bench-rlf', points: 1e9, duration: 3600 });
  peer.defineCommand('trivial', { numberOfKeys: 0, lua: 'return 1' });
  const cells: Cell[] = [];
  let failures = 0;
  const windows = config.limits.windows.length;
  const entitiesPerEvent = 6;
  const countersPerEvent = entitiesPerEvent * windows * 2; // count and amount per entity and window (conservative)

  try {
    // 1. Memory per active entity: preload on a simulated clock (100k events spread over 24 h).
    if (server) await admin.flushdb(); // only ever our own private server: never someone's REDIS_URL
    const memBefore = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    const t0 = Date.now() - DAY;
    let next = 0;
    const preloadStarted = Date.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < PRELOAD) {
          const i = next++;
          const event = canonical(wireEvent(t0 + Math.floor((i * DAY) / PRELOAD)));
          await store.record(recordRequest(event, runtime.hasher.event('generic', event.id), runtime.hasher));
        }
      }),
    );
    const preloadSeconds = (Date.now() - preloadStarted) / 1000;
    const memAfter = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    const sample = async (pattern: string) => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [c, batch] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = c;
        found.push(...batch);
      } while (cursor !== '0' && found.length < 2000);
      const sizes = await Promise.all(found.slice(0, 2000).map((k) => admin.memory('USAGE', k)));
      return sizes.reduce((s: number, n) => s + Number(n ?? 0), 0) / Math.max(1, sizes.length);
    };
    const keyCount = async (pattern: string) => {
      let n = 0;
      let cursor = '0';
      do {
        const [c, batch] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
        cursor = c;
        n += batch.length;
      } while (cursor !== '0');
      return n;
    };
    const [hashes, sets, markers] = await Promise.all([keyCount('rh:{*}:v'), keyCount('rh:{*}:d'), keyCount('rh:{*}:m:*')]);
    const [hashBytes, setBytes, markerBytes] = [await sample('rh:{*}:v'), await sample('rh:{*}:d'), await sample('rh:{*}:m:*')];
    // Entities are the hashes; their sets and the short-lived markers are charged separately.
    const velocityBytes = memAfter - memBefore - markers * markerBytes;
    const memory = {
      preloadEvents: PRELOAD,
      preloadSeconds,
      activeEntities: hashes,
      bytesPerEntity: Math.round(velocityBytes / hashes),
      memoryUsage: { hash: Math.round(hashBytes), relatedSet: Math.round(setBytes), marker: Math.round(markerBytes) },
      keys: { hashes, relatedSets: sets, markers },
    };

    // 2. Throughput and latency, riskhook and peers on the same Redis.
    const scenarios: [string, () => Promise<unknown>][] = [
      ['handler', async () => {
        const res = await handler(apiGatewayEvent(signGenericEvent(secret, wireEvent())) as unknown as APIGatewayProxyEventV2);
        if (res.statusCode !== 200 || JSON.parse(res.body as string).degraded) failures++;
      }],
      ['decide', async () => {
        if ((await decide(canonical(wireEvent()), deps)).degraded) failures++;
      }],
      ['rlf consume', () => limiter.consume(population.account[pick(POPULATION)]!)],
      ['ping', () => peer.ping()],
      ['evalsha', () => (peer as unknown as { trivial(): Promise<number> }).trivial()],
    ];
    for (const [name, one] of scenarios) for (const inFlight of LEVELS) cells.push(await measure(name, inFlight, admin, one));

    // 3. The handler's own cost outside Redis: verify + parse + features + policy + respond, in-process.
    const snapshotEvent = canonical(wireEvent());
    const snapshot = await store.record(recordRequest(snapshotEvent, runtime.hasher.event('generic', snapshotEvent.id), runtime.hasher));
    const adapter = runtime.adapters.get('generic')!;
    const signed = Array.from({ length: 20_000 }, () => {
      const req = signGenericEvent(secret, wireEvent());
      return { method: 'POST', headers: req.headers, body: Buffer.from(req.body as string), receivedAt: Date.now() };
    });
    const own: number[] = [];
    for (const request of signed) {
      const t = process.hrtime.bigint();
      const verified = adapter.verify(request);
      if (verified.kind !== 'score') throw new Error('bench event not scored');
      const evaluation = evaluate(config.policy, buildFeatures(verified.event, snapshot, config.policy.readers));
      adapter.respond({ eventId: verified.event.id, ...evaluation, policyVersion: config.policy.version, degraded: false });
      own.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    own.sort((a, b) => a - b);
    const handlerOwn = { p50us: Math.round(quantile(own, 0.5) * 10) / 10, p99us: Math.round(quantile(own, 0.99) * 10) / 10 };

    // 4. Targets.
    const cell = (s: string, n: number) => cells.find((c) => c.scenario === s && c.inFlight === n)!;
    const handler64 = cell('handler', 64);
    const rlf64 = cell('rlf consume', 64);
    const targets = [
      {
        target: 'counters/s >= 1.5 x rate-limiter-flexible consumes/s at 64 in flight',
        measured: `${handler64.perSecond * countersPerEvent} counters/s (${handler64.perSecond} ev/s x ${countersPerEvent}) vs ${rlf64.perSecond} consumes/s: ${((handler64.perSecond * countersPerEvent) / rlf64.perSecond).toFixed(2)}x`,
        met: handler64.perSecond * countersPerEvent >= 1.5 * rlf64.perSecond,
      },
      { target: 'handler overhead outside Redis < 100 µs median', measured: `${handlerOwn.p50us} µs median (p99 ${handlerOwn.p99us} µs)`, met: handlerOwn.p50us < 100 },
      { target: 'Redis CPU < 100 µs per event', measured: `${handler64.redisCpuUsPerOp} µs at 64 in flight`, met: handler64.redisCpuUsPerOp < 100 },
      { target: 'memory < 1.5 KiB per active entity', measured: `${memory.bytesPerEntity} B`, met: memory.bytesPerEntity < 1536 },
      { target: 'p99 < 2 ms at 16 in flight', measured: `${(cell('handler', 16).p99us / 1000).toFixed(2)} ms`, met: cell('handler', 16).p99us < 2000 },
    ];

    // 5. Report.
    console.log(`riskhook bench: ${SECONDS} s per cell, Redis on loopback, default policy (${entitiesPerEvent} entities x ${windows} windows; ${countersPerEvent} counters per event)`);
    console.log('');
    console.log('scenario       in-flight      ops/s    p50 µs    p99 µs   Redis CPU µs/op   vs rlf ops/s');
    for (const c of cells) {
      const ratio = (c.perSecond / cell('rlf consume', c.inFlight).perSecond).toFixed(2);
      console.log(
        `${c.scenario.padEnd(13)} ${String(c.inFlight).padStart(10)} ${String(c.perSecond).padStart(10)} ${String(c.p50us).padStart(9)} ${String(c.p99us).padStart(9)} ${String(c.redisCpuUsPerOp).padStart(17)} ${ratio.padStart(14)}`,
      );
    }
    console.log('');
    console.log(`handler own cost (no I/O): p50 ${handlerOwn.p50us} µs, p99 ${handlerOwn.p99us} µs over ${own.length} signed events`);
    console.log(
      `memory after ${PRELOAD} events over ${POPULATION} entities per type (simulated 24 h, ${preloadSeconds.toFixed(1)} s): ` +
        `${memory.bytesPerEntity} B per active entity (${hashes} entities; MEMORY USAGE hash ${memory.memoryUsage.hash} B, ` +
        `related set ${memory.memoryUsage.relatedSet} B over ${sets} sets; ${markers} markers x ${memory.memoryUsage.marker} B not counted: they expire in 15 min)`,
    );
    console.log('');
    for (const t of targets) console.log(`${t.met ? 'MET   ' : 'MISSED'} ${t.target}: ${t.measured}`);
    if (failures > 0) console.log(`WARNING: ${failures} degraded or failed answers during the run`);
    mkdirSync('bench/results', { recursive: true });
    const result = { at: new Date().toISOString(), seconds: SECONDS, countersPerEvent, cells, handlerOwn, memory, targets, failures };
    writeFileSync('bench/results/latest.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log('written: bench/results/latest.json');
  } finally {
    await store.close();
    admin.disconnect();
    peer.disconnect();
    server?.stop();
  }
}

await main();
