/**
 * Redis client errors, logged with their cause instead of dropped: a refused connection, a wrong
 * password or a timeout is what an operator needs to see first when decisions turn degraded. A
 * client reconnecting every 100 ms to 1 s would write a line per attempt, so each cause is logged at
 * most once per interval per container, with the number of errors left out since its last line.
 * Never a credential: URL user info and the configured password are masked in every message.
 */
import { logger } from '../observability.js';

const DEFAULT_INTERVAL_MS = 10_000;

/** The cause an operator acts on: the system error code (ECONNREFUSED, ETIMEDOUT, ...) or the Redis error prefix (WRONGPASS, NOAUTH, ...). */
export function redisErrorCause(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown; lastNodeError?: unknown } | null;
  if (e && typeof e.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(e.code)) return e.code;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  // ioredis: "connect ETIMEDOUT", "Command timed out", "Failed to refresh slots cache." (cluster, with the last node's error)
  const code = /\b(E[A-Z]{3,})\b/.exec(message)?.[1];
  if (code) return code;
  if (/timed out/i.test(message)) return 'ETIMEDOUT';
  if (e?.lastNodeError) return redisErrorCause(e.lastNodeError);
  const prefix = /^([A-Z]{3,})\b/.exec(message)?.[1]; // a Redis error reply: WRONGPASS, NOAUTH, LOADING, ...
  return prefix ?? 'unknown';
}

/** The message with URL credentials and the given secrets masked, bounded in length. */
export function redactRedisMessage(message: string, secrets: readonly string[] = []): string {
  let text = message.replace(/(\w+:\/\/)[^@\s/]*@/g, '$1***@');
  for (const secret of secrets) if (secret) text = text.split(secret).join('***');
  return text.slice(0, 300);
}

export interface RedisErrorReporterOptions {
  /** At most one line per cause per this many milliseconds (default 10 s). */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

/** Per-cause state, shared by every client of the container (one reconnect storm is one story). */
const lastLogged = new Map<string, { at: number; suppressed: number }>();

/**
 * A listener for a client's 'error' (and a cluster's 'node error') events. `secrets` are masked
 * wherever they appear (the password given besides the URL).
 */
export function redisErrorReporter(secrets: readonly (string | undefined)[] = [], options: RedisErrorReporterOptions = {}) {
  const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const masked = secrets.filter((s): s is string => !!s);
  return (error: unknown, node?: unknown): void => {
    const cause = redisErrorCause(error);
    const at = now();
    const state = lastLogged.get(cause);
    if (state && at - state.at < interval) {
      state.suppressed++;
      return;
    }
    lastLogged.set(cause, { at, suppressed: 0 });
    const message = error instanceof Error ? error.message : String(error);
    logger.error('redis client error', {
      cause,
      reason: redactRedisMessage(message, masked),
      ...(typeof node === 'string' && { node: redactRedisMessage(node, masked) }),
      ...(state && state.suppressed > 0 && { suppressedSinceLastLine: state.suppressed }),
    });
  };
}

/** Forgets what was logged (tests start each case with a clean slate). */
export function resetRedisErrorLog(): void {
  lastLogged.clear();
}
