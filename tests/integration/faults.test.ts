/**
 * Redis faults, through the Lambda handler, on a private redis-server each test starts and
 * controls: stopped before requests, stopped in the middle of a burst, frozen (SIGSTOP) and resumed,
 * slow (DEBUG SLEEP and CLIENT PAUSE past the deadline), restarted empty (scripts reload), scripts
 * flushed (NOSCRIPT). Two runtimes share each server, one per RISKHOOK_ON_STORE_FAILURE (hold and
 * approve), each under a steady stream of concurrent requests, every one a new event.
 *
 * For every fault:
 * - every request is answered 200 within the deadline plus SLACK_MS, whatever Redis does;
 * - an answer without velocity is the configured fallback, marked degraded with the reason, and
 *   counted in the degradedDecisions metric (EMF, captured from stdout) under that reason;
 * - the same runtime objects answer with velocity again within 2 s of Redis coming back;
 * - Redis holds no half-applied entity update: each entity of each event has its marker, its
 *   first-seen time, its related entities and exactly its count and amount at every bucket
 *   resolution, or none of them; every answer with velocity was counted on all its entities;
 * - each event's retry, once its claim is stale, is answered with velocity (the stored decision
 *   when there was one) and counts nothing twice: afterwards every entity counts exactly its events.
 */
import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EntityKind } from '../../lib/events.js';
import type { Runtime } from '../../lib/runtime.js';
import type { VelocityStore } from '../../lib/velocity/store.js';
import { ControlledRedis, bucketTotals, pool } from '../support/redis-control.js';
import { firstSeenOf, keepEverythingPolicy } from '../support/stores.js';
import { type Wire, type WireShape, newRun, rawId, wireEvent } from '../support/wire-events.js';

const DEADLINE_MS = 300;
/**
 * decide() answers the fallback at the deadline minus a 10 ms margin (290 ms); what comes on top is
 * timer lateness and event-loop lag, with 2 x WORKERS requests in flight on a 2-core machine shared
 * with other test runs and redis-server: measured at most ~35 ms (answers in 321 ms at worst, with
 * the whole suite running alongside). 150 ms leaves room for a loaded machine and still catches a
 * request that waited on anything else: the next timeout in line, ioredis's own command timeout
 * (= the deadline), would show as 600 ms.
 */
const SLACK_MS = 150;
/** Claims go stale after max(2 x deadline, 2 s) (lib/config.ts): when a timed-out request's retry takes over. */
const CLAIM_STALE_MS = 2_000;
/** A claim carries the time its request claimed it, a few ms after the request started: wait this much more. */
const STALE_MARGIN_MS = 200;
const RECOVERY_LIMIT_MS = 2_000;
/**
 * Degraded reasons when Redis is killed. duplicate_in_flight is rare but right: a claim that Redis
 * wrote (and fsynced) whose reply died with the connection is sent again on reconnect by ioredis,
 * finds its own pending claim, and the request waits for a decision nobody is making.
 */
const KILLED_REASONS = ['store_unavailable', 'store_timeout', 'duplicate_in_flight'];
/** Concurrent requests per runtime, each followed by a pause: a steady burst the machine can carry. */
const WORKERS = 8;
const PAUSE_MS = 40;
/** How long requests keep coming after Redis is back (recovery must happen well within it). */
const AFTER_BACK_MS = 2_300;

type Lib = {
  config: typeof import('../../lib/config.js');
  decide: typeof import('../../lib/decide.js');
  runtime: typeof import('../../lib/runtime.js');
  http: typeof import('../../lib/http.js');
  sender: typeof import('../../lib/providers/generic-sender.js');
  redis: typeof import('../../lib/velocity/redis.js');
  store: typeof import('../../lib/velocity/store.js');
};
let lib: Lib;
/** EMF records Powertools wrote to stdout (metrics only: logs stay silent). */
const emf: Record<string, unknown>[] = [];
const report: string[] = [];
const realLog = console.log.bind(console);

