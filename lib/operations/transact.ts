/**
 * Optimistic transactions over an OpsBackend: read, decide, commit with conditions on what was read;
 * when another writer got there first the commit applies nothing and the attempt runs again.
 */
import { StoreUnavailableError } from '../errors.js';
import type { Commit, OpsBackend } from './backend.js';

export interface Attempt<T> {
  /** Nothing to write: the result stands as read. */
  readonly commit?: Commit;
  readonly result: T;
}

const MAX_ATTEMPTS = 100;

/**
 * Audited writes all pass through the audit trail's head, so concurrent ones conflict: each retry
 * waits a little longer, with jitter, so a burst of writers drains instead of colliding again.
 */
export async function transact<T>(backend: OpsBackend, attempt: () => Promise<Attempt<T>>): Promise<T> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const { commit, result } = await attempt();
    if (!commit || (await backend.commit(commit))) return result;
    await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 * (i + 1), 50)));
  }
  throw new StoreUnavailableError(`operations store: still contended after ${MAX_ATTEMPTS} attempts`);
}
