/**
 * Builds signed generic webhook requests from example events: used by `npm run send`, the
 * end-to-end tests and the benchmark, so all of them sign exactly as a real sender would.
 */
import { randomBytes } from 'node:crypto';
import { signStandardWebhook } from './standard-webhooks.js';
import type { SignedRequest } from './types.js';

export type { SignedRequest } from './types.js';

export interface SequenceOptions {
  /** Keep the ids in the file (a re-send is then a retry) instead of making each run's ids unique. */
  readonly keepIds?: boolean;
  /** Keep occurredAt as written instead of moving the sequence so its last event is now. */
  readonly keepTime?: boolean;
  readonly now?: number;
}

type Json = Record<string, unknown> & { id: string; occurredAt: string };

/** Example events made fresh: unique ids per run, times shifted so the last one is `now`, gaps kept. */
export function freshEvents(events: readonly Json[], options: SequenceOptions = {}): Json[] {
  const now = options.now ?? Date.now();
  const suffix = randomBytes(4).toString('hex');
  const last = Math.max(...events.map((e) => Date.parse(e.occurredAt)));
  return events.map((e) => ({
    ...e,
    id: options.keepIds ? e.id : `${e.id}-${suffix}`,
    occurredAt: options.keepTime ? e.occurredAt : new Date(now - (last - Date.parse(e.occurredAt))).toISOString(),
  }));
}

export function signGenericEvent(secret: string, event: object, webhookId = `msg_${randomBytes(8).toString('hex')}`): SignedRequest {
  const body = JSON.stringify(event);
  return {
    path: '/webhooks/generic',
    headers: { 'content-type': 'application/json', ...signStandardWebhook(secret, webhookId, body) },
    body,
  };
}

/**
 * The same request as an API Gateway HTTP API (payload 2.0) event, for `serverless invoke local`.
 * Byte bodies (form posts) are base64-encoded, as API Gateway does for such content types.
 */
export function apiGatewayEvent(request: SignedRequest): Record<string, unknown> {
  const binary = Buffer.isBuffer(request.body);
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{provider}',
    rawPath: request.path,
    rawQueryString: '',
    headers: request.headers,
    pathParameters: { provider: request.path.split('/').pop() },
    requestContext: { http: { method: 'POST', path: request.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' }, stage: '$default' },
    body: binary ? (request.body as Buffer).toString('base64') : request.body,
    isBase64Encoded: binary,
  };
}
