/**
 * Features are the vocabulary of the policy: every name the code produces must be in the catalogue
 * (or a rule could never name it) and have the catalogue's type, and every catalogue name must be
 * producible (or load.ts would accept rules that can never fire). Snapshots come from the real
 * embedded store, so the names are the ones production sees.
 */
import { describe, expect, it } from 'vitest';
import { recordRequest } from '../../../lib/decide.js';
import { BINDING_KINDS, type PaymentEvent } from '../../../lib/events.js';
import { IdentityHasher } from '../../../lib/identity.js';
import { addVelocityFeatures, buildFeatures, eventFeatures, featureCatalogue, type Features } from '../../../lib/policy/features.js';
import { loadPolicyFile } from '../../../lib/policy/load.js';
import { MemoryVelocityStore } from '../../../lib/velocity/memory.js';
import { DEFAULT_LIMITS } from '../../../lib/velocity/store.js';
import { DEFAULT_WINDOWS, type WindowSpec, windowSpecs } from '../../../lib/velocity/windows.js';
import { fullPaymentEvent } from '../../support/payment-events.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 22, 9, 0, 0);
const hasher = new IdentityHasher('features-test-pepper-0123456789');


async function featuresOf(events: PaymentEvent[], windows: readonly WindowSpec[], boundAt?: number): Promise<Features> {
  const store = new MemoryVelocityStore({ windows, ...DEFAULT_LIMITS, claimStaleMs: 2_000 }, () => T0);
  if (boundAt !== undefined) {
    // An agreement signed before the payments: the account, linked account and instrument are bound.
    const e = events[0]!;
    const raw = { account: e.account.id, linkedAccount: e.linkedAccount?.id, instrument: e.instrument?.id };
    const entities = BINDING_KINDS.filter((k) => raw[k]).map((kind) => ({ kind, key: hasher.entity(kind, raw[kind]!) }));
    await store.recordBinding({ at: boundAt, state: 'bound', entities });
  }
  let features: Features = {};
  for (const event of events) {
    const request = recordRequest(event, hasher.event(event.provider, event.id), hasher);
    const snapshot = await store.record(request);
    // List membership as decide reads it: every entity of the event, on no list.
    const lists = Object.fromEntries(Object.keys(snapshot).map((kind) => [kind, { blocked: false, allowed: false }]));
    features = addVelocityFeatures(eventFeatures(event), event, snapshot, lists);
    // Approved and strongly authenticated: the next payment finds its device known and trusted.
    const decision = { eventId: event.id, decision: 'approve' as const, score: 0, reasons: [], features: {}, policyVersion: 't', degraded: false as const };
    await store.commit({ ...request, decision, strongAuth: true });
  }
  await store.close();
  return features;
}

function expectInCatalogue(features: Features, windows: readonly WindowSpec[]): void {
  const catalogue = featureCatalogue(windows);
  for (const [name, value] of Object.entries(features)) {
    const info = catalogue.get(name);
    expect(info, `"${name}" is produced but not in the catalogue`).toBeDefined();
    expect(typeof value, name).toBe(info!.type);
    if (info!.values) expect(info!.values, name).toContain(value);
  }
}

describe.each([
  ['default windows', windowSpecs(DEFAULT_WINDOWS)],
  ['custom windows', windowSpecs({ '30m': '1m', '2d': '2h' })],
])('features with %s', (_, windows) => {
  it('eventFeatures produces only catalogued names, with their types', () => {
    const features = eventFeatures(fullPaymentEvent(T0));
    expect(Object.keys(features).length).toBeGreaterThan(5);
    expectInCatalogue(features, windows);
  });

  it('addVelocityFeatures produces only catalogued names, with their types', async () => {
    const features = await featuresOf([fullPaymentEvent(T0 - 5 * MIN), fullPaymentEvent(T0, { device: { id: 'device_2' } })], windows);
    expectInCatalogue(features, windows);
    // Every declared window is read (both events are inside the shortest one).
    for (const w of windows) expect(features[`account.count.${w.name}`], w.name).toBe(2);
  });

  it('a fully described event produces every catalogued feature', async () => {
    // The second payment finds the device of the first, approved and strongly authenticated: known and trusted.
    const features = await featuresOf([fullPaymentEvent(T0 - 10 * MIN, { id: 'evt_first' }), fullPaymentEvent(T0)], windows, T0 - 3_600_000);
    expect(features['account.device.trusted']).toBe(true);
    expect(features['account.device.trustedForMs']).toBe(10 * MIN);
    expect(features['linkedAccount.boundForMs']).toBe(3_600_000);
    const missing = [...featureCatalogue(windows).keys()].filter((name) => !(name in features));
    expect(missing).toEqual([]);
  });
});

