/**
 * Configuration from the environment. Local runs work with nothing set; anywhere else a missing or
 * public (local-only) secret stops the cold start with a ConfigError naming the variable.
 * loadConfig reads RISKHOOK_POLICY relative to the working directory (the repo root under vitest).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Config, KNOWN_RISKHOOK_VARIABLES, loadConfig } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { Env as OperationsEnv } from '../../lib/operations/config.js';
import {
  LOCAL_ALIPAY_PUBLIC_KEY,
  LOCAL_GENERIC_SECRET,
  LOCAL_PEPPER,
  LOCAL_STRIPE_SECRET,
  LOCAL_WECHATPAY_APIV3_KEY,
  LOCAL_WECHATPAY_PUBLIC_KEY,
} from '../../lib/local-defaults.js';
import { loadPolicyFile } from '../../lib/policy/load.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const PEPPER = randomBytes(24).toString('hex');
const REDIS_URL = 'redis://10.0.0.1:6379'; // never dialled: loadConfig only reads the environment
const SECRETS = { GENERIC_WEBHOOK_SECRETS: SECRET, RISKHOOK_PEPPER: PEPPER };
const LAMBDA = { ...SECRETS, REDIS_URL }; // a valid deployed environment
/** Every variable a local run with nothing set fills with its local-only default. */
const ALL_DEFAULTED = [
  'ALIPAY_PUBLIC_KEYS', 'GENERIC_WEBHOOK_SECRETS', 'RISKHOOK_PEPPER', 'STRIPE_WEBHOOK_SECRETS', 'WECHATPAY_APIV3_KEY', 'WECHATPAY_PUBLIC_KEYS',
];
const UNRESOLVED = '{{resolve:ssm-secure:/riskhook/prod/generic-webhook-secrets}}';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected loadConfig to refuse the environment');
}

