/**
 * The canonical event as it may be logged: every field kept, every entity identifier replaced by
 * its peppered hash (the same name velocity uses in Redis), so a log line can be searched by
 * customer (`npm run hash -- account <id>`) and read back as history without exposing anyone.
 * The event id stays: it is the provider's delivery id, already logged as eventId.
 */
import type { PaymentEvent } from './events.js';
import type { IdentityHasher } from './identity.js';

/** A PaymentEvent whose account, linked account, device, IP, instrument and merchant ids are hashes. */
export type PseudonymizedEvent = PaymentEvent;

export function pseudonymizeEvent(event: PaymentEvent, hasher: IdentityHasher): PseudonymizedEvent {
  const { account, linkedAccount, merchant, instrument, device, ip } = event;
  return {
    ...event,
    account: { ...account, id: hasher.entity('account', account.id) },
    ...(linkedAccount && { linkedAccount: { ...linkedAccount, id: hasher.entity('linkedAccount', linkedAccount.id) } }),
    merchant: { ...merchant, id: hasher.entity('merchant', merchant.id) },
    ...(instrument && { instrument: { ...instrument, id: hasher.entity('instrument', instrument.id) } }),
    ...(device && { device: { ...device, id: hasher.entity('device', device.id) } }),
    ...(ip !== undefined && { ip: hasher.entity('ip', ip) }),
  };
}
