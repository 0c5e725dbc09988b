/**
 * Starts a private redis-server on a free port for the whole run and stops it afterwards.
 * REDIS_URL, when set, is used instead (tests never flush: every test uses its own random pepper
 * or keys, so nothing they write can collide with what is already there).
 */
import type { TestProject } from 'vitest/node';
import { hasRedisServer, startRedisServer } from '../../scripts/redis-server.js';

export { freePort } from '../../scripts/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisPid: number;
  }
}

export default async function setup(project: TestProject) {
  if (process.env.REDIS_URL) {
    project.provide('redisUrl', process.env.REDIS_URL);
    project.provide('redisPid', 0);
    return;
  }
  if (!hasRedisServer()) {
    throw new Error(
      'Integration tests need Redis: install redis-server (Debian: apt-get install -y redis-server) ' +
        'or set REDIS_URL to a Redis the tests may write to.',
    );
  }
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  project.provide('redisPid', server.process.pid ?? 0);
  return () => server.stop();
}
