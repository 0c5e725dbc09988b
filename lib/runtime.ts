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
import type { StoreLimits, VelocityStore } from './velocity/store.js';
import { type Operations, createOperations, opsBackendFor } from './operations/index.js';
import { type OperationsConfig, loadOperationsConfig } from './operations/config.js';
import { startLocalDelivery } from './outbox/local.js';

export interface Runtime {
  readonly config: Config;
  /** What decide() and bind() need, built once per container rather than per request. */
  readonly deps: DecideDeps;
  readonly store: VelocityStore;
  readonly adapters: ReadonlyMap<string, ProviderAdapter>;
  readonly hasher: IdentityHasher;
  /** Reviews, lists, merchant-webhook outbox and audit trail (issue 10). */
  readonly operations: Operations;
  readonly operationsConfig: OperationsConfig;
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

export function createRuntime(
  config: Config,
  store: VelocityStore = createStore(config),
  operationsConfig: OperationsConfig = loadOperationsConfig(process.env, config.local),
): Runtime {
  const hasher = new IdentityHasher(config.pepper);
  const operations = createOperations(opsBackendFor(store), hasher, operationsConfig, config.limits.decisionTtlMs, Date.now, store);
  const deps: DecideDeps = {
    store,
    policy: config.policy,
    hasher,
    deadlineMs: config.deadlineMs,
    onStoreFailure: config.onStoreFailure,
    operations,
  };
  return { config, store, adapters: createAdapters(config.providers), hasher, deps, operations, operationsConfig };
}

const SHARED_MEMORY_STORE = Symbol.for('riskhook.memoryStore');

/**
 * The process's one embedded store: under `npm start` each function (webhook, api, deliver) is
 * bundled on its own, and all of them must see the same decisions, reviews and lists.
 */
function sharedMemoryStore(limits: StoreLimits): VelocityStore {
  const g = globalThis as { [SHARED_MEMORY_STORE]?: VelocityStore };
  return (g[SHARED_MEMORY_STORE] ??= new MemoryVelocityStore(limits));
}

let current: Runtime | Error | undefined;

/** The container's runtime; a configuration error is kept and rethrown (the environment will not change). */
export function getRuntime(): Runtime {
  if (current instanceof Error) throw current;
  if (current) return current;
  try {
    const config = loadConfig();
    const runtime = createRuntime(config, config.redisUrl || config.redisCluster ? createStore(config) : sharedMemoryStore(config.limits));
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
    const localDefaults = [...config.localDefaults, ...runtime.operationsConfig.localDefaults];
    if (localDefaults.length > 0) {
      logger.warn('using local-only defaults (refused outside local runs)', { variables: localDefaults });
    }
    if (config.local) startLocalDelivery(runtime.operations.ctx);
    current = runtime;
    return runtime;
  } catch (error) {
    current = error as Error;
    throw error;
  }
}
