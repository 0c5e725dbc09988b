/**
 * One webhook request, provider-agnostic: adapter.verify -> decide -> adapter.respond.
 * Errors become responses here and only here (the provider's own error shape when it has one).
 */
import { type DecisionTrace, bind, decide } from './decide.js';
import { ConfigError, RiskhookError, UnknownProviderError } from './errors.js';
import { infoLogged, logger, recordConfigurationError, recordDecisionMetric, recordRefusedRequest, recordRuleHits } from './observability.js';
import { pseudonymizeEvent } from './pseudonymize.js';
import { type HttpResponse, type ProviderAdapter, type RawRequest } from './providers/index.js';
import { jsonResponse } from './providers/types.js';
import type { Runtime } from './runtime.js';

export async function handleWebhook(provider: string, request: RawRequest, runtime: Runtime): Promise<HttpResponse> {
  const adapter = runtime.adapters.get(provider);
  try {
    if (!adapter) throw new UnknownProviderError(`no provider "${provider.slice(0, 32)}"`); // which ones are configured is nobody's business
    const verified = adapter.verify(request);
    if (verified.kind === 'acknowledge') {
      logger.info('acknowledged without scoring', { provider, reason: verified.reason });
      return adapter.acknowledge(verified.reason);
    }
    if (verified.kind === 'bind') {
      const { binding } = verified;
      await bind(binding, runtime.deps, request.receivedAt);
      logger.info('binding recorded', { provider, eventId: binding.id, state: binding.state });
      return adapter.acknowledge(`binding ${binding.state}`);
    }
    const trace: DecisionTrace = { duplicate: false };
    const decision = await decide(verified.event, runtime.deps, request.receivedAt, trace);
    const latencyMs = Date.now() - request.receivedAt;
    // The line an on-call engineer explains a decision from, and the replay tool reads back as
    // history: keep its keys as they are (README, Observability).
    if (infoLogged()) logger.info('decision', {
      provider,
      eventId: decision.eventId,
      decision: decision.decision,
      score: decision.score,
      reasons: decision.reasons.map(({ rule, message }) => ({ rule, message })),
      features: trace.features ?? decision.features,
      policyVersion: decision.policyVersion,
      degraded: decision.degraded,
      duplicate: trace.duplicate,
      receivedAt: request.receivedAt,
      latencyMs,
      event: pseudonymizeEvent(verified.event, runtime.hasher),
    });
    recordDecisionMetric(provider, decision, latencyMs, trace.duplicate);
    if (!trace.duplicate) {
      const policyRules = new Set(runtime.deps.policy.rules.map((r) => r.id));
      recordRuleHits([
        ...decision.reasons.filter((r) => policyRules.has(r.rule)).map(({ rule }) => ({ rule, mode: 'active' as const })),
        ...(trace.shadow ?? []).map((rule) => ({ rule, mode: 'shadow' as const })),
      ]);
    }
    return adapter.respond(decision);
  } catch (error) {
    return errorResponse(error, provider, adapter);
  }
}

export function errorResponse(error: unknown, provider: string, adapter?: ProviderAdapter): HttpResponse {
  // The path is the caller's: only a configured provider's name becomes a metric dimension.
  const refused = (code: string) => recordRefusedRequest(adapter ? provider : '(unknown)', code);
  if (error instanceof ConfigError) {
    // The details are for the operator (logs), not for whoever is calling the webhook.
    logger.error('configuration error', { reason: error.message }); // "message" is Powertools' own key
    recordConfigurationError();
    refused(error.code);
    return jsonResponse(500, { error: { code: error.code, message: 'riskhook is misconfigured; see its logs' } });
  }
  if (error instanceof RiskhookError) {
    logger.info('request refused', { provider: provider.slice(0, 32), status: error.status, code: error.code, reason: error.message });
    refused(error.code);
    return adapter?.respondError?.(error) ?? jsonResponse(error.status, { error: { code: error.code, message: error.message } });
  }
  logger.error('unexpected error', { provider: provider.slice(0, 32), error: error as Error });
  refused('internal_error');
  return jsonResponse(500, { error: { code: 'internal_error', message: 'internal error' } });
}
