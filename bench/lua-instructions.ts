/**
 * npm run bench:lua: the velocity library's cost in CPU instructions, counted by valgrind's
 * callgrind on redis-server, so two versions of the generated Lua compare exactly on a busy machine
 * (Redis CPU time from INFO moves 30% or more with whatever else runs on 2 cores; instruction counts
 * do not move at all). Not part of npm run bench (it needs valgrind: apt-get install -y valgrind).
 *   1. decide() on a private Redis (default policy or RISKHOOK_POLICY, no operations) for
 *      LUA_PRELOAD events over a simulated 24 h (10,000 entities per kind, as bench/run.ts), then
 *      20,000 more in time; every FCALL it makes is captured with its arguments.
 *   2. Per library (the current one, then each file in LUA_VARIANTS=a.lua,b.lua: edited copies of
 *      the generated text, e.g. from LUA_DUMP=file): a fresh redis-server replays the preload, saves,
 *      restarts under callgrind and replays LUA_MEASURE (default 1,500) captured calls.
 * Prints thousands of instructions per call and per event.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../lib/config.js';
import { decide } from '../lib/decide.js';
import type { PaymentEvent } from '../lib/events.js';
import { createRuntime } from '../lib/runtime.js';
import { velocityLibrary } from '../lib/velocity/library.js';
import type { RedisVelocityStore } from '../lib/velocity/redis.js';
import { freePort, startRedisServer } from '../scripts/redis-server.js';

const PRELOAD = Number(process.env.LUA_PRELOAD ?? 100_000);
const EVENTS = 20_000;
const MEASURE = Number(process.env.LUA_MEASURE ?? 1_500);
const N = 10_000;
const DAY = 86_400_000;

/** mulberry32: the same workload on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** bench/run.ts's typical workload: customers mostly on their own device, card and IP. */
function workload(): (at: number, n: number) => PaymentEvent {
  const random = seeded(42);
  const pick = (n: number) => Math.floor(random() * n);
  return (at, n) => {
    const i = pick(N);
    const own = (share: number) => (random() < share ? i : pick(N));
    return {
      provider: 'generic',
      id: `evt_${n}`,
      kind: 'authorization',
      occurredAt: at,
      amount: { minor: 100 + pick(200_000), currency: 'CNY' },
      account: { id: `acct_${i}`, twoFactor: i % 2 === 0 },
      linkedAccount: { id: `apple_${i}`, kind: 'apple_id' },
      merchant: { id: `merchant_${pick(N)}`, category: '5818' },
      instrument: { id: `card_${own(0.95)}`, kind: 'card' },
      authMethod: pick(2) ? 'password_free' : 'biometric',
      device: { id: `dev_${own(0.85)}` },
      ip: `10.0.${own(0.8) >> 8}.${own(0.8) & 255}`,
    } as unknown as PaymentEvent;
  };
}

type Call = string[];

async function capture(): Promise<{ library: string; calls: Call[]; preloadCalls: number }> {
  const server = await startRedisServer();
  const config = loadConfig({
    GENERIC_WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString('base64')}`,
    RISKHOOK_PEPPER: 'ab'.repeat(16),
    RISKHOOK_STAGE: 'bench',
    REDIS_URL: server.url,
    RISKHOOK_DEADLINE_MS: '10000',
    ...(process.env.RISKHOOK_POLICY && { RISKHOOK_POLICY: process.env.RISKHOOK_POLICY }),
  });
  const runtime = createRuntime(config);
  const store = runtime.store as RedisVelocityStore;
  type Fcall = (...args: (string | number)[]) => Promise<unknown>;
  const client = store.client as unknown as { fcall: Fcall };
  const calls: Call[] = [];
  const fcall: Fcall = client.fcall.bind(client);
  client.fcall = (...args) => {
    calls.push(args.map(String));
    return fcall(...args);
  };
  const event = workload();
  const deps = { ...runtime.deps, operations: undefined };
  const t0 = Date.now() - DAY - 3_600_000;
  let preloadCalls = 0;
  for (let n = 0; n < PRELOAD + EVENTS; n++) {
    if (n === PRELOAD) preloadCalls = calls.length;
    const at = n < PRELOAD ? t0 + Math.floor((n * DAY) / PRELOAD) : t0 + DAY + (n - PRELOAD) * 100;
    await decide(event(at, n), { ...deps, now: () => at }, at);
  }
  await runtime.store.close();
  server.stop();
  return { library: velocityLibrary(store.plan).text, calls, preloadCalls };
}

async function redisAt(dir: string, underCallgrind: boolean) {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', 'd.rdb'];
  const child = underCallgrind
    ? spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'cg.out')}`, 'redis-server', ...args], { stdio: 'ignore' })
    : spawn('redis-server', args, { stdio: 'ignore' });
  const deadline = Date.now() + 180_000;
  while (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() !== 'PONG') {
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, redis: new Redis({ port }) };
}