describe('local runs', () => {
  it('with IS_OFFLINE=true and nothing else, uses the local-only defaults and the memory store', () => {
    const config = loadConfig({ IS_OFFLINE: 'true' });
    expect(config.local).toBe(true);
    expect([...config.localDefaults].sort()).toEqual(ALL_DEFAULTED);
    expect(config.providers.genericSecrets).toEqual([LOCAL_GENERIC_SECRET]);
    expect(config.pepper).toBe(LOCAL_PEPPER);
    expect(config.redisUrl).toBeUndefined(); // no REDIS_URL: the embedded store
    // The shipped policy, and the store counts the windows the policy declares.
    expect(config.policyPath).toBe('policies/default.yaml');
    expect(config.policy.version).toBe(loadPolicyFile('policies/default.yaml').version);
    expect(config.limits.windows).toEqual(config.policy.windows);
  });

  it('IS_LOCAL=true (serverless invoke local) is a local run too', () => {
    expect(loadConfig({ IS_LOCAL: 'true' }).local).toBe(true);
  });

  it('uses what is set and lists only what it filled in', () => {
    const config = loadConfig({ IS_OFFLINE: 'true', RISKHOOK_PEPPER: PEPPER, REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config.pepper).toBe(PEPPER);
    expect([...config.localDefaults].sort()).toEqual(ALL_DEFAULTED.filter((v) => v !== 'RISKHOOK_PEPPER'));
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('treats unresolved {{resolve:...}} values as unset', () => {
    const config = loadConfig({ IS_OFFLINE: 'true', GENERIC_WEBHOOK_SECRETS: UNRESOLVED, RISKHOOK_PEPPER: '{{resolve:ssm-secure:/p}}' });
    expect(config.providers.genericSecrets).toEqual([LOCAL_GENERIC_SECRET]);
    expect(config.pepper).toBe(LOCAL_PEPPER);
    expect([...config.localDefaults].sort()).toEqual(ALL_DEFAULTED);
  });

  it('treats an empty or blank variable as unset', () => {
    for (const blank of ['', ' ', '\t\n ']) {
      expect(loadConfig({ IS_OFFLINE: 'true', RISKHOOK_PEPPER: blank }).pepper).toBe(LOCAL_PEPPER);
      expect(loadConfig({ IS_OFFLINE: 'true', RISKHOOK_DEADLINE_MS: blank }).deadlineMs).toBe(800);
      expect(loadConfig({ ...LAMBDA, REDIS_CLUSTER_NODES: blank }).redisCluster).toBeUndefined();
    }
  });
});

describe('deployed (not local) runs', () => {
  it('accept a complete environment without any local default', () => {
    const config: Config = loadConfig(LAMBDA);
    expect(config.local).toBe(false);
    expect(config.localDefaults).toEqual([]);
    expect(config.providers.genericSecrets).toEqual([SECRET]);
    expect(config.pepper).toBe(PEPPER);
  });

  it('refuse to start without secrets, naming both variables', () => {
    const message = refusal({});
    expect(message).toContain('GENERIC_WEBHOOK_SECRETS');
    expect(message).toContain('RISKHOOK_PEPPER');
  });

  it('IS_OFFLINE must be exactly "true" to count as local', () => {
    expect(refusal({ IS_OFFLINE: '1' })).toContain('GENERIC_WEBHOOK_SECRETS');
  });

  it('refuse the local-only secret even when set explicitly, alone or among others', () => {
    for (const secrets of [LOCAL_GENERIC_SECRET, `${SECRET},${LOCAL_GENERIC_SECRET}`]) {
      const message = refusal({ ...LAMBDA, GENERIC_WEBHOOK_SECRETS: secrets });
      expect(message).toMatch(/GENERIC_WEBHOOK_SECRETS: the local-only value is refused/);
      expect(message).not.toContain('RISKHOOK_PEPPER');
    }
  });

  it('refuse every other spelling of the local-only generic secret: the same key bytes (unpadded, non-canonical base64)', () => {
    const b64 = LOCAL_GENERIC_SECRET.slice('whsec_'.length);
    expect(b64.endsWith('=')).toBe(true); // the published spelling is padded
    const unpadded = `whsec_${b64.replace(/=+$/, '')}`;
    // Base64 of 38 bytes leaves 2 unused bits in the last character: flipping them spells the same bytes.
    const last = b64.replace(/=+$/, '').slice(-1);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const nonCanonical = `whsec_${b64.replace(/=+$/, '').slice(0, -1)}${alphabet[alphabet.indexOf(last) + 1]}=`;
    for (const spelling of [unpadded, nonCanonical]) {
      expect(spelling).not.toBe(LOCAL_GENERIC_SECRET);
      expect(refusal({ ...LAMBDA, GENERIC_WEBHOOK_SECRETS: `${SECRET},${spelling}` })).toMatch(/GENERIC_WEBHOOK_SECRETS: the local-only value is refused/);
    }
  });

  it('refuse the other local-only values and spellings derived from them', () => {
    const other = (name: string, value: string) => refusal({ ...LAMBDA, [name]: value });
    expect(other('STRIPE_WEBHOOK_SECRETS', LOCAL_STRIPE_SECRET)).toMatch(/STRIPE_WEBHOOK_SECRETS: the local-only value is refused/);
    expect(other('STRIPE_WEBHOOK_SECRETS', `${LOCAL_STRIPE_SECRET}2`)).toMatch(/STRIPE_WEBHOOK_SECRETS: the local-only value is refused/);
    expect(other('RISKHOOK_PEPPER', `${LOCAL_PEPPER} `)).toMatch(/RISKHOOK_PEPPER: the local-only value is refused/);
    expect(other('RISKHOOK_PEPPER', LOCAL_PEPPER.toUpperCase())).toMatch(/RISKHOOK_PEPPER: the local-only value is refused/);
    const wechat = { WECHATPAY_PUBLIC_KEYS: JSON.stringify({ SERIAL1: LOCAL_WECHATPAY_PUBLIC_KEY }), WECHATPAY_APIV3_KEY: LOCAL_WECHATPAY_APIV3_KEY };
    const message = refusal({ ...LAMBDA, ...wechat });
    expect(message).toMatch(/WECHATPAY_APIV3_KEY: the local-only value is refused/);
    expect(message).toMatch(/WECHATPAY_PUBLIC_KEYS: the local-only value is refused/);
    // An RSA key is compared as DER: the same key without PEM line breaks is the same key.
    const oneLine = LOCAL_ALIPAY_PUBLIC_KEY.replace(/\n(?!-----END)/g, '').replace('KEY-----', 'KEY-----\n');
    expect(refusal({ ...LAMBDA, ALIPAY_PUBLIC_KEYS: oneLine })).toMatch(/ALIPAY_PUBLIC_KEYS: the local-only value is refused/);
  });

  it('refuse the local-only pepper even when set explicitly', () => {
    const message = refusal({ ...LAMBDA, RISKHOOK_PEPPER: LOCAL_PEPPER });
    expect(message).toMatch(/RISKHOOK_PEPPER: the local-only value is refused/);
    expect(message).not.toContain('GENERIC_WEBHOOK_SECRETS');
  });

  it('refuse unresolved {{resolve:...}} values, naming the variable', () => {
    const message = refusal({ ...LAMBDA, GENERIC_WEBHOOK_SECRETS: UNRESOLVED });
    expect(message).toMatch(/GENERIC_WEBHOOK_SECRETS: holds an unresolved reference/);
    expect(refusal({ ...LAMBDA, REDIS_URL: '{{resolve:ssm:/redis}}' })).toMatch(/REDIS_URL: holds an unresolved reference/);
  });

  it('refuse the per-container memory store: REDIS_URL and REDIS_CLUSTER_NODES unset, empty or blank', () => {
    for (const redis of [{}, { REDIS_URL: '', REDIS_CLUSTER_NODES: '' }, { REDIS_URL: ' ', REDIS_CLUSTER_NODES: '\t' }]) {
      const message = refusal({ ...SECRETS, ...redis });
      expect(message).toMatch(/REDIS_URL, REDIS_CLUSTER_NODES: one is required outside local runs/);
    }
    // Locally the memory store is the default.
    expect(loadConfig({ IS_OFFLINE: 'true', REDIS_URL: '', REDIS_CLUSTER_NODES: ' ' })).toMatchObject({ redisUrl: undefined, redisCluster: undefined });
  });

  it('accept several comma-separated secrets (rotation), trimming spaces', () => {
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    expect(loadConfig({ ...LAMBDA, GENERIC_WEBHOOK_SECRETS: ` ${SECRET} , ${other},` }).providers.genericSecrets).toEqual([SECRET, other]);
  });
});

describe('invalid values', () => {
  it.each([
    ['RISKHOOK_DEADLINE_MS', 'abc'],
    ['RISKHOOK_DEADLINE_MS', '10'], // below the minimum
    ['RISKHOOK_DEADLINE_MS', '1.5'],
    ['RISKHOOK_ON_STORE_FAILURE', 'maybe'],
    ['RISKHOOK_MAX_BODY_BYTES', '99999999'],
    ['REDIS_URL', 'http://x'],
    ['REDIS_URL', 'redis://'],
    ['GENERIC_WEBHOOK_SECRETS', 'not-a-whsec-secret'],
    ['GENERIC_WEBHOOK_SECRETS', 'whsec_c2hvcnQ='], // "short": too few key bytes
    ['RISKHOOK_PEPPER', 'short'],
  ])('refuses %s=%j, naming it (locally too)', (name, value) => {
    for (const base of [LAMBDA, { IS_OFFLINE: 'true' }]) {
      expect(refusal({ ...base, [name]: value })).toMatch(new RegExp(`(^configuration: |; )${name}(\\.\\d+)?: `));
    }
  });

  it('reports every bad variable at once', () => {
    const message = refusal({ ...LAMBDA, RISKHOOK_DEADLINE_MS: 'abc', RISKHOOK_ON_STORE_FAILURE: 'maybe', REDIS_URL: 'http://x' });
    for (const name of ['RISKHOOK_DEADLINE_MS', 'RISKHOOK_ON_STORE_FAILURE', 'REDIS_URL']) expect(message).toContain(name);
  });

  it('reads valid numbers and choices', () => {
    const config = loadConfig({ ...LAMBDA, RISKHOOK_DEADLINE_MS: '1500', RISKHOOK_ON_STORE_FAILURE: 'approve', RISKHOOK_MAX_BODY_BYTES: '2048' });
    expect(config).toMatchObject({ deadlineMs: 1_500, onStoreFailure: 'approve', maxBodyBytes: 2_048 });
    // A claim pending for twice the deadline belongs to a dead attempt.
    expect(config.limits.claimStaleMs).toBe(3_000);
  });
});

describe('RISKHOOK_DEADLINE_MS and the function timeout (RISKHOOK_FUNCTION_TIMEOUT_S)', () => {
  it('refuses a deadline at or above the timeout, locally too', () => {
    for (const base of [LAMBDA, { IS_OFFLINE: 'true' }]) {
      for (const deadline of ['6000', '7000']) {
        expect(refusal({ ...base, RISKHOOK_FUNCTION_TIMEOUT_S: '6', RISKHOOK_DEADLINE_MS: deadline })).toMatch(
          new RegExp(`RISKHOOK_DEADLINE_MS: ${deadline} ms is not below the function's timeout \\(6 s\\)`),
        );
      }
      expect(loadConfig({ ...base, RISKHOOK_FUNCTION_TIMEOUT_S: '6', RISKHOOK_DEADLINE_MS: '5999' }).deadlineMs).toBe(5_999);
    }
    expect(refusal({ ...LAMBDA, RISKHOOK_FUNCTION_TIMEOUT_S: '0' })).toMatch(/RISKHOOK_FUNCTION_TIMEOUT_S: expected at least 1/);
  });

  it('serverless.yml passes the provider timeout, which is above the default deadline', () => {
    const yml = readFileSync('serverless.yml', 'utf8');
    expect(yml).toMatch(/RISKHOOK_FUNCTION_TIMEOUT_S: \$\{self:provider\.timeout\}/);
    const timeout = Number(/^  timeout: (\d+)$/m.exec(yml)![1]);
    expect(loadConfig({ ...LAMBDA, RISKHOOK_FUNCTION_TIMEOUT_S: String(timeout) }).deadlineMs).toBeLessThan(timeout * 1_000);
  });
});

describe('unknown RISKHOOK_* variables', () => {
  it('are refused with the closest known name, locally too', () => {
    for (const base of [LAMBDA, { IS_OFFLINE: 'true' }]) {
      expect(refusal({ ...base, RISKHOOK_DEADLNE_MS: '300' })).toMatch(/RISKHOOK_DEADLNE_MS: not a riskhook variable; did you mean RISKHOOK_DEADLINE_MS\?/);
    }
    expect(refusal({ ...LAMBDA, RISKHOOK_POLCY: 'policies/default.yaml' })).toMatch(/did you mean RISKHOOK_POLICY\?/);
    expect(refusal({ ...LAMBDA, RISKHOOK_ON_STORE_FAILUR: 'approve' })).toMatch(/did you mean RISKHOOK_ON_STORE_FAILURE\?/);
  });

  it('the known names are the schema\'s (every one accepted) and the tools\' (RISKHOOK_URL for npm run send)', () => {
    expect(KNOWN_RISKHOOK_VARIABLES).toEqual(expect.arrayContaining(['RISKHOOK_DEADLINE_MS', 'RISKHOOK_POLICY', 'RISKHOOK_PEPPER', 'RISKHOOK_STAGE', 'RISKHOOK_URL']));
    expect(loadConfig({ ...LAMBDA, RISKHOOK_URL: 'http://localhost:3000', RISKHOOK_STAGE: 'prod' }).stage).toBe('prod');
    // Every RISKHOOK_* variable serverless.yml sets is known.
    const set = [...readFileSync('serverless.yml', 'utf8').matchAll(/^ {4}(RISKHOOK_[A-Z0-9_]+):/gm)].map((m) => m[1]);
    expect(set.length).toBeGreaterThan(3);
    expect(set.filter((name) => !KNOWN_RISKHOOK_VARIABLES.includes(name!))).toEqual([]);
    // And every one the operations concern reads (its own schema).
    const operations = Object.keys(OperationsEnv.shape).filter((k) => k.startsWith('RISKHOOK_'));
    expect(operations.length).toBeGreaterThan(1);
    expect(operations.filter((name) => !KNOWN_RISKHOOK_VARIABLES.includes(name))).toEqual([]);
  });
});

describe('RISKHOOK_POLICY', () => {
  it('loads the policy it points to', () => {
    const path = join(dir, 'tiny.yaml');
    writeFileSync(path, 'version: tiny-1\nholdAt: 50\nwindows: { 30m: 1m }\nrules:\n  - { id: big, when: { feature: event.amount, gt: 1 }, score: 10, message: m }\n');
    const config = loadConfig({ ...LAMBDA, RISKHOOK_POLICY: path });
    expect(config.policy.version).toBe('tiny-1');
    expect(config.limits.windows.map((w) => w.name)).toEqual(['30m']);
  });

  it('a broken policy file is an error naming RISKHOOK_POLICY and the rule', () => {
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, 'version: 1\nholdAt: 70\nrules:\n  - { id: typo, when: { feature: acount.count.10m, gt: 1 }, score: 10, message: m }\n');
    const message = refusal({ ...LAMBDA, RISKHOOK_POLICY: path });
    expect(message).toMatch(/RISKHOOK_POLICY: /);
    expect(message).toContain('rule "typo"');
  });

  it('a missing policy file is an error naming RISKHOOK_POLICY, even locally', () => {
    expect(refusal({ IS_OFFLINE: 'true', RISKHOOK_POLICY: join(dir, 'nope.yaml') })).toMatch(/RISKHOOK_POLICY: .*cannot read/);
  });

  it('a policy error is reported together with the environment problems', () => {
    const message = refusal({ RISKHOOK_POLICY: join(dir, 'nope.yaml') });
    expect(message).toContain('RISKHOOK_POLICY');
    expect(message).toContain('RISKHOOK_PEPPER');
  });
});

describe('Redis: REDIS_URL, REDIS_CLUSTER_NODES, REDIS_USERNAME, REDIS_PASSWORD', () => {
  it('REDIS_URL: one node, redis:// or rediss:// (TLS, which ioredis applies from the scheme)', () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://master.riskhook.abc123.use1.cache.amazonaws.com:6379']) {
      const config = loadConfig({ ...SECRETS, REDIS_URL: url });
      expect(config).toMatchObject({ redisUrl: url, redisCluster: undefined, redisAuth: undefined });
    }
  });

  it('REDIS_CLUSTER_NODES: comma-separated host:port startup nodes, IPv6 in brackets, spaces trimmed', () => {
    const config = loadConfig({ ...SECRETS, REDIS_CLUSTER_NODES: ' 10.0.1.5:6379, redis-2.internal:7001 ,[fd00::1]:6380,' });
    expect(config.redisUrl).toBeUndefined();
    expect(config.redisCluster).toEqual({
      nodes: [{ host: '10.0.1.5', port: 6379 }, { host: 'redis-2.internal', port: 7001 }, { host: 'fd00::1', port: 6380 }],
      tls: false,
    });
  });

  it('REDIS_CLUSTER_NODES: rediss:// entries are TLS, redis:// entries are not', () => {
    const endpoint = 'clustercfg.riskhook.abc123.use1.cache.amazonaws.com';
    expect(loadConfig({ ...SECRETS, REDIS_CLUSTER_NODES: `rediss://${endpoint}:6379` }).redisCluster).toEqual({
      nodes: [{ host: endpoint, port: 6379 }],
      tls: true,
    });
    expect(loadConfig({ ...SECRETS, REDIS_CLUSTER_NODES: 'redis://a:1,redis://b:65535/' }).redisCluster).toEqual({
      nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 65_535 }],
      tls: false,
    });
  });

  it.each([
    ['localhost', /REDIS_CLUSTER_NODES: "localhost": expected host:port/],
    ['a:6379,b', /REDIS_CLUSTER_NODES: entry 2 of 2: "b": expected host:port/],
    ['a:0', /expected host:port \(port 1-65535\)/],
    ['a:65536', /expected host:port \(port 1-65535\)/],
    ['a:63a', /expected host:port/],
    ['http://a:6379', /expected host:port/],
    ['a:6379/0', /expected host:port/],
    ['fd00::1:6379', /expected host:port/], // IPv6 needs brackets
    [' , ', /REDIS_CLUSTER_NODES: expected one or more host:port/],
    ['rediss://a:6379,b:6379', /REDIS_CLUSTER_NODES: mixes TLS \(rediss:\/\/\) and plain entries/],
  ])('REDIS_CLUSTER_NODES=%j is refused, naming it (locally too)', (value, message) => {
    for (const base of [SECRETS, { IS_OFFLINE: 'true' }]) expect(refusal({ ...base, REDIS_CLUSTER_NODES: value })).toMatch(message);
  });

  it('REDIS_CLUSTER_NODES: credentials are refused, and not echoed', () => {
    const message = refusal({ ...SECRETS, REDIS_CLUSTER_NODES: 'rediss://riskhook:hunter2-secret@a:6379' });
    expect(message).toMatch(/REDIS_CLUSTER_NODES: credentials go in REDIS_USERNAME \/ REDIS_PASSWORD/);
    expect(message).not.toContain('hunter2');
  });

  it('REDIS_URL and REDIS_CLUSTER_NODES together are refused', () => {
    expect(refusal({ ...SECRETS, REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'a:6379' })).toMatch(
      /REDIS_CLUSTER_NODES: set either REDIS_URL \(one node\) or REDIS_CLUSTER_NODES \(a cluster\), not both/,
    );
    // An empty one is unset (a deploy that turns the cluster default off with REDIS_CLUSTER_NODES=).
    expect(loadConfig({ ...SECRETS, REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: '' }).redisCluster).toBeUndefined();
  });

  it('REDIS_PASSWORD (ElastiCache AUTH token) and REDIS_USERNAME (RBAC user) go with either store', () => {
    const password = randomBytes(24).toString('hex');
    expect(loadConfig({ ...SECRETS, REDIS_CLUSTER_NODES: 'rediss://a:6379', REDIS_PASSWORD: password }).redisAuth).toEqual({ password });
    expect(loadConfig({ ...SECRETS, REDIS_URL: 'rediss://a:6379', REDIS_USERNAME: 'riskhook', REDIS_PASSWORD: password }).redisAuth).toEqual({
      username: 'riskhook',
      password,
    });
    // Credentials in REDIS_URL itself still work (ioredis reads them), but not twice.
    expect(loadConfig({ ...SECRETS, REDIS_URL: `rediss://riskhook:${password}@a:6379` }).redisAuth).toBeUndefined();
    const twice = refusal({ ...SECRETS, REDIS_URL: `rediss://riskhook:${password}@a:6379`, REDIS_PASSWORD: password });
    expect(twice).toMatch(/REDIS_PASSWORD: REDIS_URL carries credentials already/);
    expect(twice).not.toContain(password);
  });

  it('REDIS_USERNAME needs REDIS_PASSWORD, and either needs a Redis; no message shows the password', () => {
    const password = randomBytes(24).toString('hex');
    expect(refusal({ ...SECRETS, REDIS_CLUSTER_NODES: 'a:6379', REDIS_USERNAME: 'riskhook' })).toMatch(/REDIS_USERNAME: requires REDIS_PASSWORD/);
    const orphan = refusal({ ...SECRETS, REDIS_PASSWORD: password });
    expect(orphan).toMatch(/REDIS_PASSWORD: set without REDIS_URL or REDIS_CLUSTER_NODES/);
    expect(orphan).not.toContain(password);
  });

  it('unresolved references are refused on Lambda and ignored locally, as for every variable', () => {
    expect(refusal({ ...SECRETS, REDIS_CLUSTER_NODES: '{{resolve:ssm:/riskhook/prod/redis-cluster-nodes}}' })).toMatch(
      /REDIS_CLUSTER_NODES: holds an unresolved reference/,
    );
    expect(loadConfig({ IS_OFFLINE: 'true', REDIS_CLUSTER_NODES: '{{resolve:ssm:/riskhook/dev/redis-cluster-nodes}}' }).redisCluster).toBeUndefined();
  });
});

