/**
 * End to end: the real local server (serverless offline, as `npm start` runs it) answering real signed
 * HTTP requests, once over the embedded memory store and once over Redis (the test run's own
 * redis-server). Every scenario uses entities of its own (ids suffixed, IPs random), so scenarios
 * never see each other's counts, even on a Redis that outlives the run.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { LOCAL_GENERIC_SECRET } from '../../lib/local-defaults.js';
import type { GenericEventV1 } from '../../lib/providers/generic.js';
import { type SignedRequest, freshEvents, signGenericEvent } from '../../lib/providers/generic-sender.js';
import { signStandardWebhook } from '../../lib/providers/standard-webhooks.js';
import { type OfflineServer, startOffline } from '../support/offline.js';

type Wire = GenericEventV1;

interface DecisionBody {
  eventId: string;
  decision: 'approve' | 'hold';
  score: number;
  reasons: { rule: string; message: string }[];
  policyVersion: string;
  degraded: false | string;
}

interface Reply {
  status: number;
  contentType: string | null;
  body: unknown;
}

const root = new URL('../../', import.meta.url);
const readJson = (path: string): unknown => JSON.parse(readFileSync(new URL(path, root), 'utf8'));
const NORMAL = readJson('examples/normal-purchase.json') as Wire;
const ATTACK = readJson('examples/attack-burst.json') as Wire[];
const POLICY = parse(readFileSync(new URL('policies/default.yaml', root), 'utf8')) as { version: string; holdAt: number };
const SECRET = LOCAL_GENERIC_SECRET;
const MAX_BODY_BYTES = 64 * 1024;
const DECISION_KEYS = ['decision', 'degraded', 'eventId', 'policyVersion', 'reasons', 'score'];

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const webhookId = () => `msg_${hex(8)}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** `count` copies of one template, each with an event id of its own (freshEvents keeps the ids distinct per run). */
function copies(template: Wire, count: number): Wire[] {
  return Array.from({ length: count }, (_, i) => ({ ...template, id: `${template.id}_${i + 1}` }));
}

/**
 * Example events made fresh (unique event ids, times ending now) and given entities of their own:
 * account, linked account, instrument and device ids suffixed, each IP replaced by a random one.
 */
function scenario(events: readonly Wire[]): Wire[] {
  const tag = hex(4);
  const ips = new Map<string, string>();
  const ipFor = (ip: string) => {
    let mapped = ips.get(ip);
    if (!mapped) {
      const b = randomBytes(3);
      mapped = `10.${b[0]}.${b[1]}.${b[2]}`;
      ips.set(ip, mapped);
    }
    return mapped;
  };
  return (freshEvents(events) as Wire[]).map((e) => ({
    ...e,
    account: { ...e.account, id: `${e.account.id}-${tag}` },
    ...(e.linkedAccount && { linkedAccount: { ...e.linkedAccount, id: `${e.linkedAccount.id}-${tag}` } }),
    ...(e.instrument && { instrument: { ...e.instrument, id: `${e.instrument.id}-${tag}` } }),
    ...(e.device && { device: { id: `${e.device.id}-${tag}` } }),
    ...(e.ip !== undefined && { ip: ipFor(e.ip) }),
  }));
}

/** A body signed as a sender would, with a chosen secret and timestamp. */
function signBody(body: string, options: { secret?: string; timestamp?: number; path?: string } = {}): SignedRequest {
  return {
    path: options.path ?? '/webhooks/generic',
    headers: {
      'content-type': 'application/json',
      ...signStandardWebhook(options.secret ?? SECRET, webhookId(), body, options.timestamp ?? nowSeconds()),
    },
    body,
  };
}

const reasonFor = (d: DecisionBody, rule: string) => d.reasons.find((r) => r.rule === rule);
const rulesOf = (d: DecisionBody) => d.reasons.map((r) => r.rule);
const isPasswordFree = (e: Wire) => e.authMethod === 'password_free';

/** A request the server must refuse, built from a password-free event it would otherwise score. */
interface RefusalCase {
  readonly name: string;
  readonly status: number;
  readonly code: string;
  readonly message: RegExp;
  /** The refused request carries the event (its account), so it could have been counted. */
  readonly carriesEvent: boolean;
  build(event: Wire): SignedRequest;
}

