/**
 * The shipped policy's key scenarios, as event sequences through the real decision flow (on the
 * embedded store), asserting on decisions: customers whose phones earned trust are approved (a
 * gamer's burst included); attackers on a device of their own are held, whether they drip past
 * the burst windows, drain just under the daily quota for days, retry after a hold, or the
 * victim has 2FA. The figures on simulated traffic are in README "The default policy".
 */
import { describe, expect, it } from 'vitest';
import { type DecideDeps, decide } from '../../../lib/decide.js';
import type { Decision, PaymentEvent } from '../../../lib/events.js';
import { IdentityHasher } from '../../../lib/identity.js';
import { loadPolicyFile } from '../../../lib/policy/load.js';
import { MemoryVelocityStore } from '../../../lib/velocity/memory.js';
import { DEFAULT_LIMITS } from '../../../lib/velocity/store.js';

const policy = loadPolicyFile('policies/default.yaml');
const T0 = Date.UTC(2026, 10, 16, 0, 0, 0);
const HOUR = 3_600_000;
const MIN = 60_000;

function deps(): DecideDeps {
  const store = new MemoryVelocityStore({ windows: policy.windows, ...DEFAULT_LIMITS, claimStaleMs: 2_000 });
  return { store, policy, hasher: new IdentityHasher('default-policy-test-pepper'), deadlineMs: 800, onStoreFailure: 'hold' };
}

let seq = 0;
function payment(p: {
  at: number; account: string; twoFactor?: boolean; device: string; linked?: string; amount: number;
  auth?: PaymentEvent['authMethod']; ip?: string;
}): PaymentEvent {
  return {
    id: `evt_${++seq}`,
    provider: 'generic',
    kind: 'authorization',
    occurredAt: p.at,
    amount: { minor: p.amount, currency: 'CNY' },
    account: { id: p.account, ...(p.twoFactor !== undefined && { twoFactor: p.twoFactor }), createdAt: Date.UTC(2023, 0, 1) },
    ...(p.linked && { linkedAccount: { id: p.linked, kind: 'apple_id' as const } }),
    merchant: { id: 'merchant_app_store', category: '5818' },
    authMethod: p.auth ?? 'password_free',
    device: { id: p.device },
    ip: p.ip ?? '203.0.113.10',
  };
}

