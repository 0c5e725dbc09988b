/**
 * npm run soak: the local server (serverless offline, stage local, as `npm start` runs it, handlers
 * in its process) on a redis-server of its own, under a fixed rate of unique, correctly signed generic
 * events (autocannon), for SOAK_SECONDS after a warm-up. Prints a summary, writes it as JSON to
 * bench/results/soak-latest.json, and exits 1 unless all of these hold:
 *
 *   answers   every response is 200 with a JSON body holding `decision` (approve | hold):
 *             no non-2xx, no 200 without a decision (serverless-offline answers 200 with an error
 *             body when a handler throws), no connection error or timeout, and no degraded
 *             decision (Redis is up: a degraded answer means the store missed the deadline).
 *   rate      the measured phase answered at least 95% of the requests the rate asks for.
 *   memory    "stable" = after a full garbage collection in the server (node --expose-gc; a
 *             preloaded SIGUSR2 handler), its VmRSS (/proc/<pid>/status) and its V8 heap in use at
 *             the end are each at most 20% above their values after the warm-up
 *             (SOAK_MAX_RSS_GROWTH, SOAK_MAX_HEAP_GROWTH). Collecting first compares like with like:
 *             without it, RSS swings by 100+ MiB with the GC cycle alone. The raw RSS is sampled
 *             every second and reported too.
 *   Redis     used_memory grows by at most SOAK_MAX_REDIS_BYTES_PER_EVENT (4096) per answered
 *             event: riskhook keeps each decision 72 h, a marker per entity 15 min and bucket
 *             fields per entity, so growth per event is by design, but bounded; every key has a
 *             TTL; no related-entity set holds more than 100 members.
 *
 * Pacing: autocannon's overallRate is a budget per connection per second, refilled for all
 * connections at once (bursts at the top of each second). Here each connection's refill is moved to
 * its own offset in the second, so the requests arrive spread evenly (see paceEvenly).
 *
 * Settings (environment, or a flag: SOAK_RATE=300 or --rate 300):
 *   SOAK_SECONDS (60)  SOAK_WARMUP_SECONDS (15)  SOAK_RATE (300 req/s)  SOAK_CONNECTIONS (50)
 *   SOAK_POPULATION (10000 accounts, devices, linked accounts, cards, home IPs)
 *   SOAK_LOG_LEVEL (WARN: POWERTOOLS_LOG_LEVEL of the server)  SOAK_METRICS (off; "on" emits EMF)
 *   SOAK_MAX_RSS_GROWTH (0.2)  SOAK_MAX_HEAP_GROWTH (0.2)  SOAK_MAX_REDIS_BYTES_PER_EVENT (4096)
 * The default rate, measured on this 2-core machine (quiet): at 300 req/s the server, Redis and this
 * script use 0.8 to 1.1 cores together, p99 14-25 ms; the stack tops out at about 720 req/s, where
 * the server's event loop is saturated (600 req/s still passes). 300 is about 40% of the ceiling, so
 * the soak still passes while other jobs take part of the machine (the summary reports their CPU).
 *
 * Only signing code is imported from lib (no Lua), so tsx runs it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { LOCAL_GENERIC_SECRET } from '../lib/local-defaults.js';
import { signGenericEvent } from '../lib/providers/generic-sender.js';
import { type RedisServer, freePort, startRedisServer } from './redis-server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench/results/soak-latest.json');

// --- settings ----------------------------------------------------------------------------------

function setting(name: string): string | undefined {
  const flag = `--${name.replace(/^SOAK_/, '').toLowerCase().replace(/_/g, '-')}`;
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i]!.startsWith(`${flag}=`)) return args[i]!.slice(flag.length + 1);
  }
  return process.env[name];
}
function numberSetting(name: string, fallback: number, min: number): number {
  const text = setting(name);
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name}: expected a number of at least ${min}, got ${JSON.stringify(text)}`);
  return value;
}

const SECONDS = numberSetting('SOAK_SECONDS', 60, 1);
const WARMUP_SECONDS = numberSetting('SOAK_WARMUP_SECONDS', 15, 1);
const RATE = Math.round(numberSetting('SOAK_RATE', 300, 1));
const CONNECTIONS = Math.min(Math.round(numberSetting('SOAK_CONNECTIONS', 50, 1)), RATE);
const POPULATION = Math.round(numberSetting('SOAK_POPULATION', 10_000, 10));
const MAX_RSS_GROWTH = numberSetting('SOAK_MAX_RSS_GROWTH', 0.2, 0);
const MAX_HEAP_GROWTH = numberSetting('SOAK_MAX_HEAP_GROWTH', 0.2, 0);
const MAX_REDIS_BYTES_PER_EVENT = numberSetting('SOAK_MAX_REDIS_BYTES_PER_EVENT', 4096, 0);
const LOG_LEVEL = (setting('SOAK_LOG_LEVEL') ?? 'WARN').toUpperCase();
const METRICS = (setting('SOAK_METRICS') ?? 'off').toLowerCase() === 'on';
/** The share of the target rate the measured phase must complete. */
const MIN_RATE_SHARE = 0.95;
/** record-entities.lua keeps at most this many related entities per entity (DEFAULT_LIMITS.distinctCap). */
const DISTINCT_CAP = 100;
const SAMPLE_EVERY_MS = 1_000;
/** CPU other processes used during the measured phase (% of one core) past which the summary warns. */
const BUSY_MACHINE_PERCENT = 25;

