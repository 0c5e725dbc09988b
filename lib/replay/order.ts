/**
 * Recorded time order from a history that is only roughly in order (log exports interleave
 * streams; deliveries overtake each other): a bounded reorder buffer, not a sort. A record waits
 * until the stream has moved `windowMs` past it, then leaves in (clock, file position) order, so
 * memory holds one window of records whatever the history's length. A record older than what has
 * already been replayed (more than the window behind) is replayed at once and counted as late.
 */
export interface Clocked {
  readonly clock: number;
}

export interface OrderCounts {
  /** Records that arrived more than the reorder window behind the stream (replayed late, out of order). */
  late: number;
  /** The most records held at once. */
  peakBuffered: number;
}

/** Batches in, batches out (a promise per batch, not per record). */
export async function* inRecordedOrder<T extends Clocked>(
  batches: AsyncIterable<readonly T[]>,
  windowMs: number,
  counts: OrderCounts,
  onLate?: (item: T, behindMs: number) => void,
): AsyncGenerator<T[]> {
  const heap = new MinHeap<T>();
  let newest = -Infinity;
  let released = -Infinity;
  for await (const batch of batches) {
    const out: T[] = [];
    for (const item of batch) {
      if (item.clock < released) {
        counts.late++;
        onLate?.(item, released - item.clock);
        out.push(item);
        continue;
      }
      heap.push(item);
      if (heap.size > counts.peakBuffered) counts.peakBuffered = heap.size;
      if (item.clock > newest) newest = item.clock;
      while (heap.size > 0 && heap.peek()!.clock <= newest - windowMs) {
        const next = heap.pop()!;
        released = next.clock;
        out.push(next);
      }
    }
    if (out.length) yield out;
  }
  const rest: T[] = [];
  while (heap.size > 0) rest.push(heap.pop()!);
  if (rest.length) yield rest;
}

/** A binary min-heap on (clock, arrival): equal clocks keep arrival order. */
export class MinHeap<T extends Clocked> {
  readonly #items: { item: T; seq: number }[] = [];
  #seq = 0;

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0]?.item;
  }

  push(item: T): void {
    const a = this.#items;
    a.push({ item, seq: this.#seq++ });
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(a[i]!, a[parent]!)) break;
      // Swapped through a local: a destructuring swap allocates an array per step.
      const t = a[i]!;
      a[i] = a[parent]!;
      a[parent] = t;
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.#less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.#less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        const t = a[i]!;
        a[i] = a[m]!;
        a[m] = t;
        i = m;
      }
    }
    return top?.item;
  }

  #less(x: { item: T; seq: number }, y: { item: T; seq: number }): boolean {
    return x.item.clock < y.item.clock || (x.item.clock === y.item.clock && x.seq < y.seq);
  }
}
