/**
 * The backtest report, data first: what each policy decided over a history, per provider and per
 * day, per rule (hits, holds, decisive hits), against labels when there are any, and how a second
 * policy's decisions differ from the first's. report.json is this object; the table and the HTML
 * report only draw it. Built incrementally (one add per payment), so memory does not grow with
 * the history: days, providers, rules and victims, not events.
 */
import type { PaymentEvent } from '../events.js';
import type { Policy } from '../policy/load.js';
import type { HistoryCounts, RecordedDecision } from './history.js';
import type { Outcome } from './scorer.js';

export type Label = 'fraud' | 'legit';

export interface Slice {
  events: number;
  held: number;
  /** Minor units of the report's currency. */
  amount: number;
  heldAmount: number;
}

export interface DaySlice extends Slice {
  /** UTC day, YYYY-MM-DD, of the replay clock. */
  day: string;
  /** rule -> held payments it fired on that day (a hold counts under every rule that fired on it). */
  holdsByRule: Record<string, number>;
  fraudHeld: number;
  legitHeld: number;
}

export interface LabelMetrics {
  fraudTotal: number;
  fraudAmount: number;
  fraudHeld: number;
  fraudHeldAmount: number;
  /** Fraud money held / fraud money, in percent (report currency). */
  fraudMoneyHeldPct: number | null;
  legitTotal: number;
  legitHeld: number;
  legitHeldPct: number | null;
  /** Of the labelled payments held, the share that is fraud. */
  precision: number | null;
  /** Of the fraud payments, the share held. */
  recall: number | null;
  /** Accounts with at least one fraud payment. */
  victims: number;
  /** Victims with fraud money approved (lost). */
  victimsWithLoss: number;
  /** Median over all victims of the fraud money approved on their account (0 when held in full). */
  medianLossPerVictim: number;
  totalLoss: number;
}

export interface RuleStats {
  rule: string;
  mode: 'active' | 'shadow';
  /** Payments the rule fired on. */
  hits: number;
  /** Held payments it fired on. */
  heldHits: number;
  /** Held payments that would have been approved without this rule (active rules). */
  decisive: number;
  /** Approved payments this rule alone would have held if switched on (shadow rules). */
  wouldHold: number;
  fraudHits: number;
  legitHits: number;
  /**
   * Of the labelled payments this rule held (active: held payments it fired on; shadow: payments it
   * fired on that are held or that it would hold), the share labelled legit.
   */
  falsePositiveShare: number | null;
}

/** Payments of one segment (a label file's `segments`: an attack strategy, a kind of customer). */
export interface SegmentSlice extends Slice {
  fraud: number;
  legit: number;
  /** Held payments / payments, and held money / money, in percent. */
  heldPct: number | null;
  heldAmountPct: number | null;
}

export interface LiveCheck {
  /** Decision log lines recorded under this policy version and not degraded. */
  compared: number;
  same: number;
  differ: number;
  examples: { eventId: string; line: number; live: { decision: string; score: number; rules: readonly string[] }; replay: { decision: string; score: number; rules: string[] } }[];
}

export interface PolicyReport {
  policy: string;
  file: string;
  events: number;
  held: number;
  heldPct: number | null;
  amount: number;
  heldAmount: number;
  /** Held money per currency (every currency; heldAmount is the report's currency only). */
  heldAmountByCurrency: Record<string, number>;
  /** Decisions taken without velocity (only with --redis, when Redis failed). */
  degraded: number;
  labels?: LabelMetrics;
  providers: Record<string, Slice>;
  days: DaySlice[];
  rules: RuleStats[];
  /** Payments per score bin (0-4, 5-9, ... 95-99, 100), by label. */
  scores: { binWidth: number; fraud: number[]; legit: number[]; unlabelled: number[] };
  /** Each victim's loss (minor units), largest first. */
  lossPerVictim?: number[];
  /** Per segment named in the labels (optional `segments` per label line), by name. */
  segments?: Record<string, SegmentSlice>;
  /** Replay against the recorded live decisions (decision log history under the same policy version). */
  live?: LiveCheck;
}

export interface Change {
  eventId: string;
  provider: string;
  at: string;
  amount: number;
  currency: string;
  label?: Label;
  from: { decision: string; score: number; rules: string[] };
  to: { decision: string; score: number; rules: string[] };
}

export interface Comparison {
  base: string;
  other: string;
  approveToHold: { total: number; amount: number; fraud: number; legit: number };
  holdToApprove: { total: number; amount: number; fraud: number; legit: number };
  examples: { approveToHold: Change[]; holdToApprove: Change[] };
}

