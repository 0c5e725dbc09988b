/**
 * Builds each store for the suites that run against every store: the memory store, a real Redis,
 * and a real Redis Cluster (both from global setup), the Redis ones with the clients riskhook ships.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { inject } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { type Runtime, createRuntime } from '../../lib/runtime.js';
import { ENTITY_KINDS } from '../../lib/events.js';
import { RELATIONS } from '../../lib/velocity/plan.js';
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

/**
 * Feature names for a test policy's `keep:` list, so the store keeps every count, amount and related
 * set of every entity (for tests that inspect what Redis holds; a policy keeps only what it reads).
 */
export function keepEverything(windows: readonly string[] = Object.keys(DEFAULT_WINDOWS)): string[] {
  const upper = (k: string) => k[0]!.toUpperCase() + k.slice(1);
  return ENTITY_KINDS.flatMap((kind) => [
    ...['count', 'amount', 'passwordFree.count', 'passwordFree.amount'].flatMap((m) => windows.map((w) => `${kind}.${m}.${w}`)),
    ...RELATIONS[kind].map((r) => `${kind}.isNew${upper(r)}`),
  ]);
}

let keepingPolicy: string | undefined;
/** The default policy with every counter kept (keepEverything), as a file for RISKHOOK_POLICY. */
export function keepEverythingPolicy(): string {
  if (keepingPolicy) return keepingPolicy;
  const policy = parseYaml(readFileSync(new URL('../../policies/default.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
  const path = join(mkdtempSync(join(tmpdir(), 'riskhook-keep-')), 'keep-everything.json');
  writeFileSync(path, JSON.stringify({ ...policy, version: 'default-keep-everything', keep: keepEverything(Object.keys(policy.windows as object)) }));
  return (keepingPolicy = path);
}

/** First seen (counted ms) from an entity hash's state field, read as a buffer; undefined when never counted. */
export const firstSeenOf = (hash: Record<string, Buffer>): number | undefined =>
  hash.s ? hash.s.readIntLE(7, 6) + hash.s[13]! * 2 ** 48 : undefined;
