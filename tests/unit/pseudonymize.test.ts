/**
 * The logged event: every field of the canonical event, no raw identifier left, each id the same
 * hash velocity uses (so `npm run hash` finds it).
 */
import { describe, expect, it } from 'vitest';
import { ENTITY_KINDS, type PaymentEvent } from '../../lib/events.js';
import { IdentityHasher } from '../../lib/identity.js';
import { pseudonymizeEvent } from '../../lib/pseudonymize.js';

const hasher = new IdentityHasher('pepper-for-the-pseudonymize-test');

const full: PaymentEvent = {
  id: 'evt_full_1',
  provider: 'generic',
  kind: 'authorization',
  occurredAt: 1_760_000_000_000,
  amount: { minor: 199_900, currency: 'CNY' },
  account: { id: 'raw-account-4242', twoFactor: false, createdAt: 1_700_000_000_000 },
  linkedAccount: { id: 'raw-appleid-4242@example.com', kind: 'apple_id' },
  merchant: { id: 'raw-merchant-4242', category: '5816' },
  instrument: { id: 'raw-card-4242', kind: 'card' },
  authMethod: 'password_free',
  device: { id: 'raw-device-4242' },
  ip: '2001:DB8::42',
  country: 'CN',
};

describe('pseudonymizeEvent', () => {
  it('keeps every field and replaces each identifier by its peppered hash', () => {
    expect(pseudonymizeEvent(full, hasher)).toEqual({
      ...full,
      account: { ...full.account, id: hasher.entity('account', 'raw-account-4242') },
      linkedAccount: { kind: 'apple_id', id: hasher.entity('linkedAccount', 'raw-appleid-4242@example.com') },
      merchant: { category: '5816', id: hasher.entity('merchant', 'raw-merchant-4242') },
      instrument: { kind: 'card', id: hasher.entity('instrument', 'raw-card-4242') },
      device: { id: hasher.entity('device', 'raw-device-4242') },
      ip: hasher.entity('ip', '2001:db8::42'),
    });
  });

  it('leaves no raw identifier anywhere in the serialized event (ids, IP in any spelling)', () => {
    const text = JSON.stringify(pseudonymizeEvent(full, hasher));
    for (const raw of ['raw-account', 'raw-appleid', 'raw-merchant', 'raw-card', 'raw-device', '4242', '2001', 'db8']) {
      expect(text).not.toContain(raw);
    }
    expect(text).toContain('"id":"evt_full_1"');
    // Every identifier is a 16-character base64url hash.
    const ids = [...text.matchAll(/"(?:id|ip)":"([^"]+)"/g)].map((m) => m[1]).filter((v) => v !== 'evt_full_1');
    expect(ids).toHaveLength(ENTITY_KINDS.length);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('adds nothing for optional parts the event does not carry, and does not change its input', () => {
    const minimal: PaymentEvent = {
      id: 'evt_min',
      provider: 'stripe',
      kind: 'notification',
      occurredAt: 1,
      amount: { minor: 1, currency: 'USD' },
      account: { id: 'cus_raw' },
      merchant: { id: 'acct_raw' },
      authMethod: 'unknown',
    };
    const copy = structuredClone(minimal);
    const out = pseudonymizeEvent(minimal, hasher);
    expect(Object.keys(out).sort()).toEqual(Object.keys(minimal).sort());
    expect(minimal).toEqual(copy);
    expect(JSON.stringify(out)).not.toMatch(/cus_raw|acct_raw/);
  });
});
