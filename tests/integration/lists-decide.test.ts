/**
 * Block and allow lists as decide() reads them, on every store: the memory store and a cluster read
 * them beside velocity (one command per entity), a single Redis node in the claim's own call. Each
 * store must give the same decisions: an entry holds or approves, an expired one does nothing, and
 * only the kinds the policy's rules read are looked at.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { decide } from '../../lib/decide.js';
import type { PaymentEvent } from '../../lib/events.js';
import { IdentityHasher } from '../../lib/identity.js';
import { createOperations, opsBackendFor } from '../../lib/operations/index.js';
import { loadPolicyFile } from '../../lib/policy/load.js';
import { RedisVelocityStore } from '../../lib/velocity/redis.js';
import type { VelocityStore } from '../../lib/velocity/store.js';
import { STORE_KINDS, makeStore, testLimits } from '../support/stores.js';

const DEFAULT = loadPolicyFile('policies/default.yaml');
/** The default policy with one more rule, on the IP's block list (a kind the default policy does not read). */
const WITH_IP = (() => {
  const file = parseYaml(readFileSync('policies/default.yaml', 'utf8')) as { version: string; rules: unknown[] };
  const path = join(mkdtempSync(join(tmpdir(), 'riskhook-lists-')), 'ip-block.json');
  file.rules.push({ id: 'blocked-ip', hold: true, message: 'the IP is on the block list', when: { feature: 'ip.blocked', eq: true } });
  writeFileSync(path, JSON.stringify({ ...file, version: 'default-with-ip-block' }));
  return loadPolicyFile(path);
})();
const opsConfig = { tokens: [], reviewRetentionMs: 90 * 86_400_000, auditRetentionMs: 365 * 86_400_000, merchantWebhook: undefined, localDefaults: [] };

function payment(): PaymentEvent {
  const s = randomBytes(6).toString('hex');
  return {
    id: `evt_${s}`,
    provider: 'generic',
    kind: 'authorization',
    occurredAt: Date.now(),
    amount: { minor: 1_200, currency: 'CNY' },
    account: { id: `acct_${s}`, twoFactor: true },
    merchant: { id: `m_${s}` },
    authMethod: 'biometric',
    device: { id: `dev_${s}` },
    ip: `10.9.${Number.parseInt(s.slice(0, 2), 16)}.${Number.parseInt(s.slice(2, 4), 16)}`,
  };
}

const stores: VelocityStore[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
});

describe.each(STORE_KINDS)('lists read by decide (%s store)', (kind) => {
  const store = makeStore(kind, testLimits({ windows: DEFAULT.windows, plan: DEFAULT.plan }));
  stores.push(store);
  const hasher = new IdentityHasher(randomBytes(16).toString('hex'));
  const operations = createOperations(opsBackendFor(store), hasher, opsConfig, 72 * 3_600_000, Date.now, store);
  const deps = (policy = DEFAULT) => ({ store, policy, hasher, deadlineMs: 2_000, onStoreFailure: 'hold' as const, operations });
  const commands = async (name: string) => {
    if (!(store instanceof RedisVelocityStore)) return 0;
    const client = store.client as Redis | Cluster;
    const nodes = (client as Cluster).isCluster ? (client as Cluster).nodes('master') : [client as Redis];
    const infos = await Promise.all(nodes.map((n) => n.info('commandstats')));
    return infos.reduce((sum, info) => sum + Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0), 0);
  };

  it('reads them in the claim call on a single node only', () => {
    expect(Boolean(operations.carriedBy(store))).toBe(kind === 'redis');
  });

  it('a blocked device holds; an allowed account is approved; an entry past its expiry does nothing', async () => {
    const blocked = payment();
    await operations.lists.put('block', 'device', hasher.entity('device', blocked.device!.id), {}, 'test');
    const hgetall = await commands('hgetall');
    const held = await decide(blocked, deps());
    expect(held.decision).toBe('hold');
    expect(held.reasons.map((r) => r.rule)).toContain('blocked-entity');
    // A single node read the entries inside the claim's call: no HGETALL per entity beside it.
    if (kind === 'redis') expect(await commands('hgetall')).toBe(hgetall);
    if (kind === 'cluster') expect(await commands('hgetall')).toBeGreaterThan(hgetall);

    const allowed = payment();
    await operations.lists.put('allow', 'account', hasher.entity('account', allowed.account.id), {}, 'test');
    const approved = await decide(allowed, deps());
    expect(approved.reasons.map((r) => r.rule)).toContain('allowed-account');

    // An entry put two days ago for one day has expired (the clock of the operations that wrote it).
    const expired = payment();
    const earlier = createOperations(opsBackendFor(store), hasher, opsConfig, 72 * 3_600_000, () => Date.now() - 2 * 86_400_000, store);
    await earlier.lists.put('block', 'device', hasher.entity('device', expired.device!.id), { ttlDays: 1 }, 'test');
    const after = await decide(expired, deps());
    expect(after.reasons.map((r) => r.rule)).not.toContain('blocked-entity');
  });

  it('reads the kinds the policy reads: an IP block holds only under a policy with a rule on it', async () => {
    const event = payment();
    await operations.lists.put('block', 'ip', hasher.entity('ip', event.ip!), {}, 'test');
    expect(DEFAULT.listKinds).not.toContain('ip');
    expect(WITH_IP.listKinds).toContain('ip');
    const underDefault = await decide(event, deps());
    expect(underDefault.reasons.map((r) => r.rule)).not.toContain('blocked-ip');
    const second = { ...payment(), ip: event.ip };
    const underIpRule = await decide(second, deps(WITH_IP));
    expect(underIpRule.decision).toBe('hold');
    expect(underIpRule.reasons.map((r) => r.rule)).toContain('blocked-ip');
  });
});