/** A small deterministic PRNG so the "week" is varied but the same on every run. */
function prng(seed: number) {
  return (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
}

async function run(d: DecideDeps, events: PaymentEvent[]): Promise<Decision[]> {
  const out: Decision[] = [];
  // Each delivered on time: received when it occurred (the velocity clock's reference), on a clock starting there.
  for (const e of events) {
    const start = Date.now();
    out.push(await decide(e, { ...d, now: () => e.occurredAt + (Date.now() - start) }, e.occurredAt));
  }
  return out;
}

const DAY = 24 * HOUR;
const ids = (d: Decision) => d.reasons.map((r) => r.rule);

/** A customer's phone earns trust: an approved biometric payment from it (a shop, a few days before). */
async function trustPhone(d: DecideDeps, who: { account: string; twoFactor?: boolean; linked?: string; device: string }, at: number) {
  const [first] = await run(d, [payment({ ...who, at, amount: 4_500, auth: 'biometric' })]);
  expect(first!.decision).toBe('approve');
}

describe('default policy', () => {
  it('approves normal customers all week: a few purchases a day from their own phones, with and without 2FA', async () => {
    const d = deps();
    const rand = prng(7);
    const events: PaymentEvent[] = [];
    const customers = Array.from({ length: 12 }, (_, i) => ({
      account: `acct_normal_${i}`,
      twoFactor: i % 3 === 0 ? false : i % 3 === 1 ? true : undefined,
      device: `dev_normal_${i}`,
      linked: `appleid_normal_${i}`,
      ip: `198.51.100.${i}`,
    }));
    for (const c of customers) await trustPhone(d, c, T0 - 3 * DAY);
    for (let day = 0; day < 7; day++) {
      for (const c of customers) {
        const purchases = 1 + rand(3); // one to three a day
        for (let k = 0; k < purchases; k++) {
          const at = T0 + day * DAY + (8 + rand(14)) * HOUR + rand(60) * MIN;
          const auth = (['password_free', 'password_free', 'biometric', 'password'] as const)[rand(4)];
          events.push(payment({ ...c, at, amount: 100 + rand(14_900), auth })); // 1 to 150 CNY
        }
      }
    }
    events.sort((a, b) => a.occurredAt - b.occurredAt);
    const decisions = await run(d, events);
    expect(events.length).toBeGreaterThan(100);
    expect(decisions.filter((x) => x.decision === 'hold')).toEqual([]);
  });

  it("approves a trusted gamer's burst on their own phone, and holds the same burst from a device the account does not trust", async () => {
    const d = deps();
    const gamer = { account: 'acct_gamer', twoFactor: false, linked: 'appleid_gamer', device: 'dev_gamer_phone' };
    await trustPhone(d, gamer, T0 - 5 * DAY);
    // Earlier sessions: the gamer's own baseline.
    await run(d, [0, 2, 4].flatMap((day) => [0, 3, 6].map((m) => payment({ ...gamer, at: T0 - day * DAY - 2 * HOUR + m * MIN, amount: 6_800 }))));
    const session = [600, 3_000, 6_800, 64_800, 32_800, 12_800];
    const own = await run(d, session.map((amount, k) => payment({ ...gamer, at: T0 + 20 * HOUR + k * 90_000, amount })));
    expect(own.map((x) => x.decision)).toEqual(session.map(() => 'approve'));

    const victim = { account: 'acct_gamer_2', twoFactor: false, linked: 'appleid_gamer_2' };
    await trustPhone(d, { ...victim, device: 'dev_gamer_2_phone' }, T0 - 5 * DAY);
    const other = await run(d, session.map((amount, k) => payment({ ...victim, device: 'dev_unknown', ip: '192.0.2.7', at: T0 + 20 * HOUR + k * 90_000, amount })));
    expect(other.slice(3).map((x) => x.decision)).toEqual(['hold', 'hold', 'hold']);
  });

  for (const twoFactor of [false, true]) {
    it(`holds a fresh-device drip on day one, past the burst windows and after a retry (${twoFactor ? 'with' : 'without'} 2FA)`, async () => {
      const d = deps();
      const victim = { account: `acct_drip_${twoFactor}`, twoFactor, linked: `appleid_drip_${twoFactor}` };
      await trustPhone(d, { ...victim, device: 'dev_victim_phone' }, T0 - 10 * DAY);
      await run(d, [payment({ ...victim, device: 'dev_victim_phone', at: T0 - 2 * DAY, amount: 3_000 })]);
      // 648 CNY every 13 minutes from the attacker's own device and proxy IP, then a retry 45 minutes after the last hold.
      const drip = Array.from({ length: 5 }, (_, k) => payment({ ...victim, device: 'dev_attacker_fresh', ip: '198.51.7.7', at: T0 + 9 * HOUR + k * 13 * MIN, amount: 64_800 }));
      const decisions = await run(d, drip);
      const retry = await run(d, [payment({ ...victim, device: 'dev_attacker_fresh', ip: '198.51.7.7', at: T0 + 10 * HOUR + 37 * MIN, amount: 64_800 })]);
      expect([...decisions, ...retry].map((x) => x.decision)).toEqual(Array(6).fill('hold'));
      expect(ids(decisions[0]!)).toContain('untrusted-pf-budget');
      // The held attempts made the attacker's device neither known nor trusted.
      expect(ids(retry[0]!)).toEqual(expect.arrayContaining(['untrusted-pf-budget', 'pf-unknown-device']));
    });
  }

  it('holds multi-day drains just under the daily quotas by the second day at the latest (2FA and no 2FA)', async () => {
    const d = deps();
    const plans = [
      { who: { account: 'acct_drain_2fa', twoFactor: true, linked: 'appleid_drain_2fa' }, day: [64_800, 64_800, 64_800] }, // 1,944 CNY a day
      { who: { account: 'acct_drain_plain', twoFactor: false, linked: 'appleid_drain_plain' }, day: [19_800, 19_800, 6_800] }, // 464 CNY a day
    ];
    for (const { who } of plans) await trustPhone(d, { ...who, device: `${who.account}_phone` }, T0 - 10 * DAY);
    for (const { who, day: amounts } of plans) {
      const byDay: Decision[][] = [];
      for (let day = 0; day < 3; day++) {
        byDay.push(await run(d, amounts.map((amount, k) => payment({ ...who, device: 'dev_drainer', ip: '203.0.113.99', at: T0 + day * DAY + 10 * HOUR + k * 4 * HOUR, amount }))));
      }
      expect(byDay[1]!.map((x) => x.decision)).toEqual(amounts.map(() => 'hold'));
      expect(byDay[2]!.map((x) => x.decision)).toEqual(amounts.map(() => 'hold'));
      const lost = byDay.flat().reduce((sum, x, i) => sum + (x.decision === 'approve' ? amounts[i % amounts.length]! : 0), 0);
      expect(lost).toBeLessThanOrEqual(15_000); // at most the daily budget from an untrusted device
    }
  });

  it('lets an attacker who knows the budget take at most 500 CNY a week from an untrusted device', async () => {
    const d = deps();
    const victim = { account: 'acct_budget', twoFactor: false, linked: 'appleid_budget' };
    await trustPhone(d, { ...victim, device: 'dev_budget_phone' }, T0 - 10 * DAY);
    const decisions = await run(d, Array.from({ length: 7 }, (_, day) => payment({ ...victim, device: 'dev_patient', ip: '203.0.113.98', at: T0 + day * DAY + 11 * HOUR, amount: 14_800 })));
    const approved = decisions.filter((x) => x.decision === 'approve').length * 14_800;
    expect(approved).toBeLessThanOrEqual(50_000);
    expect(decisions.at(-1)!.decision).toBe('hold');
  });

  it('holds one attacker device working through many phished accounts, each charged once', async () => {
    const d = deps();
    const decisions = await run(
      d,
      Array.from({ length: 6 }, (_, k) =>
        payment({ account: `acct_phished_${k}`, twoFactor: true, linked: `appleid_phished_${k}`, device: 'dev_farm', ip: '192.0.2.99', at: T0 + k * 7 * MIN, amount: 49_900 }),
      ),
    );
    expect(decisions.map((x) => x.decision)).toEqual(Array(6).fill('hold'));
    expect(ids(decisions[5]!)).toEqual(expect.arrayContaining(['device-many-accounts', 'device-many-linked-accounts']));
  });

  it('scores password-free charges within a day of a new binding, and not a day later', async () => {
    const d = deps();
    const who = { account: 'acct_fresh_agreement', twoFactor: true, linked: 'appleid_fresh', device: 'dev_fresh' };
    await trustPhone(d, who, T0 - DAY);
    const hasher = d.hasher;
    await d.store.recordBinding({
      at: T0,
      state: 'bound',
      entities: [{ kind: 'account', key: hasher.entity('account', who.account) }, { kind: 'linkedAccount', key: hasher.entity('linkedAccount', who.linked) }],
    });
    const [first] = await run(d, [payment({ ...who, at: T0 + 10 * MIN, amount: 19_900 })]);
    expect(first!.decision).toBe('approve');
    expect(ids(first!)).toEqual(['pf-fresh-binding']);
    const later = await run(d, [payment({ ...who, at: T0 + 25 * HOUR, amount: 1_000 })]);
    expect(later[0]!.reasons).toEqual([]);
  });

  it("approves a gamer's session on a brand-new phone at home (a network the account has used for weeks), and holds it from a fresh proxy", async () => {
    const d = deps();
    const who = { account: 'acct_home', twoFactor: false, linked: 'appleid_home', ip: '203.0.113.77' };
    await trustPhone(d, { ...who, device: 'dev_home_old_phone' }, T0 - 40 * DAY);
    await run(d, [payment({ ...who, device: 'dev_home_old_phone', at: T0 - 2 * DAY, amount: 3_000, auth: 'biometric' })]);
    // A gamer: sessions on the old phone every few days (the baseline).
    await run(d, [20, 14, 8, 4].flatMap((ago) => [64_800, 6_800].map((amount, k) => payment({ ...who, device: 'dev_home_old_phone', at: T0 - ago * DAY + k * 3 * MIN, amount }))));
    const session = [3_000, 6_800, 12_800]; // 226 CNY: over the 150 CNY untrusted-device budget, well within the baseline
    const home = await run(d, session.map((amount, k) => payment({ ...who, device: 'dev_home_new_phone', at: T0 + k * 2 * MIN, amount })));
    expect(home.map((x) => x.decision)).toEqual(['approve', 'approve', 'approve']);
    const proxy = await run(d, session.map((amount, k) => payment({ ...who, device: 'dev_home_thief', ip: '198.51.100.250', at: T0 + HOUR + k * 2 * MIN, amount })));
    expect(proxy.at(-1)!.decision).toBe('hold');
    expect(ids(proxy.at(-1)!)).toContain('untrusted-pf-budget');
  });

  it('approves a customer paying from a new phone: small password-free first, then trusted after a biometric payment', async () => {
    const d = deps();
    const who = { account: 'acct_newphone', twoFactor: true, linked: 'appleid_newphone' };
    await trustPhone(d, { ...who, device: 'dev_old_phone' }, T0 - 20 * DAY);
    const decisions = await run(d, [
      payment({ ...who, at: T0, device: 'dev_new_phone', amount: 3_000 }),
      payment({ ...who, at: T0 + 2 * HOUR, device: 'dev_new_phone', amount: 8_800, auth: 'biometric' }),
      payment({ ...who, at: T0 + 5 * HOUR, device: 'dev_new_phone', amount: 64_800 }),
    ]);
    expect(decisions.map((x) => x.decision)).toEqual(['approve', 'approve', 'approve']);
    expect(ids(decisions[0]!)).toEqual(['pf-unknown-device']);
    expect(decisions[2]!.reasons).toEqual([]);
  });
});
