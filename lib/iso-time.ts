/**
 * new Date(ms).toISOString(), several times cheaper for whole milliseconds: the date part is
 * cached per UTC day (every decision formats two times, mostly of the same day), the time of day
 * is plain arithmetic. Anything else (a fraction of a millisecond, NaN, out of range) goes to toISOString.
 *
 * The text is made in one piece (String.fromCharCode of its 24 characters): a template literal
 * makes a tree of a dozen concatenated strings (~450 bytes), which a stored decision keeps for its
 * whole TTL (a replay's store holds tens of thousands of them, each copied by the young GC).
 */
const DAY_MS = 86_400_000;
/** The furthest a Date reaches either side of 1970. */
const MAX_DATE_MS = 8.64e15;
let cachedDay = Number.NaN;
/** "YYYY-MM-DDT" (or "+YYYYYY-MM-DDT" beyond year 9999, "-YYYYYY-..." before year 0). */
let cachedPrefix = '';
/** cachedPrefix's character codes, when it is the usual 11 characters. */
const prefixCodes: number[] = new Array<number>(11).fill(0);

/** The last time formatted, and its text: a decision formats its event's time and its arrival, often the same millisecond (a replay of canonical events). */
let lastMs = Number.NaN;
let lastText = '';

export function isoTime(ms: number): string {
  if (ms === lastMs) return lastText;
  if (!Number.isSafeInteger(ms) || ms > MAX_DATE_MS || ms < -MAX_DATE_MS) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    // From toISOString itself; throws for an invalid date as it does.
    cachedPrefix = new Date(day * DAY_MS).toISOString().slice(0, -13);
    for (let i = 0; i < 11; i++) prefixCodes[i] = cachedPrefix.charCodeAt(i);
    cachedDay = day;
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1_000);
  const millis = rest - seconds * 1_000;
  if (cachedPrefix.length === 11) {
    const p = prefixCodes;
    lastText = String.fromCharCode(
      p[0]!, p[1]!, p[2]!, p[3]!, p[4]!, p[5]!, p[6]!, p[7]!, p[8]!, p[9]!, p[10]!,
      ZERO + ((hours / 10) | 0), ZERO + (hours % 10), COLON, ZERO + ((minutes / 10) | 0), ZERO + (minutes % 10), COLON,
      ZERO + ((seconds / 10) | 0), ZERO + (seconds % 10), DOT, ZERO + ((millis / 100) | 0), ZERO + (((millis / 10) | 0) % 10), ZERO + (millis % 10), Z,
    );
  } else {
    lastText = `${cachedPrefix}${two(hours)}:${two(minutes)}:${two(seconds)}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
  }
  lastMs = ms;
  return lastText;
}

const ZERO = 48;
const COLON = 58;
const DOT = 46;
const Z = 90;

function two(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}
