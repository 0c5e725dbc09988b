/**
 * The decision flow against both stores (Redis is a real redis-server): retries return the stored
 * decision and count nothing, concurrent duplicates count once, a crash between counting and
 * storing does not double count, and a failing or slow Redis still gets an answer within the deadline.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { type DecideDeps, decide, recordRequest } from '../../lib/decide.js';
import type { PaymentEvent } from '../../lib/events.js';
import { IdentityHasher } from '../../lib/identity.js';
import { compilePolicy } from '../../lib/policy/load.js';
import { MemoryVelocityStore } from '../../lib/velocity/memory.js';
import { RedisVelocityStore, createRedisClient } from '../../lib/velocity/redis.js';
import type { VelocityStore } from '../../lib/velocity/store.js';
import { freePort } from '../support/global-redis.js';
import { STORE_KINDS, makeStore, testLimits } from '../support/stores.js';

/** A probe rule that always fires, so the decision carries the counts it saw. */
const policy = compilePolicy({
  version: 'test-1',
  holdAt: 70,
  rules: [
    { id: 'probe', when: { feature: 'account.count.24h', gte: 0 }, score: 0, message: 'count {account.count.24h}' },
    { id: 'burst', when: { feature: 'account.count.10m', gte: 3 }, score: 80, message: 'burst' },
    { id: 'huge', when: { feature: 'event.amount', gt: 10_000_000 }, hold: true, message: 'huge single charge' },
  ],
});

function paymentEvent(overrides: Partial<PaymentEvent> = {}): PaymentEvent {
  return {
    id: `evt_${randomBytes(6).toString('hex')}`,
    provider: 'generic',
    kind: 'authorization',
    occurredAt: Date.now(),
    amount: { minor: 1_000, currency: 'CNY' },
    account: { id: `acct_${randomBytes(6).toString('hex')}` },
    merchant: { id: 'merchant_1' },
    authMethod: 'password_free',
    device: { id: `dev_${randomBytes(6).toString('hex')}` },
    ...overrides,
  };
}

const countOf = (d: { features: Record<string, unknown> }) => d.features['account.count.24h'];

