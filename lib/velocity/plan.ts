/**
 * The store's read plan: what each entity keeps and what a record call reads, derived from the
 * features a compiled policy reads (plus its `keep:` list). The cheapest Redis work is the work not
 * done: an entity whose features nobody reads is not touched at all, and a counter nobody reads or
 * keeps is not written.
 */
import type { EntityKind } from '../events.js';
import { type WindowSpec, longestWindowMs } from './windows.js';

/** Metrics counted per bucket regardless of currency. */
export const COUNT_METRICS = ['count', 'passwordFreeCount', 'untrustedPasswordFreeCount', 'approvedCount'] as const;
/** Metrics summed per bucket and currency (minor units, saturating at 2^53 - 1). */
export const AMOUNT_METRICS = ['amount', 'passwordFreeAmount', 'untrustedPasswordFreeAmount', 'approvedAmount'] as const;
export type CountMetric = (typeof COUNT_METRICS)[number];
export type AmountMetric = (typeof AMOUNT_METRICS)[number];
export type Metric = CountMetric | AmountMetric;
export const METRICS: readonly Metric[] = [...COUNT_METRICS, ...AMOUNT_METRICS];

/** Entities that keep account x device style pair records (first seen, last seen, trusted since). */
export const PAIR_KINDS: readonly EntityKind[] = ['account', 'linkedAccount'];

/** Which distinct counts each entity can keep: the ones the fraud patterns ask about. */
export const RELATIONS: Readonly<Record<EntityKind, readonly EntityKind[]>> = {
  account: ['device', 'ip', 'instrument', 'linkedAccount'],
  linkedAccount: ['account', 'device'],
  device: ['account', 'linkedAccount'],
  ip: ['account', 'device'],
  instrument: ['account', 'device'],
  merchant: [],
};

/** What one catalogue feature needs from the store. */
export type StoreNeed =
  | { readonly kind: EntityKind; readonly state: true }
  | { readonly kind: EntityKind; readonly metric: Metric; readonly window: string }
  | { readonly kind: EntityKind; readonly relation: EntityKind; readonly window?: string }
  | { readonly kind: EntityKind; readonly pairs: true };

export interface Resolution {
  readonly bucketMs: number;
  /** Ring size: buckets kept, the newest one included (the longest window's buckets plus the straddling one). */
  readonly slots: number;
  /** Amounts are kept at this bucket size (some amount window uses it); counts are kept at every one. */
  readonly amounts: boolean;
}

export interface RelationPlan {
  readonly relation: EntityKind;
  /** Members last seen longer ago than this (before the entity's newest time) are forgotten. */
  readonly retentionMs: number;
  /** Windows whose distinct count is read. */
  readonly windows: readonly WindowSpec[];
}

export interface EntityPlan {
  readonly kind: EntityKind;
  readonly counts: readonly CountMetric[];
  readonly amounts: readonly AmountMetric[];
  /** Kept bucket sizes, by span (slots x bucket) then size: the order a late read falls back in. */
  readonly resolutions: readonly Resolution[];
  /** Windowed sums read on every record. */
  readonly reads: ReadonlyArray<{ readonly metric: Metric; readonly window: WindowSpec }>;
  readonly relations: readonly RelationPlan[];
  /** Pair records with this event's device (account and linkedAccount only). */
  readonly pairs: boolean;
  /** Expiry of the entity's keys after its last write. */
  readonly ttlMs: number;
}

export interface StorePlan {
  readonly entities: Partial<Record<EntityKind, EntityPlan>>;
  /** Retention of related entities' first-seen facts and of device pairs (<= 30 days). */
  readonly deviceRetentionMs: number;
}

export const DEFAULT_DEVICE_RETENTION_MS = 7 * 86_400_000;
/** Most currencies an entity keeps amounts in at a time; a payment in a further one counts its amount only in its own answer. */
export const CURRENCY_CAP = 64;
/** Keys outlive their longest retention by this much, so a quiet entity is not forgotten a moment early. */
const TTL_SLACK_MS = 86_400_000;

