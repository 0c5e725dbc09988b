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

const MAX_ATTEMPTS = 50;

export async function transact<T>(backend: OpsBackend, attempt: () => Promise<Attempt<T>>): Promise<T> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const { commit, result } = await attempt();
    if (!commit || (await backend.commit(commit))) return result;
  }
  throw new StoreUnavailableError(`operations store: still contended after ${MAX_ATTEMPTS} attempts`);
}
