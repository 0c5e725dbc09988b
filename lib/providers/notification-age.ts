/**
 * How old a provider notification may be and still be scored. Alipay retries for about 25 hours
 * and WeChat Pay for about 24: anything older is no retry but a replay (or a provider backlog far
 * beyond its own schedule). It is acknowledged, so the provider stops sending it, and logged, but
 * never scored: scoring it would count a payment again once its stored decision has expired, and
 * date the account's history back by as long as the notification is old.
 */

/** RISKHOOK_MAX_NOTIFICATION_AGE_HOURS by default: the longest retry horizon (25 h) plus a day of slack. */
export const DEFAULT_MAX_NOTIFICATION_AGE_HOURS = 48;
export const DEFAULT_MAX_NOTIFICATION_AGE_MS = DEFAULT_MAX_NOTIFICATION_AGE_HOURS * 3_600_000;

/** Why a notification dated `at` (by `field`) is too old when received at `receivedAt`; undefined when it is not. */
export function staleReason(field: string, at: number, receivedAt: number, maxAgeMs: number): string | undefined {
  const ageMs = receivedAt - at;
  if (ageMs <= maxAgeMs) return undefined;
  const hours = (ms: number) => `${Math.floor(ms / 3_600_000)} h`;
  return `stale: ${field} is ${hours(ageMs)} old, beyond the ${hours(maxAgeMs)} limit (RISKHOOK_MAX_NOTIFICATION_AGE_HOURS); not scored`;
}