describe.each(STORE_KINDS)('decide on the %s store', (kind) => {
  const open: VelocityStore[] = [];
  const depsFor = (overrides: Partial<DecideDeps> = {}, claimStaleMs = 300): DecideDeps => {
    const store = makeStore(kind, testLimits({ claimStaleMs }));
    open.push(store);
    return { store, policy, hasher: new IdentityHasher(randomBytes(16).toString('hex')), deadlineMs: 800, onStoreFailure: 'hold', ...overrides };
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('returns the stored decision for a retried event id and counts nothing', async () => {
    const deps = depsFor();
    const event = paymentEvent();
    const first = await decide(event, deps);
    const retries = [await decide(event, deps), await decide({ ...event, amount: { minor: 99, currency: 'CNY' } }, deps)];
    expect(retries).toEqual([first, first]);
    const next = await decide(paymentEvent({ account: event.account }), deps);
    expect(countOf(first)).toBe(1);
    expect(countOf(next)).toBe(2);
  });

  it('counts concurrent duplicates once and gives them all the same decision', async () => {
    const deps = depsFor();
    const event = paymentEvent();
    const decisions = await Promise.all(Array.from({ length: 8 }, () => decide(event, deps)));
    for (const d of decisions) expect(d).toEqual(decisions[0]);
    expect(decisions[0]!.degraded).toBe(false);
    const next = await decide(paymentEvent({ account: event.account }), deps);
    expect(countOf(next)).toBe(2);
  });

  it('does not double count when an attempt crashed between counting and storing its decision', async () => {
    // Generous margins: the claim goes stale 1 s after the crash, the early retry gives up after 300 ms.
    const deps = depsFor({}, 1_000);
    const event = paymentEvent();
    // The crashed attempt: claimed and counted, never stored a decision.
    const eventKey = deps.hasher.event(event.provider, event.id);
    const crashedAt = Date.now();
    expect(await deps.store.claim(eventKey, crashedAt)).toEqual({ state: 'claimed' });
    await deps.store.record(recordRequest(event, eventKey, deps.hasher));
    // A retry inside the stale limit waits for the (never coming) decision and answers degraded, counting nothing.
    const early = await decide(event, { ...deps, deadlineMs: 300 });
    expect(early.degraded).toBe('duplicate_in_flight');
    // Once the claim is stale the retry takes over: scored in full, counted still once.
    await new Promise((r) => setTimeout(r, Math.max(0, crashedAt + 1_050 - Date.now())));
    const retry = await decide(event, deps);
    expect(retry.degraded).toBe(false);
    expect(countOf(retry)).toBe(1);
    expect(await decide(event, deps)).toEqual(retry);
    expect(countOf(await decide(paymentEvent({ account: event.account }), deps))).toBe(2);
  });

  it('scores a burst from the counts', async () => {
    const deps = depsFor();
    const account = paymentEvent().account;
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push(await decide(paymentEvent({ account }), deps));
    expect(decisions.map((d) => d.decision)).toEqual(['approve', 'approve', 'hold']);
    expect(decisions[2]!.reasons.map((r) => r.rule)).toEqual(['probe', 'burst']);
    expect(decisions[2]!.reasons[0]!.message).toBe('count 3');
  });
});

describe('decide on a store that answers in its caller turn (the memory store)', () => {
  // The clock decide reads: it stands still unless a test moves it past the deadline mid-decision.
  const clock = { now: 1_800_000_000_000, jumpAt: -1, calls: 0 };
  const now = () => (++clock.calls === clock.jumpAt ? (clock.now += 10_000) : clock.now);
  const setup = () => {
    clock.calls = 0;
    clock.jumpAt = -1;
    // The store keeps its own reading of the same clock: only decide's reads are counted.
    const store = new MemoryVelocityStore(testLimits({}), () => clock.now);
    const deps: DecideDeps = { store, policy, hasher: new IdentityHasher('m'.repeat(16)), deadlineMs: 800, onStoreFailure: 'hold', now };
    return { store, deps };
  };

  it('is called without a promise, and counts and stores as the promise calls do', async () => {
    const { store, deps } = setup();
    expect(store.inTurn).toBeDefined();
    const event = paymentEvent({ occurredAt: clock.now });
    const first = await decide(event, deps, clock.now);
    expect(first.degraded).toBe(false);
    expect(await store.readDecision(deps.hasher.event(event.provider, event.id))).toEqual(first);
    expect(countOf(await decide(paymentEvent({ occurredAt: clock.now, account: event.account }), deps, clock.now))).toBe(2);
  });

  it('keeps the deadline: past it before the claim, nothing is counted and the fallback answers', async () => {
    const { store, deps } = setup();
    const event = paymentEvent({ occurredAt: clock.now });
    clock.jumpAt = 1; // the first time decide asks the clock, it is already too late
    const late = await decide(event, deps, clock.now);
    expect(late).toMatchObject({ decision: 'hold', degraded: 'store_timeout' });
    expect(await store.readDecision(deps.hasher.event(event.provider, event.id))).toBeUndefined();
    // Nothing was claimed or counted: the retry is scored as the first delivery.
    const retry = await decide(event, deps, clock.now);
    expect(retry.degraded).toBe(false);
    expect(countOf(retry)).toBe(1);
  });

  it('keeps the deadline: past it before the commit, the decision is answered but not stored (a retry takes over)', async () => {
    const { store, deps } = setup();
    const event = paymentEvent({ occurredAt: clock.now });
    // Clock reads: the claim's deadline check, the claim's time, then the commit's deadline check.
    clock.jumpAt = 3;
    const answered = await decide(event, deps, clock.now);
    expect(answered.degraded).toBe(false);
    expect(countOf(answered)).toBe(1);
    expect(await store.readDecision(deps.hasher.event(event.provider, event.id))).toBeUndefined();
  });

  it('answers a delivery of an event still being decided within its polls when the clock stands still (a replay\'s)', async () => {
    const { store, deps } = setup();
    const event = paymentEvent({ occurredAt: clock.now });
    // Another attempt holds the claim and never stores a decision; decide's clock never moves.
    expect(await store.claim(deps.hasher.event(event.provider, event.id), clock.now)).toEqual({ state: 'claimed' });
    const trace = { duplicate: false };
    const started = Date.now();
    const answered = await decide(event, deps, clock.now, trace);
    expect(answered).toMatchObject({ decision: 'hold', degraded: 'duplicate_in_flight' });
    expect(trace.duplicate).toBe(true);
    // Bounded by the polls that fit in the deadline (800 ms / 15 ms), not by the clock; generous slack for a busy machine.
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);
});

describe('decide when Redis fails', () => {
  const clients: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  async function deadStore(): Promise<VelocityStore> {
    const port = await freePort(); // nothing listens there
    const store = new RedisVelocityStore(createRedisClient(`redis://127.0.0.1:${port}`, 300), testLimits());
    clients.push(store);
    return store;
  }

  it.each(['hold', 'approve'] as const)('answers the %s fallback within the deadline, marked degraded, when Redis is down', async (onStoreFailure) => {
    const store = await deadStore();
    const deps: DecideDeps = { store, policy, hasher: new IdentityHasher('p'.repeat(16)), deadlineMs: 400, onStoreFailure };
    const started = Date.now();
    const decision = await decide(paymentEvent(), deps);
    expect(Date.now() - started).toBeLessThan(400 + 100);
    expect(decision.decision).toBe(onStoreFailure);
    expect(decision.degraded).toMatch(/^store_(unavailable|timeout)$/);
    expect(decision.reasons[0]!.rule).toBe('store-failure');
  });

  it('still applies rules over the event itself when the fallback is approve', async () => {
    const store = await deadStore();
    const deps: DecideDeps = { store, policy, hasher: new IdentityHasher('p'.repeat(16)), deadlineMs: 400, onStoreFailure: 'approve' };
    const decision = await decide(paymentEvent({ amount: { minor: 20_000_000, currency: 'CNY' } }), deps);
    expect(decision.decision).toBe('hold');
    expect(decision.reasons.map((r) => r.rule)).toEqual(['store-failure', 'huge']);
  });

  it('answers within the deadline when Redis stalls (CLIENT PAUSE), then scores normally once it resumes', async () => {
    const url = inject('redisUrl');
    const store = new RedisVelocityStore(createRedisClient(url, 1_000), testLimits());
    const admin = new Redis(url);
    clients.push(store, { close: async () => void admin.disconnect() });
    const deps: DecideDeps = { store, policy, hasher: new IdentityHasher('q'.repeat(16)), deadlineMs: 250, onStoreFailure: 'hold' };
    await decide(paymentEvent(), deps); // warm: connected, scripts loaded
    await admin.client('PAUSE', 700, 'ALL');
    const started = Date.now();
    const stalled = await decide(paymentEvent(), deps);
    expect(Date.now() - started).toBeLessThan(250 + 100);
    expect(stalled).toMatchObject({ decision: 'hold', degraded: 'store_timeout' });
    await new Promise((r) => setTimeout(r, 800));
    const resumed = await decide(paymentEvent(), deps);
    expect(resumed.degraded).toBe(false);
  });
});
