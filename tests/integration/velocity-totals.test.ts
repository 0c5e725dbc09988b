/**
 * Redis keeps running window totals ("t" and "T<CUR>" in an entity's hash, lib/velocity/library.ts)
 * so a read of an in-time event is one field, not a scan of the ring. They are a cache of the
 * buckets: answers must equal the memory store's (which always scans) when the totals are missing
 * (entities written before there were totals) and, once an entity's TTL renewal (every 12 h)
 * rescans, even after they were made wrong.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../lib/events.js';
import type { Runtime } from '../../lib/runtime.js';
import type { RedisVelocityStore } from '../../lib/velocity/redis.js';
import { DAY, HOUR, MINUTE, decideAt, entityHashKeys, floorTo, payment, seeded, v2Runtime } from '../support/velocity-v2.js';

interface Delivery {
  readonly event: ReturnType<typeof payment>;
  readonly receivedAt: number;
}

/** Six customers paying every few minutes, in time order (so reads come from the totals), in CNY and USD. */
function stream(seed: number, count: number, start: number): Delivery[] {
  const random = seeded(seed);
  const out: Delivery[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    at += Math.floor(random() * 20 * MINUTE);
    const c = Math.floor(random() * 6);
    out.push({
      event: payment({
        id: `evt_totals_${seed}_${i}`,
        at,
        account: `acct_totals_${seed}_${c}`,
        device: `dev_totals_${seed}_${c}`,
        ip: `10.9.${seed % 200}.${c}`,
        linkedAccount: `apple_totals_${seed}_${c}`,
        instrument: `card_totals_${seed}_${c}`,
        merchant: `merchant_totals_${seed}_${c % 2}`,
        minor: 100 + Math.floor(random() * 199_900),
        currency: random() < 0.8 ? 'CNY' : 'USD',
        passwordFree: random() < 0.7,
      }),
      receivedAt: at + Math.floor(random() * 2_000),
    });
  }
  return out;
}

const sameDecision = (a: Decision, b: Decision) => JSON.stringify(a) === JSON.stringify(b);

describe('running totals on Redis', () => {
  const open: Runtime[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((rt) => rt.store.close()));
  });
  const pair = () => {
    const pepper = randomBytes(16).toString('hex');
    const memory = v2Runtime('memory', { pepper });
    const redis = v2Runtime('redis', { pepper });
    open.push(memory, redis);
    return { memory, redis, client: (redis.store as RedisVelocityStore).client as import('ioredis').Redis };
  };

  it('answers equal the memory store when the totals are missing (entities written before them), and the totals come back', async () => {
    const { memory, redis, client } = pair();
    const deliveries = stream(11, 240, floorTo(Date.now(), DAY) - 4 * DAY);
    for (const [i, { event, receivedAt }] of deliveries.entries()) {
      if (i === 120) {
        // As if the first half had been written by an engine without totals.
        const hashes = await entityHashKeys(client);
        let dropped = 0;
        for (const key of hashes) {
          const fields = (await client.hkeys(key)).filter((f) => f === 't' || f.startsWith('T'));
          if (fields.length > 0) dropped += await client.hdel(key, ...fields);
        }
        expect(dropped).toBeGreaterThan(20);
      }
      const [m, r] = [await decideAt(memory, event, receivedAt), await decideAt(redis, event, receivedAt)];
      expect(r.degraded).toBe(false);
      if (!sameDecision(m, r)) expect({ delivery: i, redis: r }).toEqual({ delivery: i, redis: m });
    }
    // The totals are back for the entities the second half counted.
    const withTotals = [];
    for (const key of await entityHashKeys(client)) if ((await client.hget(key, 't')) !== null) withTotals.push(key);
    expect(withTotals.length).toBeGreaterThanOrEqual(6);
  });

  it('are read (a wrong total shows), and a wrong one is set right by the next TTL renewal rescan', async () => {
    const { memory, redis, client } = pair();
    const start = floorTo(Date.now(), DAY) - 4 * DAY;
    const first = stream(12, 120, start);
    for (const { event, receivedAt } of first) {
      await decideAt(memory, event, receivedAt);
      await decideAt(redis, event, receivedAt);
    }
    // Add one to every count total (the newest time they are valid for stays).
    let corrupted = 0;
    for (const key of await entityHashKeys(client)) {
      const raw = await client.hgetBuffer(key, 't');
      if (!raw || raw.length < 14) continue;
      const next = Buffer.from(raw);
      for (let at = 7; at + 7 <= next.length; at += 7) next.writeUIntLE(next.readUIntLE(at, 6) + 1, at, 6);
      await client.hset(key, 't', next);
      corrupted++;
    }
    expect(corrupted).toBeGreaterThanOrEqual(6);
    // Right after: the next in-time events read the wrong totals (so the totals are what is read).
    const last = first.at(-1)!.receivedAt;
    const soon = stream(13, 40, last + MINUTE).map((d, i) => ({ ...d, event: { ...d.event, account: first[i % first.length]!.event.account } }));
    let differ = 0;
    for (const { event, receivedAt } of soon) {
      if (!sameDecision(await decideAt(memory, event, receivedAt), await decideAt(redis, event, receivedAt))) differ++;
    }
    expect(differ).toBeGreaterThan(0);
    // 13 h later every entity renews its TTL on its next event, rescans, and agrees again.
    const later = stream(12, 120, last + 13 * HOUR).map((d) => ({ ...d, event: { ...d.event, id: `${d.event.id}_later` } }));
    for (const [i, { event, receivedAt }] of later.entries()) {
      const [m, r] = [await decideAt(memory, event, receivedAt), await decideAt(redis, event, receivedAt)];
      if (!sameDecision(m, r)) expect({ delivery: i, redis: r }).toEqual({ delivery: i, redis: m });
    }
  });
});
