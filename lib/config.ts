/**
 * Configuration from the environment, validated once per container. Every problem is reported in
 * one ConfigError naming the variable. Local-only defaults (lib/local-defaults) fill in missing
 * secrets when riskhook runs locally (serverless-offline or invoke local) and are refused elsewhere.
 */
import * as z from 'zod';
import { ConfigError } from './errors.js';
import {
  LOCAL_ALIPAY_PUBLIC_KEY,
  LOCAL_GENERIC_SECRET,
  LOCAL_PEPPER,
  LOCAL_STRIPE_SECRET,
  LOCAL_WECHATPAY_APIV3_KEY,
  LOCAL_WECHATPAY_PUBLIC_KEY,
  LOCAL_WECHATPAY_SERIAL,
} from './local-defaults.js';
import { type Policy, loadPolicyFile } from './policy/load.js';
import { rsaPublicKey, splitPublicKeys } from './providers/keys.js';
import { decodeSecret } from './providers/standard-webhooks.js';
import { DEFAULT_LIMITS, type StoreLimits } from './velocity/store.js';

/** Each provider's verification material; an empty one leaves that provider unserved (404). */
export interface ProviderConfig {
  readonly genericSecrets: readonly string[];
  readonly stripeSecrets: readonly string[];
  /** PEM public keys of Alipay (several while keys rotate). */
  readonly alipayPublicKeys: readonly string[];
  /** WeChat Pay platform public keys by serial (platform certificate serial or PUB_KEY_ID_...), and the APIv3 key. */
  readonly wechatpay: { readonly publicKeys: Readonly<Record<string, string>>; readonly apiV3Key: string } | undefined;
}

/** A Redis Cluster's startup nodes (REDIS_CLUSTER_NODES); the client discovers the others. */
export interface RedisClusterConfig {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** The entries were rediss://: TLS to every node. */
  readonly tls: boolean;
}

export interface Config {
  readonly stage: string;
  /** Running on this machine (serverless-offline, invoke local), not on Lambda. */
  readonly local: boolean;
  /** REDIS_URL: one Redis node (rediss:// for TLS). */
  readonly redisUrl: string | undefined;
  /** REDIS_CLUSTER_NODES: a Redis Cluster. At most one of redisUrl and redisCluster is set. */
  readonly redisCluster: RedisClusterConfig | undefined;
  /** REDIS_USERNAME / REDIS_PASSWORD (AUTH token or RBAC user), for either; never logged. */
  readonly redisAuth: { readonly username?: string; readonly password: string } | undefined;
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

export const int = (min: number, max: number, fallback: number) =>
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

function validKey(ctx: z.core.ParsePayload<string>): void {
  try {
    rsaPublicKey(ctx.value);
  } catch (error) {
    ctx.issues.push({ code: 'custom', input: ctx.value.slice(0, 40), message: (error as Error).message });
  }
}

const CLUSTER_NODE = /^(?:(rediss?):\/\/)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})\/?$/;
const CLUSTER_NODE_FORMAT = 'expected host:port (port 1-65535), or redis://host:port, or rediss://host:port for TLS';

/**
 * REDIS_CLUSTER_NODES: comma-separated startup nodes, `host:port`, `[ipv6]:port`, or with a
 * `redis://` / `rediss://` scheme (all entries alike; rediss:// is TLS). Credentials are refused here
 * (they belong in REDIS_USERNAME / REDIS_PASSWORD) and never echoed in an error.
 */
