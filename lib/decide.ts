/**
 * The decision flow: claim the event id, count and read velocity, evaluate the policy, store the
 * decision. All within a deadline; when the store fails or is too slow, answer with the configured
 * fallback and say so (degraded). Retries return the stored decision and count nothing.
 * Record (count and read what the policy reads), evaluate, then commit (the decision and what depends on it).
 */
import { StoreTimeoutError, StoreUnavailableError } from './errors.js';
import { BINDING_KINDS, type Binding, ENTITY_KINDS, type Decision, type EntityKind, type PaymentEvent } from './events.js';
import type { IdentityHasher } from './identity.js';
import { isoTime } from './iso-time.js';
import { logger } from './observability.js';
import { evaluate } from './policy/evaluate.js';
import type { Features } from './policy/features.js';
import type { Policy } from './policy/load.js';
import { type ClaimRecord, type CommitRequest, type EntityUpdate, RELATIONS, type RecordRequest, type VelocitySnapshot, type VelocityStore } from './velocity/store.js';
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

/**
 * What the log line needs beyond the decision, filled in by decide() when the caller passes one:
 * whether it answered with a decision taken before (a duplicate delivery, counted nothing), and
 * every feature the policy's rules read for this event (not only those of the rules that fired).
 * A duplicate has no features of its own: it reports those stored with the decision (or, when the
 * first delivery's decision did not come in time, those of the fallback).
 */
export interface DecisionTrace {
  duplicate: boolean;
  features?: Features;
  /** Shadow rules that would have fired (none for a duplicate). */
  shadow?: string[];
}

/** Time kept back from the deadline for building and sending the response. */
const RESPONSE_MARGIN_MS = 10;
const DUPLICATE_POLL_MS = 15;
/** How long a fallback hold's review write has before it is reported as not opened (the answer never waits for it). */
const DEGRADED_REVIEW_MS = 500;

export async function decide(
  event: PaymentEvent,
  deps: DecideDeps,
  startedAt = (deps.now ?? Date.now)(),
  trace: DecisionTrace = { duplicate: false },
): Promise<Decision> {
  // Without operations (replay, simulation) a store that answers in this turn needs no await at all.
  if (deps.store.inTurn && !deps.operations) return decideInTurn(event, deps, startedAt, trace);
  const now = deps.now ?? Date.now;
  const deadline = startedAt + deps.deadlineMs - RESPONSE_MARGIN_MS;
  const eventKey = deps.hasher.event(event.provider, event.id);
  try {
    const request = recordRequest(event, eventKey, deps.hasher, startedAt);
    const store = deps.store;
    const operations = deps.operations;
    const { claimed, lists: listsRead } = await claimAndRecord(event, request, deps, deadline, now);
    let lists = listsRead;
    const claim = claimed.claim;
    let snapshot = claimed.snapshot;
    if (claim.state === 'decided') {
      // A retry of a hold: its review may be missing (a crash right after storing the decision).
      await openReview(event, claim.decision, deps, deadline, now);
      return stored(claim.decision, trace);
    }
    if (claim.state === 'pending') return await awaitFirstDelivery(event, deps, eventKey, deadline, now, startedAt, trace);
    if (!snapshot) [snapshot, lists] = await recordAfterClaim(event, request, deps, deadline, now);
    const decision = decisionOf(event, deps, snapshot, lists, startedAt, trace);
    // The hour's decision stats are counted alongside the commit (same round trip), never delaying it.
    const counted = countDecision(operations, decision, trace.shadow!, deadline, now);
    try {
      // Commit: the decision, and what depends on it (approved spend, device trust), once.
      const commit = commitRequest(request, decision, STRONG_AUTH.has(event.authMethod));
      if (store.inTurn && inTurn(deadline, now)) store.inTurn.commit(commit);
      else await commitBeforeDeadline(store, commit, deadline, now);
    } catch (error) {
      notStored(event, error);
    }
    if (operations) {
      await counted;
      if (decision.decision === 'hold') await openReview(event, decision, deps, deadline, now);
    }
    return decision;
  } catch (error) {
    return degraded(event, deps, error, startedAt, trace);
  }
}

