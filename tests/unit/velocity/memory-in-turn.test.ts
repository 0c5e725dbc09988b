/**
 * The memory store's in-turn calls (what decide uses on it) answer what its promise calls answer:
 * two twin stores take the same seeded stream of payments, approvals and bindings, one through
 * inTurn, one through the promise API, and every snapshot must be equal. The in-turn snapshot is
 * the store's own object, written anew by each call (store.ts: it holds until the next one).
 */
import { describe, expect, it } from 'vitest';
import { recordRequest } from '../../../lib/decide.js';
import type { Decision, PaymentEvent } from '../../../lib/events.js';
import { IdentityHasher } from '../../../lib/identity.js';
import { MemoryVelocityStore } from '../../../lib/velocity/memory.js';
import type { VelocitySnapshot } from '../../../lib/velocity/store.js';
import { fullPaymentEvent } from '../../support/payment-events.js';
import { testLimits } from '../../support/stores.js';
import { MINUTE, seeded } from '../../support/velocity-v2.js';

/** A snapshot as JSON has it: kinds the event lacks and fields left undefined drop out, as they do from a log line. */
const asJson = (snapshot: VelocitySnapshot | undefined) => JSON.parse(JSON.stringify(snapshot)) as unknown;

describe('memory store in-turn calls', () => {
  it('answer every payment as the promise calls do, into one reused snapshot', async () => {
    const start = Date.UTC(2026, 10, 1);
    let clock = start;
    const twins = [new MemoryVelocityStore(testLimits(), () => clock), new MemoryVelocityStore(testLimits(), () => clock)] as const;
    const [inTurnStore, promiseStore] = twins;
    const hasher = new IdentityHasher('t'.repeat(16));
    const random = seeded(7);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    let previous: VelocitySnapshot | undefined;
    let held = 0;
    let trusted = 0;
    for (let i = 0; i < 600; i++) {
      clock += Math.floor(random() * 20 * MINUTE);
      // Some events lack a device, a linked account, an IP: their kinds must be absent from the reused snapshot too.
      const over: Partial<PaymentEvent> = {
        account: { id: `acct_${pick([1, 2, 3, 4])}`, twoFactor: false },
        device: { id: `device_${pick([1, 2, 3, 4, 5])}` },
        ip: `203.0.113.${pick([1, 2, 3])}`,
        amount: { minor: 100 + Math.floor(random() * 5_000), currency: pick(['CNY', 'CNY', 'USD']) },
        authMethod: pick(['password_free', 'password_free', 'password', 'biometric'] as const),
      };
      const event = fullPaymentEvent(clock - Math.floor(random() * 30 * MINUTE), over);
      if (random() < 0.2) delete event.device;
      if (random() < 0.3) delete event.linkedAccount;
      if (random() < 0.1) delete event.ip;
      if (random() < 0.05) {
        const binding = { at: clock, state: pick(['bound', 'unbound'] as const), entities: [{ kind: 'account' as const, key: hasher.entity('account', event.account.id) }] };
        await Promise.all(twins.map((s) => s.recordBinding(binding)));
      }
      const request = recordRequest(event, hasher.event(event.provider, event.id), hasher, clock);
      const inTurn = inTurnStore.inTurn.claimRecord(request, clock);
      const promised = await promiseStore.claimRecord(request, clock);
      expect(inTurn.claim, `payment ${i}`).toEqual(promised.claim);
      expect(asJson(inTurn.snapshot), `payment ${i}`).toEqual(asJson(promised.snapshot));
      if (previous) expect(inTurn.snapshot).toBe(previous);
      previous = inTurn.snapshot;
      if (inTurn.snapshot?.account?.device?.trustedAt !== undefined) trusted++;
      // Most are approved (approved spend, device pairs and trust), some held.
      const decision = { eventId: event.id, decision: random() < 0.8 ? 'approve' : 'hold' } as Decision;
      if (decision.decision === 'hold') held++;
      const commit = { ...request, decision, strongAuth: event.authMethod !== 'password_free' };
      inTurnStore.inTurn.commit(commit);
      await promiseStore.commit(commit);
    }
    // The stream reached what the reused objects hold besides counts: holds, and trusted device pairs.
    expect(held).toBeGreaterThan(50);
    expect(trusted).toBeGreaterThan(50);
  });
});
