/**
 * Velocity lives in Redis keys with TTLs. A Redis whose maxmemory-policy is anything but
 * `noeviction` (ElastiCache's default is volatile-lru) deletes them when memory runs full: counts
 * drop to zero, a customer held for the quota is approved, a retried event counts again, and
 * nothing fails. With `noeviction` a full Redis refuses writes instead: decisions turn degraded,
 * visibly. So at a container's first connection the policy is read from INFO (CONFIG is disabled on
 * ElastiCache) and anything else is an ERROR line and a `misconfiguration` metric, every cold start.
 * The check never delays or fails a request: it runs after the connection is ready, once per
 * client, and its own failures are logged, not thrown.
 */
import type { Cluster, Redis } from 'ioredis';
import { logger, recordMisconfiguration } from '../observability.js';

/** Masters checked on a cluster: enough to catch a parameter group, without a connection to every node of a large one. */
const MAX_NODES_CHECKED = 16;

export interface EvictionPolicyReport {
  /** Node address (host:port) -> its maxmemory_policy. */
  readonly policies: Record<string, string>;
  /** The nodes whose policy is not noeviction. */
  readonly evicting: string[];
}

/** Runs checkEvictionPolicy once, when the client is first ready, after the commands that waited for it. */
export function watchEvictionPolicy(client: Redis | Cluster): void {
  client.once('ready', () => setImmediate(() => void checkEvictionPolicy(client)));
}

/** Reads maxmemory_policy from each node (a cluster's masters), logs and counts an evicting one; never throws. */
export async function checkEvictionPolicy(client: Redis | Cluster): Promise<EvictionPolicyReport | undefined> {
  try {
    const nodes = (client as Cluster).isCluster ? (client as Cluster).nodes('master').slice(0, MAX_NODES_CHECKED) : [client as Redis];
    if (nodes.length === 0) throw new Error('no cluster master known yet');
    const entries = await Promise.all(nodes.map(async (node) => [address(node), maxmemoryPolicy(await node.info('memory'))] as const));
    const policies = Object.fromEntries(entries);
    const evicting = entries.filter(([, policy]) => policy !== 'noeviction').map(([node]) => node);
    if (evicting.length > 0) {
      logger.error('redis maxmemory-policy is not noeviction: when its memory is full Redis deletes velocity keys and decisions silently approve; set maxmemory-policy noeviction (ElastiCache: in the parameter group)', {
        check: 'maxmemory_policy',
        policies,
        evicting,
      });
      recordMisconfiguration('maxmemory_policy');
    } else {
      logger.info('redis maxmemory-policy checked', { check: 'maxmemory_policy', policies });
    }
    return { policies, evicting };
  } catch (error) {
    logger.warn('could not check the redis maxmemory-policy', { reason: (error as Error).message.slice(0, 300) });
    return undefined;
  }
}

/** The maxmemory_policy field of an INFO reply. */
export function maxmemoryPolicy(info: string): string {
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (!policy) throw new Error('INFO memory has no maxmemory_policy field');
  return policy;
}

function address(node: Redis): string {
  const { host, port } = node.options;
  return `${host ?? 'localhost'}:${port ?? 6379}`;
}