if (!['DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'].includes(LOG_LEVEL)) {
  throw new Error(`SOAK_LOG_LEVEL: expected DEBUG, INFO, WARN, ERROR, CRITICAL or SILENT, got ${LOG_LEVEL}`);
}

// --- autocannon (CommonJS, no type declarations: the part used here, typed) ----------------------

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  resets: number;
  statusCodeStats: Record<string, { count: number }>;
  requests: { total: number; average: number };
}
/** The fields of autocannon 9's http client that pacing uses (lib/httpClient.js): its per-second budget. */
interface AutocannonClient {
  rate?: number;
  reqsMadeThisSecond?: number;
  paused?: boolean;
  destroyed?: boolean;
  rateInterval?: NodeJS.Timeout;
  _doRequest?: () => void;
}
interface AutocannonOptions {
  url: string;
  setupClient?: (client: AutocannonClient) => void;
  duration: number;
  connections: number;
  overallRate: number;
  pipelining: number;
  timeout: number;
  /** autocannon's coordinated-omission correction assumes 1 ms between requests at any rate; off. */
  ignoreCoordinatedOmission: boolean;
  requests: {
    method: string;
    path: string;
    setupRequest: (request: AutocannonRequest) => AutocannonRequest;
    onResponse: (status: number, body: string) => void;
  }[];
}
type Tracker = NodeJS.EventEmitter & { stop(): void };
type Autocannon = (options: AutocannonOptions, done: (error: Error | null, result: AutocannonResult) => void) => Tracker;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

// --- the events --------------------------------------------------------------------------------

const RUN = randomBytes(4).toString('hex');
const pick = (n: number) => Math.floor(Math.random() * n);
let sequence = 0;

/**
 * A fresh generic event over a population: each account has its own linked account, usual device,
 * card and home network; now and then it pays from another device or IP, as customers do.
 * Ids carry the run id, so runs never share entities even on a Redis that outlives them.
 */
function nextEvent(): Record<string, unknown> {
  const a = pick(POPULATION);
  const passwordFree = Math.random() < 0.4;
  const device = Math.random() < 0.9 ? a : pick(POPULATION);
  const ipHost = Math.random() < 0.8 ? a : pick(POPULATION);
  return {
    id: `evt_soak_${RUN}_${++sequence}`,
    kind: 'authorization',
    occurredAt: new Date().toISOString(),
    amount: { minor: 100 + pick(passwordFree ? 60_000 : 300_000), currency: 'CNY' },
    account: { id: `acct_${RUN}_${a}`, twoFactor: a % 3 !== 0 },
    linkedAccount: { id: `appleid_${RUN}_${a}`, kind: 'apple_id' },
    merchant: { id: `merchant_${RUN}_${pick(50)}`, category: '5818' },
    instrument: { id: `card_${RUN}_${a}`, kind: passwordFree ? 'agreement' : 'card' },
    authMethod: passwordFree ? 'password_free' : pick(2) ? 'biometric' : 'password',
    device: { id: `dev_${RUN}_${device}` },
    ip: `10.${(ipHost >> 16) & 255}.${(ipHost >> 8) & 255}.${ipHost & 255}`,
    country: 'CN',
  };
}

// --- the answers -------------------------------------------------------------------------------

interface Tally {
  responses: number;
  ok: number;
  approve: number;
  hold: number;
  degraded: Record<string, number>;
  /** Status codes other than 200. */
  statuses: Record<string, number>;
  /** 200 answers without a decision (serverless-offline answers 200 with an error body when a handler throws). */
  malformed: number;
  samples: string[];
  latenciesMs: number[];
}
const newTally = (): Tally => ({ responses: 0, ok: 0, approve: 0, hold: 0, degraded: {}, statuses: {}, malformed: 0, samples: [], latenciesMs: [] });

