/**
 * Decisions per UTC hour, for the console's chart and `GET /v1/stats/decisions`: how many payments
 * were decided, how many held, and per rule how often it fired (in any decision, in holds, as a
 * shadow rule). One small hash per hour on the ops tag, added to by decide with the commit (one
 * script call, sent in the same round trip) and kept 8 days, so a week's chart is 169 reads
 * whatever the traffic. Approvals are counted nowhere else: they are not indexed.
 *
 * Counted once per first decision: a retry answered from the stored decision is not counted again.
 * Best effort: a decision whose count fails (the store failed after the commit) is logged, not
 * retried; a payment decided twice because its first commit failed is counted twice.
 */
import type { Decision } from '../events.js';
import { opsKeys } from './backend.js';
import type { OpsContext } from './context.js';

export const HOUR_MS = 3_600_000;
/** An hour's counts outlive the longest window the API answers (8 days) by an hour. */
export const DECISION_STATS_TTL_MS = 8 * 24 * HOUR_MS + HOUR_MS;

/** Hash fields: every call adds to DECISIONS first (the script tells a new hash by it). */
const DECISIONS = 'd';
const HOLDS = 'h';
const FIRED = 'f:';
const FIRED_IN_HOLDS = 'fh:';
const SHADOW = 's:';

export interface RuleCounts {
  /** Decisions the rule fired in (it added its score or held). */
  readonly fired: number;
  /** Holds the rule fired in. */
  readonly held: number;
  /** Decisions the rule matched as a shadow rule (logged, not applied). */
  readonly shadow: number;
}

export interface DecisionHour {
  /** Start of the hour, ISO-8601 UTC. */
  readonly hour: string;
  readonly decisions: number;
  readonly holds: number;
  /** Only the rules with a count in that hour. */
  readonly byRule: Record<string, RuleCounts>;
}

export interface DecisionStatsAnswer {
  readonly from: string;
  readonly to: string;
  /** Every rule counted in the answer, sorted. */
  readonly rules: string[];
  readonly totals: { readonly decisions: number; readonly holds: number; readonly byRule: Record<string, RuleCounts> };
  readonly data: DecisionHour[];
}

/** The increments one decision adds to its hour. */
export function decisionIncrements(decision: Pick<Decision, 'decision' | 'reasons'>, shadow: readonly string[] = []): [string, number][] {
  const held = decision.decision === 'hold';
  const out: [string, number][] = [[DECISIONS, 1]];
  if (held) out.push([HOLDS, 1]);
  for (const rule of new Set(decision.reasons.map((r) => r.rule))) {
    out.push([FIRED + rule, 1]);
    if (held) out.push([FIRED_IN_HOLDS + rule, 1]);
  }
  for (const rule of new Set(shadow)) out.push([SHADOW + rule, 1]);
  return out;
}

export class DecisionStats {
  constructor(private readonly ctx: OpsContext) {}

  /** Counts a decision in the hour it was received (its receivedAt; now when it has none). */
  async count(decision: Decision, shadow: readonly string[] = []): Promise<void> {
    const at = decision.receivedAt !== undefined ? Date.parse(decision.receivedAt) : this.ctx.now();
    const hour = Math.floor(at / HOUR_MS) * HOUR_MS;
    await this.ctx.backend.count(opsKeys.decisionStats(hour), decisionIncrements(decision, shadow), DECISION_STATS_TTL_MS);
  }

  /** Every UTC hour from the one holding fromMs to the one holding toMs, oldest first. */
  async read(fromMs: number, toMs: number): Promise<DecisionStatsAnswer> {
    const hours: number[] = [];
    for (let t = Math.floor(fromMs / HOUR_MS) * HOUR_MS; t <= toMs; t += HOUR_MS) hours.push(t);
    const hashes = await this.ctx.backend.hgetallMany(hours.map((t) => opsKeys.decisionStats(t)));
    const rules = new Set<string>();
    const totals = { decisions: 0, holds: 0, byRule: {} as Record<string, { fired: number; held: number; shadow: number }> };
    const data = hours.map((t, i) => {
      const hash = hashes[i] ?? {};
      const byRule: Record<string, { fired: number; held: number; shadow: number }> = {};
      for (const [field, value] of Object.entries(hash)) {
        const [prefix, key] = parseField(field);
        if (key === undefined) continue;
        rules.add(key);
        const counts = (byRule[key] ??= { fired: 0, held: 0, shadow: 0 });
        const total = (totals.byRule[key] ??= { fired: 0, held: 0, shadow: 0 });
        counts[prefix] += Number(value);
        total[prefix] += Number(value);
      }
      const decisions = Number(hash[DECISIONS] ?? 0);
      const holds = Number(hash[HOLDS] ?? 0);
      totals.decisions += decisions;
      totals.holds += holds;
      return { hour: new Date(t).toISOString(), decisions, holds, byRule };
    });
    return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), rules: [...rules].sort(), totals, data };
  }
}

function parseField(field: string): ['fired' | 'held' | 'shadow', string] | [never, undefined] {
  if (field.startsWith(FIRED_IN_HOLDS)) return ['held', field.slice(FIRED_IN_HOLDS.length)];
  if (field.startsWith(FIRED)) return ['fired', field.slice(FIRED.length)];
  if (field.startsWith(SHADOW)) return ['shadow', field.slice(SHADOW.length)];
  return [undefined as never, undefined];
}
