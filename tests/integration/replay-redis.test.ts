/**
 * Replay into Redis (--redis): a Redis holding any key is refused before anything is written, and
 * an empty one gives the same report as the memory store, two policies side by side in one Redis.
 */
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../lib/policy/load.js';
import { NonEmptyRedisError, type Report, replay } from '../../lib/replay/index.js';
import { ControlledRedis } from '../support/redis-control.js';
import { DEFAULT_POLICY, smallSimulation } from '../support/simulated-history.js';

let server: ControlledRedis;
let admin: Redis;
let sim: Awaited<ReturnType<typeof smallSimulation>>;

beforeAll(async () => {
  server = await ControlledRedis.start();
  admin = new Redis(server.url);
  sim = await smallSimulation({ people: 80, days: 2 });
});

afterAll(async () => {
  admin?.disconnect();
  await server?.close();
  if (sim) rmSync(sim.dir, { recursive: true, force: true });
});

const base = loadPolicyFile(DEFAULT_POLICY);
const stricter = { ...base, version: 'stricter', holdAt: 40 };
const policies = [
  { policy: base, file: DEFAULT_POLICY },
  { policy: stricter, file: 'stricter' },
];
const figures = (report: Report) => ({ policies: report.policies, comparisons: report.comparisons, payments: report.history.payments });

describe('replay into Redis', () => {
  it('refuses a Redis that holds a key, names it, and writes nothing', async () => {
    await admin.set('live:counter', '1');
    const error = await replay({ history: sim.history, policies, redisUrl: server.url }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonEmptyRedisError);
    expect((error as Error).message).toMatch(/holds 1 keys; a replay only counts into an empty Redis/);
    expect(await admin.dbsize()).toBe(1);
    expect(await admin.get('live:counter')).toBe('1');
  });

  it('on an empty Redis, reproduces the memory store replay figure for figure, for both policies', async () => {
    await admin.flushdb();
    const onRedis = await replay({ history: sim.history, policies, redisUrl: server.url });
    expect(await admin.dbsize()).toBeGreaterThan(0);
    const inMemory = await replay({ history: sim.history, policies });
    expect(onRedis.history.payments).toBe(sim.payments);
    expect(figures(onRedis)).toEqual(figures(inMemory));
    expect(onRedis.policies[1]!.held).toBeGreaterThan(onRedis.policies[0]!.held);
  });
});
