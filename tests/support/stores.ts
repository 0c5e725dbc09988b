/**
 * Builds each store for the suites that run against every store: the memory store, a real Redis,
 * and a real Redis Cluster (both from global setup), the Redis ones with the clients riskhook ships.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { type Runtime, createRuntime } from '../../lib/runtime.js';
import { MemoryVelocityStore } from '../../lib/velocity/memory.js';
import { RedisVelocityStore, createRedisClient, createRedisClusterClient, lambdaClusterOptions } from '../../lib/velocity/redis.js';
import { DEFAULT_LIMITS, type StoreLimits, type VelocityStore } from '../../lib/velocity/store.js';
import { DEFAULT_WINDOWS, windowSpecs } from '../../lib/velocity/windows.js';

export function testLimits(overrides: Partial<StoreLimits> = {}): StoreLimits {
  return { windows: windowSpecs(DEFAULT_WINDOWS), ...DEFAULT_LIMITS, claimStaleMs: 1_000, ...overrides };
}

export const STORE_KINDS = ['memory', 'redis', 'cluster'] as const;

/** host:port strings as { host, port }. */
export const clusterNodes = (nodes: readonly string[] = inject('redisClusterNodes')) =>
  nodes.map((node) => {
    const at = node.lastIndexOf(':');
    return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
  });

export function makeStore(kind: (typeof STORE_KINDS)[number], limits: StoreLimits, now?: () => number): VelocityStore {
  if (kind === 'memory') return new MemoryVelocityStore(limits, now);
  if (kind === 'cluster') return new RedisVelocityStore(createRedisClusterClient(clusterNodes(), lambdaClusterOptions(2_000)), limits);
  return new RedisVelocityStore(createRedisClient(inject('redisUrl'), 2_000), limits);
}

/** A random opaque key, as lib/identity would produce, so tests never share Redis keys. */
export const randomKey = () => randomBytes(12).toString('base64url');

/**
 * A deployed-style runtime on the memory store, for unit tests that need no Redis. loadConfig refuses
 * the memory store outside local runs, so the config names a Redis that is never dialled.
 */
export function memoryRuntime(env: Record<string, string>): Runtime {
  const config = loadConfig({ REDIS_URL: 'redis://never-dialled.invalid:6379', ...env });
  return createRuntime(config, new MemoryVelocityStore(config.limits));
}