async function replay(redis: Redis, calls: readonly Call[]): Promise<void> {
  for (let i = 0; i < calls.length; i += 32) {
    const pipeline = redis.pipeline();
    for (const call of calls.slice(i, i + 32)) pipeline.call('FCALL', ...call);
    for (const [error] of (await pipeline.exec())!) if (error) throw error;
  }
}

/** Instructions callgrind counted for MEASURE calls of `library` (registered under the captured function's name). */
async function instructions(text: string, captured: Awaited<ReturnType<typeof capture>>): Promise<number> {
  const fn = captured.calls[0]![0]!;
  const library = text.replace(/#!lua name=\S+/, '#!lua name=measured').replace(/register_function\('[^']+'/, `register_function('${fn}'`);
  const dir = mkdtempSync(join(tmpdir(), 'riskhook-lua-'));
  try {
    const plain = await redisAt(dir, false);
    await plain.redis.function('LOAD', library);
    await replay(plain.redis, captured.calls.slice(0, captured.preloadCalls));
    await plain.redis.save();
    plain.redis.disconnect();
    plain.child.kill('SIGKILL');
    const grind = await redisAt(dir, true);
    spawnSync('callgrind_control', ['-z', String(grind.child.pid)]);
    await replay(grind.redis, captured.calls.slice(captured.preloadCalls, captured.preloadCalls + MEASURE));
    spawnSync('callgrind_control', ['-d', String(grind.child.pid)]);
    grind.redis.disconnect();
    grind.child.kill('SIGTERM');
    await new Promise((r) => grind.child.on('exit', r));
    let total = 0;
    for (const file of readdirSync(dir).filter((f) => f.startsWith('cg.out'))) {
      const m = /^totals: (\d+)$/m.exec(readFileSync(join(dir, file), 'utf8'));
      if (m) total = Math.max(total, Number(m[1]));
    }
    return total;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (spawnSync('valgrind', ['--version']).error) {
  console.error('bench:lua needs valgrind (apt-get install -y valgrind)');
  process.exit(2);
}
console.log(`capturing the FCALLs of ${PRELOAD + EVENTS} decisions (${process.env.RISKHOOK_POLICY ?? 'default policy'}) ...`);
const captured = await capture();
if (process.env.LUA_DUMP) writeFileSync(process.env.LUA_DUMP, captured.library);
const measured = captured.calls.slice(captured.preloadCalls, captured.preloadCalls + MEASURE);
const events = new Set(measured.map((c) => c[2])).size; // KEYS[1]: the event's record
for (const name of ['current', ...(process.env.LUA_VARIANTS ?? '').split(',').filter(Boolean)]) {
  const total = await instructions(name === 'current' ? captured.library : readFileSync(name, 'utf8'), captured);
  console.log(`${name.padEnd(28)} ${(total / measured.length / 1000).toFixed(1).padStart(7)} k instructions per FCALL, ${(total / events / 1000).toFixed(1).padStart(7)} k per event (${measured.length} calls, ${events} events)`);
}
