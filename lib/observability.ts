/**
 * Logs and metrics through Powertools: JSON logs, CloudWatch EMF metrics on stdout (no API calls).
 * What goes in: decisions, scores, rule ids, hashed keys, timings. Never raw identifiers, bodies or secrets.
 */
import { LogLevelThreshold, Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import type { Decision } from './events.js';

export const logger = new Logger({ serviceName: 'riskhook' });
export const metrics = new Metrics({ namespace: 'riskhook', serviceName: 'riskhook' });

/** Powertools' own verdict (POWERTOOLS_METRICS_DISABLED, else POWERTOOLS_DEV): singleMetric() costs, so none is built for nothing. */
const metricsDisabled = (metrics as unknown as { isDisabled(): boolean }).isDisabled();

/** Whether INFO lines are written: the decision line (a pseudonymized event) is not built for nothing either. */
export const infoLogged = (): boolean => logger.level <= LogLevelThreshold.INFO;

/**
 * One EMF record (a single metric publishes as soon as it is added, with its own dimensions).
 * `total`: the same record is also aggregated without the dimensions (service only), which is
 * what an alarm can read: CloudWatch alarms cannot sum over a dimension.
 */
function emit(dimensions: Record<string, string>, name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number, total = false): void {
  if (metricsDisabled) return;
  const m = metrics.singleMetric();
  for (const [key, v] of Object.entries(dimensions)) m.addDimension(key, v);
  if (total) m.addDimensions({});
  m.addMetric(name, unit, value);
}

/**
 * Per decision: a count and the latency by provider and outcome, and a count per degraded reason.
 * A duplicate delivery (answered with a decision taken before) is not a decision again: it counts
 * as duplicateDeliveries only, so decisions and the degraded share stay per payment.
 */
export function recordDecisionMetric(provider: string, decision: Decision, latencyMs: number, duplicate = false): void {
  const dimensions = { provider, decision: decision.decision };
  emit(dimensions, 'decisionLatency', MetricUnit.Milliseconds, latencyMs);
  if (duplicate) {
    emit({ provider }, 'duplicateDeliveries', MetricUnit.Count, 1);
    return;
  }
  // With totals: the degraded-share alarm divides one by the other.
  emit(dimensions, 'decisions', MetricUnit.Count, 1, true);
  if (decision.degraded) emit({ provider, reason: decision.degraded }, 'degradedDecisions', MetricUnit.Count, 1, true);
}

/** One count per rule that fired, active or shadow (a shadow rule's hits are what decide its promotion). */
export function recordRuleHits(hits: readonly { rule: string; mode: 'active' | 'shadow' }[]): void {
  for (const { rule, mode } of hits) emit({ rule, mode }, 'ruleHits', MetricUnit.Count, 1);
}

/** A request answered with an error (4xx or 5xx), by provider and error code. */
export function recordRefusedRequest(provider: string, code: string): void {
  emit({ provider, code }, 'refusedRequests', MetricUnit.Count, 1);
}

/** The deployment cannot serve (a ConfigError); the configuration-errors alarm watches it. */
export function recordConfigurationError(): void {
  emit({}, 'configurationErrors', MetricUnit.Count, 1);
}

/** The deployment serves but wrongly (e.g. a Redis that evicts); the misconfiguration alarm watches it. */
export function recordMisconfiguration(check: string): void {
  emit({ check }, 'misconfiguration', MetricUnit.Count, 1, true);
}
