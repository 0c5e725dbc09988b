/**
 * Configuration from the environment, validated once per container. Every problem is reported in
 * one ConfigError naming the variable. Local-only defaults (lib/local-defaults) fill in missing
 * secrets when riskhook runs locally (serverless-offline or invoke local) and are refused elsewhere.
 */
import * as z from 'zod';
import { ConfigError } from './errors.js';
import {
  LOCAL_ALIPAY_APP_IDS,
  LOCAL_ALIPAY_PUBLIC_KEY,
  LOCAL_GENERIC_SECRET,
  LOCAL_PEPPER,
  LOCAL_STRIPE_SECRET,
  LOCAL_WECHATPAY_APIV3_KEY,
  LOCAL_WECHATPAY_PUBLIC_KEY,
  LOCAL_WECHATPAY_MCHIDS,
  LOCAL_WECHATPAY_SERIAL,
} from './local-defaults.js';
import { type Policy, loadPolicyFile } from './policy/load.js';
import { rsaPublicKey, splitPublicKeys } from './providers/keys.js';
import { DEFAULT_MAX_NOTIFICATION_AGE_HOURS } from './providers/notification-age.js';
import { decodeSecret } from './providers/standard-webhooks.js';
import { DEFAULT_LIMITS, type StoreLimits } from './velocity/store.js';
import { MAX_WINDOW_MS, parseDuration } from './velocity/windows.js';

/** Each provider's verification material; an empty one leaves that provider unserved (404). */
export interface ProviderConfig {
  readonly genericSecrets: readonly string[];
  readonly stripeSecrets: readonly string[];
  /** PEM public keys of Alipay (several while keys rotate). */
  readonly alipayPublicKeys: readonly string[];
  /** ALIPAY_APP_IDS: the apps whose notifies are accepted (app_id). */
  readonly alipayAppIds: readonly string[];
  /**
   * WeChat Pay platform public keys by serial (platform certificate serial or PUB_KEY_ID_...), the APIv3
   * key, and WECHATPAY_MCHIDS: the merchants whose notifications are accepted (sp_mchid, else mchid).
   */
  readonly wechatpay:
    | { readonly publicKeys: Readonly<Record<string, string>>; readonly apiV3Key: string; readonly mchids: readonly string[] }
    | undefined;
  /** RISKHOOK_MAX_NOTIFICATION_AGE_HOURS in ms: older Alipay / WeChat Pay notifications are acknowledged, not scored. */
  readonly maxNotificationAgeMs: number;
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
  ALIPAY_APP_IDS: list.pipe(z.array(z.string().regex(/^\d{1,32}$/, 'expected app ids such as 2021000000000001, comma-separated'))),
  WECHATPAY_MCHIDS: list.pipe(z.array(z.string().regex(/^\d{1,32}$/, 'expected merchant ids such as 1230000109, comma-separated'))),
  // Alipay retries for ~25 h, WeChat Pay for ~24 h: older notifications are replays, acknowledged and not scored.
  RISKHOOK_MAX_NOTIFICATION_AGE_HOURS: z
    .string()
    .regex(/^\d+$/, 'expected a whole number of hours')
    .transform(Number)
    .pipe(z.number().min(1, 'expected at least 1').max(720, 'expected at most 720'))
    .optional(),
  RISKHOOK_PEPPER: z.string().min(16, 'expected at least 16 characters').optional(),
  RISKHOOK_POLICY: z.string().min(1).default('policies/default.yaml'),
  RISKHOOK_DEADLINE_MS: int(50, 29_000, 800),
  RISKHOOK_ON_STORE_FAILURE: z.enum(['hold', 'approve']).default('hold'),
  RISKHOOK_MAX_BODY_BYTES: int(1_024, 1_048_576, 65_536),
  // Retries must find the stored decision: cover the longest provider retry horizon in use (Alipay ~25 h, WeChat ~24 h, Standard Webhooks ~75 h).
  RISKHOOK_DECISION_TTL_HOURS: int(1, 720, DEFAULT_LIMITS.decisionTtlMs / 3_600_000),
  // How far before its arrival an event may be counted (the velocity clock); the policy windows' duration syntax.
  RISKHOOK_MAX_EVENT_LAG: z
    .string()
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms > MAX_WINDOW_MS) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration such as 25h or 3d, at most 30d' });
        return z.NEVER;
      }
      return ms;
    })
    .optional(),
  RISKHOOK_STAGE: z.string().default('local'),
  // Set from serverless.yml (`\${self:provider.timeout}`): Lambda tells a function its timeout only per invocation.
  RISKHOOK_FUNCTION_TIMEOUT_S: z
    .string()
    .regex(/^\d+$/, 'expected a whole number of seconds')
    .transform(Number)
    .pipe(z.number().min(1, 'expected at least 1').max(900, 'expected at most 900 (the Lambda maximum)'))
    .optional(),
});

