/**
 * Everything a container builds once: config, store, adapters, hasher. Built on the first request
 * (not at import, so invoke local and tests control the environment) and reused while warm.
 */
import { type Config, loadConfig } from './config.js';
import type { DecideDeps } from './decide.js';
import { IdentityHasher } from './identity.js';
import { logger } from './observability.js';
import { type ProviderAdapter, createAdapters } from './providers/index.js';
import { watchEvictionPolicy } from './velocity/eviction-policy.js';
import { MemoryVelocityStore } from './velocity/memory.js';
import { RedisVelocityStore } from './velocity/redis.js';
import { createRedisClient, createRedisClusterClient, lambdaClusterOptions } from './velocity/redis-client.js';
import type { VelocityStore } from './velocity/store.js';

export interface Runtime {
  readonly config: Config;
  /** What decide() and bind() need, built once per container rather than per request. */
  readonly deps: DecideDeps;
  readonly store: VelocityStore;
  readonly adapters: ReadonlyMap<string, ProviderAdapter>;
  readonly hasher: IdentityHasher;
}

/** REDIS_CLUSTER_NODES: a cluster client; REDIS_URL: one node; neither: the embedded memory store. */
export function createStore(config: Config): VelocityStore {
  const { redisCluster: cluster, redisAuth: auth } = config;
  if (cluster) {
    const client = createRedisClusterClient(cluster.nodes, lambdaClusterOptions(config.deadlineMs, { tls: cluster.tls, auth }));
    watchEvictionPolicy(client);
    return new RedisVelocityStore(client, config.limits);
  }
  if (config.redisUrl) {
    const client = createRedisClient(config.redisUrl, config.deadlineMs, auth);
    watchEvictionPolicy(client);
    return new RedisVelocityStore(client, config.limits);
  }
  return new MemoryVelocityStore(config.limits);
}

/** What the ready log says about the store: its kind, node count and TLS, never an address or a credential. */
export function describeStore(config: Config): Record<string, string | number | boolean> {
  if (config.redisCluster) {
    return { store: 'redis-cluster', redisNodes: config.redisCluster.nodes.length, redisTls: config.redisCluster.tls, redisAuth: !!config.redisAuth };
  }
  if (config.redisUrl) return { store: 'redis', redisTls: config.redisUrl.startsWith('rediss://'), redisAuth: !!config.redisAuth };
  return { store: 'memory' };
}

export function createRuntime(config: Config, store: VelocityStore = createStore(config)): Runtime {
  const hasher = new IdentityHasher(config.pepper);
  const deps: DecideDeps = {
    store,
    policy: config.policy,
    hasher,
    deadlineMs: config.deadlineMs,
    onStoreFailure: config.onStoreFailure,
  };
  return { config, store, adapters: createAdapters(config.providers), hasher, deps };
}

let current: Runtime | Error | undefined;

/** The container's runtime; a configuration error is kept and rethrown (the environment will not change). */
export function getRuntime(): Runtime {
  if (current instanceof Error) throw current;
  if (current) return current;
  try {
    const runtime = createRuntime(loadConfig());
    const { config } = runtime;
    logger.info('riskhook ready', {
      stage: config.stage,
      ...describeStore(config),
      policy: config.policyPath,
      policyVersion: config.policy.version,
      providers: [...runtime.adapters.keys()],
      deadlineMs: config.deadlineMs,
      onStoreFailure: config.onStoreFailure,
    });
    // Only a local run gets here with the memory store: loadConfig refuses it anywhere else.
    if (runtime.store.name === 'memory') {
      logger.warn('REDIS_URL and REDIS_CLUSTER_NODES are unset: counting in this process only (the embedded in-memory store, for local runs)');
    }
    if (config.localDefaults.length > 0) {
      logger.warn('using local-only defaults (refused outside local runs)', { variables: config.localDefaults });
    }
    current = runtime;
    return runtime;
  } catch (error) {
    current = error as Error;
    throw error;
  }
}
