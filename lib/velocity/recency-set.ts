/**
 * Members with the time each was last seen, for the memory store's distinct counts: what a Redis
 * sorted set (member -> last seen) does for record.lua. Kept in a Redis sorted set's order (time,
 * then member), so "how many seen after x" is a binary search and the lowest members are at the
 * front: a busy entity (a carrier NAT's IP, at the distinct cap) costs O(log n) per read instead of
 * a pass over every member.
 */

/**
 * Up to this many members are found by a scan of the entries (most sets hold one or two: a device's
 * accounts, an account's IPs); past it, a map finds them. No map per small set, and no hash-table
 * probe per event on one.
 */
const SCANNED = 8;

interface Entry {
  readonly member: string;
  /** Updated in place: a number field rewritten keeps its box, a new Map value would allocate one. */
  last: number;
}

export class RecencySet {
  /** member -> its entry, once the set has held more than SCANNED members. */
  #byMember: Map<string, Entry> | undefined;
  /** Every entry, by (last, member) ascending. */
  readonly #order: Entry[] = [];

  get size(): number {
    return this.#order.length;
  }

  /** When the member was last seen, if it is kept. */
  lastSeen(member: string): number | undefined {
    return this.#find(member)?.last;
  }

  /** Lowest last-seen time (Infinity when empty). */
  lowest(): number {
    return this.#order.length === 0 ? Infinity : this.#order[0]!.last;
  }

  /**
   * Records the member as seen at `t` (a time earlier than the one kept changes nothing); returns
   * when it was last seen before (undefined: it was not kept), from the same lookup.
   */
  touch(member: string, t: number): number | undefined {
    const order = this.#order;
    const found = this.#find(member);
    if (found === undefined) {
      const entry: Entry = { member, last: t };
      if (this.#byMember) this.#byMember.set(member, entry);
      else if (order.length >= SCANNED) this.#byMember = new Map([...order.map((e) => [e.member, e] as const), [member, entry]]);
      const at = insertionPoint(order, t, member, 0);
      for (let i = order.length; i > at; i--) order[i] = order[i - 1]!;
      order[at] = entry;
      return undefined;
    }
    const before = found.last;
    if (before >= t) return before;
    // Moves up: shift the entries between its place and its new one down by one.
    let i = indexOf(order, found);
    found.last = t;
    const at = insertionPoint(order, t, member, i + 1);
    for (; i < at - 1; i++) order[i] = order[i + 1]!;
    order[at - 1] = found;
    return before;
  }

  #find(member: string): Entry | undefined {
    if (this.#byMember) return this.#byMember.get(member);
    const order = this.#order;
    for (let i = 0; i < order.length; i++) if (order[i]!.member === member) return order[i];
    return undefined;
  }

  /** How many members were last seen after `time`. */
  countAfter(time: number): number {
    const order = this.#order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]!.last > time) hi = mid;
      else lo = mid + 1;
    }
    return order.length - lo;
  }

  /** Forgets the members last seen at or before `cutoff`. */
  forgetUpTo(cutoff: number): void {
    const order = this.#order;
    let n = 0;
    while (n < order.length && order[n]!.last <= cutoff) n++;
    this.dropLowest(n);
  }

  /** Forgets the `excess` lowest members (by last seen, then member: a Redis sorted set's order). */
  dropLowest(excess: number): void {
    const order = this.#order;
    excess = Math.min(excess, order.length);
    if (excess <= 0) return;
    const byMember = this.#byMember;
    if (byMember) for (let i = 0; i < excess; i++) byMember.delete(order[i]!.member);
    order.splice(0, excess);
  }
}

/** The first index from `from` whose entry sorts after (t, member). */
function insertionPoint(order: readonly Entry[], t: number, member: string, from: number): number {
  let lo = from;
  let hi = order.length;
  // The usual case: seen now, after everything kept.
  if (hi > lo && before(order[hi - 1]!, t, member)) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(order[mid]!, t, member)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The entry's index (it is kept, at its own (last, member)). */
function indexOf(order: readonly Entry[], entry: Entry): number {
  return insertionPoint(order, entry.last, entry.member, 0);
}

/** Entry a sorts before (t, member). */
function before(a: Entry, t: number, member: string): boolean {
  return a.last < t || (a.last === t && a.member < member);
}
