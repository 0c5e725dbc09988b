/**
 * The admin API's edge: an API Gateway (HTTP API, payload 2.0) event in, JSON out. Order of checks:
 * the caller (401), the route (404, 405), the scope (403), the input (400), then the concern.
 * Errors have the webhook's shape: { "error": { "code", "message" } }.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ConfigError, InvalidRequestError, MethodNotAllowedError, NotFoundError, RiskhookError, UnauthorizedError } from '../errors.js';
import { toLambdaResult } from '../http.js';
import { logger } from '../observability.js';
import { parseStrictJson } from '../providers/json.js';
import { jsonResponse } from '../providers/types.js';
import { type Runtime, getRuntime } from '../runtime.js';
import { principalOf, requireScope } from './auth.js';
import { type ApiRequest, matchRoute } from './routes.js';

const MAX_BODY_BYTES = 16_384;

function segmentsOf(rawPath: string): string[] {
  const parts = rawPath.replace(/^\/+/, '').split('/');
  if (parts[0] !== 'v1') throw new NotFoundError(`no route ${rawPath.slice(0, 100)}; the admin API is under /v1`);
  return parts.slice(1).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      throw new InvalidRequestError('path: a segment is not valid percent-encoding');
    }
  });
}

function bodyOf(event: APIGatewayProxyEventV2): Record<string, unknown> {
  if (!event.body) return {};
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) throw new InvalidRequestError(`body: larger than ${MAX_BODY_BYTES} bytes`);
  let value: unknown;
  try {
    value = parseStrictJson(bytes);
  } catch (error) {
    throw new InvalidRequestError(`body: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidRequestError('body: expected a JSON object');
  return value as Record<string, unknown>;
}

export async function handleApi(event: APIGatewayProxyEventV2, runtime: Runtime): Promise<APIGatewayProxyStructuredResultV2> {
  const method = event.requestContext?.http?.method ?? 'GET';
  try {
    const principal = principalOf(event);
    if (!principal) throw new UnauthorizedError('missing or unknown bearer token (Authorization: Bearer <token>)');
    const segments = segmentsOf(event.rawPath ?? '/');
    const { route, params, methods } = matchRoute(method, segments);
    if (!route) {
      if (methods.length > 0) throw new MethodNotAllowedError(`${method.slice(0, 10)} is not allowed here; use ${methods.join(' or ')}`);
      throw new NotFoundError(`no route ${method.slice(0, 10)} ${(event.rawPath ?? '').slice(0, 100)}`);
    }
    requireScope(principal, route.scope);
    const request: ApiRequest = {
      method,
      segments,
      query: { ...(event.queryStringParameters ?? {}) },
      body: method === 'POST' || method === 'PUT' ? bodyOf(event) : {},
      principal,
    };
    const result = await route.handle(request, params, { operations: runtime.operations, store: runtime.store });
    return toLambdaResult(jsonResponse(result.status, result.body, { 'cache-control': 'no-store' }));
  } catch (error) {
    return toLambdaResult(apiError(error));
  }
}

function apiError(error: unknown) {
  if (error instanceof RiskhookError && !(error instanceof ConfigError)) {
    if (error.status >= 500) logger.error('admin API: store failed', { reason: error.message });
    return jsonResponse(error.status, { error: { code: error.code, message: error.message } });
  }
  logger.error('admin API: unexpected error', { error: error as Error });
  return jsonResponse(500, { error: { code: 'internal_error', message: 'internal error' } });
}

export function createApiHandler(runtime: () => Runtime = getRuntime) {
  return async (event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    if (context) logger.addContext(context);
    let rt: Runtime;
    try {
      rt = runtime();
    } catch (error) {
      logger.error('configuration error', { reason: (error as Error).message });
      return toLambdaResult(jsonResponse(500, { error: { code: 'configuration_error', message: 'riskhook is misconfigured; see its logs' } }));
    }
    return handleApi(event, rt);
  };
}

export const apiHandler = createApiHandler();