export interface HistorySummary extends HistoryCounts {
  source: string;
  /** The first bad records, with their line numbers. */
  issues: { line: number; message: string }[];
  /** Records more than the reorder window behind the stream, replayed out of order. */
  late: number;
  reorderWindowMs: number;
  /** Payments scored only to build velocity (--warmup), not in the figures. */
  warmup: number;
  warmupMs: number;
  from: string | null;
  to: string | null;
}

export interface Report {
  generatedAt: string;
  /** The currency amounts are summed in (minor units). */
  currency: string;
  history: HistorySummary;
  labels?: { source: string; fraud: number; legit: number; unlabelledAs: 'legit' | 'skip'; unlabelled: number };
  policies: PolicyReport[];
  comparisons: Comparison[];
}

export const SCORE_BIN = 5;
const SCORE_BINS = 100 / SCORE_BIN + 1;
const DAY_MS = 86_400_000;

export interface BuilderOptions {
  readonly labels?: ReadonlyMap<string, Label>;
  /** Segments per event id (from the labels file), for the per-segment figures. */
  readonly segments?: ReadonlyMap<string, readonly string[]>;
  /** What an event missing from the labels file counts as (chargeback lists name only the fraud). */
  readonly unlabelled?: 'legit' | 'skip';
  /** Amounts are summed in this currency; default: the first reported payment's. */
  readonly currency?: string;
  readonly examples?: number;
}

interface RuleInfo {
  score: number;
  hold: boolean;
}

class PolicyAccumulator {
  readonly report: PolicyReport;
  readonly rules = new Map<string, RuleInfo>();
  readonly #days = new Map<number, DaySlice>();
  readonly #ruleStats = new Map<string, RuleStats>();
  readonly #victims = new Map<string, number>();
  readonly #holdAt: number;

  constructor(
    readonly policy: Policy,
    file: string,
    labelled: boolean,
  ) {
    this.#holdAt = policy.holdAt;
    for (const rule of policy.rules) {
      this.rules.set(rule.id, { score: rule.score, hold: rule.hold });
      this.#ruleStats.set(rule.id, { rule: rule.id, mode: rule.mode, hits: 0, heldHits: 0, decisive: 0, wouldHold: 0, fraudHits: 0, legitHits: 0, falsePositiveShare: null });
    }
    this.report = {
      policy: policy.version,
      file,
      events: 0,
      held: 0,
      heldPct: null,
      amount: 0,
      heldAmount: 0,
      heldAmountByCurrency: {},
      degraded: 0,
      ...(labelled && {
        labels: {
          fraudTotal: 0,
          fraudAmount: 0,
          fraudHeld: 0,
          fraudHeldAmount: 0,
          fraudMoneyHeldPct: null,
          legitTotal: 0,
          legitHeld: 0,
          legitHeldPct: null,
          precision: null,
          recall: null,
          victims: 0,
          victimsWithLoss: 0,
          medianLossPerVictim: 0,
          totalLoss: 0,
        },
      }),
      providers: {},
      days: [],
      rules: [],
      scores: { binWidth: SCORE_BIN, fraud: new Array<number>(SCORE_BINS).fill(0), legit: new Array<number>(SCORE_BINS).fill(0), unlabelled: new Array<number>(SCORE_BINS).fill(0) },
    };
  }

  /** Positives per rule for the false-positive share: [legit, labelled]. */
  readonly #positives = new Map<string, [number, number]>();

