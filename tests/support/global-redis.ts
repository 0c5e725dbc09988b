/**
 * Starts a private redis-server on a free port for the whole run and stops it afterwards.
 * REDIS_URL, when set, is used instead (tests never flush: every test uses its own random pepper,
 * so its keys cannot collide with anything already there).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisPid: number;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

let child: ChildProcess | undefined;

export default async function setup(project: TestProject) {
  if (process.env.REDIS_URL) {
    project.provide('redisUrl', process.env.REDIS_URL);
    project.provide('redisPid', 0);
    return;
  }
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error(
      'Integration tests need Redis: install redis-server (Debian: apt-get install -y redis-server) ' +
        'or set REDIS_URL to a Redis the tests may write to.',
    );
  }
  const port = await freePort();
  child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  while (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() !== 'PONG') {
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  project.provide('redisUrl', `redis://127.0.0.1:${port}`);
  project.provide('redisPid', child.pid ?? 0);
  return () => {
    child?.kill('SIGKILL');
  };
}