function parseClusterNodes(text: string, ctx: z.core.$RefinementCtx): RedisClusterConfig {
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  const problem = (message: string) => ctx.addIssue({ code: 'custom', message });
  if (entries.length === 0) problem(`expected one or more ${CLUSTER_NODE_FORMAT.replace('expected ', '')}, comma-separated`);
  const nodes: { host: string; port: number }[] = [];
  const schemes = new Set<string>();
  entries.forEach((entry, i) => {
    const where = entries.length > 1 ? `entry ${i + 1} of ${entries.length}: ` : '';
    if (entry.includes('@')) {
      problem(`${where}credentials go in REDIS_USERNAME / REDIS_PASSWORD, not in the node list`);
      return;
    }
    const match = CLUSTER_NODE.exec(entry);
    const port = Number(match?.[3]);
    if (!match || !(port >= 1 && port <= 65_535)) {
      problem(`${where}${JSON.stringify(entry.slice(0, 80))}: ${CLUSTER_NODE_FORMAT}`);
      return;
    }
    schemes.add(match[1] ?? 'redis');
    nodes.push({ host: match[2]!.replace(/^\[|\]$/g, ''), port });
  });
  if (schemes.size > 1) problem('mixes TLS (rediss://) and plain entries: write rediss:// on every entry for TLS, or on none');
  return { nodes, tls: schemes.has('rediss') };
}

/** user:password in a URL, without echoing them. */
function urlHasCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return false;
  }
}

