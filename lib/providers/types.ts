/** The shape every provider adapter has: verify a raw request into an event, answer in the provider's protocol. */
import type { RiskhookError } from '../errors.js';
import type { Binding, Decision, PaymentEvent } from '../events.js';

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
  /** Authentic, a binding (e.g. an agreement signed): recorded, not scored, then acknowledged. */
  | { readonly kind: 'bind'; readonly binding: Binding }
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

/** A request as a sender would send it: used by `npm run send`, the tests and the benchmark. */
export interface SignedRequest {
  readonly path: string;
  readonly headers: Record<string, string>;
  /** Exact bytes for form bodies in a non-UTF-8 charset (Alipay GBK); text otherwise. */
  readonly body: string | Buffer;
}

/** How an example is made fresh for a run: unique ids, current times (both can be kept as written). */
export interface Freshness {
  /**
   * When the example's payment happened: now, or earlier for the earlier items of a sequence (gaps
   * kept), or the example's own `at` with --keep-time. Signature timestamps use the wall clock instead.
   */
  readonly now: number;
  /** Appended to ids so each run is new; undefined keeps the ids (a re-send is then a retry). */
  readonly suffix: string | undefined;
  readonly keepTime: boolean;
}

/** Signs an example file's content with the local-only test keys, in the provider's wire format. */
export type ExampleSigner = (example: Record<string, unknown>, fresh: Freshness) => SignedRequest;
