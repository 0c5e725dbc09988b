/**
 * Configuration of the operations concerns (admin API tokens, retention, merchant webhooks), read
 * from the environment once per container. Local runs get the public local-only token, URL and
 * secret (lib/local-defaults); anywhere else those are refused, as the other local defaults are.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { int } from '../config.js';
import { ConfigError } from '../errors.js';
import { LOCAL_API_TOKEN, LOCAL_MERCHANT_SECRET, LOCAL_MERCHANT_WEBHOOK_URL } from '../local-defaults.js';
import { decodeSecret } from '../providers/standard-webhooks.js';

export const SCOPES = ['decisions:read', 'reviews:write', 'lists:write', 'audit:read'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiToken {
  readonly name: string;
  /** Hex SHA-256 of the token; the token itself is never stored. */
  readonly sha256: Buffer;
  readonly scopes: readonly Scope[];
}

export interface MerchantWebhookConfig {
  readonly url: string;
  /** whsec_ secrets; every one signs (rotation: add the new, then remove the old). */
  readonly secrets: readonly string[];
}

export interface OperationsConfig {
  readonly tokens: readonly ApiToken[];
  readonly reviewRetentionMs: number;
  readonly auditRetentionMs: number;
  readonly merchantWebhook: MerchantWebhookConfig | undefined;
  /** Names of the variables filled with local-only defaults. */
  readonly localDefaults: readonly string[];
}

const DAY_MS = 86_400_000;

const TokenTable = z.record(
  z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a token name is 1-64 letters, digits, dots, dashes or underscores'),
  z.strictObject({
    sha256: z.string().regex(/^[0-9a-f]{64}$/i, 'expected the hex SHA-256 of the token (64 hex digits)'),
    scopes: z.array(z.enum(SCOPES)).min(1, 'expected at least one scope'),
  }),
);

/** A whole number of days (RISKHOOK_*_DAYS), as milliseconds. */
const days = (min: number, max: number, fallback: number) => int(min, max, fallback).transform((d) => d * DAY_MS);

/** Exported so a test can check lib/config knows every RISKHOOK_* name read here. */
export const Env = z.object({
  RISKHOOK_API_TOKENS: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected a JSON object {"<name>": {"sha256": "<hex>", "scopes": [...]}}' });
        return z.NEVER;
      }
    })
    .pipe(TokenTable)
    .optional(),
  RISKHOOK_REVIEW_RETENTION_DAYS: days(1, 3650, 90),
  RISKHOOK_AUDIT_RETENTION_DAYS: days(1, 3650, 365),
  MERCHANT_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  MERCHANT_WEBHOOK_SECRETS: z
    .string()
    .transform((v) => v.split(/[,\s]+/).filter(Boolean))
    .pipe(
      z.array(
        z.string().check((ctx) => {
          try {
            decodeSecret(ctx.value);
          } catch (error) {
            ctx.issues.push({ code: 'custom', input: '', message: (error as Error).message });
          }
        }),
      ),
    )
    .optional(),
});

export const sha256Hex = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** The admin tokens alone (what the authorizer needs). */
export function loadApiTokens(env: NodeJS.ProcessEnv, local: boolean): { tokens: ApiToken[]; localDefault: boolean } {
  const parsed = Env.pick({ RISKHOOK_API_TOKENS: true }).safeParse(clean(env, ['RISKHOOK_API_TOKENS']));
  if (!parsed.success) throw new ConfigError(`configuration: ${issues(parsed.error)}`);
  const table = parsed.data.RISKHOOK_API_TOKENS;
  const localHash = sha256Hex(LOCAL_API_TOKEN);
  if (!table) {
    if (!local) return { tokens: [], localDefault: false };
    return { tokens: [{ name: 'local', sha256: Buffer.from(localHash, 'hex'), scopes: [...SCOPES] }], localDefault: true };
  }
  const tokens = Object.entries(table).map(([name, t]) => ({ name, sha256: Buffer.from(t.sha256.toLowerCase(), 'hex'), scopes: t.scopes }));
  if (!local && tokens.some((t) => t.sha256.toString('hex') === localHash)) {
    throw new ConfigError('configuration: RISKHOOK_API_TOKENS: the local-only token is refused outside local runs');
  }
  return { tokens, localDefault: false };
}

export function loadOperationsConfig(env: NodeJS.ProcessEnv, local: boolean): OperationsConfig {
  const parsed = Env.safeParse(clean(env, Object.keys(Env.shape)));
  if (!parsed.success) throw new ConfigError(`configuration: ${issues(parsed.error)}`);
  const e = parsed.data;
  const localDefaults: string[] = [];
  const { tokens, localDefault } = loadApiTokens(env, local);
  if (localDefault) localDefaults.push('RISKHOOK_API_TOKENS');
  let url = e.MERCHANT_WEBHOOK_URL;
  let secrets = e.MERCHANT_WEBHOOK_SECRETS ?? [];
  if (local) {
    if (url === undefined) {
      url = LOCAL_MERCHANT_WEBHOOK_URL;
      localDefaults.push('MERCHANT_WEBHOOK_URL');
    }
    if (secrets.length === 0) {
      secrets = [LOCAL_MERCHANT_SECRET];
      localDefaults.push('MERCHANT_WEBHOOK_SECRETS');
    }
  } else {
    const problems: string[] = [];
    if (secrets.includes(LOCAL_MERCHANT_SECRET)) problems.push('MERCHANT_WEBHOOK_SECRETS: the local-only secret is refused outside local runs');
    if (url !== undefined && secrets.length === 0) problems.push('MERCHANT_WEBHOOK_SECRETS: required with MERCHANT_WEBHOOK_URL');
    if (url === undefined && secrets.length > 0) problems.push('MERCHANT_WEBHOOK_URL: required with MERCHANT_WEBHOOK_SECRETS');
    if (problems.length > 0) throw new ConfigError(`configuration: ${problems.join('; ')}`);
  }
  return {
    tokens,
    reviewRetentionMs: e.RISKHOOK_REVIEW_RETENTION_DAYS,
    auditRetentionMs: e.RISKHOOK_AUDIT_RETENTION_DAYS,
    merchantWebhook: url !== undefined ? { url, secrets } : undefined,
    localDefaults,
  };
}

function clean(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '' && !value.startsWith('{{resolve:')) out[name] = value;
  }
  return out;
}

const issues = (error: z.ZodError) => error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