const Env = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/./, 'expected redis://host:port or rediss://host:port')
    .optional(),
  REDIS_CLUSTER_NODES: z.string().transform(parseClusterNodes).optional(),
  REDIS_USERNAME: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
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
  STRIPE_WEBHOOK_SECRETS: list.pipe(z.array(z.string().startsWith('whsec_', 'a Stripe signing secret starts with whsec_'))),
  ALIPAY_PUBLIC_KEYS: z
    .string()
    .transform((text) => splitPublicKeys(text))
    .pipe(z.array(z.string().check(validKey)).min(1, 'expected one or more public keys'))
    .optional(),
  WECHATPAY_PUBLIC_KEYS: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.issues.push({ code: 'custom', input: text, message: 'expected a JSON object {"<serial>": "<PEM>"}' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string().min(1), z.string().check(validKey)).refine((o) => Object.keys(o).length > 0, 'expected at least one key'))
    .optional(),
  WECHATPAY_APIV3_KEY: z.string().refine((k) => Buffer.byteLength(k) === 32, 'expected the 32-character APIv3 key').optional(),
  RISKHOOK_PEPPER: z.string().min(16, 'expected at least 16 characters').optional(),
  RISKHOOK_POLICY: z.string().min(1).default('policies/default.yaml'),
  RISKHOOK_DEADLINE_MS: int(50, 29_000, 800),
  RISKHOOK_ON_STORE_FAILURE: z.enum(['hold', 'approve']).default('hold'),
  RISKHOOK_MAX_BODY_BYTES: int(1_024, 1_048_576, 65_536),
  // Retries must find the stored decision: cover the longest provider retry horizon in use (Alipay ~25 h, WeChat ~24 h, Standard Webhooks ~75 h).
  RISKHOOK_DECISION_TTL_HOURS: int(1, 720, DEFAULT_LIMITS.decisionTtlMs / 3_600_000),
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
  /** Locally, a missing value takes its local-only default; elsewhere the local-only value is refused. */
  const orLocal = <T>(name: string, value: T | undefined, fallback: T, isLocalValue: (v: T) => boolean): T | undefined => {
    if (local) {
      if (value !== undefined) return value;
      localDefaults.push(name);
      return fallback;
    }
    if (value !== undefined && isLocalValue(value)) problems.push(`${name}: the local-only value is refused outside local runs`);
    return value;
  };
  const none = <T>(v: T[]) => (v.length ? v : undefined);
  const secrets = orLocal('GENERIC_WEBHOOK_SECRETS', none(e.GENERIC_WEBHOOK_SECRETS), [LOCAL_GENERIC_SECRET], (v) => v.includes(LOCAL_GENERIC_SECRET)) ?? [];
  const stripeSecrets = orLocal('STRIPE_WEBHOOK_SECRETS', none(e.STRIPE_WEBHOOK_SECRETS), [LOCAL_STRIPE_SECRET], (v) => v.includes(LOCAL_STRIPE_SECRET)) ?? [];
  const sameKey = (a: string, b: string) => rsaPublicKey(a).export({ type: 'spki', format: 'der' }).equals(rsaPublicKey(b).export({ type: 'spki', format: 'der' }));
  const alipayPublicKeys =
    orLocal('ALIPAY_PUBLIC_KEYS', e.ALIPAY_PUBLIC_KEYS, [LOCAL_ALIPAY_PUBLIC_KEY], (v) => v.some((k) => sameKey(k, LOCAL_ALIPAY_PUBLIC_KEY))) ?? [];
  const wechatKeys = orLocal('WECHATPAY_PUBLIC_KEYS', e.WECHATPAY_PUBLIC_KEYS, { [LOCAL_WECHATPAY_SERIAL]: LOCAL_WECHATPAY_PUBLIC_KEY }, (v) =>
    Object.values(v).some((k) => sameKey(k, LOCAL_WECHATPAY_PUBLIC_KEY)),
  );
  const apiV3Key = orLocal('WECHATPAY_APIV3_KEY', e.WECHATPAY_APIV3_KEY, LOCAL_WECHATPAY_APIV3_KEY, (v) => v === LOCAL_WECHATPAY_APIV3_KEY);
  if (!local && wechatKeys && !apiV3Key) problems.push('WECHATPAY_APIV3_KEY: required with WECHATPAY_PUBLIC_KEYS');
  if (!local && !wechatKeys && apiV3Key) problems.push('WECHATPAY_PUBLIC_KEYS: required with WECHATPAY_APIV3_KEY');
  if (!local && secrets.length + stripeSecrets.length + alipayPublicKeys.length === 0 && !wechatKeys) {
    problems.push(
      'GENERIC_WEBHOOK_SECRETS: required, unless another provider is configured (STRIPE_WEBHOOK_SECRETS, ALIPAY_PUBLIC_KEYS, WECHATPAY_PUBLIC_KEYS)',
    );
  }
  if (e.REDIS_URL && e.REDIS_CLUSTER_NODES) {
    problems.push('REDIS_CLUSTER_NODES: set either REDIS_URL (one node) or REDIS_CLUSTER_NODES (a cluster), not both');
  }
  if (e.REDIS_USERNAME !== undefined && e.REDIS_PASSWORD === undefined) problems.push('REDIS_USERNAME: requires REDIS_PASSWORD');
  if (e.REDIS_PASSWORD !== undefined && !e.REDIS_URL && !e.REDIS_CLUSTER_NODES) {
    problems.push('REDIS_PASSWORD: set without REDIS_URL or REDIS_CLUSTER_NODES');
  }
  if (e.REDIS_PASSWORD !== undefined && e.REDIS_URL && urlHasCredentials(e.REDIS_URL)) {
    problems.push('REDIS_PASSWORD: REDIS_URL carries credentials already; give them in one place');
  }
  const pepper = orLocal('RISKHOOK_PEPPER', e.RISKHOOK_PEPPER, LOCAL_PEPPER, (v) => v === LOCAL_PEPPER);
  if (pepper === undefined) problems.push('RISKHOOK_PEPPER: required (a random secret of at least 16 characters)');
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
    redisCluster: e.REDIS_CLUSTER_NODES,
    redisAuth:
      e.REDIS_PASSWORD === undefined
        ? undefined
        : { password: e.REDIS_PASSWORD, ...(e.REDIS_USERNAME !== undefined && { username: e.REDIS_USERNAME }) },
    pepper,
    policyPath: e.RISKHOOK_POLICY,
    policy,
    deadlineMs: e.RISKHOOK_DEADLINE_MS,
    onStoreFailure: e.RISKHOOK_ON_STORE_FAILURE,
    maxBodyBytes: e.RISKHOOK_MAX_BODY_BYTES,
    providers: {
      genericSecrets: secrets,
      stripeSecrets,
      alipayPublicKeys,
      wechatpay: wechatKeys && apiV3Key ? { publicKeys: wechatKeys, apiV3Key } : undefined,
    },
    limits: {
      windows: policy.windows,
      ...DEFAULT_LIMITS,
      decisionTtlMs: e.RISKHOOK_DECISION_TTL_HOURS * 3_600_000,
      // A claim still pending after twice the deadline belongs to an attempt that died or gave up.
      claimStaleMs: Math.max(2 * e.RISKHOOK_DEADLINE_MS, 2_000),
    },
    localDefaults,
  };
}