function check(tally: Tally, status: number, body: string): void {
  tally.responses++;
  const keep = (what: string) => {
    if (tally.samples.length < 5) tally.samples.push(`${what}: ${body.slice(0, 300)}`);
  };
  if (status !== 200) {
    tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
    keep(`status ${status}`);
    return;
  }
  let answer: { decision?: unknown; degraded?: unknown };
  try {
    answer = JSON.parse(body) as typeof answer;
  } catch {
    tally.malformed++;
    keep('200, not JSON');
    return;
  }
  if (answer.decision !== 'approve' && answer.decision !== 'hold') {
    tally.malformed++;
    keep('200 without a decision');
    return;
  }
  tally.ok++;
  tally[answer.decision]++;
  if (answer.degraded !== false) {
    const reason = String(answer.degraded);
    tally.degraded[reason] = (tally.degraded[reason] ?? 0) + 1;
  }
}

/**
 * autocannon enforces `overallRate` as a budget per connection per second, refilled by a timer each
 * connection starts when it is created: all connections fire together at the top of every second.
 * To send at an even pace instead, each connection's timer is restarted at its own offset within the
 * second (connection i of n at i/n s), so n connections sending rate/n each spread the requests
 * evenly. This uses autocannon 9's client fields (rate, reqsMadeThisSecond, paused, rateInterval,
 * _doRequest); if they are missing, the load runs unpaced (bursts) and the summary says so.
 */
let pacing: 'even' | 'bursts (autocannon internals not found)' = 'even';
function paceEvenly(connections: number): (client: AutocannonClient) => void {
  let index = 0;
  return (client) => {
    const offsetMs = (index++ / connections) * 1_000;
    // Called inside the client's constructor: rate is set, the budget timer comes right after.
    if (typeof client._doRequest !== 'function' || typeof client.rate !== 'number' || client.reqsMadeThisSecond === undefined) {
      pacing = 'bursts (autocannon internals not found)';
      return;
    }
    client.reqsMadeThisSecond = client.rate; // the first request waits for this connection's slot
    const refill = () => {
      if (client.destroyed) return;
      client.reqsMadeThisSecond = 0;
      const wasPaused = client.paused;
      client.paused = false;
      if (wasPaused) client._doRequest!();
    };
    setImmediate(() => {
      if (client.rateInterval === undefined) {
        pacing = 'bursts (autocannon internals not found)';
        refill();
        return;
      }
      clearInterval(client.rateInterval);
      // destroy() clears rateInterval: the pending start first, then the refill timer.
      client.rateInterval = setTimeout(() => {
        client.rateInterval = setInterval(refill, 1_000);
        refill();
      }, offsetMs);
    });
  };
}

