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
    return this.#digest(`${kind}\u0000${kind === 'ip' ? rawId.toLowerCase() : rawId}`);
  }

  /** The stored name of an event id, for idempotency records and per-entity markers. */
  event(provider: string, eventId: string): string {
    return this.#digest(`event\u0000${provider}\u0000${eventId}`);
  }

  #digest(text: string): string {
    return createHmac('sha256', this.#pepper).update(text, 'utf8').digest().subarray(0, 12).toString('base64url');
  }
}