describe('RISKHOOK_DECISION_TTL_HOURS', () => {
  it('keeps decisions 72 h by default and as long as configured, refusing nonsense', () => {
    const env = { IS_OFFLINE: 'true' };
    expect(loadConfig(env).limits.decisionTtlMs).toBe(72 * 3_600_000);
    expect(loadConfig({ ...env, RISKHOOK_DECISION_TTL_HOURS: '26' }).limits.decisionTtlMs).toBe(26 * 3_600_000);
    expect(() => loadConfig({ ...env, RISKHOOK_DECISION_TTL_HOURS: '0' })).toThrow(/RISKHOOK_DECISION_TTL_HOURS/);
    expect(() => loadConfig({ ...env, RISKHOOK_DECISION_TTL_HOURS: '1.5' })).toThrow(/RISKHOOK_DECISION_TTL_HOURS/);
  });
});

describe('ALIPAY_APP_IDS, WECHATPAY_MCHIDS, RISKHOOK_MAX_NOTIFICATION_AGE_HOURS', () => {
  const ALIPAY_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const WECHAT = { WECHATPAY_PUBLIC_KEYS: JSON.stringify({ PUB_KEY_ID_1: ALIPAY_KEY }), WECHATPAY_APIV3_KEY: randomBytes(16).toString('hex') };

  it('are required when deployed with the provider configured, and not without it', () => {
    expect(refusal({ ...LAMBDA, ALIPAY_PUBLIC_KEYS: ALIPAY_KEY })).toMatch(/ALIPAY_APP_IDS: required with ALIPAY_PUBLIC_KEYS/);
    expect(refusal({ ...LAMBDA, ...WECHAT })).toMatch(/WECHATPAY_MCHIDS: required with WECHATPAY_PUBLIC_KEYS/);
    const config = loadConfig({ ...LAMBDA, ALIPAY_PUBLIC_KEYS: ALIPAY_KEY, ALIPAY_APP_IDS: '2021000000000001, 2021000000000002', ...WECHAT, WECHATPAY_MCHIDS: '1230000109' });
    expect(config.providers.alipayAppIds).toEqual(['2021000000000001', '2021000000000002']);
    expect(config.providers.wechatpay?.mchids).toEqual(['1230000109']);
    expect(loadConfig(LAMBDA).providers.alipayAppIds).toEqual([]);
    expect(refusal({ ...LAMBDA, ALIPAY_APP_IDS: '2021000000000001,app-2' })).toMatch(/ALIPAY_APP_IDS.*expected app ids/);
  });

  it('locally default to the ids the examples use', () => {
    const config = loadConfig({ IS_OFFLINE: 'true' });
    expect(config.providers.alipayAppIds).toEqual(['2021000000000001']);
    expect(config.providers.wechatpay?.mchids).toEqual(['1230000109']);
    expect(loadConfig({ IS_OFFLINE: 'true', ALIPAY_APP_IDS: '2021005199606982' }).providers.alipayAppIds).toEqual(['2021005199606982']);
  });

  it('the notification age limit: 48 h by default, configurable, never beyond the decision TTL', () => {
    const env = { IS_OFFLINE: 'true' };
    expect(loadConfig(env).providers.maxNotificationAgeMs).toBe(48 * 3_600_000);
    expect(loadConfig({ ...env, RISKHOOK_MAX_NOTIFICATION_AGE_HOURS: '30' }).providers.maxNotificationAgeMs).toBe(30 * 3_600_000);
    // A shorter decision TTL shortens the default with it: a retry still scored must find its decision.
    expect(loadConfig({ ...env, RISKHOOK_DECISION_TTL_HOURS: '26' }).providers.maxNotificationAgeMs).toBe(26 * 3_600_000);
    expect(refusal({ ...env, RISKHOOK_DECISION_TTL_HOURS: '26', RISKHOOK_MAX_NOTIFICATION_AGE_HOURS: '48' })).toMatch(/RISKHOOK_MAX_NOTIFICATION_AGE_HOURS: at most RISKHOOK_DECISION_TTL_HOURS \(26\)/);
    expect(refusal({ ...env, RISKHOOK_MAX_NOTIFICATION_AGE_HOURS: '0' })).toMatch(/RISKHOOK_MAX_NOTIFICATION_AGE_HOURS/);
    expect(refusal({ ...env, RISKHOOK_MAX_NOTIFICATION_AGE_HOURS: '2d' })).toMatch(/RISKHOOK_MAX_NOTIFICATION_AGE_HOURS: expected a whole number of hours/);
  });
});
