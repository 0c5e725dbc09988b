/**
 * Issue 9's repros, black-box through decide() on the memory store, Redis and the cluster: any arrival
 * order, no escape by backdating, late deliveries, windows that never undercount, hot entities and
 * amount sums that saturate. Each store is built from the environment as the Lambda builds it
 * (RISKHOOK_MAX_EVENT_LAG, the policy file), so these tests hold whatever the store keeps inside.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../lib/events.js';
import type { Runtime } from '../../lib/runtime.js';
import { ControlledRedis } from '../support/redis-control.js';
import {
  DAY,
  DEFAULT_POLICY,
  HOUR,
  MAX_MINOR,
  MINUTE,
  SECOND,
  V2_STORE_KINDS,
  type V2RuntimeOptions,
  type V2StoreKind,
  decideAt,
  feature,
  floorTo,
  payment,
  rawId,
  seeded,
  v2Runtime,
} from '../support/velocity-v2.js';

/** 40 currencies for the hot merchant. */
const CURRENCIES = (
  'CNY USD EUR JPY GBP HKD SGD AUD CAD CHF SEK NOK DKK NZD KRW TWD THB MYR IDR PHP ' +
  'INR VND BRL MXN ZAR TRY PLN CZK HUF ILS AED SAR QAR KWD EGP NGN KES CLP COP PEN'
).split(' ');

/** The 700-event field pile-up: hourly events for one account and merchant, newest first, then a live one. */
async function newestFirstHistory(rt: Runtime, now: number) {
  const [account, merchant, device] = [rawId('acct'), rawId('merchant'), rawId('dev')];
  const degraded: number[] = [];
  for (let i = 1; i <= 700; i++) {
    const d = await decideAt(rt, payment({ at: now - i * HOUR, account, merchant, device, minor: 1_999 }), now);
    if (d.degraded) degraded.push(i);
  }
  const live = await decideAt(rt, payment({ at: now, account, merchant, device }), now);
  const otherCustomer = await decideAt(rt, payment({ at: now, account: rawId('acct'), merchant, device: rawId('dev') }), now);
  return { degraded, live, otherCustomer };
}