/**
 * RISKHOOK_* variables read elsewhere: by the developer tools (npm run send), and by the operations
 * concern (lib/operations/config.ts, which imports this module; a unit test keeps the list whole).
 */
const OTHER_VARIABLES = ['RISKHOOK_URL', 'RISKHOOK_API_TOKENS', 'RISKHOOK_REVIEW_RETENTION_DAYS', 'RISKHOOK_AUDIT_RETENTION_DAYS'];
/** Every RISKHOOK_* name riskhook knows: the schema's, so a variable added there is known here. */
export const KNOWN_RISKHOOK_VARIABLES: readonly string[] = [...Object.keys(Env.shape).filter((k) => k.startsWith('RISKHOOK_')), ...OTHER_VARIABLES];

/** Levenshtein distance, for "did you mean" on a misspelt variable. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    previous = row;
  }
  return previous[b.length]!;
}

/** A RISKHOOK_* variable riskhook does not read is a typo until shown otherwise: a misspelt RISKHOOK_DEADLINE_MS would silently keep the default. */
function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('RISKHOOK_') && !KNOWN_RISKHOOK_VARIABLES.includes(name))
    .sort()
    .map((name) => {
      const [closest] = [...KNOWN_RISKHOOK_VARIABLES].sort((a, b) => editDistance(name, a) - editDistance(name, b));
      return `${name}: not a riskhook variable; did you mean ${closest}?`;
    });
}

/**
 * The bytes a local-only value is used as (HMAC or AES key, pepper): another spelling of the same
 * key (unpadded base64, a stray character) is the same public secret.
 */
const LOCAL_ONLY_MARK = 'riskhooklocalonly';
function isLocalOnlyKey(key: Buffer, local: Buffer): boolean {
  return key.equals(local) || key.toString('latin1').toLowerCase().replace(/[^a-z0-9]/g, '').includes(LOCAL_ONLY_MARK);
}
const utf8 = (v: string) => Buffer.from(v, 'utf8');

/** CloudFormation resolves `{{resolve:...}}` on deploy; run locally they arrive unresolved. */
const isUnresolved = (v: string | undefined) => v?.startsWith('{{resolve:') ?? false;

export function isLocalRun(env: NodeJS.ProcessEnv): boolean {
  return env.IS_OFFLINE === 'true' || env.IS_LOCAL === 'true';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return readConfig(env, false)!;
}

/**
 * The checks `serverless package` (and deploy) can make before anything ships: the function's
 * environment as serverless.yml sets it, where CloudFormation has yet to resolve `{{resolve:...}}`
 * references (those count as set). Throws the ConfigError a cold start would, else returns.
 */
export function checkDeployEnvironment(env: NodeJS.ProcessEnv): void {
  readConfig(env, true);
}

