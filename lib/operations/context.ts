/** What every operations concern needs: the store, the hasher, the configuration and a clock. */
import type { IdentityHasher } from '../identity.js';
import type { VelocityStore } from '../velocity/store.js';
import type { OpsBackend } from './backend.js';
import type { OperationsConfig } from './config.js';

export interface OpsContext {
  readonly backend: OpsBackend;
  readonly hasher: IdentityHasher;
  readonly config: OperationsConfig;
  /** The decision TTL: how long holds stay in the decisions index. */
  readonly decisionTtlMs: number;
  readonly now: () => number;
  /** The velocity store, when the operations run next to one: a review release makes its payment's device trusted there. */
  readonly velocity?: VelocityStore;
}
