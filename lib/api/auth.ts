/**
 * Admin API authentication. The Lambda REQUEST authorizer (functions/authorizer.ts; simple
 * responses, cached per Authorization header) resolves `Authorization: Bearer <token>` to a token
 * name and its scopes by comparing the token's SHA-256 with RISKHOOK_API_TOKENS in constant time.
 * It lets every request with the header through, labelled: a simple-response authorizer can only
 * allow or deny, and API Gateway answers a denial with its own 403, while the contract is 401 for a
 * wrong token and 403 for a missing scope, in riskhook's error shape. So the api function answers
 * 401 (no principal) and 403 (scope) itself, per route. A request without the header never reaches
 * the authorizer: API Gateway answers 401.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ForbiddenError, UnauthorizedError } from '../errors.js';
import { type ApiToken, SCOPES, type Scope } from '../operations/config.js';

export interface Principal {
  readonly name: string;
  readonly scopes: readonly Scope[];
}

/** What the authorizer puts in the request context (values must be strings for API Gateway). */
export interface AuthorizerContext {
  readonly tokenName: string;
  /** Space-separated scopes. */
  readonly scopes: string;
}

export function authenticate(authorization: string | undefined, tokens: readonly ApiToken[]): Principal | undefined {
  const match = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(authorization?.trim() ?? '');
  if (!match) return undefined;
  const digest = createHash('sha256').update(match[1]!, 'utf8').digest();
  let found: ApiToken | undefined;
  // Every configured token is compared, so the time taken says nothing about which one was close.
  for (const token of tokens) if (timingSafeEqual(digest, token.sha256) && !found) found = token;
  return found && { name: found.name, scopes: found.scopes };
}

/**
 * The caller, from the authorizer's context; with `aws_iam` instead (SigV4-signed callers), the IAM
 * principal with every scope: IAM policies on the routes decide. Undefined: answer 401.
 */
export function principalOf(event: APIGatewayProxyEventV2): Principal | undefined {
  const authorizer = (event.requestContext as { authorizer?: { lambda?: Partial<AuthorizerContext>; iam?: { userArn?: string } } }).authorizer;
  const lambda = authorizer?.lambda;
  if (lambda?.tokenName) {
    const scopes = (lambda.scopes ?? '').split(' ').filter((s): s is Scope => (SCOPES as readonly string[]).includes(s));
    return { name: lambda.tokenName, scopes };
  }
  const iam = authorizer?.iam?.userArn;
  if (iam) return { name: iam, scopes: [...SCOPES] };
  return undefined;
}

export function requireScope(principal: Principal | undefined, scope: Scope): Principal {
  if (!principal) throw new UnauthorizedError('missing or unknown bearer token (Authorization: Bearer <token>)');
  if (!principal.scopes.includes(scope)) throw new ForbiddenError(`token "${principal.name}" lacks the scope ${scope}`);
  return principal;
}
