/** The shape every provider adapter has: verify a raw request into an event, answer in the provider's protocol. */
import type { RiskhookError } from '../errors.js';
import type { Decision, PaymentEvent } from '../events.js';

/** A request as the provider sent it: lower-cased headers and the exact body bytes. */
export interface RawRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Epoch ms when we received it: timestamp windows are checked against it. */
  readonly receivedAt: number;
}

/** A plain HTTP response; lib/http turns it into API Gateway's shape. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export type Verified =
  /** Score this event. */
  | { readonly kind: 'score'; readonly event: PaymentEvent }
  /** Authentic, but nothing to score (another event type): acknowledge, touch no counter. */
  | { readonly kind: 'acknowledge'; readonly reason: string };

export interface ProviderAdapter {
  readonly name: string;
  /** Verify the signature on the raw bytes, then parse. Throws a RiskhookError; never touches the store. */
  verify(request: RawRequest): Verified;
  respond(decision: Decision): HttpResponse;
  acknowledge(reason: string): HttpResponse;
  /** The provider's own error shape; undefined for the default JSON error body. */
  respondError?(error: RiskhookError): HttpResponse | undefined;
}

export function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
