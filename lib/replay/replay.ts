/**
 * The replay loop: history in recorded time order -> every policy's scorer (decide on its own
 * store, clock = the record's time) -> the report. Bindings are recorded, not reported; payments
 * inside the warm-up build velocity and are not reported either.
 */
import type { Policy } from '../policy/load.js';
import { type HistoryError, type HistoryItem, emptyCounts, readHistory } from './history.js';
import type { Labels } from './labels.js';
import { type OrderCounts, inRecordedOrder } from './order.js';
import { type Report, ReportBuilder } from './report.js';
import { type Outcome, type ScorerOptions, createScorers } from './scorer.js';

export interface ReplayOptions extends ScorerOptions {
  readonly history: string;
  /** The first is the base of every comparison. */
  readonly policies: readonly { readonly policy: Policy; readonly file: string }[];
  readonly labels?: Labels & { readonly source: string };
  readonly unlabelled?: 'legit' | 'skip';
  readonly currency?: string;
  /** The first part of the history (from its first record) only builds velocity. */
  readonly warmupMs?: number;
  /** How far out of order records may be and still be replayed in order. */
  readonly reorderWindowMs?: number;
  readonly strict?: boolean;
  readonly examples?: number;
  /** Called every so often with the bytes read and the payments replayed. */
  readonly onProgress?: (bytes: number, payments: number) => void;
  readonly onBadRecord?: (error: HistoryError) => void;
  /** Every payment as each policy decided it, warm-up included (for tools and tests that look at single decisions). */
  readonly onPayment?: (item: HistoryItem & { kind: 'payment' }, outcomes: readonly Outcome[]) => void;
}

export const DEFAULT_REORDER_WINDOW_MS = 10 * 60_000;
const MAX_ISSUES = 20;

export async function replay(options: ReplayOptions): Promise<Report> {
  const counts = emptyCounts();
  const order: OrderCounts = { late: 0, peakBuffered: 0 };
  const issues: { line: number; message: string }[] = [];
  let bytes = 0;
  const builder = new ReportBuilder(options.policies, {
    ...(options.labels && { labels: options.labels.byId }),
    ...(options.labels?.segments.size && { segments: options.labels.segments }),
    ...(options.unlabelled && { unlabelled: options.unlabelled }),
    ...(options.currency && { currency: options.currency }),
    ...(options.examples !== undefined && { examples: options.examples }),
  });
  const scorers = await createScorers(
    options.policies.map((p) => p.policy),
    options,
  );
  const warmupMs = options.warmupMs ?? 0;
  const reorderWindowMs = options.reorderWindowMs ?? DEFAULT_REORDER_WINDOW_MS;
  let first: number | undefined;
  let last: number | undefined;
  let reportedFrom: number | undefined;
  let warmup = 0;
  let payments = 0;
  try {
    const items = readHistory(options.history, counts, {
      strict: options.strict ?? false,
      onBytes: (n) => (bytes = n),
      onBadRecord: (error) => {
        if (issues.length < MAX_ISSUES) issues.push({ line: error.line, message: error.message });
        options.onBadRecord?.(error);
      },
    });
    const outcomes: Outcome[] = new Array<Outcome>(scorers.length);
    for await (const batch of inRecordedOrder<HistoryItem>(items, reorderWindowMs, order)) {
      for (const item of batch) {
        first ??= item.clock;
        if (last === undefined || item.clock > last) last = item.clock;
        if (item.kind === 'binding') {
          for (const scorer of scorers) await scorer.binding(item.binding, item.clock);
          continue;
        }
        for (let i = 0; i < scorers.length; i++) {
          // The memory store's outcome comes without a promise: awaited only when it is one.
          const scored = scorers[i]!.payment(item.event, item.clock);
          outcomes[i] = scored instanceof Promise ? await scored : scored;
        }
        if (outcomes[0]!.repeated) {
          // The same event id again (a provider retry in a canonical history): answered from the stored decision, reported once.
          counts.payments--;
          counts.duplicates++;
          continue;
        }
        options.onPayment?.(item, outcomes);
        if (item.clock < first + warmupMs) warmup++;
        else {
          reportedFrom ??= item.clock;
          builder.add(item.event, item.clock, outcomes, item.recorded, item.line);
        }
        if (++payments % 10_000 === 0) options.onProgress?.(bytes, payments);
      }
    }
    options.onProgress?.(bytes, payments);
  } finally {
    await Promise.all(scorers.map((s) => s.close()));
  }
  return builder.finish(
    {
      source: options.history,
      ...counts,
      issues,
      late: order.late,
      reorderWindowMs,
      warmup,
      warmupMs,
      from: reportedFrom === undefined ? null : new Date(reportedFrom).toISOString(),
      to: last === undefined ? null : new Date(last).toISOString(),
    },
    options.labels && { source: options.labels.source, fraud: options.labels.fraud, legit: options.labels.legit },
  );
}
