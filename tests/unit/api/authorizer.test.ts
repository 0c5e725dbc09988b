/**
 * The admin API's authorizer and token configuration: a known token resolves to its name and scopes
 * (compared by SHA-256), anything else is labelled unauthenticated (the api function answers 401),
 * the local-only token works only in local runs, and a malformed RISKHOOK_API_TOKENS is refused.
 */
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { authenticate, principalOf, requireScope } from '../../../lib/api/auth.js';
import { LOCAL_API_TOKEN } from '../../../lib/local-defaults.js';
import { loadApiTokens, loadOperationsConfig, sha256Hex } from '../../../lib/operations/config.js';

const table = JSON.stringify({
  ops: { sha256: sha256Hex('rh_ops_token'), scopes: ['decisions:read', 'reviews:write'] },
  auditor: { sha256: sha256Hex('rh_audit_token').toUpperCase(), scopes: ['audit:read'] },
});

function event(authorization?: string): APIGatewayRequestAuthorizerEventV2 {
  return { type: 'REQUEST', headers: authorization === undefined ? {} : { authorization }, identitySource: authorization === undefined ? [] : [authorization] } as unknown as APIGatewayRequestAuthorizerEventV2;
}

async function authorizer(env: Record<string, string>) {
  vi.resetModules();
  vi.unstubAllEnvs();
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  const { authorizerHandler } = await import('../../../lib/api/authorizer.js');
  return authorizerHandler;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('authenticate', () => {
  const { tokens } = loadApiTokens({ RISKHOOK_API_TOKENS: table }, false);

  it('resolves a configured token to its name and scopes (hex in either case)', () => {
    expect(authenticate('Bearer rh_ops_token', tokens)).toEqual({ name: 'ops', scopes: ['decisions:read', 'reviews:write'] });
    expect(authenticate('bearer rh_audit_token', tokens)).toEqual({ name: 'auditor', scopes: ['audit:read'] });
  });

  it('refuses a wrong token, another scheme, an empty or missing header', () => {
    for (const header of ['Bearer rh_ops_tokem', 'Basic cmg6eA==', 'Bearer ', 'rh_ops_token', '', undefined]) {
      expect(authenticate(header, tokens)).toBeUndefined();
    }
  });

  it('requireScope: 401 without a principal, 403 without the scope', () => {
    expect(() => requireScope(undefined, 'decisions:read')).toThrow(expect.objectContaining({ status: 401 }));
    expect(() => requireScope({ name: 'auditor', scopes: ['audit:read'] }, 'lists:write')).toThrow(expect.objectContaining({ status: 403, message: expect.stringContaining('lists:write') }));
    expect(requireScope({ name: 'ops', scopes: ['reviews:write'] }, 'reviews:write').name).toBe('ops');
  });

  it('principalOf: the authorizer context, or an IAM caller (aws_iam) with every scope, or nobody', () => {
    const ctx = (authorizer: unknown) => ({ requestContext: { authorizer } }) as never;
    expect(principalOf(ctx({ lambda: { tokenName: 'ops', scopes: 'decisions:read bogus' } }))).toEqual({ name: 'ops', scopes: ['decisions:read'] });
    expect(principalOf(ctx({ lambda: { tokenName: '', scopes: '' } }))).toBeUndefined();
    expect(principalOf(ctx({ iam: { userArn: 'arn:aws:iam::1:user/ops' } }))?.scopes).toHaveLength(4);
    expect(principalOf(ctx(undefined))).toBeUndefined();
  });
});

describe('the Lambda authorizer (simple responses)', () => {
  it('labels a known token with its name and scopes', async () => {
    const handler = await authorizer({ RISKHOOK_API_TOKENS: table });
    expect(await handler(event('Bearer rh_ops_token'))).toEqual({ isAuthorized: true, context: { tokenName: 'ops', scopes: 'decisions:read reviews:write' } });
  });

  it('labels a wrong token as nobody (the api function answers 401 in the error shape)', async () => {
    const handler = await authorizer({ RISKHOOK_API_TOKENS: table });
    expect(await handler(event('Bearer nope'))).toEqual({ isAuthorized: true, context: { tokenName: '', scopes: '' } });
  });

  it('accepts the local-only token in a local run with no tokens configured, and nowhere else', async () => {
    expect((await (await authorizer({ IS_OFFLINE: 'true' }))(event(`Bearer ${LOCAL_API_TOKEN}`))).context.tokenName).toBe('local');
    expect((await (await authorizer({ RISKHOOK_STAGE: 'prod' }))(event(`Bearer ${LOCAL_API_TOKEN}`))).context.tokenName).toBe('');
  });

  it('denies everything when the token table is broken (and says why in its log, not to the caller)', async () => {
    const handler = await authorizer({ RISKHOOK_API_TOKENS: '{"ops": {"sha256": "xyz", "scopes": []}}' });
    expect((await handler(event('Bearer rh_ops_token'))).isAuthorized).toBe(false);
  });
});

describe('operations configuration', () => {
  it('names the field of a malformed token table', () => {
    expect(() => loadApiTokens({ RISKHOOK_API_TOKENS: 'not json' }, false)).toThrow(/RISKHOOK_API_TOKENS.*JSON object/);
    expect(() => loadApiTokens({ RISKHOOK_API_TOKENS: '{"a": {"sha256": "00", "scopes": ["decisions:read"]}}' }, false)).toThrow(/sha256.*64 hex/);
    expect(() => loadApiTokens({ RISKHOOK_API_TOKENS: `{"a": {"sha256": "${sha256Hex('x')}", "scopes": ["root"]}}` }, false)).toThrow(/scopes/);
  });

  it('refuses the local-only token, secret and missing pairs outside local runs; defaults the retention', () => {
    expect(() => loadApiTokens({ RISKHOOK_API_TOKENS: JSON.stringify({ x: { sha256: sha256Hex(LOCAL_API_TOKEN), scopes: ['audit:read'] } }) }, false)).toThrow(/local-only token/);
    expect(() => loadOperationsConfig({ MERCHANT_WEBHOOK_URL: 'https://shop.example/hooks' }, false)).toThrow(/MERCHANT_WEBHOOK_SECRETS: required/);
    expect(() => loadOperationsConfig({ MERCHANT_WEBHOOK_URL: 'ftp://x' }, false)).toThrow(/MERCHANT_WEBHOOK_URL/);
    const config = loadOperationsConfig({}, false);
    expect(config).toMatchObject({ tokens: [], merchantWebhook: undefined, reviewRetentionMs: 90 * 86_400_000, auditRetentionMs: 365 * 86_400_000 });
    expect(loadOperationsConfig({}, true).localDefaults).toEqual(['RISKHOOK_API_TOKENS', 'MERCHANT_WEBHOOK_URL', 'MERCHANT_WEBHOOK_SECRETS']);
  });
});
