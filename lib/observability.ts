/**
 * Logs and metrics through Powertools: JSON logs, CloudWatch EMF metrics on stdout (no API calls).
 * What goes in: decisions, scores, rule ids, hashed keys, timings. Never raw identifiers, bodies or secrets.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { Decision } from './events.js';

export const logger = new Logger({ serviceName: 'riskhook' });
export const metrics = new Metrics({ namespace: 'riskhook', serviceName: 'riskhook' });

/** One EMF record (a single metric publishes as soon as it is added, with its own dimensions). */
function emit(dimensions: Record<string, string>, name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): void {
  const m = metrics.singleMetric();
  for (const [key, v] of Object.entries(dimensions)) m.addDimension(key, v);
  m.addMetric(name, unit, value);
}

/** Per decision: a count and the latency by provider and outcome, and a count per degraded reason. */
export function recordDecisionMetric(provider: string, decision: Decision, latencyMs: number): void {
  const dimensions = { provider, decision: decision.decision };
  emit(dimensions, 'decisions', MetricUnit.Count, 1);
  emit(dimensions, 'decisionLatency', MetricUnit.Milliseconds, latencyMs);
  if (decision.degraded) emit({ provider, reason: decision.degraded }, 'degradedDecisions', MetricUnit.Count, 1);
}