describe('event features', () => {
  it('omits features of fields the event does not have, rather than inventing values', () => {
    const bare: PaymentEvent = {
      id: 'evt_bare', provider: 'generic', kind: 'notification', occurredAt: T0,
      amount: { minor: 1, currency: 'USD' }, account: { id: 'a' }, merchant: { id: 'm' }, authMethod: 'password',
    };
    const features = eventFeatures(bare);
    for (const name of ['event.country', 'event.merchantCategory', 'event.linkedAccountKind', 'event.instrumentKind', 'account.twoFactor', 'account.ageMs']) {
      expect(features, name).not.toHaveProperty(name);
    }
    expect(features['event.passwordFree']).toBe(false);
  });

  it('event.passwordFree is true only for password_free', () => {
    expect(eventFeatures(fullPaymentEvent(T0, { authMethod: 'password_free' }))['event.passwordFree']).toBe(true);
    for (const authMethod of ['password', 'biometric', 'three_ds', 'unknown'] as const) {
      expect(eventFeatures(fullPaymentEvent(T0, { authMethod }))['event.passwordFree'], authMethod).toBe(false);
    }
  });
});

describe('account.ageMs', () => {
  const windows = windowSpecs(DEFAULT_WINDOWS);

  it('comes from createdAt when the provider sends it', async () => {
    // Created 2026-11-20 09:00, paying 2026-11-22 09:00: two days old.
    const event = fullPaymentEvent(T0, { account: { id: 'acct_created', createdAt: T0 - 48 * HOUR } });
    expect(eventFeatures(event)['account.ageMs']).toBe(48 * HOUR);
    // Our own first sighting (3 h ago) does not override what the provider said.
    const features = await featuresOf([fullPaymentEvent(T0 - 3 * HOUR, { account: { id: 'acct_created' } }), event], windows);
    expect(features['account.ageMs']).toBe(48 * HOUR);
  });

  it('comes from our first sighting of the account when createdAt is absent', async () => {
    const account = { id: 'acct_no_created' };
    const features = await featuresOf([fullPaymentEvent(T0 - 3 * HOUR, { account }), fullPaymentEvent(T0, { account })], windows);
    expect(features['account.seenForMs']).toBe(3 * HOUR);
    expect(features['account.ageMs']).toBe(3 * HOUR);
  });

  it('is absent without createdAt and without velocity (the store is down)', () => {
    const event = fullPaymentEvent(T0, { account: { id: 'acct_x' } });
    expect(addVelocityFeatures(eventFeatures(event), event, {})).not.toHaveProperty('account.ageMs');
  });
});

describe('features a decision builds', () => {
  it('are exactly the full features restricted to what the policy reads (conditions and message placeholders)', async () => {
    const policy = loadPolicyFile('policies/default.yaml');
    const names = policy.readers.map(([name]) => name);
    // Everything a condition or message of the default policy names, and nothing else.
    const named = new Set(policy.rules.flatMap((r) => [...r.features, ...(r.message.match(/\{([^}]+)\}/g) ?? []).map((p) => p.slice(1, -1))]));
    expect(new Set(names)).toEqual(named);
    expect(names).toContain('linkedAccount.passwordFree.amount.24h');

    const store = new MemoryVelocityStore({ windows: policy.windows, ...DEFAULT_LIMITS, claimStaleMs: 2_000 }, () => T0);
    const events = [fullPaymentEvent(T0 - 3_600_000), fullPaymentEvent(T0)];
    let full: Features = {};
    let built: Features = {};
    for (const event of events) {
      const snapshot = await store.record(recordRequest(event, hasher.event(event.provider, event.id), hasher));
      full = addVelocityFeatures(eventFeatures(event), event, snapshot);
      built = buildFeatures(event, snapshot, policy.readers);
    }
    await store.close();
    expect(built).toEqual(Object.fromEntries(Object.entries(full).filter(([name]) => named.has(name))));
    expect(Object.keys(built).length).toBeGreaterThan(10);
  });

  it("are built the same by the policy's compiled builder (same names, same order; absent ones undefined there, left out by buildFeatures)", async () => {
    const policy = loadPolicyFile('policies/default.yaml');
    const store = new MemoryVelocityStore({ windows: policy.windows, ...DEFAULT_LIMITS, claimStaleMs: 2_000 }, () => T0);
    const events = [fullPaymentEvent(T0 - 3_600_000), fullPaymentEvent(T0), fullPaymentEvent(T0 + 1, { device: undefined, linkedAccount: undefined })];
    for (const event of events) {
      const snapshot = await store.record(recordRequest(event, hasher.event(event.provider, event.id), hasher));
      for (const s of [snapshot, {}]) {
        const compiled = policy.features(event, s);
        const looped = buildFeatures(event, s, policy.readers);
        expect(Object.entries(compiled).filter(([, v]) => v !== undefined)).toStrictEqual(Object.entries(looped));
        expect(Object.keys(compiled)).toEqual(policy.readers.map(([name]) => name));
      }
    }
    await store.close();
  });
});