describe('velocity v2', () => {
  describe.each(V2_STORE_KINDS)('issue 9 repros on the %s store', (kind: V2StoreKind) => {
    const open: Runtime[] = [];
    const runtime = (options: V2RuntimeOptions = {}) => {
      const rt = v2Runtime(kind, options);
      open.push(rt);
      return rt;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((rt) => rt.store.close()));
    });

    // --- 1. any arrival order -------------------------------------------------------------------

    it('700 hourly events newest first, then a live one: nothing degraded, nor another customer of the same merchant', async () => {
      const { degraded, live, otherCustomer } = await newestFirstHistory(runtime({ maxEventLag: '30d' }), Date.now());
      expect(degraded).toEqual([]);
      expect(live.degraded).toBe(false);
      expect(otherCustomer.degraded).toBe(false);
      // The live event sees the history of its last day (the newest-first events within 24 h).
      expect(feature(live, 'account.count.24h')).toBeGreaterThanOrEqual(24);
    }, 180_000); // today's script slows down with every field it piles up

    // --- 2. no escape by backdating or order ------------------------------------------------------

    it('five password-free 1,999 CNY payments an hour apart: sent newest first, the default policy holds at least as many as oldest first', async () => {
      const rt = runtime({ policy: DEFAULT_POLICY });
      const now = Date.now();
      const held = async (hoursBack: number[]) => {
        const [account, device] = [rawId('acct'), rawId('dev')];
        const decisions: Decision[] = [];
        for (const h of hoursBack) {
          decisions.push(await decideAt(rt, payment({ at: now - h * HOUR, account, device, minor: 199_900, twoFactor: true }), now));
        }
        expect(decisions.map((d) => d.degraded)).toEqual([false, false, false, false, false]);
        return decisions.filter((d) => d.decision === 'hold').length;
      };
      const oldestFirst = await held([4, 3, 2, 1, 0]);
      const newestFirst = await held([0, 1, 2, 3, 4]);
      // In time order the 2,000 CNY quota alone holds the last four (the untrusted-device budget may hold the first too).
      expect(oldestFirst).toBeGreaterThanOrEqual(4);
      expect(newestFirst).toBeGreaterThanOrEqual(oldestFirst);
    });

    it('a payment dated 30 days back counts no earlier than receivedAt minus the allowed lag (default)', async () => {
      const rt = runtime();
      const now = Date.now();
      const [account, own, attacker] = [rawId('acct'), rawId('dev'), rawId('dev')];
      // Received now, dated 30 days back: the account's and the attacker device's first sighting.
      await decideAt(rt, payment({ at: now - 30 * DAY, account, device: attacker }), now);
      await decideAt(rt, payment({ at: now - 10 * MINUTE, account, device: own }), now - 10 * MINUTE);
      const live = await decideAt(rt, payment({ at: now + MINUTE, account, device: attacker }), now + MINUTE);
      expect(live.degraded).toBe(false);
      // Not 30 days old: at most the default lag (about a day; 3 days is far above any sane default).
      expect(feature(live, 'device.seenForMs')).toBeLessThanOrEqual(3 * DAY + MINUTE);
      expect(feature(live, 'account.ageMs')).toBeLessThanOrEqual(3 * DAY + MINUTE);
    });

    it('a device seen only by an event dated 30 days back (lag 30d) is new to the account: first-seen facts stay within the retention', async () => {
      const rt = runtime({ maxEventLag: '30d' });
      const now = Date.now();
      const [account, own, attacker] = [rawId('acct'), rawId('dev'), rawId('dev')];
      await decideAt(rt, payment({ at: now - HOUR, account, device: own }), now - HOUR);
      await decideAt(rt, payment({ at: now - 30 * DAY, account, device: attacker }), now);
      const live = await decideAt(rt, payment({ at: now, account, device: attacker }), now);
      expect(live.degraded).toBe(false);
      expect(feature(live, 'account.isNew')).toBe(false);
      expect(feature(live, 'account.isNewDevice')).toBe(true);
      expect(live.reasons.map((r) => r.rule)).toContain('new-device');
    });

    it('a payment delivered 16 minutes late, after the 4 newer ones of its burst, sees the burst', async () => {
      const rt = runtime();
      const t = floorTo(Date.now(), MINUTE) - 20 * MINUTE + 10 * SECOND;
      const [account, device] = [rawId('acct'), rawId('dev')];
      for (let i = 1; i <= 4; i++) await decideAt(rt, payment({ at: t + i * MINUTE, account, device }), t + i * MINUTE);
      const late = await decideAt(rt, payment({ at: t, account, device }), t + 16 * MINUTE);
      expect(late.degraded).toBe(false);
      expect(feature(late, 'account.passwordFree.count.10m')).toBe(5);
    });

    // --- 3. windows never undercount ----------------------------------------------------------------

    it('three charges within 9 min 40 s count 3 in 10m; one 11 min 1 s before the last does not count', async () => {
      const rt = runtime();
      const t0 = floorTo(Date.now(), MINUTE) - HOUR;
      const [account, device] = [rawId('acct'), rawId('dev')];
      const last = t0 + 10 * MINUTE + 10 * SECOND;
      const times = [last - 11 * MINUTE - SECOND, t0 + 30 * SECOND, t0 + 5 * MINUTE, last];
      let decision: Decision | undefined;
      for (const at of times) decision = await decideAt(rt, payment({ at, account, device }), at);
      expect(feature(decision!, 'account.count.10m')).toBe(3);
      expect(feature(decision!, 'account.passwordFree.count.10m')).toBe(3);
    });

    it('1,500 + 1,500 CNY 23 h 50 min apart sum to 300,000 fen in 24h; one 25 h 1 s before does not count', async () => {
      const rt = runtime();
      const t1 = floorTo(Date.now() - 2 * DAY, HOUR) + 55 * MINUTE;
      const t2 = t1 + 23 * HOUR + 50 * MINUTE;
      const [account, device] = [rawId('acct'), rawId('dev')];
      let decision: Decision | undefined;
      for (const at of [t2 - 25 * HOUR - SECOND, t1, t2]) {
        decision = await decideAt(rt, payment({ at, account, device, minor: 150_000, passwordFree: false }), at);
      }
      expect(feature(decision!, 'account.amount.24h')).toBe(300_000);
      expect(feature(decision!, 'account.count.24h')).toBe(2);
    });

    // --- 4. hot entities --------------------------------------------------------------------------

    it('a merchant paid in 40 currencies: each currency sums only its own amounts', async () => {
      const rt = runtime();
      const now = Date.now();
      const merchant = rawId('merchant');
      const expected = new Map<string, number>();
      let n = 0;
      for (const [i, currency] of CURRENCIES.entries()) {
        for (let k = 0; k <= i % 3; k++) {
          const minor = 1_000 * (i + 1) + k;
          await decideAt(rt, payment({ at: now - (i + 1) * MINUTE, account: rawId('acct'), merchant, minor, currency }), now);
          expected.set(currency, (expected.get(currency) ?? 0) + minor);
          n++;
        }
      }
      for (const currency of CURRENCIES) {
        const d = await decideAt(rt, payment({ at: now, account: rawId('acct'), merchant, minor: 7, currency }), now);
        n++;
        expect(feature(d, 'merchant.amount.24h'), currency).toBe(expected.get(currency)! + 7);
        expect(feature(d, 'merchant.passwordFree.amount.24h'), currency).toBe(expected.get(currency)! + 7);
        expect(feature(d, 'merchant.count.24h'), currency).toBe(n);
        expected.set(currency, expected.get(currency)! + 7);
      }
    });

    it('a long-history entity (1,200 events over 7 days, 3 currencies, shuffled) sums every window exactly', async () => {
      const rt = runtime({ maxEventLag: '30d' });
      const now = Date.now();
      const t = floorTo(now, 12 * HOUR); // a boundary of every bucket: the windows start on one too
      const random = seeded(9);
      const [account, device, merchant] = [rawId('acct'), rawId('dev'), rawId('merchant')];
      const sent: { at: number; minor: number; currency: string; passwordFree: boolean }[] = [];
      for (let i = 0; i < 1_200; i++) {
        const r = random();
        sent.push({
          // Never on a window's start (whole minutes), so "from t - W" is unambiguous.
          at: t - (1 + Math.floor(random() * (7 * DAY - 2 * SECOND) / SECOND)) * SECOND - 137,
          minor: 1 + Math.floor(random() * 300_000),
          currency: r < 0.7 ? 'CNY' : r < 0.9 ? 'USD' : 'EUR',
          passwordFree: random() < 0.5,
        });
      }
      for (const e of sent) {
        const d = await decideAt(rt, payment({ ...e, account, device, merchant }), now);
        expect(d.degraded).toBe(false);
      }
      for (const currency of ['CNY', 'USD', 'EUR', 'JPY']) {
        const probe = { at: t, minor: 1, currency, passwordFree: true };
        sent.push(probe);
        const d = await decideAt(rt, payment({ ...probe, account, device, merchant }), now);
        for (const [window, ms] of [['10m', 10 * MINUTE], ['1h', HOUR], ['24h', DAY], ['7d', 7 * DAY]] as const) {
          const inWindow = sent.filter((e) => e.at >= t - ms);
          const same = inWindow.filter((e) => e.currency === currency);
          const sum = (xs: typeof sent) => xs.reduce((s, e) => s + e.minor, 0);
          const where = `${currency} ${window}`;
          expect(feature(d, `account.count.${window}`), where).toBe(inWindow.length);
          expect(feature(d, `account.amount.${window}`), where).toBe(sum(same));
          expect(feature(d, `account.passwordFree.count.${window}`), where).toBe(inWindow.filter((e) => e.passwordFree).length);
          expect(feature(d, `account.passwordFree.amount.${window}`), where).toBe(sum(same.filter((e) => e.passwordFree)));
        }
      }
    });

    it('amount sums saturate at 2^53 - 1 minor units (no wrap, no float)', async () => {
      const rt = runtime();
      const now = Date.now();
      const [account, merchant] = [rawId('acct'), rawId('merchant')];
      let d: Decision | undefined;
      for (const minor of [MAX_MINOR, MAX_MINOR, 5, MAX_MINOR, 1]) {
        d = await decideAt(rt, payment({ at: now, account, merchant, minor }), now);
        expect(d.degraded).toBe(false);
      }
      for (const name of ['account.amount.24h', 'account.amount.7d', 'account.passwordFree.amount.24h', 'merchant.amount.24h']) {
        expect(feature(d!, name), name).toBe(MAX_MINOR);
      }
      expect(feature(d!, 'account.count.24h')).toBe(5);
    });
  });

  describe('issue 9 repro on a private Redis: every hash stays bounded', () => {
    let server: ControlledRedis;
    let admin: Redis;
    beforeAll(async () => {
      server = await ControlledRedis.start();
      admin = new Redis(server.url);
    });
    afterAll(async () => {
      admin?.disconnect();
      await server?.close();
    });

    it('after 700 hourly events newest first and a live one, no key holds more than a few hundred fields or members, and every key expires', async () => {
      const rt = v2Runtime('redis', { maxEventLag: '30d', redisUrl: server.url });
      try {
        const { degraded, live, otherCustomer } = await newestFirstHistory(rt, Date.now());
        expect.soft([degraded, live.degraded, otherCustomer.degraded]).toEqual([[], false, false]);
      } finally {
        await rt.store.close();
      }
      const sizes: { key: string; type: string; size: number; ttl: number }[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await admin.scan(cursor, 'COUNT', 1_000);
        cursor = next;
        for (const key of batch) {
          // Operations keys (reviews, holds) are not velocity: open reviews are kept until closed, by design.
          if (key.startsWith('rh:{ops}:')) continue;
          const type = await admin.type(key);
          const size = type === 'hash' ? await admin.hlen(key) : type === 'zset' ? await admin.zcard(key) : type === 'set' ? await admin.scard(key) : 1;
          sizes.push({ key, type, size, ttl: await admin.pttl(key) });
        }
      } while (cursor !== '0');
      expect(sizes.length).toBeGreaterThan(0);
      // Today's layout piled up ~8,650 fields here; the default windows have 65 buckets in all.
      const largest = sizes.reduce((a, b) => (b.size > a.size ? b : a));
      expect(largest.size, `${largest.type} ${largest.key}`).toBeLessThanOrEqual(300);
      expect(sizes.filter((s) => s.ttl < 0).map((s) => s.key)).toEqual([]);
    }, 180_000);
  });
});
