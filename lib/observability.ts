/**
 * Logs and metrics through Powertools: JSON logs, CloudWatch EMF metrics on stdout (no API calls).
 * What goes in: decisions, scores, rule ids, hashed keys, timings. Never raw identifiers, bodies or secrets.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { Decision } from './events.js';

export const logger = new Logger({ serviceName: 'riskhook' });
export const metrics = new Metrics({ namespace: 'riskhook', serviceName: 'riskhook' });

/** One EMF record per decision: count by provider and outcome, plus latency; and one per degraded decision. */
export function recordDecisionMetric(provider: string, decision: Decision, latencyMs: number): void {
  const m = metrics.singleMetric();
  m.addDimension('provider', provider);
  m.addDimension('decision', decision.decision);
  m.addMetric('decisions', MetricUnit.Count, 1);
  m.addMetric('decisionLatency', MetricUnit.Milliseconds, latencyMs);
  m.publishStoredMetrics();
  if (decision.degraded) {
    const d = metrics.singleMetric();
    d.addDimension('reason', decision.degraded);
    d.addMetric('degradedDecisions', MetricUnit.Count, 1);
    d.publishStoredMetrics();
  }
}
