/**
 * The decision flow: claim the event id, count and read velocity, evaluate the policy, store the
 * decision. All within a deadline; when the store fails or is too slow, answer with the configured
 * fallback and say so (degraded). Retries return the stored decision and count nothing.
 */
import { StoreUnavailableError } from './errors.js';
import { BINDING_KINDS, type Binding, type Decision, type EntityKind, type PaymentEvent } from './events.js';
import type { IdentityHasher } from './identity.js';
import { logger } from './observability.js';
import { evaluate } from './policy/evaluate.js';
import { buildFeatures } from './policy/features.js';
import type { Policy } from './policy/load.js';
import { type EntityUpdate, RELATIONS, type RecordRequest, type VelocityStore } from './velocity/store.js';
import { type DecisionOperations, reportReviewNotOpened } from './operations/index.js';
import type { ListMembership } from './lists/lists.js';

export interface DecideDeps {
  readonly store: VelocityStore;
  readonly policy: Policy;
  readonly hasher: IdentityHasher;
  readonly deadlineMs: number;
  readonly onStoreFailure: 'hold' | 'approve';
  readonly now?: () => number;
  /** Reviews and lists (issue 10): list membership read with velocity, a review opened for every hold. */
  readonly operations?: DecisionOperations;
}

/** Why a decision was taken without the store; short codes, safe to return to the provider. */
export type DegradedReason = 'store_unavailable' | 'store_timeout' | 'duplicate_in_flight';

/** Time kept back from the deadline for building and sending the response. */
const RESPONSE_MARGIN_MS = 10;
const DUPLICATE_POLL_MS = 15;
/** How long a fallback hold's review write has before it is reported as not opened (the answer never waits for it). */
const DEGRADED_REVIEW_MS = 500;

export async function decide(event: PaymentEvent, deps: DecideDeps, startedAt = (deps.now ?? Date.now)()): Promise<Decision> {
  const now = deps.now ?? Date.now;
  const deadline = startedAt + deps.deadlineMs - RESPONSE_MARGIN_MS;
  const eventKey = deps.hasher.event(event.provider, event.id);
  try {
    const claim = await beforeDeadline(() => deps.store.claim(eventKey, now()), deadline, now);
    if (claim.state === 'decided') {
      // A retry of a hold: its review may be missing (a crash right after storing the decision).
      await openReview(event, claim.decision, deps, deadline, now);
      return claim.decision;
    }
    if (claim.state === 'pending') {
      return (await awaitDecision(deps.store, eventKey, deadline, now)) ?? (await fallbackWithReview(event, deps, 'duplicate_in_flight', startedAt));
    }
    const request = recordRequest(event, eventKey, deps.hasher);
    // List membership is read alongside velocity (same round trip on a single node).
    const [snapshot, lists] = await beforeDeadline(
      () => Promise.all([deps.store.record(request), readLists(deps.operations, request, event.id)]),
      deadline,
      now,
    );
    const evaluation = evaluate(deps.policy, buildFeatures(event, snapshot, deps.policy.readers, lists));
    if (evaluation.shadow.length > 0) logger.info('shadow rules matched', { eventId: event.id, shadow: evaluation.shadow });
    const decision: Decision = {
      eventId: event.id,
      decision: evaluation.decision,
      score: evaluation.score,
      reasons: evaluation.reasons,
      features: evaluation.features,
      policyVersion: deps.policy.version,
      degraded: false,
      ...decisionContext(event, startedAt),
    };
    try {
      await beforeDeadline(() => deps.store.saveDecision(eventKey, decision), deadline, now);
    } catch (error) {
      // Counted already; a retry takes over the stale claim and its markers keep it from counting again.
      logger.warn('decision not stored', { eventId: event.id, error: (error as Error).message });
    }
    await openReview(event, decision, deps, deadline, now);
    return decision;
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    const reason: DegradedReason = error instanceof DeadlineError ? 'store_timeout' : 'store_unavailable';
    logger.warn('velocity store failed; fallback decision', { eventId: event.id, reason, error: error.message });
    return fallbackWithReview(event, deps, reason, startedAt);
  }
}

/**
 * Records a binding (e.g. an agreement signed) on its account, linked account and instrument, within
 * the deadline. Throws StoreUnavailableError on failure: the caller answers so the provider retries.
 */
export async function bind(binding: Binding, deps: Pick<DecideDeps, 'store' | 'hasher' | 'deadlineMs' | 'now'>, startedAt?: number): Promise<void> {
  const now = deps.now ?? Date.now;
  const raw: Partial<Record<EntityKind, string>> = {
    account: binding.account.id,
    linkedAccount: binding.linkedAccount?.id,
    instrument: binding.instrument?.id,
  };
  const entities = BINDING_KINDS.filter((k) => raw[k] !== undefined).map((kind) => ({ kind, key: deps.hasher.entity(kind, raw[kind]!) }));
  const deadline = (startedAt ?? now()) + deps.deadlineMs - RESPONSE_MARGIN_MS;
  await beforeDeadline(() => deps.store.recordBinding({ at: binding.occurredAt, state: binding.state, entities }), deadline, now);
}

