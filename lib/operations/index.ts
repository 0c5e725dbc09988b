/**
 * The operations concerns over one store: reviews, lists, merchant-webhook outbox, audit trail.
 * decide() reaches them only through DecisionOperations (list membership, open a review).
 */
import type { Decision, EntityKind } from '../events.js';
import type { IdentityHasher } from '../identity.js';
import { type ListMembership, Lists } from '../lists/lists.js';
import { logger, metrics } from '../observability.js';
import { Reviews } from '../review/reviews.js';
import { RedisVelocityStore } from '../velocity/redis.js';
import type { ListExpiries, VelocityStore } from '../velocity/store.js';
import type { OpsBackend } from './backend.js';
import type { OperationsConfig } from './config.js';
import type { OpsContext } from './context.js';
import { MemoryOpsBackend } from './memory.js';
import { RedisOpsBackend } from './redis.js';
import { DecisionStats } from './stats.js';
import { MetricUnit } from '@aws-lambda-powertools/metrics';

export type EntityRef = { readonly kind: EntityKind; readonly key: string };

/** What decide needs from operations; optional in its deps (replays and benchmarks go without). */
export interface DecisionOperations {
  /** Block/allow membership of the event's entities, read alongside velocity. */
  readLists(entities: readonly EntityRef[]): Promise<ListMembership>;
  /** Opens the review of a hold (idempotent). Throws on store failure; decide logs it. */
  openReview(decision: Decision, entities: readonly EntityRef[]): Promise<void>;
  /** Counts a first decision in its hour's stats (with the commit). Throws on store failure; decide logs it. */
  countDecision(decision: Decision, shadow: readonly string[]): Promise<void>;
  /**
   * When the lists live where `store`'s calls run (one Redis node, the same client): the claim's
   * own call reads the entries, and this turns what it read into membership.
   */
  carriedBy?(store: VelocityStore): CarriedOperations | undefined;
}

/** Operations that ride in the velocity store's calls (one command instead of one per entity). */
export interface CarriedOperations {
  /** Membership from the expiries the claim read. */
  membership(expiries: ListExpiries): ListMembership;
}

export class Operations implements DecisionOperations {
  readonly reviews: Reviews;
  readonly lists: Lists;
  readonly stats: DecisionStats;
  readonly #carried: CarriedOperations | undefined;

  constructor(readonly ctx: OpsContext) {
    this.reviews = new Reviews(ctx);
    this.lists = new Lists(ctx);
    this.stats = new DecisionStats(ctx);
    const { backend, velocity } = ctx;
    // Only on the velocity store's own connection: the same node for certain (a cluster store carries nothing).
    if (velocity?.carriesLists && velocity instanceof RedisVelocityStore && backend instanceof RedisOpsBackend && backend.client === velocity.client) {
      this.#carried = { membership: (expiries) => this.lists.membershipOf(expiries) };
    }
  }

  carriedBy(store: VelocityStore): CarriedOperations | undefined {
    return store === this.ctx.velocity ? this.#carried : undefined;
  }

  countDecision(decision: Decision, shadow: readonly string[]): Promise<void> {
    return this.stats.count(decision, shadow);
  }

  readLists(entities: readonly EntityRef[]): Promise<ListMembership> {
    return this.lists.membership(entities);
  }

  async openReview(decision: Decision, entities: readonly EntityRef[]): Promise<void> {
    await this.reviews.open(decision, Object.fromEntries(entities.map((e) => [e.kind, e.key])));
  }
}

// On globalThis: under `npm start` every function is bundled on its own, and they share one embedded store.
const MEMORY_OPS = Symbol.for('riskhook.memoryOps');
const memoryOps = ((globalThis as { [MEMORY_OPS]?: WeakMap<VelocityStore, OpsBackend> })[MEMORY_OPS] ??= new WeakMap());

/** The operations store next to the velocity store: the same Redis client, or an embedded store that lives as long as it. */
export function opsBackendFor(store: VelocityStore): OpsBackend {
  if (store instanceof RedisVelocityStore) return new RedisOpsBackend(store.client);
  let backend = memoryOps.get(store);
  if (!backend) memoryOps.set(store, (backend = new MemoryOpsBackend()));
  return backend;
}

export function createOperations(
  backend: OpsBackend,
  hasher: IdentityHasher,
  config: OperationsConfig,
  decisionTtlMs: number,
  now: () => number = Date.now,
  velocity?: VelocityStore,
): Operations {
  return new Operations({ backend, hasher, config, decisionTtlMs, now, ...(velocity && { velocity }) });
}

/**
 * A hold whose review could not be opened (the store is down, or the write ran out of time): the
 * decision goes to the log at ERROR, whole (it carries no raw identifier), with a metric to alarm on.
 */
export function reportReviewNotOpened(provider: string, decision: Decision, error: unknown): void {
  logger.error('review not opened for a hold', { provider, decision, reason: (error as Error).message });
  const m = metrics.singleMetric();
  m.addDimension('provider', provider);
  m.addMetric('reviewsNotOpened', MetricUnit.Count, 1);
}
