/**
 * Why riskhook warns about a Redis that evicts (issue 8, item 5): on a full `volatile-lru` Redis
 * (ElastiCache's default policy), other customers' traffic evicts a held customer's velocity keys
 * and their next payment is approved, with nothing failing. With `noeviction` the same full Redis
 * refuses writes: decisions turn degraded (the fallback holds), which the degraded-share alarm
 * sees, and the customer's counters are kept. Real redis-servers with a small maxmemory; the default policy.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DecideDeps, decide } from '../../lib/decide.js';
import type { PaymentEvent } from '../../lib/events.js';
import { IdentityHasher } from '../../lib/identity.js';
import { loadPolicyFile } from '../../lib/policy/load.js';
import { RedisVelocityStore, createRedisClient, keys } from '../../lib/velocity/redis.js';
import { ControlledRedis, pool } from '../support/redis-control.js';
import { testLimits } from '../support/stores.js';

const policy = loadPolicyFile('policies/default.yaml');
const hasher = new IdentityHasher(randomBytes(16).toString('hex'));
const MINUTE = 60_000;
const servers: ControlledRedis[] = [];

beforeAll(async () => {
  for (const policy of ['volatile-lru', 'noeviction']) servers.push(await ControlledRedis.start({ extraArgs: ['--maxmemory', '3mb', '--maxmemory-policy', policy] }));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const payment = (account: string, minor: number, at: number, extra: Partial<PaymentEvent> = {}): PaymentEvent => ({
  id: `evt_${randomBytes(8).toString('hex')}`,
  provider: 'generic',
  kind: 'authorization',
  occurredAt: at,
  amount: { minor, currency: 'CNY' },
  account: { id: account, twoFactor: true },
  linkedAccount: { id: `${account}@appleid`, kind: 'apple_id' },
  merchant: { id: 'merchant_app_store' },
  authMethod: 'password_free',
  device: { id: `${account}-phone` },
  ...extra,
});

async function scenario(server: ControlledRedis) {
  // A deadline no busy machine reaches: a degraded answer here is Redis refusing, never a timeout.
  const client = createRedisClient(server.url, 30_000);
  const deps: DecideDeps = { store: new RedisVelocityStore(client, testLimits()), policy, hasher, deadlineMs: 30_000, onStoreFailure: 'hold' };
  const start = Date.now() - 3 * 60 * MINUTE;
  const victim = `acct_${randomBytes(6).toString('hex')}`;
  // 100 CNY password-free from a phone not (yet) trusted: inside the untrusted-device budget; then 1,000 CNY: over it.
  const first = await decide(payment(victim, 10_000, start), deps);
  const second = await decide(payment(victim, 100_000, start + 30 * MINUTE), deps);
  const victimKeys = (['account', 'linkedAccount'] as const).map((kind) => keys.buckets(keys.tag({ kind, key: hasher.entity(kind, kind === 'account' ? victim : `${victim}@appleid`) })));
  // Other customers' ordinary payments until the victim's counters are gone or Redis refuses writes.
  let others = 0;
  let refused = 0;
  while (others < 20_000 && (await client.exists(...victimKeys)) > 0 && refused === 0) {
    const batch = await pool(Array.from({ length: 200 }), 10, () =>
      decide(payment(`acct_${randomBytes(6).toString('hex')}`, 2_000, start + 60 * MINUTE, { authMethod: 'password' }), deps),
    );
    others += batch.length;
    refused += batch.filter((d) => d.degraded === 'store_unavailable').length;
  }
  // Another 100 CNY: 1,200 CNY from an untrusted device in 24 h by the kept counters; only itself if they were evicted.
  const third = await decide(payment(victim, 10_000, start + 90 * MINUTE), deps);
  const info = await client.info('stats');
  await deps.store.close();
  return { first, second, third, refused, evicted: Number(/evicted_keys:(\d+)/.exec(info)?.[1]) };
}

it('volatile-lru: other traffic evicts a held customer\'s counters, and their next payment is approved', async () => {
  const { first, second, third, evicted } = await scenario(servers[0]!);
  expect(first.decision).toBe('approve');
  expect(second).toMatchObject({ decision: 'hold', degraded: false });
  expect(second.reasons.map((r) => r.rule)).toContain('untrusted-pf-budget');
  expect(evicted).toBeGreaterThan(0);
  // 1,200 CNY password-free from an untrusted device in 24 h, over the 150 CNY budget, and still approved: velocity was erased.
  expect(third).toMatchObject({ decision: 'approve', degraded: false });
});

it('noeviction: the full Redis refuses writes instead, and the payment is held (by the fallback, visibly degraded, or by its kept counters)', async () => {
  const { second, third, evicted, refused } = await scenario(servers[1]!);
  expect(second).toMatchObject({ decision: 'hold', degraded: false });
  expect(evicted).toBe(0);
  expect(refused).toBeGreaterThan(0);
  // Memory hovers at the limit (buffers come and go): the third write is refused, or it lands and finds the counters.
  expect(third.decision).toBe('hold');
  expect([false, 'store_unavailable']).toContain(third.degraded);
});
