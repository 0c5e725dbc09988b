/**
 * A private Redis Cluster for tests and benchmarks: 6 redis-server processes on free ports
 * (3 masters, 3 replicas) joined with `redis-cli --cluster create`, in a temporary folder.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, hasRedisServer } from './redis-server.js';

export interface RedisClusterNodes {
  /** host:port of every node, masters first as created. */
  readonly nodes: readonly string[];
  readonly processes: ReadonlyMap<string, ChildProcess>;
  /** Promote a replica: CLUSTER FAILOVER on it; resolves once it reports itself master. */
  failover(replica: string): Promise<void>;
  /** The current role of each node, from the nodes themselves. */
  roles(): Record<string, 'master' | 'slave' | 'unknown'>;
  stop(): void;
}

const cli = (port: string, ...args: string[]) =>
  spawnSync('redis-cli', ['-p', port, ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';

async function until(what: string, check: () => boolean, timeoutMs = 20_000, failed: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    const failure = failed();
    if (failure) throw new Error(`redis cluster: ${failure}`);
    if (Date.now() > deadline) throw new Error(`redis cluster: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startRedisCluster(): Promise<RedisClusterNodes> {
  if (!hasRedisServer()) throw new Error('redis-server is not installed (Debian: apt-get install -y redis-server)');
  const dir = mkdtempSync(join(tmpdir(), 'riskhook-cluster-'));
  // Each node needs a client port and a cluster bus port (by default port + 10000, which may be
  // taken): both are picked free and the bus port is given explicitly.
  const free = new Set<string>();
  while (free.size < 12) free.add(String(await freePort()));
  const [ports, busPorts] = [[...free].slice(0, 6), [...free].slice(6)];
  const processes = new Map<string, ChildProcess>();
  let exited: string | undefined;
  ports.forEach((port, n) => {
    const child = spawn(
      'redis-server',
      [
        '--port', port, '--cluster-port', busPorts[n]!, '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
        '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000',
        '--save', '', '--appendonly', 'no', '--dir', dir,
      ],
      { stdio: 'ignore' },
    );
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') exited ??= `redis-server on port ${port} exited (${code ?? signal})`;
    });
    processes.set(`127.0.0.1:${port}`, child);
  });
  const stop = () => {
    for (const child of processes.values()) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until('the nodes to answer', () => ports.every((p) => cli(p, 'ping') === 'PONG'), 20_000, () => exited);
    const created = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'],
      { encoding: 'utf8' },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stderr || created.stdout}`);
    await until('cluster_state:ok on every node', () => ports.every((p) => cli(p, 'cluster', 'info').includes('cluster_state:ok')));
    // A replica can only be promoted once its link to the master is up.
    await until('three replicas connected to their masters', () =>
      ports.filter((p) => {
        const role = cli(p, 'role').split('\n');
        return role[0] === 'slave' && role[3] === 'connected';
      }).length === 3,
    );
  } catch (error) {
    stop();
    throw error;
  }
  const roles = () =>
    Object.fromEntries(
      ports.map((p) => {
        const role = cli(p, 'role').split('\n')[0];
        return [`127.0.0.1:${p}`, role === 'master' || role === 'slave' ? role : 'unknown'];
      }),
    ) as Record<string, 'master' | 'slave' | 'unknown'>;
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    processes,
    roles,
    async failover(replica: string) {
      const port = replica.split(':')[1]!;
      const answer = cli(port, 'cluster', 'failover');
      if (answer !== 'OK') throw new Error(`CLUSTER FAILOVER on ${replica}: ${answer}`);
      await until(`${replica} to become master`, () => cli(port, 'role').startsWith('master'));
    },
    stop,
  };
}
