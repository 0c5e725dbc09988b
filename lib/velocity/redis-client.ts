/**
 * Redis clients with Lambda-fit settings, created once per container: one node (REDIS_URL) or a
 * Redis Cluster (REDIS_CLUSTER_NODES). No socket at import, fail fast, keep reconnecting forever.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { redisErrorReporter } from './redis-errors.js';

/** AUTH for ElastiCache (AUTH token, or an RBAC user with its password). */
export interface RedisAuth {
  readonly username?: string | undefined;
  readonly password: string;
}

export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** Client settings fit for Lambda: no socket at import, fail fast, never the 20 retries (~74 s) of the defaults. */
export function lambdaRedisOptions(commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(commandTimeoutMs, 500),
    commandTimeout: commandTimeoutMs,
    keepAlive: 10_000,
    enableAutoPipelining: false,
    // Keep reconnecting with short delays: a client that gives up stays dead for the container's life.
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
  };
}

const authOptions = (auth: RedisAuth | undefined): RedisOptions =>
  auth ? { password: auth.password, ...(auth.username !== undefined && { username: auth.username }) } : {};

/**
 * One node. `rediss://` URLs connect with TLS (ioredis does it natively); credentials come from the
 * URL or from `auth`. `extra` is for tests (e.g. a private CA for TLS).
 */
export function createRedisClient(url: string, commandTimeoutMs: number, auth?: RedisAuth, extra: RedisOptions = {}): Redis {
  const client = new Redis(url, { ...lambdaRedisOptions(commandTimeoutMs), ...authOptions(auth), ...extra });
  // Commands reject on their own; the event says why (refused, wrong password, timeout), rate-limited.
  client.on('error', redisErrorReporter([auth?.password, ...urlPasswords(url)]));
  return client;
}

/**
 * Cluster settings fit for Lambda. Per node (redisOptions): the single-node settings above. The
 * cluster as a whole: lazy connect, offline queue while the slot map loads, reconnect forever
 * (clusterRetryStrategy), writes and reads on masters only. MOVED, ASK, TRYAGAIN, CLUSTERDOWN and a
 * node lost in a failover are followed by ioredis itself (slot map refreshed, command resent).
 * ioredis 6 takes no retryStrategy per node: a lost node is found again through the slot map, and
 * the cluster as a whole reconnects through clusterRetryStrategy. While the cluster is unreachable
 * its commands wait in its offline queue without a timeout; decide() answers at the deadline anyway.
 *
 * Auto-pipelining is off on a cluster, found with ioredis 6.0.0 (see tests/integration/cluster.test.ts):
 * it resends a pipeline that met MOVED only when every failed command got the same MOVED (same slot), so during a
 * failover pipelined commands for different slots fail instead of following the redirection. Without
 * it each command follows MOVED on its own. An event's calls still go out together, one per entity.
 * (It also grouped EVALSHA of a script taking its key count per call by the key count; the velocity
 * engine's FCALL is routed by its first key.)
 *
 * With TLS (ElastiCache in-transit encryption), host names are kept as given (dnsLookup) so the
 * certificate is checked against the name it was issued for, not an IP address.
 */
export function lambdaClusterOptions(commandTimeoutMs: number, { tls = false, auth }: { tls?: boolean; auth?: RedisAuth | undefined } = {}): ClusterOptions {
  const { lazyConnect, enableOfflineQueue, retryStrategy, enableAutoPipelining: _, ...perNode } = lambdaRedisOptions(commandTimeoutMs);
  return {
    lazyConnect,
    enableOfflineQueue,
    enableAutoPipelining: false,
    clusterRetryStrategy: (attempt: number) => retryStrategy!(attempt),
    scaleReads: 'master',
    slotsRefreshTimeout: perNode.connectTimeout!,
    // ioredis's defaults, spelled out: the delays before resending after a lost node, CLUSTERDOWN or TRYAGAIN.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    ...(tls && { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) }),
    redisOptions: { ...perNode, ...authOptions(auth), ...(tls && { tls: {} }) },
  };
}

/** A Redis Cluster client from its startup nodes (the others are discovered); see lambdaClusterOptions. */
export function createRedisClusterClient(nodes: readonly RedisNodeAddress[], options: ClusterOptions): Cluster {
  const client = new Cluster(nodes.map(({ host, port }) => ({ host, port })), options);
  const report = redisErrorReporter([options.redisOptions?.password]);
  client.on('error', report);
  client.on('node error', report);
  return client;
}

/** The password of a redis:// URL, as written and decoded, to be masked in logs. */
function urlPasswords(url: string): string[] {
  try {
    const { password } = new URL(url);
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}