beforeAll(async () => {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_DEV', 'true'); // Powertools writes through the global console, where we read it
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      const line = args.map(String).join(' ');
      if (line.includes('CloudWatchMetrics')) emf.push(JSON.parse(line) as Record<string, unknown>);
    });
  }
  vi.resetModules();
  lib = {
    config: await import('../../lib/config.js'),
    decide: await import('../../lib/decide.js'),
    runtime: await import('../../lib/runtime.js'),
    http: await import('../../lib/http.js'),
    sender: await import('../../lib/providers/generic-sender.js'),
    redis: await import('../../lib/velocity/redis.js'),
    store: await import('../../lib/velocity/store.js'),
  };
});
afterAll(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  if (process.env.FAULTS_REPORT) realLog(`\n${report.join('\n')}`);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

interface Answer {
  eventId: string;
  decision: 'approve' | 'hold';
  score: number;
  reasons: { rule: string; message: string }[];
  policyVersion: string;
  degraded: false | string;
}

/** One runtime (one Redis client, one fallback) and its stream of new events. */
interface Lane {
  readonly mode: 'hold' | 'approve';
  readonly label: string;
  readonly runtime: Runtime;
  /** The runtime's Redis client (to disconnect it at the end whatever state Redis is in). */
  readonly client: Redis;
  readonly handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
  readonly secret: string;
  readonly run: string;
  readonly net: string;
  next: number;
}

interface Sample {
  readonly lane: Lane;
  readonly wire: Wire;
  readonly request: APIGatewayProxyEventV2;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ms: number;
  readonly status: number;
  readonly raw: string;
  readonly answer: Answer;
}

/** A runtime as a container builds it; `wrap` lets a test act between two store calls (the store stays the real one). */
function makeLane(mode: Lane['mode'], url: string, label: string = mode, wrap?: (store: VelocityStore) => VelocityStore): Lane {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const config = lib.config.loadConfig({
    GENERIC_WEBHOOK_SECRETS: secret,
    RISKHOOK_PEPPER: randomBytes(16).toString('hex'),
    REDIS_URL: url,
    RISKHOOK_DEADLINE_MS: String(DEADLINE_MS),
    RISKHOOK_ON_STORE_FAILURE: mode,
    RISKHOOK_STAGE: 'test',
    // The default policy keeping every counter, so readState can check each of them.
    RISKHOOK_POLICY: keepEverythingPolicy(),
  });
  expect(config.limits.claimStaleMs).toBe(CLAIM_STALE_MS);
  const store = lib.runtime.createStore(config) as InstanceType<Lib['redis']['RedisVelocityStore']>;
  const client = store.client as Redis;
  const runtime = lib.runtime.createRuntime(config, wrap ? wrap(store) : store);
  // One runtime object for the whole test: recovery must happen without a restart.
  const handler = lib.http.createWebhookHandler(() => runtime);
  return { mode, label, runtime, client, handler, secret, ...newRun(), next: 0 };
}

/** Every entity an event's own, except the lane's one merchant (a hot key every event touches). */
const OWN_ENTITIES: WireShape = {
  shared: { account: 1, linkedAccount: 1, instrument: 1, device: 1, ip: 1 },
  merchants: 1,
  amountMinor: (i) => 1_000 + i,
  twoFactor: () => true,
};
const newEvent = (lane: Lane): Wire => wireEvent(lane.run, lane.net, new Date().toISOString(), lane.next++, OWN_ENTITIES);

const OWN_KINDS = ['account', 'linkedAccount', 'device', 'ip', 'instrument'] as const;

async function send(lane: Lane, wire: Wire, request?: APIGatewayProxyEventV2): Promise<Sample> {
  const req = request ?? (lib.sender.apiGatewayEvent(lib.sender.signGenericEvent(lane.secret, wire)) as unknown as APIGatewayProxyEventV2);
  const startedAt = Date.now();
  const t0 = performance.now();
  const res = await lane.handler(req);
  const ms = performance.now() - t0;
  return { lane, wire, request: req, startedAt, endedAt: Date.now(), ms, status: res.statusCode ?? 0, raw: res.body ?? '', answer: JSON.parse(res.body ?? 'null') as Answer };
}

/** WORKERS concurrent senders per lane, each sending a new event, pausing, and again, until stopped. */
function drive(lanes: readonly Lane[]) {
  const samples: Sample[] = [];
  let stopped = false;
  const done = Promise.all(
    lanes.flatMap((lane) =>
      Array.from({ length: WORKERS }, async (_, w) => {
        await sleep((w * PAUSE_MS) / WORKERS); // staggered
        while (!stopped) {
          samples.push(await send(lane, newEvent(lane)));
          await sleep(PAUSE_MS);
        }
      }),
    ),
  );
  return {
    samples,
    stop: async () => {
      stopped = true;
      await done;
      return samples;
    },
  };
}

interface FaultCase {
  readonly server: ControlledRedis;
  readonly lanes: Lane[];
  readonly samples: Sample[];
  readonly emfFrom: number;
}

async function openCase(options: { persistent?: boolean; wrap?: (store: VelocityStore, server: ControlledRedis) => VelocityStore } = {}): Promise<FaultCase> {
  const server = await ControlledRedis.start({ persistent: options.persistent ?? false });
  const wrap = options.wrap && ((store: VelocityStore) => options.wrap!(store, server));
  const lanes = [makeLane('hold', server.url, 'hold', wrap), makeLane('approve', server.url, 'approve', wrap)];
  const emfFrom = emf.length;
  const samples: Sample[] = [];
  // Warm: connected, scripts loaded, answers with velocity.
  for (const lane of lanes) {
    const warm = await send(lane, newEvent(lane));
    expect(warm.answer.degraded).toBe(false);
    samples.push(warm);
  }
  return { server, lanes, samples, emfFrom };
}

async function closeCase(c: FaultCase): Promise<void> {
  c.server.resume();
  for (const lane of c.lanes) lane.client.disconnect();
  await c.server.close();
}

interface Expectations {
  /** Degraded reasons this fault may produce. */
  readonly reasons: readonly string[];
  readonly faultAt: number;
  /** When Redis was answering again. */
  readonly backAt: number;
  /** Redis lost everything at faultAt (restarted empty): only what started after backAt must be there. */
  readonly dataLost?: boolean;
}

/**
 * Everything a fault must leave true, and a line for the report. `traffic` are the samples of the
 * fault window (the driver ran before, during and AFTER_BACK_MS after it).
 */
async function verify(name: string, c: FaultCase, traffic: readonly Sample[], x: Expectations): Promise<void> {
  const first = [...c.samples, ...traffic];
  checkAnswers(first, x.reasons);

  // The fault hit every lane, and every lane recovered within the limit: after the first answer
  // with velocity that follows its last degraded one, all answers have velocity.
  const recovery: string[] = [];
  for (const lane of c.lanes) {
    const mine = first.filter((s) => s.lane === lane).sort((a, b) => a.startedAt - b.startedAt);
    expect(mine.filter((s) => s.answer.degraded !== false).length, `${lane.label}: degraded answers`).toBeGreaterThan(0);
    const lastDegraded = mine.findLastIndex((s) => s.answer.degraded !== false);
    const recovered = mine[lastDegraded + 1];
    expect(recovered, `${lane.label}: an answer with velocity after the fault`).toBeDefined();
    expect(mine.length - lastDegraded - 1, `${lane.label}: answers with velocity after recovery`).toBeGreaterThanOrEqual(10);
    const ms = Math.max(0, recovered!.endedAt - x.backAt);
    const since = mine
      .filter((s) => s.answer.degraded !== false && s.endedAt > x.backAt)
      .map((s) => `+${s.startedAt - x.backAt}..+${s.endedAt - x.backAt} ms ${s.answer.degraded}`);
    expect(ms, `${lane.label}: recovery after Redis came back (ms); degraded answers since: ${since.join(', ')}`).toBeLessThanOrEqual(RECOVERY_LIMIT_MS);
    recovery.push(`${lane.label} ${ms} ms`);
  }

  // Redis: no half-applied entity; every answer with velocity counted everywhere.
  const admin = new Redis(c.server.url);
  try {
    const lostOk = (s: Sample) => x.dataLost === true && s.startedAt < x.backAt;
    const before = await readState(admin, first, lostOk);
    let lateEntities = 0;
    let splitEvents = 0;
    for (const s of first) {
      const counted = before.get(s)!;
      const withVelocity = s.answer.degraded === false && (!x.dataLost || s.startedAt >= x.backAt);
      if (withVelocity) expect(counted, `${s.wire.id} answered with velocity`).toEqual(Array(OWN_KINDS.length + 1).fill(true));
      if (s.answer.degraded !== false) lateEntities += counted.filter(Boolean).length;
      if (new Set(counted).size > 1) splitEvents += 1;
    }

    // Retries, once every claim of the fault is stale: with velocity, the stored decision if any, nothing counted twice.
    const lastDegraded = Math.max(...first.filter((s) => s.answer.degraded !== false).map((s) => s.startedAt));
    await sleep(lastDegraded + CLAIM_STALE_MS + STALE_MARGIN_MS - Date.now());
    const retries = await pool(first, 2 * WORKERS, (s) => send(s.lane, s.wire, s.request));
    checkAnswers(retries, []);
    retries.forEach((r, i) => {
      const s = first[i]!;
      const kept = s.answer.degraded === false && (!x.dataLost || s.startedAt >= x.backAt);
      if (kept) expect(r.raw, `retry of ${s.wire.id}: the stored decision`).toBe(s.raw);
    });
    // Counted once on every entity. After an empty restart, an event from before it may stay uncounted: its counts
    // went with the old server, but its decision reached the new one (a command resent on reconnect), so its retry
    // is answered that decision and counts nothing; still, nothing is half-applied or counted twice (readState).
    const after = await readState(admin, first, lostOk);
    let lost = 0;
    for (const s of first) {
      if (!x.dataLost || s.startedAt >= x.backAt) expect(after.get(s), `${s.wire.id} after its retry`).toEqual(Array(OWN_KINDS.length + 1).fill(true));
      else if (after.get(s)!.includes(false)) lost += 1;
    }

    // The degradedDecisions metric counted every degraded answer, under its reason, but for duplicate deliveries
    // (duplicate_in_flight): those count as duplicateDeliveries, as do retries answered with the stored decision.
    const all = [...first, ...retries];
    const byReason = (reasons: (string | false)[]) =>
      Object.fromEntries([...new Set(reasons)].filter((r) => r !== false).sort().map((r) => [r, reasons.filter((x) => x === r).length]));
    const metrics = emf.slice(c.emfFrom);
    expect(byReason(metrics.filter((m) => 'degradedDecisions' in m).map((m) => m.reason as string))).toEqual(
      byReason(all.map((s) => s.answer.degraded).filter((d) => d !== 'duplicate_in_flight')),
    );
    expect(metrics.filter((m) => 'decisions' in m || 'duplicateDeliveries' in m).length).toBe(all.length);

    const degraded = first.filter((s) => s.answer.degraded !== false);
    report.push(
      `${name}: ${first.length} requests, ${degraded.length} degraded (${JSON.stringify(byReason(first.map((s) => s.answer.degraded)))}), ` +
        `max ${Math.max(...first.map((s) => s.ms)).toFixed(0)} ms (degraded max ${Math.max(...degraded.map((s) => s.ms)).toFixed(0)} ms), ` +
        `retries max ${Math.max(...retries.map((s) => s.ms)).toFixed(0)} ms; fault ${x.backAt - x.faultAt} ms; ` +
        `recovered ${recovery.join(', ')} after Redis was back; ` +
        `${lateEntities} entity updates applied after a degraded answer, ${splitEvents} events counted on part of their entities before the retry` +
        (x.dataLost ? `, ${lost} events from before the restart left uncounted (decision kept, counts lost)` : ''),
    );
  } finally {
    admin.disconnect();
  }
}

/** 200, within the deadline plus slack; a degraded answer is the lane's fallback, with its reason. */
function checkAnswers(samples: readonly Sample[], reasons: readonly string[]): void {
  for (const s of samples) {
    expect(s.status, `${s.wire.id}: ${s.raw.slice(0, 200)}`).toBe(200);
    expect(s.ms, `${s.wire.id} answered in`).toBeLessThanOrEqual(DEADLINE_MS + SLACK_MS);
    expect(s.answer.eventId).toBe(s.wire.id);
    if (s.answer.degraded === false) continue;
    expect(reasons, `${s.wire.id}: degraded reason`).toContain(s.answer.degraded);
    expect(s.answer.decision).toBe(s.lane.mode);
    expect(s.answer.reasons[0]).toEqual({
      rule: 'store-failure',
      message: `velocity unavailable (${s.answer.degraded}); fallback is ${s.lane.mode}`,
    });
  }
}

/**
 * Per event, whether each of its own entities (and, last, the shared merchant) counted it. Throws
 * when an entity is half-applied: on one node an event is counted by one script, its marker folded
 * into its decision record, so its first-seen time, related sets and exactly one event's count and
 * amount at every bucket resolution go together for all its entities. The merchant, which every
 * event of a lane touches, must count exactly the events counted.
 */
async function readState(admin: Redis, samples: readonly Sample[], lostOk: (s: Sample) => boolean = () => false): Promise<Map<Sample, boolean[]>> {
  const { keys, KIND_CODE, RELATIONS } = { ...lib.redis, ...lib.store };
  const tag = (s: Sample, kind: EntityKind) => keys.tag({ kind, key: s.lane.runtime.hasher.entity(kind, rawId(s.wire, kind)) });
  const eventKey = (s: Sample) => s.lane.runtime.hasher.event('generic', s.wire.id);
  const read = admin.pipeline();
  for (const s of samples) {
    read.get(keys.decision(eventKey(s)));
    for (const kind of OWN_KINDS) {
      read.hgetallBuffer(keys.buckets(tag(s, kind)));
      for (const relation of RELATIONS[kind]) read.zcard(keys.related(tag(s, kind), KIND_CODE[relation]));
    }
  }
  const replies = (await read.exec())!.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const resolutions = (lane: Lane) => lane.runtime.config.limits.windows.map((w) => String(w.bucketMs / 1_000));
  const state = new Map<Sample, boolean[]>();
  let at = 0;
  for (const s of samples) {
    const record = replies[at++] as string | null;
    // "P<ms>" claimed only; "P<ms>|<flags>" counted; a decision (JSON) counted and decided.
    const marked = record !== null && (record.includes('|') || !record.startsWith('P'));
    const plan = s.lane.runtime.config.policy.plan;
    const counted = OWN_KINDS.map((kind) => {
      const hash = replies[at++] as Record<string, Buffer>;
      let related = 0;
      for (const _ of RELATIONS[kind]) related += replies[at++] as number;
      const pf = s.wire.authMethod === 'password_free';
      const one = { n: 1, a: s.wire.amount.minor, p: pf ? 1 : 0, q: pf ? s.wire.amount.minor : 0 };
      const totals = bucketTotals(hash, plan.entities[kind]!);
      const entity = `${s.wire.id} ${kind}`;
      // After an empty restart, an event counted on the old server may have its decision resent to the new one
      // (ioredis resends an unanswered command on reconnect): decided, its counts gone with the old server.
      if (marked && lostOk(s) && Object.keys(hash).length === 0 && related === 0) return false;
      if (marked) {
        expect(firstSeenOf(hash), `${entity}: first seen`).toBe(Date.parse(s.wire.occurredAt));
        for (const res of resolutions(s.lane)) expect(totals.get(res), `${entity} @${res}s`).toEqual(one);
        expect(related, `${entity}: related entities`).toBe(kind === 'account' ? 4 : 2);
      } else {
        expect({ hash, related }, `${entity}: no marker, yet counted`).toEqual({ hash: {}, related: 0 });
      }
      return marked;
    });
    // Lost or not, all or nothing: no event is counted on part of its entities.
    if (marked && counted.includes(false)) expect(counted, `${s.wire.id}: counts lost on part of its entities`).toEqual(counted.map(() => false));
    counted.push(marked && !counted.includes(false));
    state.set(s, counted);
  }
  // The shared merchant of each lane: exactly the events counted.
  const lanes = [...new Set(samples.map((s) => s.lane))];
  const merchants = await Promise.all(lanes.map((lane) => admin.hgetallBuffer(keys.buckets(tag(samples.find((s) => s.lane === lane)!, 'merchant')))));
  lanes.forEach((lane, l) => {
    const marked = samples.filter((s) => s.lane === lane && state.get(s)!.at(-1));
    const want = marked.length === 0 ? undefined : { n: marked.length, a: marked.reduce((sum, s) => sum + s.wire.amount.minor, 0) };
    for (const res of resolutions(lane)) {
      const got = bucketTotals(merchants[l]!, lane.runtime.config.policy.plan.entities.merchant!).get(res);
      expect(got && { n: got.n, a: got.a }, `${lane.label} merchant @${res}s`).toEqual(want);
    }
  });
  return state;
}

describe(`Redis faults through the handler (deadline ${DEADLINE_MS} ms, fallback hold and approve)`, () => {
  it('Redis stopped before requests arrive (warm and cold clients), then started again with its data', async () => {
    const c = await openCase({ persistent: true });
    try {
      await c.server.stop();
      const faultAt = Date.now();
      // A container that starts while Redis is down: its first request ever meets the outage.
      const cold = makeLane('hold', c.server.url, 'hold, cold');
      c.lanes.push(cold);
      const traffic = drive(c.lanes);
      await sleep(1_000);
      await c.server.start();
      const backAt = Date.now();
      await sleep(AFTER_BACK_MS);
      await verify('stopped before requests', c, await traffic.stop(), { reasons: KILLED_REASONS, faultAt, backAt });
    } finally {
      await closeCase(c);
    }
  });

  it('Redis stopped in the middle of a burst, then started again with its data', async () => {
    const c = await openCase({ persistent: true });
    try {
      const traffic = drive(c.lanes);
      await sleep(400);
      const faultAt = Date.now();
      await c.server.stop();
      await sleep(800);
      await c.server.start();
      const backAt = Date.now();
      await sleep(AFTER_BACK_MS);
      await verify('stopped mid-burst', c, await traffic.stop(), { reasons: KILLED_REASONS, faultAt, backAt });
    } finally {
      await closeCase(c);
    }
  });

  it('Redis frozen (SIGSTOP) during a burst, then resumed (SIGCONT)', async () => {
    const c = await openCase();
    try {
      const traffic = drive(c.lanes);
      await sleep(400);
      const faultAt = Date.now();
      await c.server.freeze();
      await sleep(1_000);
      c.server.resume();
      const backAt = Date.now();
      await sleep(AFTER_BACK_MS);
      await verify('frozen and resumed', c, await traffic.stop(), { reasons: ['store_timeout'], faultAt, backAt });
    } finally {
      await closeCase(c);
    }
  });

  it('Redis slow: commands delayed past the deadline (DEBUG SLEEP, CLIENT PAUSE WRITE)', async () => {
    const c = await openCase();
    const admin = new Redis(c.server.url);
    try {
      const traffic = drive(c.lanes);
      await sleep(400);
      const faultAt = Date.now();
      await admin.call('DEBUG', 'SLEEP', '0.5');
      // Writes (and scripts) wait, reads pass: claims and counts time out while stored decisions can be read.
      await admin.client('PAUSE', 500, 'WRITE');
      await sleep(500);
      await admin.call('DEBUG', 'SLEEP', '0.5');
      const backAt = Date.now();
      await sleep(AFTER_BACK_MS);
      await verify('slow', c, await traffic.stop(), { reasons: ['store_timeout'], faultAt, backAt });
    } finally {
      admin.disconnect();
      await closeCase(c);
    }
  });

  it('Redis restarted empty during a burst: the library is loaded again, counting resumes', async () => {
    const c = await openCase();
    const admin = new Redis(c.server.url);
    try {
      const traffic = drive(c.lanes);
      await sleep(400);
      const faultAt = Date.now();
      await c.server.stop();
      await sleep(500);
      await c.server.start({ empty: true });
      const backAt = Date.now();
      await sleep(AFTER_BACK_MS);
      const samples = await traffic.stop();
      // The new server knows the velocity library only because the clients loaded it again.
      expect(await velocityLibraries(admin, c.lanes)).toEqual(c.lanes.map(() => true));
      await verify('restarted empty', c, samples, { reasons: ['store_unavailable', 'store_timeout'], faultAt, backAt, dataLost: true });
    } finally {
      admin.disconnect();
      await closeCase(c);
    }
  });
});

/** The event the handler would score for this wire event (same adapter, same mapping), for direct decide() calls. */
function paymentEvent(lane: Lane, wire: Wire) {
  const request = lib.sender.apiGatewayEvent(lib.sender.signGenericEvent(lane.secret, wire)) as unknown as APIGatewayProxyEventV2;
  const verified = lane.runtime.adapters.get('generic')!.verify(lib.http.rawRequest(request, lane.runtime.config.maxBodyBytes, Date.now()));
  if (verified.kind !== 'score') throw new Error(`not a payment: ${verified.kind}`);
  return verified.event;
}

/** The real store with some calls wrapped: lets a test act at an exact point between two store calls. */
function delegate(store: VelocityStore, overrides: Partial<Pick<VelocityStore, 'claim' | 'record' | 'readDecision'>>): VelocityStore {
  return {
    name: store.name,
    claim: overrides.claim ?? ((eventKey, now) => store.claim(eventKey, now)),
    record: overrides.record ?? ((request) => store.record(request)),
    commit: (request) => store.commit(request),
    readDecision: overrides.readDecision ?? ((eventKey) => store.readDecision(eventKey)),
    saveDecision: (eventKey, decision) => store.saveDecision(eventKey, decision),
    recordBinding: (request) => store.recordBinding(request),
    close: () => store.close(),
  };
}

describe('counts that land after the deadline', () => {
  it('Redis frozen between the claim and the count: the fallback answers, the counts land on resume, once, and the retry adds nothing', async () => {
    const BURST = 10; // per lane
    let armed = false;
    let arrived = 0;
    let allArrived!: () => void;
    const arrival = new Promise<void>((resolve) => (allArrived = resolve));
    let freezing: Promise<void> | undefined;
    const sentLate = new Set<string>();
    const c = await openCase({
      // While armed, counts wait until every request of the burst has its claim (or 100 ms), then Redis
      // freezes and they are sent: they all reach a stopped server.
      wrap: (store, server) =>
        delegate(store, {
          record: async (request) => {
            if (armed) {
              if (++arrived === 2 * BURST) allArrived();
              freezing ??= Promise.race([arrival, sleep(100)]).then(() => server.freeze());
              await freezing;
              sentLate.add(request.eventKey);
            }
            return store.record(request);
          },
        }),
    });
    const admin = new Redis(c.server.url);
    try {
      const all = (samples: readonly Sample[]) => [...c.samples, ...samples];
      armed = true;
      const faultAt = Date.now();
      const burst = await Promise.all(c.lanes.flatMap((lane) => Array.from({ length: BURST }, () => send(lane, newEvent(lane)))));
      armed = false;
      checkAnswers(burst, ['store_timeout']);
      expect(burst.filter((s) => s.answer.degraded !== 'store_timeout')).toEqual([]);
      await sleep(faultAt + 500 - Date.now());
      c.server.resume();
      const backAt = Date.now();

      // Every count sent to the frozen server landed on resume, whole on each entity, although its request had its answer.
      const eventKey = (s: Sample) => s.lane.runtime.hasher.event('generic', s.wire.id);
      for (const lane of c.lanes) expect(burst.filter((s) => s.lane === lane && sentLate.has(eventKey(s))).length, `${lane.label}: counts sent late`).toBeGreaterThan(0);
      const landed = await readState(admin, all(burst));
      for (const s of burst) expect(landed.get(s), s.wire.id).toEqual(Array(OWN_KINDS.length + 1).fill(sentLate.has(eventKey(s))));

      // A retry while the claim is fresh waits for a decision that never comes: degraded, within the deadline, counts nothing.
      const early = await Promise.all(burst.map((s) => send(s.lane, s.wire, s.request)));
      checkAnswers(early, ['duplicate_in_flight']);
      expect(early.filter((s) => s.answer.degraded !== 'duplicate_in_flight')).toEqual([]);
      expect(await readState(admin, all(burst))).toEqual(landed);

      // Once the claims are stale, the retry takes over: scored with velocity, counted once in all.
      await sleep(Math.max(...burst.map((s) => s.startedAt)) + CLAIM_STALE_MS + STALE_MARGIN_MS - Date.now());
      const late = await Promise.all(burst.map((s) => send(s.lane, s.wire, s.request)));
      const fresh = await Promise.all(c.lanes.map((lane) => send(lane, newEvent(lane))));
      checkAnswers([...late, ...fresh], []);
      const final = await readState(admin, all([...burst, ...fresh]));
      for (const s of all([...burst, ...fresh])) expect(final.get(s), s.wire.id).toEqual(Array(OWN_KINDS.length + 1).fill(true));
      const everything = [...all(burst), ...early, ...late, ...fresh];
      const metrics = emf.slice(c.emfFrom);
      // Duplicate deliveries (duplicate_in_flight) count as duplicateDeliveries, not as degraded decisions.
      expect(metrics.filter((m) => 'degradedDecisions' in m).map((m) => m.reason).sort()).toEqual(
        everything.filter((s) => s.answer.degraded !== false && s.answer.degraded !== 'duplicate_in_flight').map((s) => s.answer.degraded).sort(),
      );
      expect(metrics.filter((m) => 'duplicateDeliveries' in m).length).toBeGreaterThanOrEqual(early.length);
      report.push(
        `late counts: ${burst.length} requests answered store_timeout (max ${Math.max(...burst.map((s) => s.ms)).toFixed(0)} ms), ` +
          `${burst.filter((s) => sentLate.has(eventKey(s))).length} of them counted on resume; early retries duplicate_in_flight ` +
          `(max ${Math.max(...early.map((s) => s.ms)).toFixed(0)} ms); stale retries with velocity (max ${Math.max(...late.map((s) => s.ms)).toFixed(0)} ms); ` +
          `fault ${backAt - faultAt} ms`,
      );
    } finally {
      admin.disconnect();
      await closeCase(c);
    }
  });
  it('a claim answered only at the deadline: nothing more is sent to Redis, the fallback answers', async () => {
    const server = await ControlledRedis.start();
    const admin = new Redis(server.url);
    const lane = makeLane('hold', server.url);
    try {
      const { config, hasher, store } = lane.runtime;
      // The clock moves past the deadline while the claim is on its way (as a stalled event loop would).
      let offset = 0;
      const late = delegate(store, {
        claim: async (eventKey, now) => {
          const claim = await store.claim(eventKey, now);
          offset += DEADLINE_MS;
          return claim;
        },
      });
      const wire = newEvent(lane);
      const deps = { store: late, policy: config.policy, hasher, deadlineMs: DEADLINE_MS, onStoreFailure: 'hold' as const, now: () => Date.now() + offset };
      expect(await lib.decide.decide(paymentEvent(lane, wire), deps)).toMatchObject({ decision: 'hold', degraded: 'store_timeout' });
      await sleep(100);
      const eventKey = hasher.event('generic', wire.id);
      expect(await admin.get(lib.redis.keys.decision(eventKey))).toMatch(/^P\d+$/); // the claim, and nothing after it
      expect(await admin.keys('rh:{[^e]*')).toEqual([]); // no entity was counted
    } finally {
      lane.client.disconnect();
      admin.disconnect();
      await server.close();
    }
  });
});

describe('a duplicate while the first delivery holds the claim', () => {
  it('answers duplicate_in_flight when it runs out of time waiting, even with a read still on its way', async () => {
    const server = await ControlledRedis.start();
    const lane = makeLane('approve', server.url);
    try {
      const { config, hasher, store } = lane.runtime;
      const wire = newEvent(lane);
      const event = paymentEvent(lane, wire);
      expect(await store.claim(hasher.event(event.provider, event.id), Date.now())).toEqual({ state: 'claimed' }); // the first delivery, still deciding
      // Every read of the decision answers only after the deadline (a slow read, or a timer that fired late).
      const slowReads = delegate(store, { readDecision: async (eventKey) => (await sleep(DEADLINE_MS), store.readDecision(eventKey)) });
      const deps = { store: slowReads, policy: config.policy, hasher, deadlineMs: DEADLINE_MS, onStoreFailure: 'approve' as const };
      const started = Date.now();
      expect(await lib.decide.decide(event, deps)).toMatchObject({ decision: 'approve', degraded: 'duplicate_in_flight' });
      expect(Date.now() - started).toBeLessThanOrEqual(DEADLINE_MS + SLACK_MS);
    } finally {
      lane.client.disconnect();
      await server.close();
    }
  });
});

describe('scripts and functions flushed while connected (SCRIPT FLUSH, FUNCTION FLUSH)', () => {
  it('answers with velocity straight away: the client loads the library again', async () => {
    const c = await openCase();
    const admin = new Redis(c.server.url);
    try {
      await admin.script('FLUSH');
      await admin.function('FLUSH');
      const samples = await Promise.all(c.lanes.flatMap((lane) => Array.from({ length: 20 }, () => send(lane, newEvent(lane)))));
      checkAnswers(samples, []);
      expect(samples.filter((s) => s.answer.degraded !== false)).toEqual([]);
      const state = await readState(admin, [...c.samples, ...samples]);
      for (const s of samples) expect(state.get(s)).toEqual(Array(OWN_KINDS.length + 1).fill(true));
      expect(await velocityLibraries(admin, c.lanes)).toEqual(c.lanes.map(() => true)); // loaded again (FUNCTION LOAD)
    } finally {
      admin.disconnect();
      await closeCase(c);
    }
  });
});

/** Whether the server holds each lane's velocity library (its Redis Functions). */
async function velocityLibraries(admin: Redis, lanes: readonly Lane[]): Promise<boolean[]> {
  return Promise.all(
    lanes.map(async (lane) => {
      const name = (lane.runtime.store as InstanceType<Lib['redis']['RedisVelocityStore']>).velocityLibrary;
      return ((await admin.call('FUNCTION', 'LIST', 'LIBRARYNAME', name)) as unknown[]).length > 0;
    }),
  );
}