/**
 * decide() on a store that answers in the caller's turn (store.inTurn: the memory store), without
 * operations: the same steps, and the decision returned as it is, not in a promise (a replay scores
 * tens of thousands of payments a second, and a promise and its turn per payment are a good part of
 * the cost). Only a delivery that waits on another still being decided, and a fallback, are
 * answered by a promise.
 */
export function decideInTurn(
  event: PaymentEvent,
  deps: DecideDeps,
  startedAt = (deps.now ?? Date.now)(),
  trace: DecisionTrace = { duplicate: false },
): Decision | Promise<Decision> {
  const store = deps.store.inTurn;
  if (!store || deps.operations) throw new Error('decideInTurn: the store does not answer in the caller\'s turn, or there are operations to wait for');
  const now = deps.now ?? Date.now;
  const deadline = startedAt + deps.deadlineMs - RESPONSE_MARGIN_MS;
  const eventKey = deps.hasher.event(event.provider, event.id);
  try {
    // Its entities' objects are reused: the in-turn store keeps none of them (see REUSED_ENTITIES).
    const request = buildRecordRequest(event, eventKey, deps.hasher, startedAt, true);
    const claimed = inTurn(deadline, now) && store.claimRecord(request, now());
    const claim = claimed.claim;
    // Without operations a retry of a hold has no review to open.
    if (claim.state === 'decided') return stored(claim.decision, trace);
    if (claim.state === 'pending') {
      return awaitFirstDelivery(event, deps, eventKey, deadline, now, startedAt, trace).catch((error: unknown) => degraded(event, deps, error, startedAt, trace));
    }
    const decision = decisionOf(event, deps, claimed.snapshot!, undefined, startedAt, trace);
    try {
      if (inTurn(deadline, now)) store.commit(commitRequest(request, decision, STRONG_AUTH.has(event.authMethod)));
    } catch (error) {
      notStored(event, error);
    }
    return decision;
  } catch (error) {
    return degraded(event, deps, error, startedAt, trace);
  }
}

/** The policy's decision on the event and its velocity; the features it read and the shadow rules that fired go to the trace. */
function decisionOf(event: PaymentEvent, deps: DecideDeps, snapshot: VelocitySnapshot, lists: ListMembership | undefined, startedAt: number, trace: DecisionTrace): Decision {
  trace.features = deps.policy.features(event, snapshot, lists);
  const evaluation = evaluate(deps.policy, trace.features);
  trace.shadow = evaluation.shadow;
  if (evaluation.shadow.length > 0) logger.info('shadow rules matched', { eventId: event.id, shadow: evaluation.shadow });
  // decisionContext's fields written out in its order (a spread of it costs an object and a slow copy per payment).
  const decision: Decision = {
    eventId: event.id,
    decision: evaluation.decision,
    score: evaluation.score,
    reasons: evaluation.reasons,
    features: evaluation.features,
    policyVersion: deps.policy.version,
    degraded: false,
    provider: event.provider,
    kind: event.kind,
    amount: event.amount,
    occurredAt: isoTime(event.occurredAt),
    receivedAt: isoTime(startedAt),
  };
  if (event.reference) decision.reference = event.reference;
  return decision;
}

/** A second delivery while the first is being decided: a duplicate, whether or not its decision comes in time. */
async function awaitFirstDelivery(
  event: PaymentEvent,
  deps: DecideDeps,
  eventKey: string,
  deadline: number,
  now: () => number,
  startedAt: number,
  trace: DecisionTrace,
): Promise<Decision> {
  trace.duplicate = true;
  const first = await awaitDecision(deps.store, eventKey, deadline, now);
  return first ? stored(first, trace) : await fallbackWithReview(event, deps, 'duplicate_in_flight', startedAt, trace);
}

/** The decision is made but not stored: counted already; a retry takes over the stale claim and its markers keep it from counting again. */
function notStored(event: PaymentEvent, error: unknown): void {
  logger.warn('decision not stored', { eventId: event.id, error: (error as Error).message });
}

/** The fallback decision when the store failed or ran out of time; any other error is rethrown. */
function degraded(event: PaymentEvent, deps: DecideDeps, error: unknown, startedAt: number, trace: DecisionTrace): Promise<Decision> {
  if (!(error instanceof StoreUnavailableError)) throw error;
  const reason: DegradedReason = error instanceof StoreTimeoutError ? 'store_timeout' : 'store_unavailable';
  logger.warn('velocity store failed; fallback decision', { eventId: event.id, reason, error: error.message });
  return fallbackWithReview(event, deps, reason, startedAt, trace);
}