const REFUSALS: readonly RefusalCase[] = [
  {
    name: 'unparseable body with a valid signature',
    status: 400,
    code: 'invalid_body',
    message: /not valid JSON/,
    carriesEvent: false,
    build: () => signBody('not json'),
  },
  {
    name: 'missing signature headers',
    status: 401,
    code: 'invalid_signature',
    message: /missing header webhook-id, webhook-timestamp, webhook-signature/,
    carriesEvent: true,
    build: (e) => ({ path: '/webhooks/generic', headers: { 'content-type': 'application/json' }, body: JSON.stringify(e) }),
  },
  {
    name: 'signature made with another secret',
    status: 401,
    code: 'invalid_signature',
    message: /does not match/,
    carriesEvent: true,
    build: (e) => signBody(JSON.stringify(e), { secret: `whsec_${randomBytes(32).toString('base64')}` }),
  },
  {
    name: 'body changed after signing',
    status: 401,
    code: 'invalid_signature',
    message: /does not match/,
    carriesEvent: true,
    build: (e) => {
      const signed = signGenericEvent(SECRET, e);
      return { ...signed, body: JSON.stringify({ ...e, amount: { ...e.amount, minor: e.amount.minor + 1 } }) };
    },
  },
  {
    name: 'stale timestamp (10 minutes old)',
    status: 401,
    code: 'invalid_signature',
    message: /too old/,
    carriesEvent: true,
    build: (e) => signBody(JSON.stringify(e), { timestamp: nowSeconds() - 600 }),
  },
  {
    name: 'future timestamp (10 minutes ahead)',
    status: 401,
    code: 'invalid_signature',
    message: /in the future/,
    carriesEvent: true,
    build: (e) => signBody(JSON.stringify(e), { timestamp: nowSeconds() + 600 }),
  },
  {
    name: 'body over 64 KiB with a valid signature',
    status: 413,
    code: 'body_too_large',
    message: new RegExp(`larger than ${MAX_BODY_BYTES} bytes`),
    carriesEvent: true,
    // Valid JSON, validly signed: only its size is wrong.
    build: (e) => signBody(JSON.stringify(e) + ' '.repeat(MAX_BODY_BYTES)),
  },
  {
    name: 'fractional amount.minor',
    status: 422,
    code: 'schema_violation',
    message: /amount\.minor: expected a whole number of minor units/,
    carriesEvent: true,
    build: (e) => signGenericEvent(SECRET, { ...e, amount: { ...e.amount, minor: 3500.5 } }),
  },
  {
    name: 'occurredAt 10 minutes in the future',
    status: 422,
    code: 'schema_violation',
    message: /occurredAt: more than 5 minutes in the future/,
    carriesEvent: true,
    build: (e) => signGenericEvent(SECRET, { ...e, occurredAt: new Date(Date.now() + 600_000).toISOString() }),
  },
  {
    name: 'unknown provider /webhooks/nope',
    status: 404,
    code: 'unknown_provider',
    message: /no provider "nope"/,
    carriesEvent: true,
    build: (e) => ({ ...signGenericEvent(SECRET, e), path: '/webhooks/nope' }),
  },
];

