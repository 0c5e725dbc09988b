/**
 * npm run bench:lua: the Redis work of a decision in CPU instructions, counted by valgrind's
 * callgrind on redis-server, so engines and versions of the generated Lua compare exactly on a busy
 * machine (Redis CPU time from INFO moves 30% or more with whatever else runs on 2 cores;
 * instruction counts do not move). Not part of npm run bench (it needs valgrind: apt-get install -y valgrind).
 *   1. decide() on a private Redis (default policy or RISKHOOK_POLICY, no operations) for
 *      LUA_PRELOAD events over a simulated 24 h (10,000 entities per kind, as bench/run.ts), then
 *      20,000 more in time; every command sent is captured (with LUA_OPERATIONS, operations too:
 *      list reads, decision stats, reviews). The same for the reference engine
 *      (bench/reference, before issue 9) unless LUA_NO_REFERENCE.
 *   2. Per engine, and per library text in LUA_VARIANTS=a.lua,b.lua (an edited copy of the shipped one,
 *      which LUA_DUMP=file writes, or another version's; each is registered under the shipped name): a fresh redis-server replays the preload, saves,
 *      restarts under callgrind and replays the next LUA_MEASURE (default 1,000) events' commands.
 *      LUA_KEEP=dir keeps callgrind's output files there (callgrind_annotate --inclusive=yes <file>).
 * Prints thousands of instructions per event.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig } from '../lib/config.js';
import { decide } from '../lib/decide.js';
import type { PaymentEvent } from '../lib/events.js';
import { createRuntime } from '../lib/runtime.js';
import { IdentityHasher } from '../lib/identity.js';
import { velocityLibrary } from '../lib/velocity/library.js';
import { type RedisVelocityStore, createRedisClient } from '../lib/velocity/redis.js';
import { ReferenceVelocityStore, referenceDecide, referenceLimits } from './reference/store.js';
import { freePort, startRedisServer } from '../scripts/redis-server.js';

const PRELOAD = Number(process.env.LUA_PRELOAD ?? 100_000);
const EVENTS = 20_000;
const MEASURE = Number(process.env.LUA_MEASURE ?? 1_000);
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

const NOT_REPLAYED = new Set(['function', 'script', 'info', 'ping', 'client', 'select', 'quit']);

interface Captured {
  /** Every command the decisions sent: name, then arguments. */
  readonly calls: Call[];
  /** Where each event's commands start, by event number. */
  readonly starts: number[];
  /** The scripts the client loaded with SCRIPT LOAD (ioredis does before a pipeline's scripts). */
  readonly scripts: ReadonlySet<string>;
  /** What the server needs before a replay: the shipped library, or the reference's scripts. */
  readonly setup: (redis: Redis) => Promise<unknown>;
  /** The shipped library's name and function (variants are registered under them). */
  readonly library?: string;
  readonly function?: string;
}

/** Records every command `client` sends from now on, and the scripts it loads. */
function record(client: unknown, calls: Call[], scripts: Set<string>): void {
  const target = client as { sendCommand: (command: { name: string; args: unknown[] }) => unknown; scriptsSet?: Record<string, { sha: string; lua: string }> };
  const send = target.sendCommand.bind(target);
  const shas = new Map(Object.values(target.scriptsSet ?? {}).map((s) => [s.sha, s.lua] as const));
  target.sendCommand = (command) => {
    // The data commands only: a library load, INFO and the like are the setup's, not a decision's
    // (scripts a SCRIPT LOAD or an EVALSHA needs are kept for the replay's setup).
    const name = command.name.toLowerCase();
    const args = command.args.map((a) => (Buffer.isBuffer(a) ? a.toString('latin1') : String(a)));
    if (name === 'script' && args[0]?.toLowerCase() === 'load') scripts.add(args[1]!);
    else if (!NOT_REPLAYED.has(name)) calls.push([command.name, ...args]);
    // ioredis turns a defined script's first EVALSHA on a connection into an EVAL after this point: keep its text.
    if (name === 'evalsha' && shas.has(args[0]!)) scripts.add(shas.get(args[0]!)!);
    return send(command);
  };
}

async function capture(engine: 'shipped' | 'reference'): Promise<Captured> {
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
  const calls: Call[] = [];
  const scripts = new Set<string>();
  const starts: number[] = [];
  const event = workload();
  const t0 = Date.now() - DAY - 3_600_000;
  const at = (n: number) => (n < PRELOAD ? t0 + Math.floor((n * DAY) / PRELOAD) : t0 + DAY + (n - PRELOAD) * 100);
  try {
    if (engine === 'shipped') {
      const store = runtime.store as RedisVelocityStore;
      await store.client.ping(); // connected (and INFO read) before recording
      record(store.client, calls, scripts);
      // Operations (list reads, decision stats, reviews) only with LUA_OPERATIONS: velocity alone by default.
      const deps = process.env.LUA_OPERATIONS ? runtime.deps : { ...runtime.deps, operations: undefined };
      for (let n = 0; n < PRELOAD + EVENTS; n++) {
        starts.push(calls.length);
        await decide(event(at(n), n), { ...deps, now: () => at(n) }, at(n));
      }
      const library = velocityLibrary(store.plan).text;
      if (process.env.LUA_DUMP) writeFileSync(process.env.LUA_DUMP, library);
      return {
        calls,
        starts,
        scripts,
        setup: async (redis) => Promise.all([redis.function('LOAD', 'REPLACE', library), loadScripts(redis, calls, scripts)]),
        library: store.velocityLibrary,
        function: store.velocityFunction,
      };
    }
    const client = createRedisClient(server.url, 10_000);
    const store = new ReferenceVelocityStore(client, referenceLimits(config.policy.windows));
    const hasher = new IdentityHasher(randomBytes(16).toString('hex'));
    const decisionJson = JSON.stringify(await decide(event(at(0), -1), { ...runtime.deps, operations: undefined }));
    await (client as Redis).ping();
    record(client, calls, scripts);
    for (let n = 0; n < PRELOAD + EVENTS; n++) {
      starts.push(calls.length);
      await referenceDecide(store, event(at(n), n), hasher, decisionJson);
    }
    await store.close();
    return { calls, starts, scripts, setup: (redis) => loadScripts(redis, calls, scripts) };
  } finally {
    await runtime.store.close();
    server.stop();
  }
}

