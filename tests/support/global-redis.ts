/**
 * Starts a private redis-server on a free port for the whole run, and a private Redis Cluster
 * (6 nodes: 3 masters, 3 replicas; about 6 s to form, started alongside), and stops both afterwards.
 * REDIS_URL / REDIS_CLUSTER_NODES (host:port,...), when set, are used instead (tests never flush:
 * every test uses its own random pepper or keys, so nothing they write can collide with what is
 * already there). Tests that fail nodes over start their own cluster.
 */
import type { TestProject } from 'vitest/node';
import { type RedisClusterNodes, startRedisCluster } from '../../scripts/redis-cluster.js';
import { hasRedisServer, startRedisServer } from '../../scripts/redis-server.js';

export { freePort } from '../../scripts/redis-server.js';

/**
 * startRedisCluster, tried up to three times: it picks free ports for the nodes but not for their
 * cluster bus (port + 10000), which another process's connection can hold while the whole suite runs;
 * a node that cannot bind exits, and the attempt times out waiting for it.
 */
export async function startRedisClusterRetrying(attempts = 3): Promise<RedisClusterNodes> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisCluster();
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisPid: number;
    /** host:port of the cluster's nodes. */
    redisClusterNodes: string[];
  }
}

export default async function setup(project: TestProject) {
  const external = {
    url: process.env.REDIS_URL,
    cluster: process.env.REDIS_CLUSTER_NODES?.split(',').map((s) => s.trim()).filter(Boolean),
  };
  if ((!external.url || !external.cluster?.length) && !hasRedisServer()) {
    throw new Error(
      'Integration tests need Redis: install redis-server (Debian: apt-get install -y redis-server) ' +
        'or set REDIS_URL and REDIS_CLUSTER_NODES to a Redis and a Redis Cluster the tests may write to.',
    );
  }
  const started = await Promise.allSettled([
    external.url ? undefined : startRedisServer(),
    external.cluster?.length ? undefined : startRedisClusterRetrying(),
  ]);
  const [server, cluster] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined)) as [
    Awaited<ReturnType<typeof startRedisServer>> | undefined,
    RedisClusterNodes | undefined,
  ];
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    server?.stop();
    cluster?.stop();
    throw failed.reason;
  }
  project.provide('redisUrl', external.url ?? server!.url);
  project.provide('redisPid', server?.process.pid ?? 0);
  project.provide('redisClusterNodes', external.cluster?.length ? external.cluster : [...cluster!.nodes]);
  return () => {
    server?.stop();
    cluster?.stop();
  };
}
