/**
 * Redis client errors reach the logs with their cause (a refused connection, a wrong password), at
 * most one line per cause per interval however many errors a reconnecting client meets, and never
 * with a password or URL credentials. Against real redis-servers of this test's own.
 */
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { type CapturedOutput, captureOutput, eventually, releaseOutput } from '../support/captured-output.js';
import { ControlledRedis } from '../support/redis-control.js';

const PASSWORD = 'right-password-7f3a9c';
const WRONG = 'wrong-password-51d2e8';
const URL_PASSWORD = 'url-password-c0ffee42';
let out: CapturedOutput;
let stopped: ControlledRedis;
let guarded: ControlledRedis;

beforeAll(async () => {
  out = captureOutput();
  // One after the other, so a server that fails to start leaves none behind unclosed (afterAll).
  stopped = await ControlledRedis.start();
  guarded = await ControlledRedis.start({ extraArgs: ['--requirepass', PASSWORD] });
  await stopped.stop();
});
beforeEach(async () => {
  out.clear();
  const { resetRedisErrorLog } = await import('../../lib/velocity/redis-errors.js');
  resetRedisErrorLog();
});
afterAll(async () => {
  releaseOutput();
  await Promise.all([stopped?.close(), guarded?.close()]);
});

const errorLines = (cause?: string) => out.logs('redis client error').filter((l) => cause === undefined || l.cause === cause);

it('logs a stopped server as ECONNREFUSED, once per interval through a burst of reconnect errors', async () => {
  const { createRedisClient } = await import('../../lib/velocity/redis-client.js');
  const client = createRedisClient(stopped.url, 200);
  let errors = 0;
  client.on('error', () => errors++);
  const started = Date.now();
  try {
    // Commands fail while the client keeps reconnecting (100 ms, 200 ms, ... apart): many errors.
    while (errors < 5) await client.ping().catch(() => undefined);
    const line = await eventually(() => errorLines('ECONNREFUSED')[0], 'the ECONNREFUSED line');
    expect(line).toMatchObject({ level: 'ERROR', cause: 'ECONNREFUSED' });
    expect(String(line.reason)).toContain('ECONNREFUSED');
  } finally {
    client.disconnect();
  }
  const elapsed = Date.now() - started;
  expect(errors).toBeGreaterThanOrEqual(5);
  // One line per cause per 10 s: the burst is bounded by the time it took, not by the number of errors.
  expect(errorLines().length).toBeLessThanOrEqual(1 + Math.floor(elapsed / 10_000));
});

it('logs a wrong password as WRONGPASS, and neither the password given nor the one in the URL', async () => {
  const { createRedisClient } = await import('../../lib/velocity/redis-client.js');
  const withAuth = createRedisClient(guarded.url, 500, { password: WRONG });
  const withUrl = createRedisClient(guarded.url.replace('redis://', `redis://default:${URL_PASSWORD}@`), 500);
  try {
    await expect(withAuth.ping()).rejects.toThrow(/WRONGPASS/);
    await expect(withUrl.ping()).rejects.toThrow(/WRONGPASS/);
    const line = await eventually(() => errorLines('WRONGPASS')[0], 'the WRONGPASS line');
    expect(String(line.reason)).toMatch(/^WRONGPASS/);
  } finally {
    withAuth.disconnect();
    withUrl.disconnect();
  }
  const everything = out.lines.join('\n');
  for (const secret of [WRONG, URL_PASSWORD, PASSWORD]) expect(everything).not.toContain(secret);
});

it('names the cause of errors it meets (system codes, Redis replies, timeouts, a cluster that failed on its last node) and masks credentials', async () => {
  const { redactRedisMessage, redisErrorCause } = await import('../../lib/velocity/redis-errors.js');
  expect(redisErrorCause(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
  expect(redisErrorCause(new Error('connect ETIMEDOUT'))).toBe('ETIMEDOUT');
  expect(redisErrorCause(new Error('Command timed out'))).toBe('ETIMEDOUT');
  expect(redisErrorCause(new Error('NOAUTH Authentication required.'))).toBe('NOAUTH');
  expect(redisErrorCause(Object.assign(new Error('Failed to refresh slots cache.'), { lastNodeError: new Error('WRONGPASS invalid username-password pair') }))).toBe(
    'WRONGPASS',
  );
  expect(redactRedisMessage('cannot reach rediss://user:s3cret@host:6379/0', ['other'])).toBe('cannot reach rediss://***@host:6379/0');
  expect(redactRedisMessage('token abc123 refused', ['abc123'])).toBe('token *** refused');
});
