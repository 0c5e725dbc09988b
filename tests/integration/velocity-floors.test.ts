/**
 * Redis keeps a floor per related set ("z<relation codes>" in an entity's hash, relate in velocity.lua): no member's
 * last seen is below it. While the floor is above the retention's cutoff no member is past it, so
 * ZADD's reply alone says whether the event's member is new (no ZSCORE per relation). The floor is a
 * hint: answers must equal the memory store's (which has none) when floors are missing (sets written
 * before them), and sets get one back (after a trim, or at the entity's 12-hourly TTL renewal).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../lib/events.js';
import type { Runtime } from '../../lib/runtime.js';
import type { RedisVelocityStore } from '../../lib/velocity/redis.js';
import { DAY, HOUR, MINUTE, decideAt, entityHashKeys, floorTo, payment, seeded, v2Runtime } from '../support/velocity-v2.js';

/** Eight customers paying every few minutes in time order, each mostly from its own device and IP, sometimes another's. */
function stream(seed: number, count: number, start: number, tag: string) {
  const random = seeded(seed);
  let at = start;
  return Array.from({ length: count }, (_, i) => {
    at += Math.floor(random() * 20 * MINUTE);
    const c = Math.floor(random() * 8);
    const other = random() < 0.1 ? Math.floor(random() * 8) : c;
    return {
      event: payment({
        id: `evt_floors_${tag}_${seed}_${i}`,
        at,
        account: `acct_floors_${seed}_${c}`,
        device: `dev_floors_${seed}_${other}`,
        ip: `10.8.${seed % 200}.${other}`,
        linkedAccount: `apple_floors_${seed}_${c}`,
        instrument: `card_floors_${seed}_${c}`,
        merchant: `merchant_floors_${seed}_${c % 3}`,
        minor: 100 + Math.floor(random() * 99_900),
        currency: 'CNY',
        passwordFree: random() < 0.6,
      }),
      receivedAt: at + Math.floor(random() * 2_000),
    };
  });
}

const same = (a: Decision, b: Decision) => JSON.stringify(a) === JSON.stringify(b);
const zscoreCalls = async (client: Redis) => Number(/cmdstat_zscore:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);

describe('related sets floors on Redis', () => {
  const open: Runtime[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((rt) => rt.store.close()));
  });

  it('answers equal the memory store when floors are missing; the renewal gives them back and then novelty needs no ZSCORE', async () => {
    const pepper = randomBytes(16).toString('hex');
    const memory = v2Runtime('memory', { pepper });
    const redis = v2Runtime('redis', { pepper });
    open.push(memory, redis);
    const client = (redis.store as RedisVelocityStore).client as Redis;
    const start = floorTo(Date.now(), DAY) - 4 * DAY;
    const first = stream(21, 150, start, 'a');
    const check = async (deliveries: ReturnType<typeof stream>) => {
      for (const [i, { event, receivedAt }] of deliveries.entries()) {
        const [m, r] = [await decideAt(memory, event, receivedAt), await decideAt(redis, event, receivedAt)];
        expect(r.degraded).toBe(false);
        if (!same(m, r)) expect({ delivery: i, redis: r }).toEqual({ delivery: i, redis: m });
      }
    };
    await check(first);
    // As if every set had been written before floors: the next events take the ZSCORE path and stay exact.
    let dropped = 0;
    for (const key of await entityHashKeys(client)) {
      const floors = (await client.hkeys(key)).filter((f) => /^z[a-z]+$/.test(f));
      if (floors.length > 0) dropped += await client.hdel(key, ...floors);
    }
    expect(dropped).toBeGreaterThan(20);
    const last = first.at(-1)!.receivedAt;
    const before = await zscoreCalls(client);
    const soon = stream(21, 40, last + MINUTE, 'b');
    await check(soon);
    const withoutFloors = (await zscoreCalls(client)) - before;
    // 13 h later each entity renews its TTL on its next event and reads its floors again.
    await check(stream(21, 60, last + 13 * HOUR, 'c'));
    const withFloors = await zscoreCalls(client);
    const later = stream(21, 40, last + 14 * HOUR, 'd');
    await check(later);
    const afterRenewal = (await zscoreCalls(client)) - withFloors;
    // Without floors every related member asks ZSCORE; with them, only none or a few (a set whose floor fell behind).
    expect(withoutFloors).toBeGreaterThanOrEqual(40 * 3);
    expect(afterRenewal).toBeLessThan(withoutFloors / 4);
  });
});