  add(event: PaymentEvent, clock: number, outcome: Outcome, label: Label | undefined, amount: number, segments?: readonly string[]): void {
    const r = this.report;
    const { decision } = outcome;
    const held = decision.decision === 'hold';
    if (segments) {
      r.segments ??= {};
      for (const name of segments) {
        const s = (r.segments[name] ??= { events: 0, held: 0, amount: 0, heldAmount: 0, fraud: 0, legit: 0, heldPct: null, heldAmountPct: null });
        s.events++;
        s.amount += amount;
        if (label) s[label]++;
        if (held) {
          s.held++;
          s.heldAmount += amount;
        }
      }
    }
    r.events++;
    r.amount += amount;
    if (decision.degraded) r.degraded++;
    const provider = (r.providers[event.provider] ??= { events: 0, held: 0, amount: 0, heldAmount: 0 });
    provider.events++;
    provider.amount += amount;
    const dayIndex = Math.floor(clock / DAY_MS);
    let day = this.#days.get(dayIndex);
    if (!day) {
      day = { day: new Date(dayIndex * DAY_MS).toISOString().slice(0, 10), events: 0, held: 0, amount: 0, heldAmount: 0, holdsByRule: {}, fraudHeld: 0, legitHeld: 0 };
      this.#days.set(dayIndex, day);
    }
    day.events++;
    day.amount += amount;
    if (held) {
      r.held++;
      r.heldAmount += amount;
      r.heldAmountByCurrency[event.amount.currency] = (r.heldAmountByCurrency[event.amount.currency] ?? 0) + event.amount.minor;
      provider.held++;
      provider.heldAmount += amount;
      day.held++;
      day.heldAmount += amount;
      if (label === 'fraud') day.fraudHeld++;
      else if (label === 'legit') day.legitHeld++;
    }
    const bin = Math.min(Math.floor(decision.score / SCORE_BIN), SCORE_BINS - 1);
    r.scores[label ?? 'unlabelled'][bin]!++;

    // Rules: hits, decisive hits (held, and approved with that rule removed), shadow rules' would-be holds.
    // Indexed loops here and in ReportBuilder.add: this runs for every payment, and an iterator or a
    // callback's closure per loop was a good part of a replay's allocations.
    const reasons = decision.reasons;
    let sum = 0;
    let forced = 0;
    for (let j = 0; j < reasons.length; j++) {
      const info = this.rules.get(reasons[j]!.rule);
      if (!info) continue; // store-failure
      sum += info.score;
      if (info.hold) forced++;
    }
    for (let j = 0; j < reasons.length; j++) {
      const reason = reasons[j]!;
      const info = this.rules.get(reason.rule);
      const stats = this.#ruleStats.get(reason.rule);
      if (!info || !stats) continue;
      stats.hits++;
      if (label === 'fraud') stats.fraudHits++;
      else if (label === 'legit') stats.legitHits++;
      if (!held) continue;
      stats.heldHits++;
      day.holdsByRule[reason.rule] = (day.holdsByRule[reason.rule] ?? 0) + 1;
      if (!decision.degraded && !this.#holds(sum - info.score, forced - (info.hold ? 1 : 0))) stats.decisive++;
      if (label) this.#positive(reason.rule, label);
    }
    for (let j = 0; j < outcome.shadow.length; j++) {
      const rule = outcome.shadow[j]!;
      const info = this.rules.get(rule)!;
      const stats = this.#ruleStats.get(rule)!;
      stats.hits++;
      if (label === 'fraud') stats.fraudHits++;
      else if (label === 'legit') stats.legitHits++;
      const wouldHold = !held && this.#holds(sum + info.score, forced + (info.hold ? 1 : 0));
      if (wouldHold) stats.wouldHold++;
      if (held) stats.heldHits++;
      if ((held || wouldHold) && label) this.#positive(rule, label);
    }

    const labels = r.labels;
    if (!labels || !label) return;
    if (label === 'legit') {
      labels.legitTotal++;
      if (held) labels.legitHeld++;
      return;
    }
    labels.fraudTotal++;
    labels.fraudAmount += amount;
    if (held) {
      labels.fraudHeld++;
      labels.fraudHeldAmount += amount;
    }
    this.#victims.set(event.account.id, (this.#victims.get(event.account.id) ?? 0) + (held ? 0 : amount));
  }

  /** Would a payment with these fired rules (score sum, forced-hold count) be held? As lib/policy/evaluate decides. */
  #holds(sum: number, forced: number): boolean {
    const score = Math.min(forced > 0 ? Math.max(sum, this.#holdAt) : sum, 100);
    return score >= this.#holdAt;
  }

  #positive(rule: string, label: Label): void {
    const counts = this.#positives.get(rule) ?? [0, 0];
    if (label === 'legit') counts[0]++;
    counts[1]++;
    this.#positives.set(rule, counts);
  }

  finish(): PolicyReport {
    const r = this.report;
    r.heldPct = pct(r.held, r.events);
    if (r.segments) {
      r.segments = Object.fromEntries(Object.entries(r.segments).sort(([a], [b]) => a.localeCompare(b)));
      for (const s of Object.values(r.segments)) {
        s.heldPct = pct(s.held, s.events);
        s.heldAmountPct = pct(s.heldAmount, s.amount);
      }
    }
    r.days = [...this.#days.entries()].sort(([a], [b]) => a - b).map(([, d]) => d);
    r.rules = [...this.#ruleStats.values()].map((s) => {
      const [legit, labelled] = this.#positives.get(s.rule) ?? [0, 0];
      return { ...s, falsePositiveShare: ratio(legit, labelled) };
    });
    const labels = r.labels;
    if (labels) {
      labels.fraudMoneyHeldPct = pct(labels.fraudHeldAmount, labels.fraudAmount);
      labels.legitHeldPct = pct(labels.legitHeld, labels.legitTotal);
      labels.precision = ratio(labels.fraudHeld, labels.fraudHeld + labels.legitHeld);
      labels.recall = ratio(labels.fraudHeld, labels.fraudTotal);
      const losses = [...this.#victims.values()].sort((a, b) => b - a);
      labels.victims = losses.length;
      labels.victimsWithLoss = losses.filter((l) => l > 0).length;
      labels.totalLoss = losses.reduce((a, b) => a + b, 0);
      labels.medianLossPerVictim = median(losses);
      r.lossPerVictim = losses;
    }
    return r;
  }
}

export class ReportBuilder {
  readonly #policies: PolicyAccumulator[];
  readonly #comparisons: Comparison[];
  readonly #live: (LiveCheck | undefined)[];
  readonly #options: BuilderOptions;
  #currency: string | undefined;

  constructor(policies: readonly { policy: Policy; file: string }[], options: BuilderOptions = {}) {
    this.#options = options;
    this.#currency = options.currency;
    this.#policies = policies.map((p) => new PolicyAccumulator(p.policy, p.file, options.labels !== undefined));
    this.#live = policies.map(() => undefined);
    const base = policies[0]?.policy.version ?? '';
    this.#comparisons = policies.slice(1).map((p) => ({
      base,
      other: p.policy.version,
      approveToHold: { total: 0, amount: 0, fraud: 0, legit: 0 },
      holdToApprove: { total: 0, amount: 0, fraud: 0, legit: 0 },
      examples: { approveToHold: [], holdToApprove: [] },
    }));
  }

  #unlabelled = 0;

  label(eventId: string): Label | undefined {
    const labels = this.#options.labels;
    if (!labels) return undefined;
    const label = labels.get(eventId);
    if (label) return label;
    this.#unlabelled++;
    return (this.#options.unlabelled ?? 'legit') === 'legit' ? 'legit' : undefined;
  }

  /** One payment as every policy decided it (outcomes in the policies' order). */
  add(event: PaymentEvent, clock: number, outcomes: readonly Outcome[], recorded?: RecordedDecision, line = 0): void {
    this.#currency ??= event.amount.currency;
    const amount = event.amount.currency === this.#currency ? event.amount.minor : 0;
    const label = this.label(event.id);
    const segments = this.#options.segments?.get(event.id);
    const examples = this.#options.examples ?? 10;
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!;
      const accumulator = this.#policies[i]!;
      accumulator.add(event, clock, outcome, label, amount, segments);
      if (recorded && !recorded.degraded && recorded.policyVersion === accumulator.policy.version) {
        const check = (this.#live[i] ??= { compared: 0, same: 0, differ: 0, examples: [] });
        check.compared++;
        const d = outcome.decision;
        if (d.decision === recorded.decision && d.score === recorded.score) check.same++;
        else {
          check.differ++;
          if (check.examples.length < examples) {
            check.examples.push({
              eventId: event.id,
              line,
              live: { decision: recorded.decision, score: recorded.score, rules: recorded.rules },
              replay: { decision: d.decision, score: d.score, rules: d.reasons.map((x) => x.rule) },
            });
          }
        }
      }
    }
    const base = outcomes[0]?.decision;
    if (!base) return;
    for (let i = 0; i < this.#comparisons.length; i++) {
      const comparison = this.#comparisons[i]!;
      const other = outcomes[i + 1]!.decision;
      if (other.decision === base.decision) continue;
      const direction = other.decision === 'hold' ? comparison.approveToHold : comparison.holdToApprove;
      const list = other.decision === 'hold' ? comparison.examples.approveToHold : comparison.examples.holdToApprove;
      direction.total++;
      direction.amount += amount;
      if (label) direction[label]++;
      if (list.length < examples) {
        list.push({
          eventId: event.id,
          provider: event.provider,
          at: new Date(clock).toISOString(),
          amount: event.amount.minor,
          currency: event.amount.currency,
          ...(label && { label }),
          from: { decision: base.decision, score: base.score, rules: base.reasons.map((x) => x.rule) },
          to: { decision: other.decision, score: other.score, rules: other.reasons.map((x) => x.rule) },
        });
      }
    }
  }

  finish(history: HistorySummary, labelsSource?: { source: string; fraud: number; legit: number }): Report {
    return {
      generatedAt: new Date().toISOString(),
      currency: this.#currency ?? 'CNY',
      history,
      ...(labelsSource && { labels: { ...labelsSource, unlabelledAs: this.#options.unlabelled ?? 'legit', unlabelled: this.#unlabelled } }),
      policies: this.#policies.map((p, i) => {
        const report = p.finish();
        const live = this.#live[i];
        return live ? { ...report, live } : report;
      }),
      comparisons: this.#comparisons,
    };
  }
}

function pct(part: number, whole: number): number | null {
  return whole === 0 ? null : Math.round((part / whole) * 10_000) / 100;
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}
