/**
 * Exactly-once counting, through the Lambda handler on a private redis-server: 1,000 events per
 * delivery pattern, each delivered 3 times (one after the other; all three at once; and after a
 * simulated crash between counting and storing the decision). Afterwards every counter of every
 * entity (read straight from Redis, which counts nothing) equals what the unique events add up to,
 * every event left its marker on each of its entities, and all deliveries of an event got the same
 * answer, byte for byte, which is the decision stored in Redis.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { recordRequest } from '../../lib/decide.js';
import type { EntityKind } from '../../lib/events.js';
import { createWebhookHandler, rawRequest } from '../../lib/http.js';
import { apiGatewayEvent, signGenericEvent } from '../../lib/providers/generic-sender.js';
import { type Runtime, createRuntime, createStore } from '../../lib/runtime.js';
import { keys } from '../../lib/velocity/redis.js';
import { type Claim, KIND_CODE, RELATIONS, type VelocityStore } from '../../lib/velocity/store.js';
import { ControlledRedis, type Totals, bucketTotals, pool } from '../support/redis-control.js';
import { keepEverything } from '../support/stores.js';
import { type Wire, newRun, rawIds, wireEvent } from '../support/wire-events.js';

const EVENTS = 1_000;
const DELIVERIES = 3;
/**
 * The default deadline: a duplicate racing the first delivery polls for its decision every 15 ms
 * and finds it well before its own deadline (the first takes a few ms), even on a loaded machine.
 * claimStaleMs = max(2 x 800 ms, 2 s) = 2 s.
 */
const DEADLINE_MS = 800;
/** Events in flight at once: modest, the machine is small and shared. */
const CONCURRENCY = 8;

/**
 * A probe policy: every answer carries the counts its scoring saw, so a delivery scored a second
 * time (or counted twice) answers differently from the first.
 */
const PROBE_POLICY = {
  version: 'probe-1',
  holdAt: 70,
  rules: [
    {
      id: 'probe',
      when: { feature: 'account.count.24h', gte: 0 },
      score: 0,
      message:
        'account {account.count.24h} linked {linkedAccount.count.24h} device {device.count.24h} ip {ip.count.24h} ' +
        'instrument {instrument.count.24h} merchant {merchant.count.24h} amount {account.amount.24h}',
    },
    { id: 'burst', when: { feature: 'account.passwordFree.count.10m', gte: 3 }, score: 80, message: 'burst' },
  ],
  // Every count, amount and related set kept, so the test can check each of them in Redis.
  keep: keepEverything(),
};

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const policyDir = mkdtempSync(join(tmpdir(), 'riskhook-policy-'));
let redis: ControlledRedis;
let admin: Redis;
let runtime: Runtime;
/** What each claim found, so a test can show which path its deliveries took. */
let claims: Record<Claim['state'], number>;
const handler = createWebhookHandler(() => runtime);

