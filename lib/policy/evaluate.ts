/** Runs a compiled policy over an event's features: score, reasons, hold or approve. */
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

export function evaluate(policy: Policy, features: Features): Evaluation {
  let score = 0;
  let forced = false;
  const reasons: Reason[] = [];
  const used: Record<string, FeatureValue> = {};
  const shadow: string[] = [];
  for (const rule of policy.rules) {
    if (!rule.test(features)) continue;
    if (rule.mode === 'shadow') {
      shadow.push(rule.id);
      continue;
    }
    score += rule.score;
    forced ||= rule.hold;
    reasons.push({ rule: rule.id, message: render(rule.message, features) });
    for (const name of rule.features) if (features[name] !== undefined) used[name] = features[name]!;
  }
  // A forced hold scores at least holdAt, so "score >= holdAt" and "hold" always agree.
  score = Math.min(forced ? Math.max(score, policy.holdAt) : score, 100);
  const decision = score >= policy.holdAt ? 'hold' : 'approve';
  return { decision, score, reasons, features: used, shadow };
}

function render(message: string, features: Features): string {
  return message.replace(/\{([^}]+)\}/g, (_, name: string) => String(features[name] ?? '?'));
}