function runLoad(baseUrl: string, seconds: number, tally: Tally): Promise<AutocannonResult> {
  return new Promise((resolvePromise, reject) => {
    const tracker = autocannon(
      {
        url: baseUrl,
        setupClient: paceEvenly(CONNECTIONS),
        duration: seconds,
        connections: CONNECTIONS,
        overallRate: RATE,
        pipelining: 1,
        timeout: 10,
        ignoreCoordinatedOmission: true,
        requests: [
          {
            method: 'POST',
            path: '/webhooks/generic',
            // Called for every request: a new event, signed now.
            setupRequest: (request) => {
              const signed = signGenericEvent(LOCAL_GENERIC_SECRET, nextEvent());
              return { ...request, method: 'POST', path: signed.path, headers: signed.headers, body: signed.body as string };
            },
            onResponse: (status, body) => check(tally, status, body),
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolvePromise(result)),
    );
    tracker.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => tally.latenciesMs.push(responseTimeMs));
  });
}

// --- the server --------------------------------------------------------------------------------

interface Server {
  readonly baseUrl: string;
  readonly pid: number;
  /** Lines the server printed (stdout and stderr). */
  readonly lines: () => number;
  /** Log records at WARN or above, by message. */
  readonly warnings: () => Record<string, number>;
  readonly tail: () => string;
  /** Handler durations (serverless-offline's `Duration:` lines) printed so far; drained by each call. */
  readonly takeHandlerMs: () => number[];
  readonly takeDecisionMs: () => number[];
  /** A full garbage collection in the server, then its memory: comparable readings, whatever the GC was doing. */
  memoryAfterGc(): Promise<MemoryReading>;
  stop(): Promise<void>;
}

interface MemoryReading {
  /** VmRSS of the server process right after the collection. */
  readonly rss: number;
  /** process.memoryUsage() in the server after the collection. */
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}

/**
 * Preloaded into the server (node --expose-gc --require): on SIGUSR2, a full GC, then
 * process.memoryUsage() written to the file SOAK_MEMORY_PROBE names. Nothing else changes in the server.
 */
const MEMORY_PROBE = `'use strict';
const { renameSync, writeFileSync } = require('node:fs');
const file = process.env.SOAK_MEMORY_PROBE;
if (file && typeof global.gc === 'function') {
  process.on('SIGUSR2', () => {
    global.gc();
    writeFileSync(file + '.tmp', JSON.stringify({ at: Date.now(), ...process.memoryUsage() }));
    renameSync(file + '.tmp', file);
  });
}
`;

/** What riskhook reads: none may leak in from the caller's environment (a REDIS_URL would switch stores). */
const isRiskhookVariable = (name: string) =>
  name === 'REDIS_URL' ||
  name === 'GENERIC_WEBHOOK_SECRETS' ||
  name.startsWith('RISKHOOK_') ||
  name.startsWith('POWERTOOLS_') ||
  name === 'IS_OFFLINE' ||
  name === 'IS_LOCAL';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

async function startServer(redisUrl: string): Promise<Server> {
  const httpPort = await freePort();
  let lambdaPort = await freePort();
  while (lambdaPort === httpPort) lambdaPort = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!isRiskhookVariable(name)) env[name] = value;
  const probeDir = mkdtempSync(join(tmpdir(), 'riskhook-soak-'));
  const probeFile = join(probeDir, 'memory.json');
  writeFileSync(join(probeDir, 'memory-probe.cjs'), MEMORY_PROBE);
  Object.assign(env, {
    REDIS_URL: redisUrl,
    POWERTOOLS_LOG_LEVEL: LOG_LEVEL,
    POWERTOOLS_METRICS_DISABLED: METRICS ? 'false' : 'true',
    SOAK_MEMORY_PROBE: probeFile,
  });

  // node running the serverless CLI directly (not through npx), so the child's pid is the server's.
  const cli = createRequire(import.meta.url).resolve('serverless/bin/serverless.js');
  const args = ['--expose-gc', '--require', join(probeDir, 'memory-probe.cjs'), cli, 'offline', 'start', '--stage', 'local', '--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort)];
  const child = spawn(process.execPath, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });

  let output = '';
  let lines = 0;
  let partial = '';
  const warnings: Record<string, number> = {};
  /** The handler durations serverless-offline prints for each invocation (`Duration: x ms`). */
  const handlerMs: number[] = [];
  /** riskhook's own latencyMs from its decision log lines (only when the log level is INFO or DEBUG). */
  const decisionMs: number[] = [];
  const onText = (chunk: string) => {
    output = (output + chunk.replace(ANSI, '')).slice(-64_000);
    partial += chunk;
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    lines += complete.length;
    for (const line of complete) {
      const duration = /RequestId: \S+\s+Duration: ([\d.]+) ms/.exec(line);
      if (duration) handlerMs.push(Number(duration[1]));
      if (!line.startsWith('{')) continue;
      try {
        const record = JSON.parse(line) as { level?: string; message?: string; latencyMs?: number };
        if (record.message === 'decision' && typeof record.latencyMs === 'number') decisionMs.push(record.latencyMs);
        if (record.level && ['WARN', 'ERROR', 'CRITICAL'].includes(record.level)) {
          const key = `${record.level} ${record.message}`;
          warnings[key] = (warnings[key] ?? 0) + 1;
        }
      } catch {
        // not a log record
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', onText);
  child.stderr!.setEncoding('utf8').on('data', onText);

  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  const onExit = () => killGroup('SIGKILL');
  process.once('exit', onExit);
  const memoryAfterGc = async (): Promise<MemoryReading> => {
    rmSync(probeFile, { force: true });
    process.kill(child.pid!, 'SIGUSR2');
    const deadline = Date.now() + 30_000;
    while (!existsSync(probeFile)) {
      if (Date.now() > deadline) throw new Error('the server did not answer the memory probe (SIGUSR2) within 30 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const usage = JSON.parse(readFileSync(probeFile, 'utf8')) as { heapUsed: number; heapTotal: number; external: number };
    await new Promise((r) => setTimeout(r, 500)); // let V8 hand freed pages back before reading RSS
    return { rss: rssBytes(child.pid!), heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external };
  };
  const stop = async () => {
    process.removeListener('exit', onExit);
    rmSync(probeDir, { recursive: true, force: true });
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      killGroup('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    }
    killGroup('SIGKILL');
  };

  try {
    const baseUrl = await new Promise<string>((resolveReady, reject) => {
      const timer = setTimeout(() => done(() => reject(new Error(`serverless offline was not ready within 90 s:\n${output.slice(-4_000)}`))), 90_000);
      // "Server ready: http://localhost:<port> 🚀" (on stderr with osls 4).
      const poll = setInterval(() => {
        const match = /Server ready: (http:\/\/\S+?)\/?\s/.exec(output);
        if (match) done(() => resolveReady(match[1]!));
      }, 50);
      const exited = (code: number | null) => done(() => reject(new Error(`serverless offline exited (${code}) before it was ready:\n${output.slice(-4_000)}`)));
      child.once('exit', exited);
      function done(then: () => void) {
        clearTimeout(timer);
        clearInterval(poll);
        child.removeListener('exit', exited);
        then();
      }
    });
    return { baseUrl, pid: child.pid!, lines: () => lines, warnings: () => ({ ...warnings }), tail: () => output.slice(-4_000), takeHandlerMs: () => handlerMs.splice(0), takeDecisionMs: () => decisionMs.splice(0), memoryAfterGc, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

// --- measurements ------------------------------------------------------------------------------

/** VmRSS of a process, in bytes. */
function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

/** The server's process and its descendants (esbuild's service, any worker), with their RSS. */
function processTree(rootPid: number): { pid: number; command: string; rssMiB: number }[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // gone
    }
  }
  const tree = [rootPid];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  return tree.flatMap((pid) => {
    try {
      // The program and its first words, without flags and paths: "node serverless.js offline start".
      const words = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((w) => w && !w.startsWith('-') && !w.endsWith('.cjs'));
      const command = words.slice(0, 4).map((w) => w.split('/').pop()).join(' ');
      return [{ pid, command, rssMiB: mib(rssBytes(pid)) }];
    } catch {
      return [];
    }
  });
}

/** CPU time (user + system) a process has used, in seconds (/proc/<pid>/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU time the whole machine spent busy (all cores), in seconds (/proc/stat). */
function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / 100;
}

async function usedMemory(admin: Redis): Promise<number> {
  const info = await admin.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN);
}

/** Clients connected to Redis (this script's own connection included): the server must not open more under load. */
async function connectedClients(admin: Redis): Promise<number> {
  const info = await admin.info('clients');
  return Number(/^connected_clients:(\d+)/m.exec(info)?.[1] ?? NaN);
}

/** Every key: how many of each kind, how many without a TTL, the largest related-entity set. */
async function auditKeys(admin: Redis) {
  const kinds = { decisions: 0, markers: 0, buckets: 0, related: 0, other: 0 };
  let withoutTtl = 0;
  let largestRelated = 0;
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'COUNT', 2_000);
    cursor = next;
    const pipeline = admin.pipeline();
    for (const key of batch) {
      pipeline.pttl(key);
      if (key.endsWith(':d')) pipeline.zcard(key);
    }
    const replies = (await pipeline.exec()) ?? [];
    let r = 0;
    for (const key of batch) {
      const ttl = Number(replies[r++]?.[1]);
      if (ttl === -1) withoutTtl++; // -2: expired since the SCAN
      if (key.startsWith('rh:{e:')) kinds.decisions++;
      else if (/^rh:\{[^}]+\}:m:/.test(key)) kinds.markers++;
      else if (key.endsWith(':v')) kinds.buckets++;
      else if (key.endsWith(':d')) {
        kinds.related++;
        largestRelated = Math.max(largestRelated, Number(replies[r++]?.[1]));
      } else kinds.other++;
    }
  } while (cursor !== '0');
  return { keys: kinds, withoutTtl, largestRelated };
}

const signed = (n: number) => `${n >= 0 ? '+' : ''}${n}`;
const mib = (bytes: number) => Math.round((bytes / 1_048_576) * 10) / 10;
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

function percentiles(values: number[]) {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return { p50: round(at(50)), p90: round(at(90)), p99: round(at(99)), max: round(sorted[sorted.length - 1] ?? NaN), mean: round(mean) };
}

// --- the run -----------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cleanup: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup.length = 0;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stopAll().finally(() => process.exit(130)));
  }

  let redis: RedisServer | undefined;
  let server: Server | undefined;
  let admin: Redis | undefined;
  try {
    console.log(`soak: starting redis-server and the local server (serverless offline, stage local)...`);
    redis = await startRedisServer();
    cleanup.push(() => redis!.stop());
    admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
    cleanup.push(() => admin!.disconnect());
    server = await startServer(redis.url);
    cleanup.push(() => server!.stop());
    console.log(
      `soak: server ${server.baseUrl} (pid ${server.pid}), ${redis.url}; ${RATE} req/s over ${CONNECTIONS} connections: ` +
        `warm-up ${WARMUP_SECONDS} s, then ${SECONDS} s measured; POWERTOOLS_LOG_LEVEL=${LOG_LEVEL}, metrics ${METRICS ? 'on' : 'off'}`,
    );

    const warmup = newTally();
    const warmupResult = await runLoad(server.baseUrl, WARMUP_SECONDS, warmup);
    await new Promise((r) => setTimeout(r, 1_000)); // requests cut off by the end of the warm-up finish

    const gcStart = await server.memoryAfterGc();
    const rssStart = gcStart.rss;
    const redisStart = await usedMemory(admin);
    const clientsStart = await connectedClients(admin);
    const samples: { atS: number; rssMiB: number; redisMiB: number }[] = [{ atS: 0, rssMiB: mib(rssStart), redisMiB: mib(redisStart) }];
    const cpuPids = { server: server.pid, redis: redis.process.pid!, soak: process.pid };
    const cpuStart = Object.fromEntries(Object.entries(cpuPids).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const machineStart = machineBusySeconds();
    const started = Date.now();
    const sampler = setInterval(() => {
      void usedMemory(admin!)
        .then((redisBytes) => samples.push({ atS: Math.round((Date.now() - started) / 1000), rssMiB: mib(rssBytes(server!.pid)), redisMiB: mib(redisBytes) }))
        .catch(() => {});
    }, SAMPLE_EVERY_MS);
    const tally = newTally();
    server.takeHandlerMs();
    server.takeDecisionMs();
    const result = await runLoad(server.baseUrl, SECONDS, tally);
    const handlerMs = server.takeHandlerMs();
    const decisionMs = server.takeDecisionMs();
    const elapsedS = (Date.now() - started) / 1000;
    clearInterval(sampler);
    /** Share of one core each process used during the measured phase, in percent. */
    const cpuPercent: Record<string, number> = Object.fromEntries(
      Object.entries(cpuPids).map(([name, pid]) => [name, Math.round(((cpuSeconds(pid) - cpuStart[name]!) / elapsedS) * 100)]),
    );
    // Everything else the machine did meanwhile (esbuild's service, other jobs): a busy machine skews latency.
    const machinePercent = Math.round(((machineBusySeconds() - machineStart) / elapsedS) * 100);
    cpuPercent.other = Math.max(0, machinePercent - cpuPercent.server! - cpuPercent.redis! - cpuPercent.soak!);
    const rssEndAsLeft = rssBytes(server.pid);
    const redisEnd = await usedMemory(admin);
    const clientsEnd = await connectedClients(admin);
    samples.push({ atS: round(elapsedS, 1), rssMiB: mib(rssEndAsLeft), redisMiB: mib(redisEnd) });
    const gcEnd = await server.memoryAfterGc();
    const rssEnd = gcEnd.rss;
    const tree = processTree(server.pid);
    const audit = await auditKeys(admin);
    const peakRss = Math.max(...samples.map((s) => s.rssMiB));

    // --- verdicts
    const nonOk = (t: Tally) => Object.values(t.statuses).reduce((s, n) => s + n, 0);
    const degradedCount = (t: Tally) => Object.values(t.degraded).reduce((s, n) => s + n, 0);
    const throughput = tally.responses / elapsedS;
    const rssGrowth = (rssEnd - rssStart) / rssStart;
    const heapGrowth = (gcEnd.heapUsed - gcStart.heapUsed) / gcStart.heapUsed;
    const redisPerEvent = (redisEnd - redisStart) / Math.max(1, tally.ok);
    const checks = [
      { check: 'every answer 200 with a decision', pass: nonOk(tally) + tally.malformed + nonOk(warmup) + warmup.malformed === 0, detail: `non-2xx ${nonOk(tally)} (warm-up ${nonOk(warmup)}), 200 without decision ${tally.malformed} (warm-up ${warmup.malformed})` },
      { check: 'no connection error or timeout', pass: result.errors + warmupResult.errors === 0, detail: `errors ${result.errors} (timeouts ${result.timeouts}), warm-up ${warmupResult.errors}` },
      { check: 'no degraded decision', pass: degradedCount(tally) + degradedCount(warmup) === 0, detail: `degraded ${degradedCount(tally)} ${JSON.stringify(tally.degraded)}, warm-up ${degradedCount(warmup)}` },
      { check: `rate sustained (>= ${MIN_RATE_SHARE * 100}% of ${RATE}/s)`, pass: tally.responses >= MIN_RATE_SHARE * RATE * SECONDS, detail: `${tally.responses} answers in ${round(elapsedS, 1)} s = ${round(throughput, 1)}/s` },
      {
        check: `server RSS growth <= ${MAX_RSS_GROWTH * 100}% (after a full GC, end vs after warm-up)`,
        pass: rssGrowth <= MAX_RSS_GROWTH,
        detail: `${mib(rssStart)} -> ${mib(rssEnd)} MiB (${round(rssGrowth * 100, 1)}%)`,
      },
      {
        check: `server heap used growth <= ${MAX_HEAP_GROWTH * 100}% (after a full GC, end vs after warm-up)`,
        pass: heapGrowth <= MAX_HEAP_GROWTH,
        detail: `${mib(gcStart.heapUsed)} -> ${mib(gcEnd.heapUsed)} MiB (${round(heapGrowth * 100, 1)}%)`,
      },
      { check: `Redis growth <= ${MAX_REDIS_BYTES_PER_EVENT} B per event`, pass: redisPerEvent <= MAX_REDIS_BYTES_PER_EVENT, detail: `${mib(redisStart)} -> ${mib(redisEnd)} MiB, ${Math.round(redisPerEvent)} B per event` },
      { check: 'every Redis key has a TTL', pass: audit.withoutTtl === 0, detail: `${audit.withoutTtl} of ${Object.values(audit.keys).reduce((s, n) => s + n, 0)} keys without TTL` },
      { check: `related-entity sets <= ${DISTINCT_CAP}`, pass: audit.largestRelated <= DISTINCT_CAP, detail: `largest ${audit.largestRelated}` },
    ];
    const latency = percentiles(tally.latenciesMs);
    const summary = {
      at: new Date().toISOString(),
      settings: {
        seconds: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        rate: RATE,
        connections: CONNECTIONS,
        pacing,
        population: POPULATION,
        powertoolsLogLevel: LOG_LEVEL,
        metrics: METRICS,
        maxRssGrowth: MAX_RSS_GROWTH,
        maxHeapGrowth: MAX_HEAP_GROWTH,
        maxRedisBytesPerEvent: MAX_REDIS_BYTES_PER_EVENT,
      },
      machine: { cpus: cpus().length, node: process.version },
      measured: {
        seconds: round(elapsedS, 1),
        requests: tally.responses,
        throughputPerSecond: round(throughput, 1),
        latencyMs: latency,
        handlerDurationMs: percentiles(handlerMs),
        ...(decisionMs.length > 0 && { riskhookLatencyMs: percentiles(decisionMs) }),
        decisions: { approve: tally.approve, hold: tally.hold },
        degraded: tally.degraded,
        non2xx: tally.statuses,
        withoutDecision: tally.malformed,
        errors: result.errors,
        timeouts: result.timeouts,
        cpuPercentOfOneCore: cpuPercent,
      },
      warmup: { requests: warmup.responses, latencyMs: percentiles(warmup.latenciesMs), non2xx: warmup.statuses, withoutDecision: warmup.malformed, degraded: warmup.degraded },
      serverRss: {
        pid: server.pid,
        startMiB: mib(rssStart),
        endMiB: mib(rssEnd),
        growthPercent: round(rssGrowth * 100, 1),
        endBeforeGcMiB: mib(rssEndAsLeft),
        peakSampledMiB: peakRss,
        heapUsedStartMiB: mib(gcStart.heapUsed),
        heapUsedEndMiB: mib(gcEnd.heapUsed),
        heapUsedGrowthPercent: round(heapGrowth * 100, 1),
      },
      redisUsedMemory: { startMiB: mib(redisStart), endMiB: mib(redisEnd), bytesPerEvent: Math.round(redisPerEvent), clientsStart, clientsEnd, ...audit },
      samples,
      processTree: tree,
      serverOutput: { lines: server.lines(), warnings: server.warnings() },
      failedSamples: [...warmup.samples, ...tally.samples],
      checks,
      pass: checks.every((c) => c.pass),
    };

    mkdirSync(dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, `${JSON.stringify(summary, null, 2)}\n`);
    printSummary(summary);
    console.log(`\nwritten: ${RESULTS.slice(ROOT.length + 1)}`);
    return summary.pass ? 0 : 1;
  } catch (error) {
    console.error(`soak: ${(error as Error).stack ?? error}`);
    if (server) console.error(`server output (tail):\n${server.tail()}`);
    return 1;
  } finally {
    await stopAll();
  }
}

function printSummary(s: {
  settings: { rate: number; connections: number; pacing: string; seconds: number; warmupSeconds: number; population: number; powertoolsLogLevel: string; metrics: boolean };
  machine: { cpus: number; node: string };
  measured: {
    seconds: number;
    requests: number;
    throughputPerSecond: number;
    latencyMs: ReturnType<typeof percentiles>;
    handlerDurationMs: ReturnType<typeof percentiles>;
    riskhookLatencyMs?: ReturnType<typeof percentiles>;
    decisions: { approve: number; hold: number };
    degraded: Record<string, number>;
    non2xx: Record<string, number>;
    withoutDecision: number;
    errors: number;
    timeouts: number;
    cpuPercentOfOneCore: Record<string, number>;
  };
  warmup: { requests: number };
  serverRss: {
    pid: number;
    startMiB: number;
    endMiB: number;
    growthPercent: number;
    endBeforeGcMiB: number;
    peakSampledMiB: number;
    heapUsedStartMiB: number;
    heapUsedEndMiB: number;
    heapUsedGrowthPercent: number;
  };
  redisUsedMemory: { startMiB: number; endMiB: number; bytesPerEvent: number; clientsStart: number; clientsEnd: number; keys: Record<string, number> };
  samples: { atS: number; rssMiB: number; redisMiB: number }[];
  processTree: { pid: number; command: string; rssMiB: number }[];
  serverOutput: { lines: number; warnings: Record<string, number> };
  failedSamples: string[];
  checks: { check: string; pass: boolean; detail: string }[];
  pass: boolean;
}): void {
  const m = s.measured;
  const nonOk = Object.values(m.non2xx).reduce((a, n) => a + n, 0);
  const degraded = Object.values(m.degraded).reduce((a, n) => a + n, 0);
  const rows: [string, string][] = [
    ['target rate', `${s.settings.rate} req/s over ${s.settings.connections} connections, paced ${s.settings.pacing}; ${s.machine.cpus} CPUs, Node ${s.machine.node}`],
    ['duration', `${m.seconds} s measured after ${s.settings.warmupSeconds} s warm-up (${s.warmup.requests} requests)`],
    ['server logging', `POWERTOOLS_LOG_LEVEL=${s.settings.powertoolsLogLevel}, metrics ${s.settings.metrics ? 'on' : 'off'}; ${s.serverOutput.lines} lines printed`],
    ['events', `unique, signed generic events; ${s.settings.population} accounts, each with its linked account, device, card, IP`],
    ['requests', `${m.requests}`],
    ['throughput', `${m.throughputPerSecond} req/s`],
    ['latency p50 / p90 / p99 / max', `${m.latencyMs.p50} / ${m.latencyMs.p90} / ${m.latencyMs.p99} / ${m.latencyMs.max} ms (mean ${m.latencyMs.mean})`],
    ['handler duration (offline)', `${m.handlerDurationMs.p50} / ${m.handlerDurationMs.p90} / ${m.handlerDurationMs.p99} / ${m.handlerDurationMs.max} ms (serverless-offline's Duration lines)`],
    ...(m.riskhookLatencyMs
      ? [['riskhook latencyMs (logs)', `${m.riskhookLatencyMs.p50} / ${m.riskhookLatencyMs.p90} / ${m.riskhookLatencyMs.p99} / ${m.riskhookLatencyMs.max} ms (its decision log lines)`] as [string, string]]
      : []),
    ['decisions', `approve ${m.decisions.approve}, hold ${m.decisions.hold}`],
    ['degraded', `${degraded}${degraded ? ` ${JSON.stringify(m.degraded)}` : ''}`],
    ['non-2xx', `${nonOk}${nonOk ? ` ${JSON.stringify(m.non2xx)}` : ''}`],
    ['200 without decision', `${m.withoutDecision}`],
    ['errors / timeouts', `${m.errors} / ${m.timeouts}`],
    ['CPU (% of one core)', Object.entries(m.cpuPercentOfOneCore).map(([k, v]) => `${k} ${v}%`).join(', ') + ` (of ${s.machine.cpus * 100}%)`],
    [
      'server RSS (VmRSS, after GC)',
      `${s.serverRss.startMiB} -> ${s.serverRss.endMiB} MiB (${signed(s.serverRss.growthPercent)}%), pid ${s.serverRss.pid}; ` +
        `without GC: ${s.serverRss.endBeforeGcMiB} MiB at the end, peak sampled ${s.serverRss.peakSampledMiB} MiB`,
    ],
    ['server heap used (after GC)', `${s.serverRss.heapUsedStartMiB} -> ${s.serverRss.heapUsedEndMiB} MiB (${signed(s.serverRss.heapUsedGrowthPercent)}%)`],
    ['Redis used_memory', `${s.redisUsedMemory.startMiB} -> ${s.redisUsedMemory.endMiB} MiB (${s.redisUsedMemory.bytesPerEvent} B per event)`],
    ['Redis keys', Object.entries(s.redisUsedMemory.keys).map(([k, n]) => `${k} ${n}`).join(', ')],
    ['Redis clients', `${s.redisUsedMemory.clientsStart} -> ${s.redisUsedMemory.clientsEnd} connected (this script's included)`],
    ['RSS / Redis (MiB, every 10 s)', s.samples.filter((x, i) => i === s.samples.length - 1 || x.atS % 10 === 0).map((x) => `${x.atS}s ${x.rssMiB}/${x.redisMiB}`).join(', ')],
    ['server processes', s.processTree.map((p) => `${p.pid} ${p.command}: ${p.rssMiB} MiB`).join('; ')],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('\nriskhook soak');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  const warnings = Object.entries(s.serverOutput.warnings);
  if (warnings.length) console.log(`  ${'server warnings'.padEnd(width)}  ${warnings.map(([k, n]) => `${n}x ${k}`).join('; ')}`);
  const other = m.cpuPercentOfOneCore.other ?? 0;
  if (other > BUSY_MACHINE_PERCENT) {
    console.log(`\n  NOTE: other processes used ${other}% of a core during the measured phase: latency (and the rate) suffer from it.`);
  }
  console.log('\nchecks');
  for (const c of s.checks) console.log(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.check}: ${c.detail}`);
  if (s.failedSamples.length) console.log(`\nfailed answers (first ${s.failedSamples.length}):\n  ${s.failedSamples.join('\n  ')}`);
  console.log(`\n${s.pass ? 'PASS' : 'FAIL'}`);
}

void main().then((code) => {
  process.exitCode = code;
});
