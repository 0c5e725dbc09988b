/**
 * The shipped policy against the case it was written for, through the real decision flow (on the
 * embedded store): normal customers are approved all week; the phished-Apple-ID attack is held
 * once it is under way, in its single-account and its many-accounts forms.
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

describe('default policy', () => {
  it('approves normal customers all week: a few purchases a day from known devices, with and without 2FA', async () => {
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
    for (let day = 0; day < 7; day++) {
      for (const c of customers) {
        const purchases = 1 + rand(3); // one to three a day
        for (let k = 0; k < purchases; k++) {
          const at = T0 + day * 24 * HOUR + (8 + rand(14)) * HOUR + rand(60) * MIN;
          const auth = (['password_free', 'password_free', 'biometric', 'password'] as const)[rand(4)];
          events.push(payment({ ...c, at, amount: 100 + rand(14_900), auth })); // 1 to 150 CNY
        }
      }
    }
    events.sort((a, b) => a.occurredAt - b.occurredAt);
    const decisions = await run(d, events);
    const held = decisions.filter((x) => x.decision === 'hold');
    expect(events.length).toBeGreaterThan(100);
    expect(held).toEqual([]);
  });

  it('holds the phished Apple ID at work on one account once the attack is under way', async () => {
    const d = deps();
    const victim = { account: 'acct_victim', twoFactor: false, linked: 'appleid_victim' };
    const history = await run(d, [
      payment({ ...victim, at: T0, device: 'dev_victim_phone', amount: 1_200, auth: 'biometric' }),
      payment({ ...victim, at: T0 + 3 * HOUR, device: 'dev_victim_phone', amount: 600 }),
    ]);
    expect(history.map((x) => x.decision)).toEqual(['approve', 'approve']);
    const attack = await run(
      d,
      Array.from({ length: 5 }, (_, k) =>
        payment({ ...victim, at: T0 + 6 * HOUR + k * MIN, device: 'dev_attacker', ip: '192.0.2.66', amount: 199_900 }),
      ),
    );
    expect(attack.map((x) => x.decision)).toEqual(['hold', 'hold', 'hold', 'hold', 'hold']);
    // The first attacker charge: new device on an account without 2FA.
    expect(attack[0]!.reasons.map((r) => r.rule)).toEqual(expect.arrayContaining(['pf-new-device', 'no-2fa-new-device']));
    expect(attack[1]!.reasons.map((r) => r.rule)).toContain('pf-quota-linked-account');
  });

  it('holds an account with 2FA once password-free spend through its linked account passes the daily quota', async () => {
    const d = deps();
    const who = { account: 'acct_2fa', twoFactor: true, linked: 'appleid_2fa', device: 'dev_2fa' };
    const decisions = await run(d, [
      payment({ ...who, at: T0, amount: 90_000 }),
      payment({ ...who, at: T0 + 4 * HOUR, amount: 90_000 }),
      payment({ ...who, at: T0 + 8 * HOUR, amount: 19_999 }), // 1,999.99 CNY in total: still inside the quota
      payment({ ...who, at: T0 + 9 * HOUR, amount: 2 }), // 2,000.01 CNY: over
    ]);
    expect(decisions.map((x) => x.decision)).toEqual(['approve', 'approve', 'approve', 'hold']);
    expect(decisions[3]!.reasons[0]!.rule).toBe('pf-quota-linked-account');
  });

  it('holds one attacker device working through many phished accounts, each charged once', async () => {
    const d = deps();
    const decisions = await run(
      d,
      Array.from({ length: 6 }, (_, k) =>
        payment({ account: `acct_phished_${k}`, twoFactor: true, linked: `appleid_phished_${k}`, device: 'dev_farm', ip: '192.0.2.99', at: T0 + k * 7 * MIN, amount: 49_900 }),
      ),
    );
    // New accounts, one small charge each: nothing per account stands out; the shared device does.
    expect(decisions.slice(0, 2).map((x) => x.decision)).toEqual(['approve', 'approve']);
    expect(decisions.slice(3).map((x) => x.decision)).toEqual(['hold', 'hold', 'hold']);
    expect(decisions[5]!.reasons.map((r) => r.rule)).toEqual(expect.arrayContaining(['device-many-accounts', 'device-many-linked-accounts']));
  });

  it('scores password-free charges within a day of a new binding, and holds the burst that follows it', async () => {
    const d = deps();
    const who = { account: 'acct_fresh_agreement', twoFactor: true, linked: 'appleid_fresh', device: 'dev_fresh' };
    const hasher = d.hasher;
    await d.store.recordBinding({
      at: T0,
      state: 'bound',
      entities: [{ kind: 'account', key: hasher.entity('account', who.account) }, { kind: 'linkedAccount', key: hasher.entity('linkedAccount', who.linked) }],
    });
    const [first, ...burst] = await run(
      d,
      Array.from({ length: 3 }, (_, k) => payment({ ...who, at: T0 + 10 * MIN + k * MIN, amount: 19_900 })),
    );
    expect(first!.decision).toBe('approve');
    expect(first!.reasons.map((r) => r.rule)).toEqual(['pf-fresh-binding']);
    expect(burst.map((x) => x.decision)).toEqual(['approve', 'hold']); // +30 fresh binding, +40 burst at the third
    // A day later the binding is no longer fresh.
    const later = await run(d, [payment({ ...who, at: T0 + 25 * HOUR, amount: 1_000 })]);
    expect(later[0]!.reasons).toEqual([]);
  });

  it('approves a customer with 2FA paying from a new phone, and says why it scored', async () => {
    const d = deps();
    const who = { account: 'acct_newphone', twoFactor: true, linked: 'appleid_newphone' };
    const decisions = await run(d, [
      payment({ ...who, at: T0, device: 'dev_old_phone', amount: 3_000 }),
      payment({ ...who, at: T0 + 30 * HOUR, device: 'dev_new_phone', amount: 3_000 }),
    ]);
    expect(decisions.map((x) => x.decision)).toEqual(['approve', 'approve']);
    expect(decisions[1]!.reasons.map((r) => r.rule)).toEqual(['pf-new-device', 'linked-account-new-device']);
    expect(decisions[1]!.score).toBe(60);
  });
});
