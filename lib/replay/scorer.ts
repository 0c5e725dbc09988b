/**
 * One policy's scorer for replay and simulation: `decide` (the webhook's own decision path, no HTTP)
 * on an isolated store, with the recorded time as its clock. Every use of a velocity store by
 * replay and simulation is in this file.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type DecideDeps, type DecisionTrace, bind, decide, decideInTurn } from '../decide.js';
import type { Binding, Decision, EntityKind, PaymentEvent } from '../events.js';
import { IdentityHasher, canonicalIp } from '../identity.js';
import type { Policy } from '../policy/load.js';
import { MemoryVelocityStore } from '../velocity/memory.js';
import { RedisVelocityStore, createRedisClient } from '../velocity/redis.js';
import { DEFAULT_LIMITS, type StoreLimits, type VelocityStore } from '../velocity/store.js';

/** What one policy decided for one payment, and the shadow rules that would have fired. */
export interface Outcome {
  readonly decision: Decision;
  readonly shadow: readonly string[];
  /** The event id was decided before (a repeated delivery): the stored decision, nothing counted. */
  readonly repeated: boolean;
}

export interface Scorer {
  readonly policy: Policy;
  /**
   * Scores a payment at `clock` (the recorded receivedAt, or occurredAt for a canonical event). On the
   * memory store the outcome comes back as it is (see decideInTurn), else in a promise.
   */
  payment(event: PaymentEvent, clock: number): Outcome | Promise<Outcome>;
  binding(binding: Binding, clock: number): Promise<void>;
  close(): Promise<void>;
}

export interface ScorerOptions {
  /** A Redis to count in instead of the memory store: it must be empty (refused otherwise). */
  readonly redisUrl?: string;
  /** As RISKHOOK_DEADLINE_MS live; with the replay clock standing still during a decision it never runs out. */
  readonly deadlineMs?: number;
  readonly onStoreFailure?: 'hold' | 'approve';
  /** As RISKHOOK_DECISION_TTL_HOURS live: how long a repeated event id gets the stored decision. */
  readonly decisionTtlMs?: number;
}

export class NonEmptyRedisError extends Error {}

const NONE: readonly string[] = Object.freeze([]);

/** The store limits a live container derives from its policy (lib/config.ts), for the same decisions. */
export function replayLimits(policy: Policy, options: ScorerOptions = {}): StoreLimits {
  return {
    windows: policy.windows,
    // The policy's read plan, as live: the same kept resolutions (a late event's fallback), retentions and TTLs.
    plan: policy.plan,
    ...DEFAULT_LIMITS,
    decisionTtlMs: options.decisionTtlMs ?? DEFAULT_LIMITS.decisionTtlMs,
    claimStaleMs: Math.max(2 * (options.deadlineMs ?? 800), 2_000),
  };
}

/**
 * A scorer per policy, each on its own store: memory stores by default; with a Redis URL, one
 * Redis (checked empty first: a replay never writes among live keys) shared by the policies, each
 * under its own random pepper so their keys never meet.
 */
export async function createScorers(policies: readonly Policy[], options: ScorerOptions = {}): Promise<Scorer[]> {
  if (!options.redisUrl) return policies.map((policy) => scorer(policy, options, (now) => new MemoryVelocityStore(replayLimits(policy, options), now), new PassThroughHasher()));
  const client = createRedisClient(options.redisUrl, Math.max(options.deadlineMs ?? 800, 2_000));
  try {
    await assertEmptyRedis(client, options.redisUrl);
  } catch (error) {
    client.disconnect();
    throw error;
  }
  let open = policies.length;
  return policies.map((policy) => {
    const store = new RedisVelocityStore(client, replayLimits(policy, options));
    // The client is shared: the last scorer to close disconnects it.
    const shared: VelocityStore = {
      name: store.name,
      claim: (key, now) => store.claim(key, now),
      readDecision: (key) => store.readDecision(key),
      saveDecision: (key, decision) => store.saveDecision(key, decision),
      record: (request) => store.record(request),
      commit: (request) => store.commit(request),
      recordBinding: (request) => store.recordBinding(request),
      close: async () => {
        if (--open === 0) await store.close();
      },
    };
    return scorer(policy, options, () => shared, new IdentityHasher(randomBytes(16).toString('hex')));
  });
}

/** Refuses a Redis holding any key (DBSIZE > 0), naming what to do. */
export async function assertEmptyRedis(client: Redis, url: string): Promise<void> {
  const size = await client.dbsize();
  if (size > 0) {
    const where = new URL(url);
    throw new NonEmptyRedisError(
      `--redis ${where.protocol}//${where.host}${where.pathname}: the database holds ${size} keys; a replay only counts into an empty Redis (never among live counters). Use a fresh database or FLUSHDB one that is yours.`,
    );
  }
}

function scorer(policy: Policy, options: ScorerOptions, makeStore: (now: () => number) => VelocityStore, hasher: IdentityHasher): Scorer {
  const clock = { now: 0 };
  const now = () => clock.now;
  const store = makeStore(now);
  const deps: DecideDeps = {
    store,
    policy,
    hasher,
    deadlineMs: options.deadlineMs ?? 800,
    onStoreFailure: options.onStoreFailure ?? 'hold',
    now,
  };
  const inTurn = store.inTurn !== undefined;
  return {
    policy,
    payment(event, at) {
      clock.now = at;
      // The trace says what the webhook's log line says: a repeated id, the shadow rules that fired.
      const trace: DecisionTrace = { duplicate: false };
      const decided = inTurn ? decideInTurn(event, deps, at, trace) : decide(event, deps, at, trace);
      return decided instanceof Promise ? decided.then((decision) => outcome(decision, trace)) : outcome(decided, trace);
    },
    async binding(binding, at) {
      clock.now = at;
      await bind(binding, deps, at);
    },
    close: () => store.close(),
  };
}

function outcome(decision: Decision, trace: DecisionTrace): Outcome {
  return { decision, shadow: trace.shadow?.length ? trace.shadow : NONE, repeated: trace.duplicate };
}

/**
 * Identity in place of keyed hashing, for the in-process memory store only (nothing leaves the
 * process): saves seven HMACs per event. A decision log's ids are already peppered hashes, so
 * they are the very keys the live store used; raw IPs are canonicalised as the live hasher does.
 */
const HASHED = /^[A-Za-z0-9_-]{16}$/;

class PassThroughHasher extends IdentityHasher {
  constructor() {
    super('replay: identifiers are kept in this process only');
  }

  override entity(kind: EntityKind, rawId: string): string {
    return kind === 'ip' && !HASHED.test(rawId) ? canonicalIp(rawId) : rawId;
  }

  override event(provider: string, eventId: string): string {
    return `${provider}\u0000${eventId}`;
  }
}
