/**
 * Runtimes and events for the velocity engine's black-box tests (issue 9): each store built the way
 * riskhook builds it (loadConfig + createRuntime, so the policy's read plan and the event lag reach the
 * store as they do in production), and decide() driven at a chosen receivedAt.
 *
 * The velocity clock: an event counts at clamp(occurredAt, receivedAt - maxLag, receivedAt + 5 min),
 * maxLag from RISKHOOK_MAX_EVENT_LAG. decideAt() gives decide() that receivedAt and a clock starting
 * there, so a simulated delivery time also governs the deadline and the claim.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { decide } from '../../lib/decide.js';
import type { Decision, PaymentEvent } from '../../lib/events.js';
import { type Runtime, createRuntime } from '../../lib/runtime.js';

export const V2_STORE_KINDS = ['memory', 'redis', 'cluster'] as const;
export type V2StoreKind = (typeof V2_STORE_KINDS)[number];

/** Reads many features of every entity (its probe rule always fires, so a decision's features hold them). */
export const PROBE_POLICY = fileURLToPath(new URL('./policies/velocity-probe.yaml', import.meta.url));
export const DEFAULT_POLICY = fileURLToPath(new URL('../../policies/default.yaml', import.meta.url));

export const SECOND = 1_000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
/** 2^53 - 1: where amount sums saturate. */
export const MAX_MINOR = Number.MAX_SAFE_INTEGER;

export interface V2RuntimeOptions {
  /** Policy file; the probe policy by default. */
  readonly policy?: string;
  /** RISKHOOK_MAX_EVENT_LAG, e.g. "30d" to load simulated history; unset: riskhook's default. */
  readonly maxEventLag?: string;
  /** The same pepper on several stores makes their keys (and sorted-set tie orders) identical. */
  readonly pepper?: string;
  /** A private redis-server instead of the suite's shared one (for tests that inspect every key). */
  readonly redisUrl?: string;
  /** More environment, e.g. other RISKHOOK_* limits. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A runtime over the given store kind, configured from the environment as the Lambda is. */
export function v2Runtime(kind: V2StoreKind, options: V2RuntimeOptions = {}): Runtime {
  const env: Record<string, string> = {
    GENERIC_WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString('base64')}`,
    RISKHOOK_PEPPER: options.pepper ?? randomBytes(16).toString('hex'),
    RISKHOOK_STAGE: 'test',
    RISKHOOK_POLICY: options.policy ?? PROBE_POLICY,
    // Generous: a busy machine must not turn a slow answer into a degraded one.
    RISKHOOK_DEADLINE_MS: '10000',
    ...(options.maxEventLag !== undefined && { RISKHOOK_MAX_EVENT_LAG: options.maxEventLag }),
    ...options.env,
  };
  // The memory store is for local runs only (config refuses it elsewhere).
  if (kind === 'memory') env.IS_LOCAL = 'true';
  if (kind === 'redis') env.REDIS_URL = options.redisUrl ?? inject('redisUrl');
  if (kind === 'cluster') env.REDIS_CLUSTER_NODES = inject('redisClusterNodes').join(',');
  return createRuntime(loadConfig(env));
}

/** decide() for a delivery received at `receivedAt` (the velocity clock's reference), on a clock starting there. */
export function decideAt(runtime: Runtime, event: PaymentEvent, receivedAt: number): Promise<Decision> {
  const realStart = Date.now();
  return decide(event, { ...runtime.deps, now: () => receivedAt + (Date.now() - realStart) }, receivedAt);
}

/** A decision's feature, which must be there (the probe policy reads it). */
export function feature(decision: Decision, name: string): number | boolean | string {
  const value = decision.features[name];
  if (value === undefined) throw new Error(`decision ${decision.eventId} has no feature ${name} (degraded: ${decision.degraded})`);
  return value;
}

export interface PaymentOptions {
  readonly id?: string;
  readonly at: number;
  readonly account: string;
  readonly device?: string;
  readonly ip?: string;
  readonly linkedAccount?: string;
  readonly instrument?: string;
  readonly merchant?: string;
  readonly minor?: number;
  readonly currency?: string;
  readonly passwordFree?: boolean;
  readonly twoFactor?: boolean;
}

/** A canonical payment event (what an adapter hands decide()). */
export function payment(o: PaymentOptions): PaymentEvent {
  return {
    id: o.id ?? `evt_${randomBytes(8).toString('hex')}`,
    provider: 'generic',
    kind: 'authorization',
    occurredAt: o.at,
    amount: { minor: o.minor ?? 1_000, currency: o.currency ?? 'CNY' },
    account: { id: o.account, ...(o.twoFactor !== undefined && { twoFactor: o.twoFactor }) },
    merchant: { id: o.merchant ?? 'merchant_v2', category: '5818' },
    authMethod: o.passwordFree === false ? 'biometric' : 'password_free',
    ...(o.device !== undefined && { device: { id: o.device } }),
    ...(o.ip !== undefined && { ip: o.ip }),
    ...(o.linkedAccount !== undefined && { linkedAccount: { id: o.linkedAccount, kind: 'apple_id' as const } }),
    ...(o.instrument !== undefined && { instrument: { id: o.instrument, kind: 'card' as const } }),
  };
}

/** A fresh raw id (tests never share entities). */
export const rawId = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;

/** `at` rounded down to a multiple of `unit` (bucket boundaries: every default bucket size divides 12 h). */
export const floorTo = (at: number, unit: number) => Math.floor(at / unit) * unit;

/** A seeded PRNG (mulberry32): reproducible streams from a seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Every entity hash (rh:{<kind>:<hash>}:v) on a single Redis node, by SCAN. */
export async function entityHashKeys(client: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', 'rh:{*}:v', 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}
