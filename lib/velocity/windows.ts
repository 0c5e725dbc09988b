/**
 * Window, bucket and clock arithmetic, as plain functions. Both stores use these exact formulas (the
 * Redis store in record.lua), so a window reads the same whichever store counts it.
 *
 * The velocity clock: an event is counted at t = clamp(occurredAt, receivedAt - maxLag, receivedAt + 5 min).
 * A window W read by an event counted at t covers every bucket from the one holding t - W (the oldest,
 * straddling bucket counted in full: windows never undercount) up to the entity's newest bucket, so a
 * late or out-of-order event sees at least what it would have seen in time order. Bucket k holds the
 * events with k*g <= t < (k+1)*g.
 */

export interface WindowSpec {
  /** The name features use, e.g. "10m". */
  readonly name: string;
  readonly ms: number;
  readonly bucketMs: number;
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "90s", "10m", "24h", "7d" -> milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9]\d{0,5})([smhd])$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** Default windows and their bucket sizes: at most ~31 buckets each, so an entity's hash stays small. */
export const DEFAULT_WINDOWS: Readonly<Record<string, string>> = { '10m': '1m', '1h': '5m', '24h': '1h', '7d': '12h', '30d': '1d' };

export function windowSpecs(config: Readonly<Record<string, string>>): WindowSpec[] {
  if (Object.keys(config).length === 0) throw new RangeError('at least one window is needed, e.g. { 24h: 1h }');
  return Object.entries(config)
    .map(([name, bucket]) => {
      const ms = parseDuration(name);
      const bucketMs = parseDuration(bucket);
      if (ms === undefined) throw new RangeError(`window "${name}" is not a duration such as 10m, 24h or 7d`);
      if (bucketMs === undefined) throw new RangeError(`window "${name}": bucket "${bucket}" is not a duration such as 1m`);
      if (ms % bucketMs !== 0) throw new RangeError(`window "${name}": bucket ${bucket} does not divide it evenly`);
      const buckets = ms / bucketMs;
      if (buckets < 2 || buckets > 60) throw new RangeError(`window "${name}": ${buckets} buckets of ${bucket}; use 2 to 60`);
      if (ms > MAX_WINDOW_MS) throw new RangeError(`window "${name}": longer than 30d`);
      return { name, ms, bucketMs };
    })
    .sort((a, b) => a.ms - b.ms);
}

/** Longest window, and longest event lag and device retention: 30 days. */
export const MAX_WINDOW_MS = 30 * 86_400_000;
/** How far ahead of its arrival an event may be counted (clock skew between provider and us). */
export const MAX_LEAD_MS = 5 * 60_000;
/**
 * Default RISKHOOK_MAX_EVENT_LAG: the longest retry horizon among the providers whose deliveries are
 * scored (Alipay retries notifications for ~25 h; WeChat Pay ~24 h; Stripe Issuing authorizations
 * are never retried). Standard Webhooks senders may retry for ~3 days; set 75h for those.
 */
export const DEFAULT_MAX_EVENT_LAG_MS = 25 * 3_600_000;

/** The time an event is counted at: its own time, but never more than maxLag before or 5 min after its arrival. */
export function velocityClock(occurredAt: number, receivedAt: number, maxLagMs: number): number {
  return Math.min(Math.max(occurredAt, receivedAt - maxLagMs), receivedAt + MAX_LEAD_MS);
}

export function bucketIndex(at: number, bucketMs: number): number {
  return Math.floor(at / bucketMs);
}

/** The largest exact integer: amount sums saturate here in both stores. */
export const MAX_SUM = Number.MAX_SAFE_INTEGER;

export const saturatingAdd = (a: number, b: number) => Math.min(a + b, MAX_SUM);

export function longestWindowMs(windows: readonly WindowSpec[]): number {
  return windows.reduce((max, w) => Math.max(max, w.ms), 0);
}