/** The entities of an event, by hashed id, each with the related entities the same event carries. */
export function recordRequest(event: PaymentEvent, eventKey: string, hasher: IdentityHasher): RecordRequest {
  const raw: Partial<Record<EntityKind, string>> = {
    account: event.account.id,
    linkedAccount: event.linkedAccount?.id,
    device: event.device?.id,
    ip: event.ip,
    instrument: event.instrument?.id,
    merchant: event.merchant.id,
  };
  const hashed = new Map<EntityKind, string>();
  for (const [kind, id] of Object.entries(raw) as [EntityKind, string | undefined][]) {
    if (id !== undefined) hashed.set(kind, hasher.entity(kind, id));
  }
  const entities: EntityUpdate[] = [...hashed].map(([kind, key]) => ({
    kind,
    key,
    relations: RELATIONS[kind],
    members: RELATIONS[kind].filter((r) => hashed.has(r)).map((relation) => ({ relation, member: hashed.get(relation)! })),
  }));
  return {
    eventKey,
    at: event.occurredAt,
    amountMinor: event.amount.minor,
    currency: event.amount.currency,
    passwordFree: event.authMethod === 'password_free',
    entities,
  };
}

/**
 * The decision without velocity: rules over the event's own fields still apply, and the configured
 * fallback decides the rest. Not stored, so a retry once the store is back is scored in full.
 */
export function fallback(event: PaymentEvent, deps: Pick<DecideDeps, 'policy' | 'onStoreFailure'>, reason: DegradedReason, receivedAt?: number): Decision {
  const evaluation = evaluate(deps.policy, buildFeatures(event, {}, deps.policy.readers));
  const hold = deps.onStoreFailure === 'hold' || evaluation.decision === 'hold';
  return {
    eventId: event.id,
    decision: hold ? 'hold' : 'approve',
    score: hold ? Math.max(evaluation.score, deps.policy.holdAt) : evaluation.score,
    reasons: [
      { rule: 'store-failure', message: `velocity unavailable (${reason}); fallback is ${deps.onStoreFailure}` },
      ...evaluation.reasons,
    ],
    features: evaluation.features,
    policyVersion: deps.policy.version,
    degraded: reason,
    ...decisionContext(event, receivedAt ?? Date.now()),
  };
}

/**
 * List membership, or undefined (no list feature fires) when it cannot be read: velocity's own call
 * decides whether the decision degrades, so a store failure is reported exactly as without lists.
 */
function readLists(operations: DecisionOperations | undefined, request: RecordRequest, eventId: string): Promise<ListMembership | undefined> {
  if (!operations) return Promise.resolve(undefined);
  return operations.readLists(request.entities).catch((error: Error) => {
    logger.warn('list membership not read', { eventId, reason: error.message });
    return undefined;
  });
}

/** What the merchant keys on, copied from the event: never a raw payer identifier. */
export function decisionContext(event: PaymentEvent, receivedAt: number): Pick<Decision, 'provider' | 'kind' | 'amount' | 'occurredAt' | 'receivedAt' | 'reference'> {
  return {
    provider: event.provider,
    kind: event.kind,
    amount: event.amount,
    occurredAt: new Date(event.occurredAt).toISOString(),
    receivedAt: new Date(receivedAt).toISOString(),
    ...(event.reference && { reference: event.reference }),
  };
}

/** The fallback decision; a fallback hold opens a review too (marked by its decision's degraded reason) when the store allows. */
async function fallbackWithReview(event: PaymentEvent, deps: DecideDeps, reason: DegradedReason, startedAt: number): Promise<Decision> {
  const decision = fallback(event, deps, reason, startedAt);
  const now = deps.now ?? Date.now;
  // The store just failed: the answer does not wait for the review write. It is sent now (it lands
  // at once when the store is back or was only slow) and reported if it fails within a short while.
  void openReview(event, decision, deps, now() + DEGRADED_REVIEW_MS, now);
  return decision;
}

/**
 * Opens the review of a hold within the deadline: the provider's answer never waits past it. A
 * review that cannot be opened is logged at ERROR with the decision and counted (see operations).
 */
async function openReview(event: PaymentEvent, decision: Decision, deps: DecideDeps, deadline: number, now: () => number): Promise<void> {
  if (decision.decision !== 'hold' || !deps.operations) return;
  const operations = deps.operations;
  const entities = recordRequest(event, deps.hasher.event(event.provider, event.id), deps.hasher).entities;
  try {
    await beforeDeadline(() => operations.openReview(decision, entities), deadline, now);
  } catch (error) {
    reportReviewNotOpened(event.provider, decision, error);
  }
}

class DeadlineError extends StoreUnavailableError {}

/**
 * Runs a store call against the deadline. The call is started only when time is left: past the
 * deadline nothing is sent (no write lands for a request already answered), and no promise is left
 * without a handler (its later rejection would be an unhandled rejection, fatal on Lambda).
 */
function beforeDeadline<T>(start: () => Promise<T>, deadline: number, now: () => number): Promise<T> {
  const left = deadline - now();
  if (left <= 0) return Promise.reject(new DeadlineError('deadline reached before the store answered'));
  const work = start();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(`store did not answer within ${left} ms`)), left);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * A duplicate delivery waits for the first one's decision, polling, until the deadline. Running out
 * of time during a poll (a late timer, a read still on its way) is still waiting on the first
 * delivery: undefined (duplicate_in_flight), not a store timeout. A store that fails is reported.
 */
async function awaitDecision(store: VelocityStore, eventKey: string, deadline: number, now: () => number): Promise<Decision | undefined> {
  while (now() + DUPLICATE_POLL_MS < deadline) {
    await new Promise((r) => setTimeout(r, DUPLICATE_POLL_MS));
    try {
      const decision = await beforeDeadline(() => store.readDecision(eventKey), deadline, now);
      if (decision) return decision;
    } catch (error) {
      if (error instanceof DeadlineError) return undefined;
      throw error;
    }
  }
  return undefined;
}