/** ioredis sends a script by EVALSHA, and by EVAL once on NOSCRIPT: each EVAL's script, loaded so a replayed EVALSHA finds it. */
async function loadScripts(redis: Redis, calls: readonly Call[], loaded: ReadonlySet<string> = new Set()): Promise<void> {
  const scripts = new Set([...loaded, ...calls.filter((c) => c[0]!.toLowerCase() === 'eval').map((c) => c[1]!)]);
  await Promise.all([...scripts].map((lua) => redis.script('LOAD', Buffer.from(lua, 'latin1'))));
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
    for (const [name, ...args] of calls.slice(i, i + 32)) pipeline.call(name!, ...args.map((a) => Buffer.from(a, 'latin1')));
    // Every script is loaded first: a NOSCRIPT here would measure a failed call, not the work.
    for (const [error] of (await pipeline.exec())!) if (error) throw error;
  }
}

/** Instructions callgrind counted for the MEASURE events after the preload, per event. */
async function instructionsPerEvent(captured: Captured, setup = captured.setup, label = 'shipped'): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'riskhook-lua-'));
  const from = captured.starts[PRELOAD]!;
  const to = captured.starts[PRELOAD + MEASURE] ?? captured.calls.length;
  const servers: Awaited<ReturnType<typeof redisAt>>[] = [];
  try {
    const plain = await redisAt(dir, false);
    servers.push(plain);
    await setup(plain.redis);
    await replay(plain.redis, captured.calls.slice(0, from));
    await plain.redis.save();
    plain.redis.disconnect();
    plain.child.kill('SIGKILL');
    const grind = await redisAt(dir, true);
    servers.push(grind);
    await setup(grind.redis); // the scripts again (an RDB keeps functions, not scripts)
    spawnSync('callgrind_control', ['-z', String(grind.child.pid)]);
    await replay(grind.redis, captured.calls.slice(from, to));
    spawnSync('callgrind_control', ['-d', String(grind.child.pid)]);
    grind.redis.disconnect();
    grind.child.kill('SIGTERM');
    await new Promise((r) => grind.child.on('exit', r));
    let total = 0;
    // LUA_KEEP=dir keeps callgrind's files for callgrind_annotate --inclusive=yes.
    if (process.env.LUA_KEEP) for (const file of readdirSync(dir).filter((f) => f.startsWith('cg.out'))) copyFileSync(join(dir, file), join(process.env.LUA_KEEP, `${label}-${file}`));
    for (const file of readdirSync(dir).filter((f) => f.startsWith('cg.out'))) {
      const m = /^totals: (\d+)$/m.exec(readFileSync(join(dir, file), 'utf8'));
      if (m) total = Math.max(total, Number(m[1]));
    }
    return total / MEASURE;
  } finally {
    for (const { redis, child } of servers) {
      redis.disconnect();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (spawnSync('valgrind', ['--version']).error) {
  console.error('bench:lua needs valgrind (apt-get install -y valgrind)');
  process.exit(2);
}
console.log(`capturing the commands of ${PRELOAD + EVENTS} decisions (${process.env.RISKHOOK_POLICY ?? 'default policy'}), shipped and reference ...`);
const shipped = await capture('shipped');
const reference = process.env.LUA_NO_REFERENCE ? undefined : await capture('reference');
const k = (n: number) => `${(n / 1000).toFixed(1).padStart(7)} k`;
const base = await instructionsPerEvent(shipped);
const ref = reference && (await instructionsPerEvent(reference, reference.setup, 'reference'));
console.log(`instructions per event, ${MEASURE} events after a preload of ${PRELOAD} (callgrind, redis-server):`);
if (ref) console.log(`  reference (before issue 9)   ${k(ref)}`);
console.log(`  shipped                      ${k(base)}${ref ? `   ${(base / ref).toFixed(2)}x the reference` : ''}`);
for (const file of (process.env.LUA_VARIANTS ?? '').split(',').filter(Boolean)) {
  // Any library text (an edited dump, or another version's): registered under the captured function's name.
  const text = readFileSync(file, 'utf8')
    .replace(/#!lua name=\S+/, `#!lua name=${shipped.library}`)
    .replace(/register_function\('[^']+'/, `register_function('${shipped.function}'`);
  const n = await instructionsPerEvent(shipped, (redis) => Promise.all([redis.function('LOAD', 'REPLACE', text), loadScripts(redis, shipped.calls, shipped.scripts)]), file.replace(/^.*\//, ''));
  console.log(`  ${file.padEnd(28)} ${k(n)}   ${(n / base).toFixed(3)}x shipped`);
}