/** The plan for a set of needs (read) and extra needs only kept (`keep:`), over the policy's windows. */
export function buildPlan(
  windows: readonly WindowSpec[],
  read: readonly StoreNeed[],
  keep: readonly StoreNeed[] = [],
  deviceRetentionMs = DEFAULT_DEVICE_RETENTION_MS,
): StorePlan {
  const byName = new Map(windows.map((w) => [w.name, w]));
  const kinds = new Set([...read, ...keep].map((n) => n.kind));
  const entities: Partial<Record<EntityKind, EntityPlan>> = {};
  for (const kind of [...kinds].sort()) {
    const mine = (needs: readonly StoreNeed[]) => needs.filter((n) => n.kind === kind);
    const all = [...mine(read), ...mine(keep)];
    const metrics = new Set<Metric>();
    const keptWindows = new Set<WindowSpec>();
    const relations = new Map<EntityKind, Set<WindowSpec>>();
    let pairs = false;
    for (const need of all) {
      if ('metric' in need) {
        metrics.add(need.metric);
        keptWindows.add(byName.get(need.window)!);
        if (need.metric.startsWith('untrusted')) pairs = true;
      } else if ('relation' in need) {
        const set = relations.get(need.relation) ?? new Set<WindowSpec>();
        relations.set(need.relation, set);
      } else if ('pairs' in need) pairs = true;
    }
    // Distinct counts read (keep-only ones need no window: the set keeps every member for its retention).
    for (const need of all) {
      if ('relation' in need && need.window !== undefined) relations.get(need.relation)!.add(byName.get(need.window)!);
    }
    const readDistinct = new Map<EntityKind, WindowSpec[]>();
    for (const need of mine(read)) {
      if ('relation' in need && need.window !== undefined) {
        const list = readDistinct.get(need.relation) ?? [];
        if (!list.includes(byName.get(need.window)!)) list.push(byName.get(need.window)!);
        readDistinct.set(need.relation, list);
      }
    }
    const slots = new Map<number, number>();
    for (const w of keptWindows) slots.set(w.bucketMs, Math.max(slots.get(w.bucketMs) ?? 0, w.ms / w.bucketMs + 1));
    const amountSizes = new Set(all.flatMap((n) => ('metric' in n && AMOUNT_METRICS.includes(n.metric as AmountMetric) ? [byName.get(n.window)!.bucketMs] : [])));
    const resolutions = [...slots]
      .map(([bucketMs, n]) => ({ bucketMs, slots: n, amounts: amountSizes.has(bucketMs) }))
      .sort((a, b) => a.bucketMs * a.slots - b.bucketMs * b.slots || a.bucketMs - b.bucketMs);
    const reads = mine(read)
      .filter((n): n is Extract<StoreNeed, { metric: Metric }> => 'metric' in n)
      .map((n) => ({ metric: n.metric, window: byName.get(n.window)! }))
      .filter((r, i, list) => list.findIndex((o) => o.metric === r.metric && o.window === r.window) === i);
    const relationPlans = RELATIONS[kind]
      .filter((r) => relations.has(r))
      .map((relation) => ({
        relation,
        retentionMs: Math.max(deviceRetentionMs, longestWindowMs([...relations.get(relation)!])),
        windows: (readDistinct.get(relation) ?? []).sort((a, b) => a.ms - b.ms),
      }));
    const spans = [
      ...resolutions.map((r) => r.bucketMs * r.slots),
      ...relationPlans.map((r) => r.retentionMs),
      pairs || relationPlans.length > 0 ? deviceRetentionMs : 0,
    ];
    entities[kind] = {
      kind,
      counts: COUNT_METRICS.filter((m) => metrics.has(m)),
      amounts: AMOUNT_METRICS.filter((m) => metrics.has(m)),
      resolutions,
      reads,
      relations: relationPlans,
      pairs: pairs && PAIR_KINDS.includes(kind),
      ttlMs: Math.max(...spans, 0) + TTL_SLACK_MS,
    };
  }
  return { entities, deviceRetentionMs };
}

/** Everything for every entity: what tools and the contract suite use when no policy narrows it. */
export function fullPlan(windows: readonly WindowSpec[], deviceRetentionMs = DEFAULT_DEVICE_RETENTION_MS): StorePlan {
  const needs: StoreNeed[] = [];
  for (const kind of Object.keys(RELATIONS) as EntityKind[]) {
    needs.push({ kind, state: true });
    for (const metric of METRICS) {
      if (metric.startsWith('untrusted') && !PAIR_KINDS.includes(kind)) continue;
      for (const w of windows) needs.push({ kind, metric, window: w.name });
    }
    for (const relation of RELATIONS[kind]) {
      needs.push({ kind, relation });
      for (const w of windows) needs.push({ kind, relation, window: w.name });
    }
    if (PAIR_KINDS.includes(kind)) needs.push({ kind, pairs: true });
  }
  return buildPlan(windows, needs, [], deviceRetentionMs);
}

/** The plan a store runs: the policy's, or everything when none was given. */
export function planOf(limits: { readonly windows: readonly WindowSpec[]; readonly plan?: StorePlan | undefined }): StorePlan {
  return limits.plan ?? fullPlan(limits.windows);
}

/**
 * Which kept resolution a window read uses, for an event counted at `t` on an entity whose newest
 * time is `newest`: the window's own bucket size when its ring still holds the bucket of t - W; else
 * the next resolution by span that does (a late event, read from coarser buckets in full: never an
 * undercount); else the longest (a very late event sees what is kept, and itself). Amount reads
 * consider only resolutions that keep amounts.
 */
export function readResolution(plan: EntityPlan, window: WindowSpec, t: number, newest: number, amount: boolean): number {
  const covers = (r: Resolution) => Math.floor((t - window.ms) / r.bucketMs) > Math.floor(newest / r.bucketMs) - r.slots;
  const own = plan.resolutions.findIndex((r) => r.bucketMs === window.bucketMs);
  let last = own;
  for (let i = own; i < plan.resolutions.length; i++) {
    const r = plan.resolutions[i]!;
    if (amount && !r.amounts) continue;
    if (covers(r)) return i;
    last = i;
  }
  return last;
}

/** The span of the amount rings: a currency not counted within it has no live bucket left. */
export function amountSpan(plan: EntityPlan): number {
  return Math.max(0, ...plan.resolutions.filter((r) => r.amounts).map((r) => r.bucketMs * r.slots));
}
