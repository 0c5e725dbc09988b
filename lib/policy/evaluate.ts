/**
 * Runs a compiled policy over an event's features: score, reasons, hold or approve.
 * Precedence: a hold rule (a block-list hit is one) > an approve rule (an allow-list hit) > the score.
 */
import type { FeatureValue, Reason } from '../events.js';
import type { Features } from './features.js';
import type { Policy } from './load.js';

export interface Evaluation {
  decision: 'approve' | 'hold';
  score: number;
  reasons: Reason[];
  /** The features read by the active rules that fired. */
  features: Record<string, FeatureValue>;
  /** Shadow rules that would have fired. */
  shadow: string[];
}

/**
 * What a payment no rule fired for carries: one shared empty list and map, frozen, rather than a new
 * pair per decision (a replay's memory store keeps every decision for the decision TTL).
 */
const NO_REASONS: Reason[] = Object.freeze([]) as unknown as Reason[];
const NO_FEATURES: Record<string, FeatureValue> = Object.freeze({});

export function evaluate(policy: Policy, features: Features): Evaluation {
  let score = 0;
  let forced = false;
  let approved = false;
  let reasons = NO_REASONS;
  let used = NO_FEATURES;
  const shadow: string[] = [];
  for (const rule of policy.rules) {
    if (!rule.test(features)) continue;
    if (rule.mode === 'shadow') {
      shadow.push(rule.id);
      continue;
    }
    score += rule.score;
    forced ||= rule.hold;
    approved ||= rule.approve;
    if (reasons === NO_REASONS) {
      reasons = [];
      used = {};
    }
    reasons.push({ rule: rule.id, message: rule.render(features) });
    rule.copyFeatures(features, used);
  }
  // A forced hold scores at least holdAt, so "score >= holdAt" and "hold" always agree.
  score = Math.min(forced ? Math.max(score, policy.holdAt) : score, 100);
  // An approve rule without a hold rule approves, and the score says so (below holdAt), so the two agree.
  if (approved && !forced) score = Math.min(score, policy.holdAt - 1);
  const decision = score >= policy.holdAt ? 'hold' : 'approve';
  return { decision, score, reasons, features: used, shadow };
}
