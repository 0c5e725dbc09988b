/**
 * One behaviour, two stores: every case runs against the Redis store (real redis-server) and the
 * embedded memory store, and a differential case checks they agree on a random event stream.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ENTITY_KINDS, type EntityKind } from '../../lib/events.js';
import { buildFeatures } from '../../lib/policy/features.js';
import { compilePolicy, loadPolicyFile } from '../../lib/policy/load.js';
import { buildPlan } from '../../lib/velocity/plan.js';
import { type EntityUpdate, type RecordRequest, RELATIONS, type VelocityStore } from '../../lib/velocity/store.js';
import { STORE_KINDS, makeStore, randomKey, testLimits } from '../support/stores.js';

const T0 = Date.UTC(2026, 10, 22, 9, 0, 0); // on a bucket boundary of every default window
const MIN = 60_000;

function entity(kind: EntityKind, key: string, members: EntityUpdate['members'] = []): EntityUpdate {
  return { kind, key, members, relations: RELATIONS[kind] };
}

function event(at: number, entities: EntityUpdate[], extra: Partial<RecordRequest> = {}): RecordRequest {
  return { eventKey: randomKey(), at, amountMinor: 1_000, currency: 'CNY', passwordFree: false, entities, ...extra };
}

describe.each(STORE_KINDS)('VelocityStore contract: %s', (kind) => {
  const open: VelocityStore[] = [];
  const store = (overrides = {}) => {
    const s = makeStore(kind, testLimits(overrides));
    open.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('counts the current event in its own windows, per currency and per password-free', async () => {
    const s = store();
    const account = randomKey();
    await s.record(event(T0, [entity('account', account)], { amountMinor: 500, passwordFree: true }));
    await s.record(event(T0 + MIN, [entity('account', account)], { amountMinor: 700, currency: 'USD' }));
    const snap = await s.record(event(T0 + 2 * MIN, [entity('account', account)], { amountMinor: 300 }));
    expect(snap.account!.windows['10m']).toMatchObject({ count: 3, amount: 800, passwordFreeCount: 1, passwordFreeAmount: 500 });
    expect(snap.account!.windows['7d']!.count).toBe(3);
  });

  it('measures windows on the velocity clock, the oldest (straddling) bucket counted in full: never an undercount', async () => {
    const s = store();
    const account = randomKey();
    await s.record(event(T0 + 30_000, [entity('account', account)], { amountMinor: 1_000 }));
    // 10m at T0+10m15s covers T0+15s..: the bucket of T0 (T0..T0+1m) is read in full, so the first event counts.
    const snap = await s.record(event(T0 + 10 * MIN + 15_000, [entity('account', account)], { amountMinor: 200 }));
    expect(snap.account!.windows['10m']).toMatchObject({ count: 2, amount: 1_200 });
    // At T0+11m the window starts in the next bucket: the first event is out.
    const out = await s.record(event(T0 + 11 * MIN, [entity('account', account)], { amountMinor: 1 }));
    expect(out.account!.windows['10m']).toMatchObject({ count: 2, amount: 201 });
    // An event 2 h later sees only itself in 1h and all of them in 24h.
    const later = await s.record(event(T0 + 130 * MIN, [entity('account', account)], { amountMinor: 1 }));
    expect(later.account!.windows['1h']!.count).toBe(1);
    expect(later.account!.windows['24h']).toMatchObject({ count: 4, amount: 1_202 });
  });

  it('counts a backdated event no earlier than receivedAt minus the lag, and a future one no later than receivedAt + 5 min', async () => {
    const s = store({ maxEventLagMs: 25 * 3_600_000 });
    const account = randomKey();
    const old = await s.record(event(T0 - 30 * 86_400_000, [entity('account', account)], { receivedAt: T0 }));
    expect(old.account!.countedAt).toBe(T0 - 25 * 3_600_000);
    expect(old.account!.firstSeenAt).toBe(T0 - 25 * 3_600_000);
    const ahead = await s.record(event(T0 + 3_600_000, [entity('account', account)], { receivedAt: T0 }));
    expect(ahead.account!.countedAt).toBe(T0 + 5 * MIN);
    expect(ahead.account!.windows['24h']!.count).toBe(1); // 25 h apart
    expect(ahead.account!.windows['7d']!.count).toBe(2);
  });

  it('judges a late or out-of-order event on everything up to the entity\'s newest time', async () => {
    const s = store();
    const account = randomKey();
    // A burst of five, the first delivered 16 minutes late, after the other four and after a newer one.
    for (let i = 1; i <= 4; i++) await s.record(event(T0 + i * MIN, [entity('account', account)], { passwordFree: true }));
    await s.record(event(T0 + 16 * MIN, [entity('account', account)]));
    const late = await s.record(event(T0 + 10_000, [entity('account', account)], { passwordFree: true, receivedAt: T0 + 16 * MIN }));
    expect(late.account!.windows['10m']!.passwordFreeCount).toBeGreaterThanOrEqual(5);
    expect(late.account!.newestAt).toBe(T0 + 16 * MIN);
    // Newest first: the oldest still sees the newer ones in its windows.
    const other = randomKey();
    for (const back of [0, 1, 2, 3, 4]) {
      const snap = await s.record(event(T0 - back * 3_600_000, [entity('account', other)], { passwordFree: true, amountMinor: 199_900 }));
      expect(snap.account!.windows['24h']!.passwordFreeAmount).toBe((back + 1) * 199_900);
    }
  });

  it('stays bounded on any history: 700 hourly events newest first keep at most a ring of buckets', async () => {
    const s = store({ maxEventLagMs: 30 * 86_400_000 });
    const account = randomKey();
    for (let i = 0; i < 700; i++) {
      await s.record(event(T0 - i * 3_600_000, [entity('account', account)], { receivedAt: T0 }));
    }
    const live = await s.record(event(T0 + MIN, [entity('account', account)], { receivedAt: T0 + MIN }));
    expect(live.account!.windows['24h']!.count).toBe(26); // T0 - 24 h (the oldest, straddling hour) to T0, and itself
    expect(live.account!.windows['10m']!.count).toBe(2);
  });

  it('saturates amount sums at 2^53 - 1', async () => {
    const s = store();
    const account = randomKey();
    let snap;
    for (const minor of [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 7]) {
      snap = await s.record(event(T0, [entity('account', account)], { amountMinor: minor }));
    }
    expect(snap!.account!.windows['24h']).toMatchObject({ count: 3, amount: Number.MAX_SAFE_INTEGER });
  });

  it('commits approved spend and device trust once; a held payment makes no device known or trusted', async () => {
    const s = store();
    const [account, device, other] = [randomKey(), randomKey(), randomKey()];
    const pay = (at: number, d: string, extra: Partial<RecordRequest> = {}) =>
      event(at, [entity('account', account, [{ relation: 'device', member: d }])], { amountMinor: 5_000, passwordFree: true, ...extra });
    const decided = (r: RecordRequest, decision: 'approve' | 'hold') => ({
      ...r, strongAuth: !r.passwordFree,
      decision: { eventId: r.eventKey, decision, score: 0, reasons: [], features: {}, policyVersion: 't', degraded: false as const },
    });
    // Held: no device record, and its spend is not approved spend.
    const held = pay(T0, device);
    expect((await s.record(held)).account!.device).toBeNull();
    await s.commit(decided(held, 'hold'));
    // Approved, password-free: known, not trusted.
    const first = pay(T0 + MIN, device);
    const a = await s.record(first);
    expect(a.account!.device).toBeNull();
    expect(a.account!.windows['24h']).toMatchObject({ approvedCount: 0, untrustedPasswordFreeCount: 2, untrustedPasswordFreeAmount: 10_000 });
    await s.commit(decided(first, 'approve'));
    await s.commit(decided(first, 'approve')); // a second commit of the same event adds nothing
    // Approved with a password: trusted from then on.
    const strong = pay(T0 + 2 * MIN, device, { passwordFree: false });
    const b = await s.record(strong);
    expect(b.account!.device).toEqual({ firstSeenAt: T0 + MIN, lastSeenAt: T0 + MIN });
    await s.commit(decided(strong, 'approve'));
    const c = await s.record(pay(T0 + 3 * MIN, device));
    expect(c.account!.device).toEqual({ firstSeenAt: T0 + MIN, lastSeenAt: T0 + 2 * MIN, trustedAt: T0 + 2 * MIN });
    expect(c.account!.windows['24h']).toMatchObject({
      count: 4, approvedCount: 2, approvedAmount: 10_000, passwordFreeCount: 3, untrustedPasswordFreeCount: 2, untrustedPasswordFreeAmount: 10_000,
    });
    // Another device of the same account is neither known nor trusted.
    expect((await s.record(pay(T0 + 4 * MIN, other))).account!.device).toBeNull();
  });

  it("gives the default policy's features over 30 days: daily averages, untrusted budgets, device trust and age", async () => {
    const policy = loadPolicyFile('policies/default.yaml');
    const s = store({ windows: policy.windows, plan: policy.plan });
    const DAY = 24 * 60 * MIN;
    const [account, linked, phone, attacker] = [randomKey(), randomKey(), randomKey(), randomKey()];
    const pay = (at: number, device: string, amountMinor: number, passwordFree = true) =>
      event(at, [
        entity('account', account, [{ relation: 'device', member: device }, { relation: 'linkedAccount', member: linked }]),
        entity('linkedAccount', linked, [{ relation: 'account', member: account }, { relation: 'device', member: device }]),
        entity('device', device, [{ relation: 'account', member: account }, { relation: 'linkedAccount', member: linked }]),
      ], { amountMinor, passwordFree });
    const commit = (r: RecordRequest, decision: 'approve' | 'hold') =>
      s.commit({ ...r, strongAuth: !r.passwordFree, decision: { eventId: r.eventKey, decision, score: 0, reasons: [], features: {}, policyVersion: 't', degraded: false as const } });
    const features = async (r: RecordRequest) => {
      const snapshot = await s.record(r);
      const ev = { id: r.eventKey, provider: 'generic', kind: 'authorization', occurredAt: r.at, amount: { minor: r.amountMinor, currency: 'CNY' }, account: { id: 'a', twoFactor: true },
        merchant: { id: 'm' }, authMethod: r.passwordFree ? 'password_free' : 'biometric', device: { id: 'd' }, linkedAccount: { id: 'l', kind: 'apple_id' } } as const;
      return buildFeatures(ev as never, snapshot, policy.readers);
    };
    // The phone earns trust on day 0 (biometric, approved); 100 CNY password-free on days 1..9 from it, approved.
    const strong = pay(T0, phone, 5_000, false);
    await s.record(strong);
    await commit(strong, 'approve');
    for (let day = 1; day <= 9; day++) {
      const r = pay(T0 + day * DAY, phone, 10_000);
      await s.record(r);
      await commit(r, 'approve');
    }
    // Day 10: the phone is trusted for 10 days; 1,000 CNY password-free in the 30 d window over 11 days seen.
    const own = await features(pay(T0 + 10 * DAY, phone, 10_000));
    expect(own['account.device.trusted']).toBe(true);
    expect(own['account.device.seenForMs']).toBe(10 * DAY);
    expect(own['account.passwordFree.amount.dailyAverage.30d']).toBe(Math.round(100_000 / 10));
    expect(own['account.untrusted.passwordFree.amount.24h']).toBe(0);
    // The attacker's device: held attempts count against the untrusted budget, never make it known or trusted.
    const first = pay(T0 + 10 * DAY + MIN, attacker, 64_800);
    await s.record(first);
    await commit(first, 'hold');
    const retry = await features(pay(T0 + 10 * DAY + 40 * MIN, attacker, 64_800));
    expect(retry['account.device.trusted']).toBe(false);
    expect(retry['account.device.known']).toBe(false);
    expect(retry['account.device.seenForMs']).toBeUndefined();
    expect(retry['linkedAccount.device.seenForMs']).toBeUndefined();
    expect(retry['account.untrusted.passwordFree.amount.24h']).toBe(2 * 64_800);
    expect(retry['account.untrusted.passwordFree.amount.7d']).toBe(2 * 64_800);
    expect(retry['account.untrusted.passwordFree.count.10m']).toBe(1);
    // Attempts (held ones too) raise the password-free average; the quota counts them.
    expect(retry['account.passwordFree.amount.dailyAverage.30d']).toBe(Math.round((100_000 + 2 * 64_800) / 11)); // 11 days seen (day 0 to day 10 and 40 minutes);
  });

  it('reads a daily average only with the sum and the entity age it needs (the plan of a baseline rule)', async () => {
    const policy = compilePolicy({
      version: 'baseline', holdAt: 70,
      rules: [{ id: 'over', when: { feature: 'account.amount.24h', gt: { feature: 'account.dailyAverage.7d', times: 3 } }, score: 50, message: 'm' }],
    });
    const s = store({ windows: policy.windows, plan: policy.plan });
    const account = randomKey();
    const DAY = 24 * 60 * MIN;
    for (let day = 0; day < 4; day++) await s.record(event(T0 + day * DAY, [entity('account', account)], { amountMinor: 1_000 }));
    const r = event(T0 + 4 * DAY, [entity('account', account)], { amountMinor: 12_000 });
    const snapshot = await s.record(r);
    const ev = { id: 'x', provider: 'generic', kind: 'authorization', occurredAt: r.at, amount: { minor: 12_000, currency: 'CNY' }, account: { id: 'a' }, merchant: { id: 'm' }, authMethod: 'biometric' } as const;
    const f = buildFeatures(ev as never, snapshot, policy.readers);
    expect(f['account.dailyAverage.7d']).toBe(Math.round(16_000 / 4));
    expect(f['account.amount.24h']).toBe(12_000 + 1_000); // the 24 h window reaches back one bucket: never an undercount
    expect(policy.rules[0]!.test(f)).toBe(true);
  });

  it('keeps and reads only what its plan names', async () => {
    const windows = testLimits().windows;
    const plan = buildPlan(windows, [{ kind: 'account', metric: 'passwordFreeCount', window: '10m' }, { kind: 'device', relation: 'account', window: '24h' }]);
    const s = store({ plan });
    const [account, device, merchant] = [randomKey(), randomKey(), randomKey()];
    const snap = await s.record(
      event(T0, [entity('account', account, [{ relation: 'device', member: device }]), entity('device', device, [{ relation: 'account', member: account }]), entity('merchant', merchant)], { passwordFree: true }),
    );
    expect(Object.keys(snap).sort()).toEqual(['account', 'device']);
    expect(snap.account!.windows).toEqual({ '10m': { passwordFreeCount: 1 } });
    expect(snap.account!.distinct).toEqual({});
    expect(snap.device!.distinct).toEqual({ account: { '24h': 1 } });
    expect(snap.device!.windows).toEqual({});
  });

  it('counts an event key once per entity, and a retry reads the same novelty facts', async () => {
    const s = store();
    const [account, device] = [randomKey(), randomKey()];
    const first = event(T0, [entity('account', account, [{ relation: 'device', member: device }])]);
    const a = await s.record(first);
    const b = await s.record(first);
    expect(a.account!.windows['24h']!.count).toBe(1);
    expect(b).toEqual(a);
    expect(b.account!.isNew).toBe(true);
    expect(b.account!.newRelations.device).toBe(true);
  });

  it('counts a retried event once on every one of its entities, each reading the same facts again', async () => {
    const s = store();
    const keys = Object.fromEntries(ENTITY_KINDS.map((k) => [k, randomKey()])) as Record<EntityKind, string>;
    // Every kind, each with its relations to the others of the event (as decide builds a request).
    const entities = ENTITY_KINDS.map((k) => entity(k, keys[k], RELATIONS[k].map((relation) => ({ relation, member: keys[relation] }))));
    const first = event(T0, entities);
    const a = await s.record(first);
    const b = await s.record(first);
    expect(b).toEqual(a);
    for (const k of ENTITY_KINDS) {
      expect(b[k]!.windows['24h']!.count, k).toBe(1);
      expect(b[k]!.isNew, k).toBe(true);
    }
    // Another event on the same entities counts on every one of them.
    const next = await s.record(event(T0 + MIN, entities));
    for (const k of ENTITY_KINDS) expect(next[k]!.windows['24h']!.count, k).toBe(2);
  });

  it('counts concurrent events for one entity exactly', async () => {
    const s = store();
    const account = randomKey();
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.record(event(T0 + i, [entity('account', account)]))));
    const snap = await s.record(event(T0 + 100, [entity('account', account)], { amountMinor: 0 }));
    expect(snap.account!.windows['10m']).toMatchObject({ count: 51, amount: 50_000 });
  });

  it('tracks distinct related entities and first-seen facts', async () => {
    const s = store();
    const [account, d1, d2] = [randomKey(), randomKey(), randomKey()];
    const withDevice = (d: string, at: number) =>
      s.record(event(at, [entity('account', account, [{ relation: 'device', member: d }])]));
    const one = await withDevice(d1, T0);
    const two = await withDevice(d2, T0 + 20 * MIN);
    const three = await withDevice(d1, T0 + 21 * MIN);
    expect([one, two, three].map((x) => x.account!.newRelations.device)).toEqual([true, true, false]);
    expect([one, two, three].map((x) => x.account!.isNew)).toEqual([true, false, false]);
    expect(three.account!.firstSeenAt).toBe(T0);
    // d2 (20m) and d1 (refreshed at 21m) are both inside 10m of 21m? d2 at 20m yes, d1 at 21m yes.
    expect(three.account!.distinct.device).toMatchObject({ '10m': 2, '24h': 2 });
    expect(three.account!.distinct.ip).toMatchObject({ '24h': 0 });
    const late = await s.record(event(T0 + 35 * MIN, [entity('account', account)]));
    expect(late.account!.distinct.device).toMatchObject({ '10m': 0, '1h': 2 });
  });

  it('keeps at most distinctCap related entities, dropping the least recently seen', async () => {
    const s = store({ distinctCap: 5 });
    const device = randomKey();
    const accounts = Array.from({ length: 8 }, randomKey);
    let last;
    for (const [i, a] of accounts.entries()) {
      last = await s.record(event(T0 + i * 1_000, [entity('device', device, [{ relation: 'account', member: a }])]));
    }
    expect(last!.device!.distinct.account!['24h']).toBe(5);
    // The first account was dropped, so it is new again; the last one seen is not.
    const again = await s.record(event(T0 + 9_000, [entity('device', device, [{ relation: 'account', member: accounts[0]! }])]));
    expect(again.device!.newRelations.account).toBe(true);
    const recent = await s.record(event(T0 + 10_000, [entity('device', device, [{ relation: 'account', member: accounts[7]! }])]));
    expect(recent.device!.newRelations.account).toBe(false);
  });

  it('claims an event once, reports a fresh pending claim, takes over a stale one, returns a saved decision', async () => {
    const s = store({ claimStaleMs: 1_000 });
    const key = randomKey();
    expect(await s.claim(key, T0)).toEqual({ state: 'claimed' });
    expect(await s.claim(key, T0 + 500)).toEqual({ state: 'pending' });
    expect(await s.readDecision(key)).toBeUndefined();
    expect(await s.claim(key, T0 + 1_500)).toEqual({ state: 'takeover' });
    const decision = {
      eventId: 'evt_1', decision: 'hold' as const, score: 80, reasons: [{ rule: 'r', message: 'm' }],
      features: { 'account.count.10m': 3 }, policyVersion: 'v1', degraded: false as const,
    };
    await s.saveDecision(key, decision);
    expect(await s.claim(key, T0 + 2_000)).toEqual({ state: 'decided', decision });
    expect(await s.readDecision(key)).toEqual(decision);
  });

  it('records bindings: the latest binding is read with a payment until an unbinding after it', async () => {
    const s = store();
    const [account, agreement] = [randomKey(), randomKey()];
    const bind = (at: number, state: 'bound' | 'unbound') =>
      s.recordBinding({ at, state, entities: [{ kind: 'account', key: account }, { kind: 'instrument', key: agreement }] });
    const pay = (at: number) => s.record(event(at, [entity('account', account), entity('instrument', agreement)]));
    await bind(T0, 'bound');
    await bind(T0 - MIN, 'bound'); // an older delivery arriving late changes nothing
    const first = await pay(T0 + 5 * MIN);
    expect(first.account).toMatchObject({ boundAt: T0, isNew: true }); // bound, but no payment before this one
    expect(first.instrument!.boundAt).toBe(T0);
    await bind(T0 + 10 * MIN, 'unbound');
    expect((await pay(T0 + 11 * MIN)).account!.boundAt).toBeUndefined();
    await bind(T0 + 20 * MIN, 'bound');
    const rebound = await pay(T0 + 21 * MIN);
    expect(rebound.account).toMatchObject({ boundAt: T0 + 20 * MIN, isNew: false });
    expect((await s.record(event(T0, [entity('account', randomKey())]))).account!.boundAt).toBeUndefined();
  });

  it('records each entity of an event independently', async () => {
    const s = store();
    const [account, device, merchant] = [randomKey(), randomKey(), randomKey()];
    const snap = await s.record(
      event(T0, [
        entity('account', account, [{ relation: 'device', member: device }]),
        entity('device', device, [{ relation: 'account', member: account }]),
        entity('merchant', merchant),
      ]),
    );
    expect(Object.keys(snap).sort()).toEqual(['account', 'device', 'merchant']);
    expect(snap.device!.distinct.account!['10m']).toBe(1);
    expect(snap.merchant!.distinct).toEqual({});
  });
});

describe('memory and Redis stores agree', () => {
  it('on a random stream of events and their outcomes over a few entities and two weeks', async () => {
    const limits = testLimits({ distinctCap: 6 });
    const memory = makeStore('memory', limits);
    const redis = makeStore('redis', limits);
    const ids = (n: number) => Array.from({ length: n }, randomKey);
    const [accounts, devices, ips] = [ids(4), ids(9), ids(5)];
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T>(xs: T[]) => xs[rand(xs.length)]!;
    let at = T0;
    const sent: RecordRequest[] = [];
    try {
      for (let i = 0; i < 400; i++) {
        at += rand(4) === 0 ? rand(6 * 3_600_000) : rand(5 * MIN);
        const [a, d, ip] = [pick(accounts), pick(devices), pick(ips)];
        // Now and then a retry, delivered now, of an earlier event whose first attempt crashed between
        // record and commit (it must count nothing in either store; a committed event is never recorded again).
        const retry = sent.length > 0 && rand(4) === 0;
        const request: RecordRequest = retry
          ? { ...sent.splice(rand(sent.length), 1)[0]!, receivedAt: at }
          : {
              eventKey: randomKey(), at: at - (rand(8) === 0 ? rand(3 * 3_600_000) : 0), receivedAt: at,
              amountMinor: rand(100_000), currency: rand(5) === 0 ? 'USD' : 'CNY', passwordFree: rand(2) === 0,
              entities: [
                entity('account', a, [{ relation: 'device', member: d }, { relation: 'ip', member: ip }]),
                entity('device', d, [{ relation: 'account', member: a }]),
                entity('ip', ip, [{ relation: 'account', member: a }, { relation: 'device', member: d }]),
              ],
            };
        const crashed = !retry && rand(6) === 0;
        if (crashed) sent.push(request);
        const [m, r] = [await memory.record(request), await redis.record(request)];
        expect(r, `event ${i}`).toEqual(m);
        // Then its outcome: approved or held, strongly authenticated or not (approved spend, device pairs and trust).
        const decision = { eventId: request.eventKey, decision: rand(3) === 0 ? 'hold' as const : 'approve' as const, score: 0, reasons: [], features: {}, policyVersion: 't', degraded: false as const };
        const commit = { ...request, decision, strongAuth: rand(3) === 0 };
        if (!crashed) await Promise.all([memory.commit(commit), redis.commit(commit)]);
      }
    } finally {
      await Promise.all([memory.close(), redis.close()]);
    }
  });
});
