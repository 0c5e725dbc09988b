/**
 * A canonical PaymentEvent with every optional entity present (account with 2FA flag and creation
 * time, Apple ID, agreement, device, IP, country), for tests that read features of every kind.
 */
import type { PaymentEvent } from '../../lib/events.js';

let seq = 0;

export function fullPaymentEvent(at: number, over: Partial<PaymentEvent> = {}): PaymentEvent {
  return {
    id: `evt_${++seq}`,
    provider: 'generic',
    kind: 'authorization',
    occurredAt: at,
    amount: { minor: 3_500, currency: 'CNY' },
    account: { id: 'acct_1', twoFactor: false, createdAt: Date.UTC(2026, 0, 1) },
    linkedAccount: { id: 'appleid:a@example.com', kind: 'apple_id' },
    merchant: { id: 'merchant_1', category: '5818' },
    instrument: { id: 'agreement_1', kind: 'agreement' },
    authMethod: 'password_free',
    device: { id: 'device_1' },
    ip: '203.0.113.10',
    country: 'CN',
    ...over,
  };
}