/*
 * The store calls decide awaits, each in a function of its own: decide itself then creates no
 * closure, so a call of it allocates no context for the variables closures would share.
 */

/**
 * Claim and record in one round trip where the store can (one script call on a single node), list
 * membership alongside; else claim only (decide then records). Nothing is sent past the deadline.
 * Without operations only the claim is awaited (no Promise.all and no array per payment). Lists on
 * the store's own node are read by the claim's own call (only the kinds the policy reads).
 */
async function claimAndRecord(
  event: PaymentEvent,
  request: RecordRequest,
  deps: DecideDeps,
  deadline: number,
  now: () => number,
): Promise<{ claimed: ClaimRecord; lists: ListMembership | undefined }> {
  const { store, operations } = deps;
  if (!store.claimRecord) return { claimed: { claim: await beforeDeadline(() => store.claim(request.eventKey, now()), deadline, now, store) }, lists: undefined };
  if (!operations) return { claimed: await beforeDeadline(() => store.claimRecord!(request, now()), deadline, now, store), lists: undefined };
  const carried = operations.carriedBy?.(store);
  if (carried) {
    const claimed = await beforeDeadline(() => store.claimRecord!(request, now(), deps.policy.listKinds), deadline, now, store);
    return { claimed, lists: claimed.lists ? carried.membership(claimed.lists) : undefined };
  }
  const [claimed, lists] = await beforeDeadline(
    () => Promise.all([store.claimRecord!(request, now()), readLists(operations, request, deps.policy.listKinds, event.id)]),
    deadline,
    now,
    store,
  );
  return { claimed, lists };
}

/** Record after a claim that did not (a store without claimRecord), lists alongside. */
function recordAfterClaim(
  event: PaymentEvent,
  request: RecordRequest,
  deps: DecideDeps,
  deadline: number,
  now: () => number,
): Promise<[VelocitySnapshot, ListMembership | undefined]> {
  const { store, operations } = deps;
  if (operations) return beforeDeadline(() => Promise.all([store.record(request), readLists(operations, request, deps.policy.listKinds, event.id)]), deadline, now, store);
  return beforeDeadline(() => store.record(request), deadline, now, store).then((snapshot) => [snapshot, undefined]);
}

function commitBeforeDeadline(store: VelocityStore, commit: CommitRequest, deadline: number, now: () => number): Promise<void> {
  return beforeDeadline(() => store.commit(commit), deadline, now, store);
}

