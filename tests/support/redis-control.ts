/**
 * A private redis-server that a test controls: stop it (SIGKILL), start it again on the same port
 * (with its data, or empty), freeze it (SIGSTOP) and resume it (SIGCONT). Never the shared server of
 * the global setup, which other test files use at the same time.
 *
 * Readiness is checked with an asynchronous PING (not redis-cli through spawnSync, as
 * scripts/redis-server.ts does), so restarting the server never blocks the event loop while the
 * test has requests in flight.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, hasRedisServer } from '../../scripts/redis-server.js';
import type { EntityPlan } from '../../lib/velocity/plan.js';
import { type BucketTotals, decodeBucketHash } from '../../lib/velocity/redis.js';

export interface RedisControlOptions {
  /**
   * Keep the data across stop and start: append-only file, fsync on every write, in a private
   * directory, so a SIGKILL loses no acknowledged write. Default false: every start is empty.
   */
  readonly persistent?: boolean;
  /** More redis-server arguments. `--enable-debug-command yes` (DEBUG SLEEP) is always on. */
  readonly extraArgs?: readonly string[];
  readonly readyTimeoutMs?: number;
}

export class ControlledRedis {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #options: RedisControlOptions;
  #child: ChildProcess | undefined;
  #frozen = false;
  readonly #onExit = () => this.#child?.kill('SIGKILL');

  private constructor(port: number, options: RedisControlOptions) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#options = options;
    // On tmpfs when there is one: fsync on every write then costs nothing, and a SIGKILL of the server still loses nothing.
    this.#dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'riskhook-redis-'));
    // Should the test process die without its afterAll, do not leave the server behind.
    process.once('exit', this.#onExit);
  }

  /** Starts a server on a free port. */
  static async start(options: RedisControlOptions = {}): Promise<ControlledRedis> {
    if (!hasRedisServer()) throw new Error('redis-server is not installed (Debian: apt-get install -y redis-server)');
    const server = new ControlledRedis(await freePort(), options);
    await server.start();
    return server;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server again on the same port; `empty` drops what a persistent server kept. Resolves once it answers PING. */
  async start({ empty = false }: { empty?: boolean } = {}): Promise<void> {
    if (this.#child) throw new Error('redis-server is already running');
    if (empty) rmSync(join(this.#dir, 'appendonlydir'), { recursive: true, force: true });
    const persistence = this.#options.persistent
      ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.#dir]
      : ['--appendonly', 'no', '--dir', this.#dir];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--enable-debug-command', 'yes', ...(this.#options.extraArgs ?? [])],
      { stdio: 'ignore' },
    );
    this.#child = child;
    this.#frozen = false;
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    const deadline = Date.now() + (this.#options.readyTimeoutMs ?? 10_000);
    while (!(await ping(this.port, 200))) {
      if (this.#child !== child || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server did not answer on port ${this.port}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kills the server (SIGKILL: no shutdown, no last save) and waits until it has exited. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.#frozen = false;
  }

  /** stop() then start(): the same port, the data kept (persistent) or not. */
  async restart(options: { empty?: boolean } = {}): Promise<void> {
    await this.stop();
    await this.start(options);
  }

  /**
   * SIGSTOP: connections stay open, nothing is answered (as a hung or partitioned server). Resolves
   * once the process is stopped (Linux: its /proc state is T), so nothing sent afterwards is served.
   */
  async freeze(): Promise<void> {
    const child = this.#child;
    if (!child?.pid) throw new Error('redis-server is not running');
    child.kill('SIGSTOP');
    this.#frozen = true;
    const stat = `/proc/${child.pid}/stat`;
    if (!existsSync(stat)) return;
    const deadline = Date.now() + 1_000;
    // The state is the field after the parenthesised command name.
    while (readFileSync(stat, 'utf8').split(') ')[1]?.[0] !== 'T') {
      if (Date.now() > deadline) throw new Error('redis-server did not stop on SIGSTOP');
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** SIGCONT: the server answers everything that waited in its sockets. */
  resume(): void {
    if (!this.#child || !this.#frozen) return;
    this.#child.kill('SIGCONT');
    this.#frozen = false;
  }

  /** Stops the server for good and removes its directory. */
  async close(): Promise<void> {
    await this.stop();
    process.removeListener('exit', this.#onExit);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/**
 * One PING over a fresh connection: true on +PONG (or -NOAUTH: a server with requirepass answers)
 * within the timeout (false while refused, loading or frozen).
 */
export function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
    socket.once('error', () => done(false));
  });
}

// --- Workload helpers shared by the fault and exactly-once tests ------------------------------

/** Runs `fn` over `items` with at most `concurrency` at a time; results in item order. */
export async function pool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/** Count, amount, password-free count and amount of one bucket resolution. */
export type Totals = BucketTotals;

/**
 * What an entity's hash (rh:{<k>:<hash>}:v, read with HGETALL as buffers) holds, summed over its live
 * buckets, per resolution (bucket seconds, e.g. "60" for the 10m window's 1-minute buckets), for what
 * `plan` keeps. Unlike a store call, reading counts nothing. Amounts are in `currency`.
 */
export const bucketTotals = (hash: Record<string, Buffer>, plan: EntityPlan, currency = 'CNY'): Map<string, Totals> =>
  decodeBucketHash(hash, plan, currency);
