/** Builds each store for the contract suite: a real Redis (from global setup) and the memory store. */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { MemoryVelocityStore } from '../../lib/velocity/memory.js';
import { RedisVelocityStore, createRedisClient } from '../../lib/velocity/redis.js';
import { DEFAULT_LIMITS, type StoreLimits, type VelocityStore } from '../../lib/velocity/store.js';
import { DEFAULT_WINDOWS, windowSpecs } from '../../lib/velocity/windows.js';

export function testLimits(overrides: Partial<StoreLimits> = {}): StoreLimits {
  return { windows: windowSpecs(DEFAULT_WINDOWS), ...DEFAULT_LIMITS, claimStaleMs: 1_000, ...overrides };
}

export const STORE_KINDS = ['memory', 'redis'] as const;

export function makeStore(kind: (typeof STORE_KINDS)[number], limits: StoreLimits, now?: () => number): VelocityStore {
  if (kind === 'memory') return new MemoryVelocityStore(limits, now);
  return new RedisVelocityStore(createRedisClient(inject('redisUrl'), 2_000), limits);
}

/** A random opaque key, as lib/identity would produce, so tests never share Redis keys. */
export const randomKey = () => randomBytes(12).toString('base64url');
