/**
 * Window and bucket arithmetic, as plain functions. Both stores use these exact formulas
 * (the Redis store in record-entities.lua), so a window reads the same whichever store counts it.
 *
 * A window W with buckets of size g covers (t - W, t]. Bucket k holds events with
 * k*g <= occurredAt < (k+1)*g. The oldest bucket straddles the window start, so it is weighted by
 * the part of it inside the window (Cloudflare's approximation, applied to one bucket only).
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

/** Default windows and their bucket sizes: at most ~24 buckets each, so an entity's hash stays small. */
export const DEFAULT_WINDOWS: Readonly<Record<string, string>> = { '10m': '1m', '1h': '5m', '24h': '1h', '7d': '12h' };

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
      return { name, ms, bucketMs };
    })
    .sort((a, b) => a.ms - b.ms);
}

export function bucketIndex(at: number, bucketMs: number): number {
  return Math.floor(at / bucketMs);
}

/** The buckets window `w` reads at time `at`, and the weight numerator of the oldest (partial) one. */
export function windowRange(at: number, w: WindowSpec): { oldest: number; newest: number; oldestWeight: number } {
  const start = at - w.ms;
  const oldest = Math.floor(start / w.bucketMs);
  return { oldest, newest: Math.floor(at / w.bucketMs), oldestWeight: (oldest + 1) * w.bucketMs - start };
}

/**
 * Sum of a window from per-bucket values: full buckets after the oldest, plus the oldest scaled by
 * the share of it inside the window, rounded down so the result is an integer in both stores.
 */
export function sumWindow(values: ReadonlyMap<number, number>, at: number, w: WindowSpec): number {
  const { oldest, newest, oldestWeight } = windowRange(at, w);
  let total = 0;
  for (const [k, v] of values) {
    if (k > oldest && k <= newest) total += v;
  }
  const partial = values.get(oldest);
  if (partial) total += Math.floor((partial * oldestWeight) / w.bucketMs);
  return total;
}

/** Buckets older than this index are outside every window of that bucket size and can be dropped. */
export function oldestKeptBucket(at: number, bucketMs: number, windows: readonly WindowSpec[]): number {
  let longest = 0;
  for (const w of windows) if (w.bucketMs === bucketMs && w.ms > longest) longest = w.ms;
  return Math.floor((at - longest) / bucketMs);
}

export function longestWindowMs(windows: readonly WindowSpec[]): number {
  return windows.reduce((max, w) => Math.max(max, w.ms), 0);
}
