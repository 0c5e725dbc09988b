/**
 * The API Gateway edge, the only module that knows AWS event types: raw body bytes (API Gateway
 * may base64 them), lower-cased headers, the body limit checked before any decoding or parsing.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { STRICT_BASE64 } from './base64.js';
import { BodyParseError, BodyTooLargeError, MethodNotAllowedError } from './errors.js';
import { logger } from './observability.js';
import type { HttpResponse, RawRequest } from './providers/index.js';
import { type Runtime, getRuntime } from './runtime.js';
import { errorResponse, handleWebhook } from './webhook.js';

export function rawRequest(event: APIGatewayProxyEventV2, maxBodyBytes: number, receivedAt: number): RawRequest {
  const method = event.requestContext?.http?.method ?? 'POST';
  if (method !== 'POST') throw new MethodNotAllowedError(`${method.slice(0, 10)} is not allowed; use POST`);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const text = event.body ?? '';
  const tooLarge = () => new BodyTooLargeError(`body is larger than ${maxBodyBytes} bytes`);
  let body: Buffer;
  if (event.isBase64Encoded) {
    if (text.length > Math.ceil(maxBodyBytes / 3) * 4 + 4) throw tooLarge();
    if (!STRICT_BASE64.test(text)) throw new BodyParseError('body is marked base64-encoded (isBase64Encoded) but is not valid base64');
    body = Buffer.from(text, 'base64');
  } else {
    if (text.length > maxBodyBytes) throw tooLarge(); // a UTF-16 length never exceeds the UTF-8 byte length
    body = Buffer.from(text, 'utf8');
  }
  if (body.length > maxBodyBytes) throw tooLarge();
  return { method, headers, body, receivedAt };
}

export function toLambdaResult(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  return { statusCode: response.statusCode, headers: { ...response.headers }, body: response.body };
}

/** POST /webhooks/{provider}, over the given runtime (tests pass their own; Lambda uses the container's). */
export function createWebhookHandler(runtime: () => Runtime = getRuntime) {
  return async (event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    const receivedAt = Date.now();
    if (context) logger.addContext(context);
    const provider = event.pathParameters?.provider ?? '';
    let rt: Runtime;
    try {
      rt = runtime();
    } catch (error) {
      return toLambdaResult(errorResponse(error, provider));
    }
    let request: RawRequest;
    try {
      request = rawRequest(event, rt.config.maxBodyBytes, receivedAt);
    } catch (error) {
      // Refused before reading (size, method): still in the provider's own error shape.
      return toLambdaResult(errorResponse(error, provider, rt.adapters.get(provider)));
    }
    return toLambdaResult(await handleWebhook(provider, request, rt));
  };
}

export const webhookHandler = createWebhookHandler();