describe.each(['memory', 'redis'] as const)('riskhook under serverless offline, %s store', (store) => {
  let server: OfflineServer | undefined;

  beforeAll(async () => {
    // startOffline removes any inherited REDIS_URL: the memory run really gets the embedded store.
    server = await startOffline({ env: store === 'redis' ? { REDIS_URL: inject('redisUrl') } : {} });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  async function send(request: SignedRequest): Promise<Reply> {
    if (!server) throw new Error('the server did not start');
    const response = await fetch(server.baseUrl + request.path, { method: 'POST', headers: request.headers, body: request.body });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // left as text: the assertions below then show it
    }
    return { status: response.status, contentType: response.headers.get('content-type'), body };
  }

  /** Sends a request that must be scored: 200, a JSON decision, not degraded. */
  async function decide(request: SignedRequest): Promise<DecisionBody> {
    const reply = await send(request);
    expect(reply, JSON.stringify(reply.body)).toMatchObject({ status: 200, contentType: expect.stringMatching(/^application\/json/) });
    const decision = reply.body as DecisionBody;
    expect(decision.degraded).toBe(false);
    return decision;
  }

  const decideEvent = (event: Wire) => decide(signGenericEvent(SECRET, event));

  it(`answers a normal purchase with approve, from the ${store} store`, async () => {
    const [event] = scenario([NORMAL]);
    const reply = await send(signGenericEvent(SECRET, event!));

    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^application\/json/);
    const body = reply.body as DecisionBody;
    expect(Object.keys(body).sort()).toEqual(DECISION_KEYS);
    expect(body).toEqual({
      eventId: event!.id,
      decision: 'approve',
      score: 0,
      reasons: [],
      policyVersion: POLICY.version,
      degraded: false,
    });
    // The runtime says which store it built (on its first request).
    await expect
      .poll(() => server!.logs().find((r) => r.message === 'riskhook ready')?.store, { timeout: 5_000 })
      .toBe(store);
  });

  it('approves the victim’s history and holds the attack burst, naming the password-free quota rules', async () => {
    const events = scenario(ATTACK);
    const decisions: DecisionBody[] = [];
    for (const event of events) decisions.push(await decideEvent(event)); // in order: each sees the ones before

    expect(decisions.map((d) => d.eventId)).toEqual(events.map((e) => e.id));
    expect(decisions.map((d) => d.decision)).toEqual(['approve', 'approve', 'hold', 'hold', 'hold', 'hold', 'hold']);
    for (const d of decisions.slice(0, 2)) expect(d.score).toBeLessThan(POLICY.holdAt);
    decisions.slice(2).forEach((d, i) => {
      const upTo = events.slice(0, i + 3);
      const spent = upTo.filter(isPasswordFree).reduce((sum, e) => sum + e.amount.minor, 0);
      expect(d.score).toBeGreaterThanOrEqual(POLICY.holdAt);
      expect(rulesOf(d)).toEqual(expect.arrayContaining(['pf-quota-account', 'pf-quota-linked-account']));
      // The counts behind the rule: every password-free charge so far, each once.
      expect(reasonFor(d, 'pf-quota-account')?.message).toBe(
        `password-free spend by this account is ${spent} fen in 24 h, over the 2,000 CNY quota`,
      );
    });
    // Five password-free charges from the attacker's (untrusted) device within ten minutes by the end.
    expect(reasonFor(decisions.at(-1)!, 'pf-burst-untrusted-severe')?.message).toBe('5 password-free charges from untrusted devices in 10 minutes');
  });

  /**
   * A second password-free charge within 10 minutes from a device the account does not trust fires
   * pf-burst-untrusted (score 40) with its count. After the first charge was delivered several
   * times, the second must count exactly 2, and the third exactly 3.
   */
  async function expectCountedOnce(second: Wire, third: Wire) {
    const afterRetries = await decideEvent(second);
    expect(afterRetries.decision).toBe('approve');
    expect(afterRetries.reasons.map((r) => r.message)).toEqual(['2 password-free charges from untrusted devices in 10 minutes']);
    const next = await decideEvent(third);
    expect(reasonFor(next, 'pf-burst-untrusted')?.message).toBe('3 password-free charges from untrusted devices in 10 minutes');
    expect(rulesOf(next)).not.toContain('pf-burst-untrusted-severe');
  }

  it('answers a retried event with the decision it gave, and counts it once', async () => {
    const [first, second, third] = scenario(copies(NORMAL, 3));
    const delivery = signGenericEvent(SECRET, first!, webhookId());
    const original = await decide(delivery);
    expect(original).toMatchObject({ eventId: first!.id, decision: 'approve', reasons: [] });

    const retries = [
      signGenericEvent(SECRET, first!, delivery.headers['webhook-id']), // the same webhook-id, signed again
      signGenericEvent(SECRET, first!),
      signGenericEvent(SECRET, first!),
    ];
    for (const retry of retries) {
      expect(retry.body).toBe(delivery.body);
      expect(await decide(retry)).toEqual(original);
    }

    await expectCountedOnce(second!, third!);
    // Still the stored decision, not a new score over today's counts.
    expect(await decide(signGenericEvent(SECRET, first!))).toEqual(original);
  });

  it('answers five concurrent deliveries of one event alike, and counts it once', async () => {
    const [first, second, third] = scenario(copies(NORMAL, 3));
    const delivery = signGenericEvent(SECRET, first!);
    const replies = await Promise.all(Array.from({ length: 5 }, () => send(delivery)));

    for (const reply of replies) {
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      expect(reply.body).toEqual(replies[0]!.body);
    }
    expect(replies[0]!.body).toMatchObject({ eventId: first!.id, decision: 'approve', reasons: [], degraded: false });

    await expectCountedOnce(second!, third!);
  });

  it.each(REFUSALS)('refuses $name with $status $code', async ({ build, status, code, message }) => {
    const [event] = scenario([NORMAL]);
    const reply = await send(build(event!));

    expect(reply.status, JSON.stringify(reply.body)).toBe(status);
    expect(reply.contentType).toMatch(/^application\/json/);
    const body = reply.body as { error: { code: string; message: string } };
    expect(Object.keys(body)).toEqual(['error']);
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
    expect(body.error.code).toBe(code);
    expect(body.error.message).toMatch(message);
  });

  it('accepts a padded body of exactly 64 KiB (the 413 is about size alone)', async () => {
    const [event] = scenario([NORMAL]);
    const json = JSON.stringify(event);
    const decision = await decide(signBody(json + ' '.repeat(MAX_BODY_BYTES - Buffer.byteLength(json))));
    expect(decision).toMatchObject({ eventId: event!.id, decision: 'approve' });
  });

  it('counts nothing for refused requests', async () => {
    const carrying = REFUSALS.filter((c) => c.carriesEvent);
    expect(carrying.length).toBeGreaterThanOrEqual(3);
    const events = scenario(copies(NORMAL, carrying.length + 3));
    const refused = events.slice(0, carrying.length);
    const [first, second, third] = events.slice(carrying.length);

    for (const [i, refusal] of carrying.entries()) {
      expect((await send(refusal.build(refused[i]!))).status).toBe(refusal.status);
    }
    // Had any of them been counted, the second valid charge would already be a burst.
    const firstValid = await decideEvent(first!);
    expect(firstValid).toMatchObject({ decision: 'approve', reasons: [] });
    await expectCountedOnce(second!, third!);
  });
});