beforeAll(async () => {
  redis = await ControlledRedis.start();
  admin = new Redis(redis.url);
  writeFileSync(join(policyDir, 'probe.json'), JSON.stringify(PROBE_POLICY));
  const config = loadConfig({
    GENERIC_WEBHOOK_SECRETS: secret,
    RISKHOOK_PEPPER: randomBytes(16).toString('hex'),
    REDIS_URL: redis.url,
    RISKHOOK_POLICY: join(policyDir, 'probe.json'),
    RISKHOOK_STAGE: 'test',
  });
  // The real Redis store; only what its claims find is tallied.
  const store = createStore(config);
  const tallied: VelocityStore = {
    name: store.name,
    claim: async (eventKey, now) => {
      const claim = await store.claim(eventKey, now);
      claims[claim.state] += 1;
      return claim;
    },
    record: (request) => store.record(request),
    commit: (request) => store.commit(request),
    readDecision: (eventKey) => store.readDecision(eventKey),
    saveDecision: (eventKey, decision) => store.saveDecision(eventKey, decision),
    recordBinding: (request) => store.recordBinding(request),
    close: () => store.close(),
  };
  runtime = createRuntime(config, tallied);
  expect(runtime.config.deadlineMs).toBe(DEADLINE_MS);
  expect(runtime.config.limits.claimStaleMs).toBe(2_000);
});
afterAll(async () => {
  await runtime?.store.close();
  admin?.disconnect();
  await redis?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

/**
 * Many entities, each shared by several consecutive events (which are in flight together), so
 * counters reach 4 to 1,000 and move between deliveries: 100 accounts, 40 linked accounts,
 * 250 devices, 200 IPs, 125 instruments, one merchant per pattern.
 */
function workload(pattern: string): Wire[] {
  const { run, net } = newRun();
  const occurredAt = new Date().toISOString();
  return Array.from({ length: EVENTS }, (_, i) => wireEvent(`${pattern}-${run}`, net, occurredAt, i));
}

/** One signed request per event: a retry is the same message again, as providers resend it. */
const signed = (e: Wire) => apiGatewayEvent(signGenericEvent(secret, e)) as unknown as APIGatewayProxyEventV2;

async function deliver(request: APIGatewayProxyEventV2): Promise<string> {
  const res = await handler(request);
  expect(res.statusCode).toBe(200);
  return res.body!;
}

/**
 * Checks Redis against the unique events: per entity, at every bucket resolution, count, amount and
 * their password-free parts; its related-entity set; its marker for each of its events; and each
 * event's stored decision against the answers its deliveries got.
 */
async function expectCountedOnce(events: readonly Wire[], answers: readonly string[][]): Promise<void> {
  const { hasher } = runtime;
  const expected = new Map<string, { totals: Totals; related: Set<string> }>();
  for (const e of events) {
    const ids = rawIds(e);
    for (const [kind, raw] of ids) {
      const tag = keys.tag({ kind, key: hasher.entity(kind, raw) });
      const entry = expected.get(tag) ?? { totals: { n: 0, a: 0, p: 0, q: 0 }, related: new Set<string>() };
      entry.totals.n += 1;
      entry.totals.a += e.amount.minor;
      if (e.authMethod === 'password_free') {
        entry.totals.p += 1;
        entry.totals.q += e.amount.minor;
      }
      for (const [relation, relatedRaw] of ids) {
        if (RELATIONS[kind].includes(relation)) entry.related.add(KIND_CODE[relation] + hasher.entity(relation, relatedRaw));
      }
      expected.set(tag, entry);
    }
  }
  const tags = [...expected.keys()];
  const plan = runtime.config.policy.plan;
  const kindOf = (tag: string) => Object.entries(KIND_CODE).find(([, code]) => code === tag[0])![0] as EntityKind;
  const read = admin.pipeline();
  for (const tag of tags) {
    read.hgetallBuffer(keys.buckets(tag));
    for (const relation of RELATIONS[kindOf(tag)]) read.zrange(keys.related(tag, KIND_CODE[relation]), '0', '-1');
  }
  const replies = (await read.exec())!.map(([, v]) => v);
  const resolutions = runtime.config.limits.windows.map((w) => String(w.bucketMs / 1_000));
  const mismatches: string[] = [];
  let at = 0;
  tags.forEach((tag) => {
    const { totals, related } = expected.get(tag)!;
    const hash = replies[at++] as Record<string, Buffer>;
    const members = RELATIONS[kindOf(tag)].flatMap((relation) => (replies[at++] as string[]).map((m) => KIND_CODE[relation] + m));
    const found = bucketTotals(hash, plan.entities[kindOf(tag)]!);
    for (const res of resolutions) {
      const got = found.get(res) ?? { n: 0, a: 0, p: 0, q: 0 };
      if (JSON.stringify(got) !== JSON.stringify(totals)) mismatches.push(`${tag} @${res}s: ${JSON.stringify(got)} != ${JSON.stringify(totals)}`);
    }
    if (members.length !== related.size || members.some((m) => !related.has(m))) mismatches.push(`${tag}: related set differs`);
  });
  expect(mismatches.slice(0, 5)).toEqual([]);
  expect(tags.length).toBe(100 + 40 + 250 + 200 + 125 + 1);

  // Each event's stored decision (on one node its counting marker is folded into that record).
  const check = admin.pipeline();
  for (const e of events) check.get(keys.decision(hasher.event('generic', e.id)));
  const found = (await check.exec())!.map(([, v]) => v);
  const perEvent = 1;
  events.forEach((e, i) => {
    const row = found.slice(i * perEvent, (i + 1) * perEvent);
    const stored = JSON.parse(row.at(-1) as string) as Record<string, unknown>;
    const answer = JSON.parse(answers[i]![0]!) as Record<string, unknown>;
    expect(answer.degraded, `${e.id} answered without velocity`).toBe(false);
    expect(new Set(answers[i]), `deliveries of ${e.id} got different answers`).toEqual(new Set([answers[i]![0]]));
    expect({ ...answer }).toEqual({
      eventId: stored.eventId,
      decision: stored.decision,
      score: stored.score,
      reasons: stored.reasons,
      policyVersion: stored.policyVersion,
      degraded: stored.degraded,
    });
  });
}

describe(`exactly-once counting: ${EVENTS} events x ${DELIVERIES} deliveries through the handler`, () => {
  beforeEach(() => {
    claims = { claimed: 0, takeover: 0, pending: 0, decided: 0 };
  });

  it('counts each event once when its deliveries come one after the other', async () => {
    const events = workload('seq');
    const answers = await pool(events, CONCURRENCY, async (e) => {
      const request = signed(e);
      const bodies: string[] = [];
      for (let d = 0; d < DELIVERIES; d++) bodies.push(await deliver(request));
      return bodies;
    });
    await expectCountedOnce(events, answers);
    expect(claims).toEqual({ claimed: EVENTS, takeover: 0, pending: 0, decided: 2 * EVENTS }); // the retries found the decision
    // The policy saw the counts: the burst rule holds part of this traffic.
    const decisions = answers.map((a) => JSON.parse(a[0]!).decision as string);
    expect(decisions).toContain('hold');
    expect(decisions).toContain('approve');
  });

  it('counts each event once when its deliveries arrive at the same moment, and gives them the same decision', async () => {
    const events = workload('par');
    const answers = await pool(events, CONCURRENCY, (e) => {
      const request = signed(e);
      return Promise.all(Array.from({ length: DELIVERIES }, () => deliver(request)));
    });
    await expectCountedOnce(events, answers);
    expect(claims).toEqual({ claimed: EVENTS, takeover: 0, pending: 2 * EVENTS, decided: 0 }); // the duplicates raced the first and waited
  });

  it('counts each event once when the first attempt crashed between counting and storing its decision', async () => {
    const events = workload('crash');
    const { store, hasher, config } = runtime;
    const generic = runtime.adapters.get('generic')!;
    const requests = events.map(signed);
    // The crashed attempts: claimed and counted (the same mapping and request as the handler's), never decided.
    let lastClaim = 0;
    await pool(requests, CONCURRENCY * 4, async (request) => {
      const verified = generic.verify(rawRequest(request, config.maxBodyBytes, Date.now()));
      if (verified.kind !== 'score') throw new Error(`not a payment: ${verified.kind}`);
      const eventKey = hasher.event(verified.event.provider, verified.event.id);
      const now = Date.now();
      expect(await store.claim(eventKey, now)).toEqual({ state: 'claimed' });
      lastClaim = Math.max(lastClaim, now);
      await store.record(recordRequest(verified.event, eventKey, hasher, now));
    });
    // The provider retries once the claims are stale; the three deliveries of each event race.
    await new Promise((r) => setTimeout(r, Math.max(0, lastClaim + config.limits.claimStaleMs + 20 - Date.now())));
    const answers = await pool(requests, CONCURRENCY, (request) => Promise.all(Array.from({ length: DELIVERIES }, () => deliver(request))));
    await expectCountedOnce(events, answers);
    // The crashed attempts claimed; each retry's first delivery took over the stale claim, the other two waited for it.
    expect(claims).toEqual({ claimed: EVENTS, takeover: EVENTS, pending: 2 * EVENTS, decided: 0 });
  });
});