/** The config, or (packaging only, when a secret is still a reference) undefined once every check passed. */
function readConfig(env: NodeJS.ProcessEnv, packaging: boolean): Config | undefined {
  const local = isLocalRun(env);
  const problems: string[] = [];
  /** Variables holding a reference CloudFormation resolves at deploy time (packaging only). */
  const deferred = new Set<string>();
  const isSet = (...names: string[]) => names.some((name) => deferred.has(name));
  const cleaned: Record<string, string | undefined> = {};
  for (const key of Object.keys(Env.shape)) {
    const value = env[key];
    // Empty or blank is unset: `REDIS_CLUSTER_NODES= ` in a deploy command turns the cluster default off.
    if (value === undefined || value.trim() === '') continue;
    if (isUnresolved(value)) {
      if (packaging) deferred.add(key);
      else if (!local) problems.push(`${key}: holds an unresolved reference ${value.slice(0, 40)}...`);
      continue;
    }
    cleaned[key] = value;
  }
  problems.push(...unknownVariables(env));
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
  const secrets =
    orLocal('GENERIC_WEBHOOK_SECRETS', none(e.GENERIC_WEBHOOK_SECRETS), [LOCAL_GENERIC_SECRET], (v) =>
      v.some((s) => isLocalOnlyKey(decodeSecret(s), decodeSecret(LOCAL_GENERIC_SECRET))),
    ) ?? [];
  const stripeSecrets =
    orLocal('STRIPE_WEBHOOK_SECRETS', none(e.STRIPE_WEBHOOK_SECRETS), [LOCAL_STRIPE_SECRET], (v) =>
      v.some((s) => isLocalOnlyKey(utf8(s), utf8(LOCAL_STRIPE_SECRET))),
    ) ?? [];
  const sameKey = (a: string, b: string) => rsaPublicKey(a).export({ type: 'spki', format: 'der' }).equals(rsaPublicKey(b).export({ type: 'spki', format: 'der' }));
  const alipayPublicKeys =
    orLocal('ALIPAY_PUBLIC_KEYS', e.ALIPAY_PUBLIC_KEYS, [LOCAL_ALIPAY_PUBLIC_KEY], (v) => v.some((k) => sameKey(k, LOCAL_ALIPAY_PUBLIC_KEY))) ?? [];
  const wechatKeys = orLocal('WECHATPAY_PUBLIC_KEYS', e.WECHATPAY_PUBLIC_KEYS, { [LOCAL_WECHATPAY_SERIAL]: LOCAL_WECHATPAY_PUBLIC_KEY }, (v) =>
    Object.values(v).some((k) => sameKey(k, LOCAL_WECHATPAY_PUBLIC_KEY)),
  );
  const apiV3Key = orLocal('WECHATPAY_APIV3_KEY', e.WECHATPAY_APIV3_KEY, LOCAL_WECHATPAY_APIV3_KEY, (v) =>
    isLocalOnlyKey(utf8(v), utf8(LOCAL_WECHATPAY_APIV3_KEY)),
  );
  if (!local && wechatKeys && !apiV3Key && !isSet('WECHATPAY_APIV3_KEY')) problems.push('WECHATPAY_APIV3_KEY: required with WECHATPAY_PUBLIC_KEYS');
  // Whose notifications these are: required when deployed, the examples' ids locally.
  const alipayAppIds = none(e.ALIPAY_APP_IDS) ?? (local ? [...LOCAL_ALIPAY_APP_IDS] : []);
  const mchids = none(e.WECHATPAY_MCHIDS) ?? (local ? [...LOCAL_WECHATPAY_MCHIDS] : []);
  if (alipayPublicKeys.length > 0 && alipayAppIds.length === 0) problems.push('ALIPAY_APP_IDS: required with ALIPAY_PUBLIC_KEYS (the app ids whose notifies this endpoint accepts)');
  if (wechatKeys && mchids.length === 0) problems.push('WECHATPAY_MCHIDS: required with WECHATPAY_PUBLIC_KEYS (the merchant ids whose notifications this endpoint accepts)');
  // A retry still young enough to be scored must find its stored decision, or it is counted again.
  const maxNotificationAgeHours = e.RISKHOOK_MAX_NOTIFICATION_AGE_HOURS ?? Math.min(DEFAULT_MAX_NOTIFICATION_AGE_HOURS, e.RISKHOOK_DECISION_TTL_HOURS);
  if (maxNotificationAgeHours > e.RISKHOOK_DECISION_TTL_HOURS) {
    problems.push(`RISKHOOK_MAX_NOTIFICATION_AGE_HOURS: at most RISKHOOK_DECISION_TTL_HOURS (${e.RISKHOOK_DECISION_TTL_HOURS}), so a retry still scored finds its decision`);
  }
  if (!local && !wechatKeys && apiV3Key && !isSet('WECHATPAY_PUBLIC_KEYS')) problems.push('WECHATPAY_PUBLIC_KEYS: required with WECHATPAY_APIV3_KEY');
  const providerVariables = ['GENERIC_WEBHOOK_SECRETS', 'STRIPE_WEBHOOK_SECRETS', 'ALIPAY_PUBLIC_KEYS', 'WECHATPAY_PUBLIC_KEYS'];
  if (!local && secrets.length + stripeSecrets.length + alipayPublicKeys.length === 0 && !wechatKeys && !isSet(...providerVariables)) {
    problems.push(
      'GENERIC_WEBHOOK_SECRETS: required, unless another provider is configured (STRIPE_WEBHOOK_SECRETS, ALIPAY_PUBLIC_KEYS, WECHATPAY_PUBLIC_KEYS)',
    );
  }
  if (e.REDIS_URL && e.REDIS_CLUSTER_NODES) {
    problems.push('REDIS_CLUSTER_NODES: set either REDIS_URL (one node) or REDIS_CLUSTER_NODES (a cluster), not both');
  }
  // The memory store counts per container: on Lambda every container would see a fraction of the traffic.
  if (!local && !e.REDIS_URL && !e.REDIS_CLUSTER_NODES && !isSet('REDIS_URL', 'REDIS_CLUSTER_NODES')) {
    problems.push('REDIS_URL, REDIS_CLUSTER_NODES: one is required outside local runs (the in-memory store counts per container)');
  }
  if (e.RISKHOOK_FUNCTION_TIMEOUT_S !== undefined && e.RISKHOOK_DEADLINE_MS >= e.RISKHOOK_FUNCTION_TIMEOUT_S * 1_000) {
    problems.push(
      `RISKHOOK_DEADLINE_MS: ${e.RISKHOOK_DEADLINE_MS} ms is not below the function's timeout (${e.RISKHOOK_FUNCTION_TIMEOUT_S} s): Lambda would stop the function before the fallback answer`,
    );
  }
  if (e.REDIS_USERNAME !== undefined && e.REDIS_PASSWORD === undefined && !isSet('REDIS_PASSWORD')) problems.push('REDIS_USERNAME: requires REDIS_PASSWORD');
  if (e.REDIS_PASSWORD !== undefined && !e.REDIS_URL && !e.REDIS_CLUSTER_NODES && !isSet('REDIS_URL', 'REDIS_CLUSTER_NODES')) {
    problems.push('REDIS_PASSWORD: set without REDIS_URL or REDIS_CLUSTER_NODES');
  }
  if (e.REDIS_PASSWORD !== undefined && e.REDIS_URL && urlHasCredentials(e.REDIS_URL)) {
    problems.push('REDIS_PASSWORD: REDIS_URL carries credentials already; give them in one place');
  }
  const pepper = orLocal('RISKHOOK_PEPPER', e.RISKHOOK_PEPPER, LOCAL_PEPPER, (v) => isLocalOnlyKey(utf8(v), utf8(LOCAL_PEPPER)));
  if (pepper === undefined && !isSet('RISKHOOK_PEPPER')) problems.push('RISKHOOK_PEPPER: required (a random secret of at least 16 characters)');
  let policy: Policy | undefined;
  try {
    policy = loadPolicyFile(e.RISKHOOK_POLICY);
  } catch (error) {
    problems.push(`RISKHOOK_POLICY: ${(error as Error).message}`);
  }
  if (problems.length > 0 || !policy) throw new ConfigError(`configuration: ${problems.join('; ')}`);
  if (!pepper) return undefined; // packaging: the pepper is a reference resolved on deploy
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
      alipayAppIds,
      wechatpay: wechatKeys && apiV3Key ? { publicKeys: wechatKeys, apiV3Key, mchids } : undefined,
      maxNotificationAgeMs: maxNotificationAgeHours * 3_600_000,
    },
    limits: {
      windows: policy.windows,
      plan: policy.plan,
      ...DEFAULT_LIMITS,
      maxEventLagMs: e.RISKHOOK_MAX_EVENT_LAG ?? DEFAULT_LIMITS.maxEventLagMs,
      decisionTtlMs: e.RISKHOOK_DECISION_TTL_HOURS * 3_600_000,
      // A claim still pending after twice the deadline belongs to an attempt that died or gave up.
      claimStaleMs: Math.max(2 * e.RISKHOOK_DEADLINE_MS, 2_000),
    },
    localDefaults,
  };
}