function stored(decision: Decision, trace: DecisionTrace): Decision {
  trace.duplicate = true;
  trace.features = decision.features;
  return decision;
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

/** Authentication strong enough that an approved payment makes its device trusted for the account. */
const STRONG_AUTH: ReadonlySet<PaymentEvent['authMethod']> = new Set(['password', 'biometric', 'three_ds']);

/**
 * The entities of an event, by hashed id, each with the related entities the same event carries.
 * `receivedAt` is when the request arrived: the velocity clock bounds the event's time by it.
 */
export function recordRequest(event: PaymentEvent, eventKey: string, hasher: IdentityHasher, receivedAt?: number): RecordRequest {
  return buildRecordRequest(event, eventKey, hasher, receivedAt, false);
}

/** recordRequest; with `reuse`, each entity's update, members array and member object are REUSED_ENTITIES' (a new entities array each time). */
function buildRecordRequest(event: PaymentEvent, eventKey: string, hasher: IdentityHasher, receivedAt: number | undefined, reuse: boolean): RecordRequest {
  // Plain loops over arrays in the entity kinds' order: this runs for every payment (a replay's hot path).
  // Arrays are made at their final length: the first push on [] reserves 17 slots.
  // One member object per present kind, shared by every entity it relates to (read-only to the stores).
  const hashed = HASHED_SCRATCH;
  const asMember = MEMBER_SCRATCH;
  let present = 0;
  for (let i = 0; i < ENTITY_KINDS.length; i++) {
    const kind = ENTITY_KINDS[i]!;
    const id = rawEntityId(event, kind);
    const key = id === undefined ? undefined : hasher.entity(kind, id);
    hashed[i] = key;
    if (key === undefined) asMember[i] = undefined;
    else if (reuse) {
      const member = REUSED_ENTITIES[i]!.member;
      member.member = key;
      asMember[i] = member;
    } else asMember[i] = { relation: kind, member: key };
    if (id !== undefined) present++;
  }
  const entities = new Array<EntityUpdate>(present);
  let e = 0;
  for (let i = 0; i < ENTITY_KINDS.length; i++) {
    const key = hashed[i];
    if (key === undefined) continue;
    const relations = RELATION_INDEXES[i]!;
    if (reuse) {
      const reused = REUSED_ENTITIES[i]!;
      let n = 0;
      for (let r = 0; r < relations.length; r++) if (asMember[relations[r]!] !== undefined) n++;
      // The reused array of that length: setting an array's length is a runtime call (~2,000 instructions).
      const members = reused.members[n]!;
      n = 0;
      for (let r = 0; r < relations.length; r++) {
        const member = asMember[relations[r]!];
        if (member !== undefined) members[n++] = member;
      }
      const update = reused.update;
      update.members = members;
      update.key = key;
      entities[e++] = update;
      continue;
    }
    let n = 0;
    for (let r = 0; r < relations.length; r++) if (hashed[relations[r]!] !== undefined) n++;
    const members = new Array<EntityUpdate['members'][number]>(n);
    n = 0;
    for (let r = 0; r < relations.length; r++) {
      const member = asMember[relations[r]!];
      if (member !== undefined) members[n++] = member;
    }
    entities[e++] = { kind: ENTITY_KINDS[i]!, key, members };
  }
  // Loops, not fill(): Array.prototype.fill is a call into C++.
  for (let i = 0; i < ENTITY_KINDS.length; i++) {
    hashed[i] = undefined;
    asMember[i] = undefined;
  }
  const at = event.occurredAt;
  const amountMinor = event.amount.minor;
  const currency = event.amount.currency;
  const passwordFree = event.authMethod === 'password_free';
  return receivedAt !== undefined
    ? { eventKey, at, receivedAt, amountMinor, currency, passwordFree, entities }
    : { eventKey, at, amountMinor, currency, passwordFree, entities };
}

/** The record request with its decision: the spread { ...request, decision, strongAuth } written out (same keys, same order; a spread is slow on this path). */
function commitRequest(request: RecordRequest, decision: Decision, strongAuth: boolean): CommitRequest {
  const { eventKey, at, receivedAt, amountMinor, currency, passwordFree, entities } = request;
  return receivedAt !== undefined
    ? { eventKey, at, receivedAt, amountMinor, currency, passwordFree, entities, decision, strongAuth }
    : { eventKey, at, amountMinor, currency, passwordFree, entities, decision, strongAuth };
}

/**
 * Per entity kind, the update and member object decideInTurn's requests reuse, rewritten for each
 * payment: a store that answers in the caller's turn reads them within its call and keeps only their
 * strings (keys and members), so ~1 KB of objects per payment need not be made. The entities array
 * is new each time (the memory store tells its own commit's request from another's by it).
 */
const REUSED_ENTITIES: readonly {
  readonly update: { kind: EntityKind; key: string; members: EntityUpdate['members'][number][] };
  readonly member: { relation: EntityKind; member: string };
  /** A members array per length, 0 up to the kind's relations. */
  readonly members: EntityUpdate['members'][number][][];
}[] = ENTITY_KINDS.map((kind) => ({
  update: { kind, key: '', members: [] },
  member: { relation: kind, member: '' },
  members: Array.from({ length: RELATIONS[kind].length + 1 }, (_, n) => Array.from({ length: n }, () => ({ relation: kind, member: '' }))),
}));

/** recordRequest's hashed ids by kind, and each as a member (synchronous, emptied after each use). */
const HASHED_SCRATCH: (string | undefined)[] = ENTITY_KINDS.map(() => undefined);
const MEMBER_SCRATCH: (EntityUpdate['members'][number] | undefined)[] = ENTITY_KINDS.map(() => undefined);

/** Each entity kind's relations, as indexes into ENTITY_KINDS. */
const RELATION_INDEXES: readonly (readonly number[])[] = ENTITY_KINDS.map((kind) => RELATIONS[kind].map((relation) => ENTITY_KINDS.indexOf(relation)));

/** The event's raw id of an entity kind, if it has one. */
function rawEntityId(event: PaymentEvent, kind: EntityKind): string | undefined {
  switch (kind) {
    case 'account':
      return event.account.id;
    case 'linkedAccount':
      return event.linkedAccount?.id;
    case 'device':
      return event.device?.id;
    case 'ip':
      return event.ip;
    case 'instrument':
      return event.instrument?.id;
    case 'merchant':
      return event.merchant.id;
  }
}

/**
 * The decision without velocity: rules over the event's own fields still apply, and the configured
 * fallback decides the rest. Not stored, so a retry once the store is back is scored in full.
 */
export function fallback(
  event: PaymentEvent,
  deps: Pick<DecideDeps, 'policy' | 'onStoreFailure'>,
  reason: DegradedReason,
  receivedAt?: number,
  trace?: DecisionTrace,
): Decision {
  const features = deps.policy.features(event, {});
  const evaluation = evaluate(deps.policy, features);
  if (trace) Object.assign(trace, { features, shadow: evaluation.shadow });
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

/** The hour's decision stats, counted beside the commit; a failure is logged. */
function countDecision(operations: DecisionOperations | undefined, decision: Decision, shadow: readonly string[], deadline: number, now: () => number): Promise<void> {
  if (!operations) return Promise.resolve();
  return beforeDeadline(() => operations.countDecision(decision, shadow), deadline, now).catch((error: Error) => {
    logger.warn('decision not counted in the hourly stats', { eventId: decision.eventId, error: error.message });
  });
}

/**
 * List membership, or undefined (no list feature fires) when it cannot be read: velocity's own call
 * decides whether the decision degrades, so a store failure is reported exactly as without lists.
 */
function readLists(operations: DecisionOperations | undefined, request: RecordRequest, kinds: readonly EntityKind[], eventId: string): Promise<ListMembership | undefined> {
  if (!operations) return Promise.resolve(undefined);
  // Only the kinds the policy's rules read: the others would be read for nothing.
  return operations.readLists(request.entities.filter((e) => kinds.includes(e.kind))).catch((error: Error) => {
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
    occurredAt: isoTime(event.occurredAt),
    receivedAt: isoTime(receivedAt),
    ...(event.reference && { reference: event.reference }),
  };
}

/** The fallback decision; a fallback hold opens a review too (marked by its decision's degraded reason) when the store allows. */
async function fallbackWithReview(event: PaymentEvent, deps: DecideDeps, reason: DegradedReason, startedAt: number, trace: DecisionTrace): Promise<Decision> {
  const decision = fallback(event, deps, reason, startedAt, trace);
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

class DeadlineError extends StoreTimeoutError {}

/**
 * Runs a store call against the deadline. The call is started only when time is left: past the
 * deadline nothing is sent (no write lands for a request already answered), and no promise is left
 * without a handler (its later rejection would be an unhandled rejection, fatal on Lambda).
 */
function beforeDeadline<T>(start: () => Promise<T>, deadline: number, now: () => number, store?: VelocityStore): Promise<T> {
  const left = deadline - now();
  if (left <= 0) return Promise.reject(new DeadlineError('deadline reached before the store answered'));
  const work = start();
  // The memory store answers within the same turn (its promises settle before any timer could
  // fire), so a timer would never win the race: skipping it saves a timer per call in a replay.
  if (store?.name === 'memory') return work;
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

/** beforeDeadline for a store call made in the caller's turn: true while time is left, else the same DeadlineError. */
function inTurn(deadline: number, now: () => number): true {
  if (deadline - now() <= 0) throw new DeadlineError('deadline reached before the store answered');
  return true;
}

/**
 * A duplicate delivery waits for the first one's decision, polling, until the deadline. Running out
 * of time during a poll (a late timer, a read still on its way) is still waiting on the first
 * delivery: undefined (duplicate_in_flight), not a store timeout. A store that fails is reported.
 */
async function awaitDecision(store: VelocityStore, eventKey: string, deadline: number, now: () => number): Promise<Decision | undefined> {
  // At most as many polls as fit before the deadline, whatever the clock does: a replay's clock (the
  // recorded time) stands still while it decides, and would otherwise keep this loop going forever.
  for (let polls = Math.ceil((deadline - now()) / DUPLICATE_POLL_MS); polls > 0 && now() + DUPLICATE_POLL_MS < deadline; polls--) {
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
