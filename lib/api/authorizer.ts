/** The Lambda REQUEST authorizer (simple responses) for /v1: see auth.ts for why it labels rather than denies. */
import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { isLocalRun } from '../config.js';
import { logger } from '../observability.js';
import { type ApiToken, loadApiTokens } from '../operations/config.js';
import { type AuthorizerContext, authenticate } from './auth.js';

let tokens: ApiToken[] | Error | undefined;

function configuredTokens(): ApiToken[] {
  if (tokens instanceof Error) throw tokens;
  try {
    const loaded = tokens ?? loadApiTokens(process.env, isLocalRun(process.env)).tokens;
    tokens = loaded;
    return loaded;
  } catch (error) {
    tokens = error as Error;
    throw error;
  }
}

export async function authorizerHandler(event: APIGatewayRequestAuthorizerEventV2): Promise<APIGatewaySimpleAuthorizerWithContextResult<AuthorizerContext>> {
  let list: ApiToken[];
  try {
    list = configuredTokens();
  } catch (error) {
    logger.error('authorizer: configuration error', { reason: (error as Error).message });
    return { isAuthorized: false, context: { tokenName: '', scopes: '' } };
  }
  const header = event.headers?.authorization ?? event.identitySource?.[0];
  const principal = authenticate(header, list);
  if (!principal) logger.info('admin API: unknown bearer token');
  return { isAuthorized: true, context: { tokenName: principal?.name ?? '', scopes: principal?.scopes.join(' ') ?? '' } };
}
