/**
 * Configuration from the environment, validated once per container. Every problem is reported in
 * one ConfigError naming the variable. Local-only defaults (lib/local-defaults) fill in missing
 * secrets when riskhook runs locally (serverless-offline or invoke local) and are refused elsewhere.
 */
import * as z from 'zod';
import { ConfigError } from './errors.js';
import { LOCAL_GENERIC_SECRET, LOCAL_PEPPER } from './local-defaults.js';
import { type Policy, loadPolicyFile } from './policy/load.js';
import { decodeSecret } from './providers/standard-webhooks.js';
import { DEFAULT_LIMITS, type StoreLimits } from './velocity/store.js';

export interface ProviderConfig {
  readonly genericSecrets: readonly string[];
}

export interface Config {
  readonly stage: string;
  /** Running on this machine (serverless-offline, invoke local), not on Lambda. */
  readonly local: boolean;
  readonly redisUrl: string | undefined;
  readonly pepper: string;
  readonly policyPath: string;
  readonly policy: Policy;
  readonly deadlineMs: number;
  readonly onStoreFailure: 'hold' | 'approve';
  readonly maxBodyBytes: number;
  readonly providers: ProviderConfig;
  readonly limits: StoreLimits;
  /** Names of the variables filled with local-only defaults (for the start-up log line). */
  readonly localDefaults: readonly string[];
}

const int = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`))
    .optional()
    .transform((v) => v ?? fallback);

const list = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean));

const Env = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/./, 'expected redis://host:port or rediss://host:port')
    .optional(),
  GENERIC_WEBHOOK_SECRETS: list.pipe(
    z.array(
      z.string().check((ctx) => {
        try {
          decodeSecret(ctx.value);
        } catch (error) {
          ctx.issues.push({ code: 'custom', input: ctx.value, message: (error as Error).message });
        }
      }),
    ),
  ),
  RISKHOOK_PEPPER: z.string().min(16, 'expected at least 16 characters').optional(),
  RISKHOOK_POLICY: z.string().min(1).default('policies/default.yaml'),
  RISKHOOK_DEADLINE_MS: int(50, 29_000, 800),
  RISKHOOK_ON_STORE_FAILURE: z.enum(['hold', 'approve']).default('hold'),
  RISKHOOK_MAX_BODY_BYTES: int(1_024, 1_048_576, 65_536),
  RISKHOOK_STAGE: z.string().default('local'),
});

/** CloudFormation resolves `{{resolve:...}}` on deploy; run locally they arrive unresolved. */
const isUnresolved = (v: string | undefined) => v?.startsWith('{{resolve:') ?? false;

export function isLocalRun(env: NodeJS.ProcessEnv): boolean {
  return env.IS_OFFLINE === 'true' || env.IS_LOCAL === 'true';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const local = isLocalRun(env);
  const problems: string[] = [];
  const cleaned: Record<string, string | undefined> = {};
  for (const key of Object.keys(Env.shape)) {
    const value = env[key];
    if (value === undefined || value === '') continue;
    if (isUnresolved(value)) {
      if (!local) problems.push(`${key}: holds an unresolved reference ${value.slice(0, 40)}...`);
      continue;
    }
    cleaned[key] = value;
  }
  const parsed = Env.safeParse(cleaned);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const localDefaults: string[] = [];
  let secrets = e.GENERIC_WEBHOOK_SECRETS;
  let pepper = e.RISKHOOK_PEPPER;
  if (local) {
    if (secrets.length === 0) {
      secrets = [LOCAL_GENERIC_SECRET];
      localDefaults.push('GENERIC_WEBHOOK_SECRETS');
    }
    if (pepper === undefined) {
      pepper = LOCAL_PEPPER;
      localDefaults.push('RISKHOOK_PEPPER');
    }
  } else {
    if (secrets.length === 0) problems.push('GENERIC_WEBHOOK_SECRETS: required (comma-separated whsec_ secrets)');
    if (secrets.includes(LOCAL_GENERIC_SECRET)) problems.push('GENERIC_WEBHOOK_SECRETS: the local-only secret is refused outside local runs');
    if (pepper === undefined) problems.push('RISKHOOK_PEPPER: required (a random secret of at least 16 characters)');
    if (pepper === LOCAL_PEPPER) problems.push('RISKHOOK_PEPPER: the local-only pepper is refused outside local runs');
  }
  let policy: Policy | undefined;
  try {
    policy = loadPolicyFile(e.RISKHOOK_POLICY);
  } catch (error) {
    problems.push(`RISKHOOK_POLICY: ${(error as Error).message}`);
  }
  if (problems.length > 0 || !policy || !pepper) throw new ConfigError(`configuration: ${problems.join('; ')}`);
  return {
    stage: e.RISKHOOK_STAGE,
    local,
    redisUrl: e.REDIS_URL,
    pepper,
    policyPath: e.RISKHOOK_POLICY,
    policy,
    deadlineMs: e.RISKHOOK_DEADLINE_MS,
    onStoreFailure: e.RISKHOOK_ON_STORE_FAILURE,
    maxBodyBytes: e.RISKHOOK_MAX_BODY_BYTES,
    providers: { genericSecrets: secrets },
    limits: {
      windows: policy.windows,
      ...DEFAULT_LIMITS,
      // A claim still pending after twice the deadline belongs to an attempt that died or gave up.
      claimStaleMs: Math.max(2 * e.RISKHOOK_DEADLINE_MS, 2_000),
    },
    localDefaults,
  };
}
