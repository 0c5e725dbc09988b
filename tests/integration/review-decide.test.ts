/**
 * decide() and reviews: a fallback hold opens a review marked degraded when the operations store is
 * up; when Redis is down altogether the hold is answered in time and the decision logged at ERROR;
 * a crash between storing a hold and opening its review is healed by the provider's retry.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DecideDeps, decide } from '../../lib/decide.js';
import { StoreUnavailableError } from '../../lib/errors.js';
import type { PaymentEvent } from '../../lib/events.js';
import { IdentityHasher } from '../../lib/identity.js';
import { logger } from '../../lib/observability.js';
import { type DecisionOperations, createOperations, opsBackendFor } from '../../lib/operations/index.js';
import { MemoryOpsBackend } from '../../lib/operations/memory.js';
import { loadPolicyFile } from '../../lib/policy/load.js';
import { RedisVelocityStore, createRedisClient } from '../../lib/velocity/redis.js';
import { MemoryVelocityStore } from '../../lib/velocity/memory.js';
import type { VelocityStore } from '../../lib/velocity/store.js';
import { freePort } from '../support/global-redis.js';
import { testLimits } from '../support/stores.js';

const policy = loadPolicyFile('policies/default.yaml');
const opsConfig = { tokens: [], reviewRetentionMs: 90 * 86_400_000, auditRetentionMs: 365 * 86_400_000, merchantWebhook: undefined, localDefaults: [] };

function payment(): PaymentEvent {
  const s = randomBytes(6).toString('hex');
  return {
    id: `evt_${s}`,
    provider: 'alipay',
    kind: 'notification',
    occurredAt: Date.now(),
    amount: { minor: 6_800, currency: 'CNY' },
    account: { id: `acct_${s}` },
    merchant: { id: 'm1' },
    authMethod: 'password',
    device: { id: `dev_${s}` },
    reference: { orderId: `ORDER${s}`, transactionId: `2026${s}` },
  };
}

afterEach(() => vi.restoreAllMocks());

describe('reviews opened by decide', () => {
  it('a fallback hold (velocity store failing) opens a review whose decision is marked degraded', async () => {
    const hasher = new IdentityHasher(randomBytes(16).toString('hex'));
    const memory = new MemoryVelocityStore(testLimits());
    const failing: VelocityStore = { ...memory, name: 'memory', claim: () => Promise.reject(new StoreUnavailableError('down')), readDecision: memory.readDecision.bind(memory), saveDecision: memory.saveDecision.bind(memory), record: memory.record.bind(memory), commit: memory.commit.bind(memory), recordBinding: memory.recordBinding.bind(memory), close: memory.close.bind(memory) };
    const operations = createOperations(new MemoryOpsBackend(), hasher, opsConfig, 72 * 3_600_000);
    const event = payment();
    const decision = await decide(event, { store: failing, policy, hasher, deadlineMs: 500, onStoreFailure: 'hold', operations });
    expect(decision).toMatchObject({ decision: 'hold', degraded: 'store_unavailable', reference: event.reference, provider: 'alipay' });
    const review = await operations.reviews.get('alipay', event.id);
    expect(review).toMatchObject({ status: 'open', decision: { degraded: 'store_unavailable' }, reference: event.reference });
  });

  it('with Redis down the hold is answered within the deadline and the decision logged at ERROR with a metric', async () => {
    const client = createRedisClient(`redis://127.0.0.1:${await freePort()}`, 200);
    const store = new RedisVelocityStore(client, testLimits());
    const hasher = new IdentityHasher(randomBytes(16).toString('hex'));
    const operations = createOperations(opsBackendFor(store), hasher, opsConfig, 72 * 3_600_000);
    const errors = vi.spyOn(logger, 'error');
    const started = Date.now();
    const event = payment();
    const decision = await decide(event, { store, policy, hasher, deadlineMs: 400, onStoreFailure: 'hold', operations });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(decision).toMatchObject({ decision: 'hold', degraded: expect.stringMatching(/^store_/) });
    // The answer did not wait for the review write; its failure is reported once the write gives up.
    const reported = () => errors.mock.calls.find(([message]) => message === 'review not opened for a hold');
    for (let i = 0; i < 100 && !reported(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const call = reported();
    expect(call?.[1]).toMatchObject({ provider: 'alipay', decision: { eventId: event.id, decision: 'hold' } });
    expect(JSON.stringify(call?.[1])).not.toContain(event.account.id);
    client.disconnect();
  });

  it('a crash between storing a hold and opening its review: the provider retry opens it', async () => {
    const hasher = new IdentityHasher(randomBytes(16).toString('hex'));
    const store = new MemoryVelocityStore(testLimits());
    const real = createOperations(new MemoryOpsBackend(), hasher, opsConfig, 72 * 3_600_000);
    let crash = true;
    const operations: DecisionOperations = {
      readLists: (e) => real.readLists(e),
      openReview: (d, e) => (crash ? Promise.reject(new StoreUnavailableError('container died')) : real.openReview(d, e)),
      countDecision: (d, s) => real.countDecision(d, s),
    };
    const deps: DecideDeps = { store, policy, hasher, deadlineMs: 500, onStoreFailure: 'hold', operations };
    const event = payment();
    await real.lists.put('block', 'device', hasher.entity('device', event.device!.id), {}, 'test');
    vi.spyOn(logger, 'error').mockImplementation(() => {});
    expect((await decide(event, deps)).decision).toBe('hold');
    await expect(real.reviews.get('alipay', event.id)).rejects.toMatchObject({ status: 404 });
    crash = false;
    const retried = await decide(event, deps);
    expect(retried).toMatchObject({ decision: 'hold', degraded: false });
    expect(await real.reviews.get('alipay', event.id)).toMatchObject({ status: 'open', decision: retried });
    // The hourly stats counted the payment once: the retry was answered from the stored decision.
    const at = Date.parse(retried.receivedAt!);
    const stats = await real.stats.read(at, at);
    expect(stats.totals).toMatchObject({ decisions: 1, holds: 1, byRule: { 'blocked-entity': { fired: 1, held: 1, shadow: 0 } } });
  });
});
