/**
 * Keyed hashing of identifiers. Raw account, device, IP, card and linked-account ids never reach
 * Redis or a log: only HMAC-SHA256(pepper, kind + id), truncated to 96 bits (collisions are out of
 * reach for any entity population, and keys stay short).
 */
import { createHmac } from 'node:crypto';
import type { EntityKind } from './events.js';

export class IdentityHasher {
  readonly #pepper: Buffer;

  constructor(pepper: string) {
    this.#pepper = Buffer.from(pepper, 'utf8');
  }

  /** The stored name of an entity (and of a related-entity member). */
  entity(kind: EntityKind, rawId: string): string {
    return this.#digest(`${kind}\u0000${kind === 'ip' ? canonicalIp(rawId) : rawId}`);
  }

  /** The stored name of an event id, for idempotency records and per-entity markers. */
  event(provider: string, eventId: string): string {
    return this.#digest(`event\u0000${provider}\u0000${eventId}`);
  }

  #digest(text: string): string {
    return createHmac('sha256', this.#pepper).update(text, 'utf8').digest().subarray(0, 12).toString('base64url');
  }
}

/**
 * One spelling per address, so it is one entity: IPv6 in its compressed lower-case form (as the URL
 * parser writes it), IPv4-mapped IPv6 as plain IPv4. Anything else is kept as given, lower-cased.
 */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip.toLowerCase();
  let host: string;
  try {
    host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
