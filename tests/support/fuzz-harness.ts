/**
 * The harness of the property-based fuzz suites (tests/fuzz): a runtime with every provider
 * configured, on the test Redis in a logical database of its own (so DBSIZE counts only the keys
 * the suite writes), its store wrapped in a spy that counts every call, an API Gateway event
 * builder with the header tricks API Gateway plays, the refusal shape of each provider, an
 * unhandled-rejection watch, and fc.assert with a seed that is printed and can be pinned.
 *
 * Reproduce a failure: FUZZ_SEED=<seed printed in the failure> npx vitest run tests/fuzz/<file>.
 * Fewer cases while iterating: FUZZ_RUNS=500 (the suites use at least 10,000 by default).
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { createWebhookHandler } from '../../lib/http.js';
import { type Runtime, createRuntime, createStore } from '../../lib/runtime.js';
import type { Binding, EntityKind, PaymentEvent } from '../../lib/events.js';
import { KIND_CODE, type VelocityStore } from '../../lib/velocity/store.js';
import { contentType, isUtf8 } from './fuzz-arbitraries.js';

export type Provider = 'generic' | 'stripe' | 'alipay' | 'wechatpay';
export const PROVIDERS: readonly Provider[] = ['generic', 'stripe', 'alipay', 'wechatpay'];

/** Cases per property: at least 10,000 unless FUZZ_RUNS says otherwise (for quick local runs only). */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
/**
 * Cases per property that RSA-signs every case (Alipay, WeChat Pay signed layers): fewer, to keep the
 * folder within a minute on two cores; with the 10,000 garbage cases each adapter still gets 19,000+.
 */
export const RSA_RUNS = Math.ceil(RUNS * 0.6);
export const RSA_TAMPER_RUNS = Math.ceil(RUNS * 0.3);

/**
 * Valid payloads sent through the handler per signed property: each is scored on Redis (~2-5 ms),
 * so past this many, further valid cases are skipped (fc.pre) and the runs go to hostile ones.
 */
export const VALID_BUDGET = Number(process.env.FUZZ_VALID ?? 300);

/** Admits valid cases until the budget is spent; then fc.pre skips them (they do not count as runs). */
export function validGate(budget = VALID_BUDGET) {
  let admitted = 0;
  return {
    admit(): void {
      fc.pre(admitted < budget);
      admitted++;
    },
    get admitted() {
      return admitted;
    },
  };
}

// --- the runtime -------------------------------------------------------------------------------

/** The verification material of every provider, fresh per suite; private keys for the test signers. */
export interface FuzzKeys {
  readonly genericSecret: string;
  readonly stripeSecret: string;
  readonly alipayPrivateKey: KeyObject;
  readonly alipayPrivatePem: string;
  readonly wechatpayPrivateKey: KeyObject;
  readonly wechatpaySerial: string;
  readonly wechatpayApiV3Key: string;
}

/**
 * 1024-bit test keys: signing is ~3x faster than 2048-bit (about 0.1 ms), and the adapters verify
 * any RSA key the same way; the fuzzing is about what follows the signature, not the key size.
 */
function rsaPair() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export interface FuzzRuntime {
  readonly runtime: Runtime;
  readonly keys: FuzzKeys;
  readonly handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
  /** Calls made to the velocity store so far (claim, record, recordBinding, saveDecision, readDecision). */
  storeCalls(): number;
  /** Keys in this suite's own Redis database. */
  dbsize(): Promise<number>;
  /** rh:* keys in this suite's own Redis database (SCAN). */
  scanKeys(): Promise<string[]>;
  close(): Promise<void>;
}

/** The suite's Redis URL: the test Redis, in logical database `db` (each fuzz file uses its own). */
export function redisUrlFor(db: number): string {
  const url = new URL(inject('redisUrl'));
  url.pathname = `/${db}`;
  return url.toString();
}

/** Counts every call to the store; methods run on the real store (its private fields need `this`). */
function spyStore(store: VelocityStore, onCall: () => void): VelocityStore {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown; // getters too run on the real store
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (property !== 'close') onCall();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** The app id (ALIPAY_APP_IDS) and merchant ids (WECHATPAY_MCHIDS) the fuzz runtime accepts notifications for. */
export const FUZZ_ALIPAY_APP_ID = '2021000000000001';
export const FUZZ_WECHATPAY_MCHIDS: readonly string[] = ['1230000109', '1900000109'];

/**
 * A runtime with all four providers, a random pepper, on Redis database `db`. The deadline is long
 * (5 s) so a valid event on a loaded 2-core machine is never answered by the store fallback.
 */
export async function createFuzzRuntime(db: number): Promise<FuzzRuntime> {
  const alipay = rsaPair();
  const wechatpay = rsaPair();
  const keys: FuzzKeys = {
    genericSecret: `whsec_${randomBytes(32).toString('base64')}`,
    stripeSecret: `whsec_${randomBytes(24).toString('base64url')}`,
    alipayPrivateKey: alipay.privateKey,
    alipayPrivatePem: alipay.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    wechatpayPrivateKey: wechatpay.privateKey,
    wechatpaySerial: `PUB_KEY_ID_${randomBytes(12).toString('hex').toUpperCase()}`,
    wechatpayApiV3Key: randomBytes(16).toString('hex'),
  };
  const url = redisUrlFor(db);
  const config = loadConfig({
    GENERIC_WEBHOOK_SECRETS: keys.genericSecret,
    STRIPE_WEBHOOK_SECRETS: keys.stripeSecret,
    ALIPAY_PUBLIC_KEYS: alipay.publicPem,
    WECHATPAY_PUBLIC_KEYS: JSON.stringify({ [keys.wechatpaySerial]: wechatpay.publicPem }),
    WECHATPAY_APIV3_KEY: keys.wechatpayApiV3Key,
    ALIPAY_APP_IDS: FUZZ_ALIPAY_APP_ID,
    WECHATPAY_MCHIDS: FUZZ_WECHATPAY_MCHIDS.join(','),
    RISKHOOK_PEPPER: randomBytes(16).toString('hex'),
    RISKHOOK_DEADLINE_MS: '5000',
    REDIS_URL: url,
    RISKHOOK_STAGE: 'test',
  });
  let calls = 0;
  const store = spyStore(createStore(config), () => calls++);
  const runtime = createRuntime(config, store);
  const admin = new Redis(url);
  const lambda = createWebhookHandler(() => runtime);
  return {
    runtime,
    keys,
    handler: (event) => lambda(event),
    storeCalls: () => calls,
    dbsize: () => admin.dbsize(),
    async scanKeys() {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await admin.scan(cursor, 'MATCH', 'rh:*', 'COUNT', 1000);
        found.push(...batch);
        cursor = next;
      } while (cursor !== '0');
      return found;
    },
    async close() {
      await store.close();
      admin.disconnect();
    },
  };
}

// --- API Gateway events ------------------------------------------------------------------------

export interface EventSpec {
  readonly provider: string;
  /** Header name/value pairs in order; a name may repeat and may be in any case. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string | Buffer | null;
  /** Send the body base64-encoded (a Buffer body always is); a string body then goes as given. */
  readonly base64?: boolean;
  readonly method?: string;
  /**
   * '2.0': names lower-cased and repeated headers joined with commas, as the HTTP API does.
   * '1.0': names as sent (any case), the last of a repeated header kept, as REST APIs do in `headers`.
   */
  readonly payload?: '1.0' | '2.0';
}

export function gatewayEvent(spec: EventSpec): APIGatewayProxyEventV2 {
  const payload = spec.payload ?? '2.0';
  const headers: Record<string, string> = {};
  for (const [name, value] of spec.headers) {
    if (payload === '2.0') {
      const key = name.toLowerCase();
      headers[key] = key in headers ? `${headers[key]},${value}` : value;
    } else {
      headers[name] = value;
    }
  }
  const binary = Buffer.isBuffer(spec.body);
  const body = binary ? (spec.body as Buffer).toString('base64') : (spec.body as string | null);
  const method = spec.method ?? 'POST';
  return {
    version: payload,
    routeKey: 'POST /webhooks/{provider}',
    rawPath: `/webhooks/${spec.provider}`,
    rawQueryString: '',
    headers,
    pathParameters: { provider: spec.provider },
    requestContext: { http: { method, path: `/webhooks/${spec.provider}`, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1' }, stage: '$default' },
    body,
    isBase64Encoded: binary || spec.base64 === true,
  } as unknown as APIGatewayProxyEventV2;
}

/** Header pairs of a signed request (any case kept: gatewayEvent lower-cases for payload 2.0). */
export const headerPairs = (headers: Readonly<Record<string, string>>): Array<[string, string]> => Object.entries(headers);

// --- what an answer must look like -------------------------------------------------------------

const CODES = ['invalid_body', 'invalid_signature', 'unknown_provider', 'method_not_allowed', 'body_too_large', 'schema_violation'];
/** A refusal message is for a human: non-empty and short enough to read (not an echo of the body). */
export const MAX_MESSAGE_CHARS = 1_000;

export interface Refusal {
  readonly status: number;
  /** The error code (generic, stripe, alipay's x-riskhook-error); undefined for wechatpay. */
  readonly code: string | undefined;
  readonly message: string | undefined;
}

/** A cheap assertion for hot loops (vitest's expect costs ~12 µs a call; these run 10,000s of times). */
export function ensure(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}

/** Asserts a 4xx in the provider's own error shape; returns its status, code and message. */
export function expectRefusal(provider: string, res: APIGatewayProxyStructuredResultV2): Refusal {
  const status = res.statusCode ?? 0;
  const show = () => `${status} ${JSON.stringify(res.headers)} ${String(res.body).slice(0, 300)}`;
  ensure(status >= 400 && status < 500, () => `expected a 4xx, got ${show()}`);
  const headers = res.headers ?? {};
  if (provider === 'alipay') {
    const code = String(headers['x-riskhook-error']);
    ensure(res.body === 'fail' && headers['content-type'] === 'text/plain' && CODES.includes(code), () => `expected Alipay's fail, got ${show()}`);
    return { status, code, message: undefined };
  }
  ensure(headers['content-type'] === 'application/json', () => `expected JSON, got ${show()}`);
  const json = JSON.parse(String(res.body)) as Record<string, unknown>;
  if (provider === 'wechatpay') {
    const keys = Object.keys(json).sort().join(',');
    const message = json.message;
    ensure(
      keys === 'code,message' && json.code === 'FAIL' && typeof message === 'string' && Array.from(message).length >= 1 && Array.from(message).length <= 64,
      () => `expected WeChat's {"code":"FAIL","message"} (1-64 characters), got ${show()}`,
    );
    return { status, code: undefined, message };
  }
  const error = json.error as Record<string, unknown> | undefined;
  ensure(
    Object.keys(json).join(',') === 'error' && error !== null && typeof error === 'object' && Object.keys(error).sort().join(',') === 'code,message',
    () => `expected {"error":{"code","message"}}, got ${show()}`,
  );
  const message = error.message;
  ensure(CODES.includes(error.code as string), () => `unknown error code in ${show()}`);
  ensure(typeof message === 'string' && message.length > 0 && message.length <= MAX_MESSAGE_CHARS, () => `expected a message of 1-${MAX_MESSAGE_CHARS} characters, got ${show()}`);
  return { status, code: error.code as string, message };
}

/** The status and error code each refusal class maps to. */
export const STATUS = {
  invalid_body: 400,
  invalid_signature: 401,
  unknown_provider: 404,
  method_not_allowed: 405,
  body_too_large: 413,
  schema_violation: 422,
} as const;

// --- process-level watch -----------------------------------------------------------------------

/** Collects unhandled rejections and uncaught exceptions while installed. */
export interface ProcessWatch {
  /** Lets pending rejections surface (they are reported after the microtask queue drains), then asserts none did. */
  expectNone(): Promise<void>;
  dispose(): void;
}

export function watchProcess(): ProcessWatch {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => seen.push(reason);
  const onException = (error: unknown) => seen.push(error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    async expectNone() {
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(seen, 'unhandled rejections or uncaught exceptions').toEqual([]);
    },
    dispose() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

/**
 * A fuzz file's runtime (createFuzzRuntime on Redis database `db`) and watch on unhandled
 * rejections: made before the file's tests, closed after them (the hooks are registered here). The
 * objects handed back forward to the ones beforeAll makes, so a file keeps them in module constants.
 */
export function useFuzzRuntime(db: number): { fz: FuzzRuntime; watch: ProcessWatch } {
  let made: { runtime: FuzzRuntime; watch: ProcessWatch } | undefined;
  beforeAll(async () => {
    made = { runtime: await createFuzzRuntime(db), watch: watchProcess() };
  });
  afterAll(async () => {
    made?.watch.dispose();
    await made?.runtime.close();
  });
  const current = () => {
    if (!made) throw new Error(`useFuzzRuntime(${db}): used outside its file's tests`);
    return made;
  };
  const fz: FuzzRuntime = {
    get runtime() {
      return current().runtime.runtime;
    },
    get keys() {
      return current().runtime.keys;
    },
    handler: (event) => current().runtime.handler(event),
    storeCalls: () => current().runtime.storeCalls(),
    dbsize: () => current().runtime.dbsize(),
    scanKeys: () => current().runtime.scanKeys(),
    close: () => current().runtime.close(),
  };
  return { fz, watch: { expectNone: () => current().watch.expectNone(), dispose: () => current().watch.dispose() } };
}

// --- running properties ------------------------------------------------------------------------

export interface RunReport {
  readonly name: string;
  readonly runs: number;
  readonly ms: number;
  readonly seed: number;
}

export const reports: RunReport[] = [];

/**
 * fc.assert with a known seed (FUZZ_SEED pins it; otherwise random and printed), so a failure
 * found here is reproducible from the seed and path fast-check prints. Logs cases and time.
 */
export async function check<Ts>(name: string, property: fc.IAsyncProperty<Ts> | fc.IProperty<Ts>, runs = RUNS): Promise<RunReport> {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const started = performance.now();
  try {
    await fc.assert(property as fc.IAsyncProperty<Ts>, { numRuns: runs, seed });
  } catch (error) {
    (error as Error).message = `[${name}] FUZZ_SEED=${seed}\n${(error as Error).message}`;
    throw error;
  }
  const report = { name, runs, ms: Math.round(performance.now() - started), seed };
  reports.push(report);
  console.info(`[fuzz] ${name}: ${runs} cases in ${report.ms} ms (seed ${seed})`);
  return report;
}

/**
 * The garbage property of every adapter's fuzz file: each request is refused 4xx in the provider's
 * error shape without a store call; afterwards the suite's database holds no new key and no
 * rejection went unhandled.
 */
export async function expectGarbageRefused(fz: FuzzRuntime, watch: ProcessWatch, provider: string, requests: fc.Arbitrary<EventSpec>, what: string): Promise<void> {
  const before = await fz.dbsize();
  await check(
    `${provider}/garbage`,
    fc.asyncProperty(requests, async (spec) => {
      const calls = fz.storeCalls();
      expectRefusal(provider, await fz.handler(gatewayEvent(spec)));
      ensure(fz.storeCalls() === calls, () => `a refused ${what} called the store`);
    }),
  );
  expect(await fz.dbsize()).toBe(before);
  await watch.expectNone();
}

// --- which Redis keys a batch may have written -------------------------------------------------

/**
 * The tags (`a:<hash>`, `e:<hash>` ...) of the events a batch had scored: every rh:* key written
 * during the batch must carry one, so no refused request can have left a key behind.
 */
export class KeyLedger {
  readonly #allowed = new Set<string>();
  constructor(readonly runtime: Runtime) {}

  /** Records the tags an accepted event (or binding) may write under. */
  accept(provider: string, item: PaymentEvent | Binding) {
    const { hasher } = this.runtime;
    this.#allowed.add(`e:${hasher.event(provider, item.id)}`);
    const raw: Partial<Record<EntityKind, string>> = {
      account: item.account.id,
      linkedAccount: item.linkedAccount?.id,
      instrument: item.instrument?.id,
      ...('merchant' in item && { merchant: item.merchant.id, device: item.device?.id, ip: item.ip }),
    };
    for (const [kind, id] of Object.entries(raw) as Array<[EntityKind, string | undefined]>) {
      if (id !== undefined) this.#allowed.add(`${KIND_CODE[kind]}:${hasher.entity(kind, id)}`);
    }
  }

  /** Keys among `keys` that no accepted event explains (each key's {tag}, and a marker's event key). */
  unexplained(keys: readonly string[]): string[] {
    return keys.filter((key) => {
      // A scored hold opens a review: its record names the event; the shared indexes (and the hourly
      // decision counts) need an accepted event.
      const review = /^rh:\{ops\}:r:(.*)$/.exec(key);
      if (review) return !this.#allowed.has(`e:${review[1]}`);
      if (/^rh:\{ops\}:(rs:open|h|st:\d+)$/.test(key)) return this.#allowed.size === 0;
      const m = /^rh:\{([^}]*)\}(?::m:(.*))?/.exec(key);
      if (!m) return true;
      if (!this.#allowed.has(m[1]!)) return true;
      return m[2] !== undefined && !this.#allowed.has(`e:${m[2]}`);
    });
  }
}

/** rh:* keys present now that were not in `before`. */
export async function keysWrittenSince(fz: FuzzRuntime, before: ReadonlySet<string>): Promise<string[]> {
  return (await fz.scanKeys()).filter((k) => !before.has(k));
}

// --- how a signed request travels --------------------------------------------------------------

export interface Transport {
  /** '1.0': header names in any case; '2.0': lower-cased by API Gateway. */
  readonly payload: '1.0' | '2.0';
  /** Body base64-encoded by API Gateway (always, for bytes that are not UTF-8). */
  readonly base64: boolean;
  /** Any content type, right or wrong: the adapters read bytes. */
  readonly contentType: string;
  /** Which letters of each header name are upper case (payload 1.0). */
  readonly caseMask: number;
}

export const transport: fc.Arbitrary<Transport> = fc.record({
  payload: fc.constantFrom('1.0' as const, '2.0' as const),
  base64: fc.boolean(),
  contentType,
  caseMask: fc.nat(),
});

/** A signed request as it reaches the handler: names cased by the mask, the body as text or base64. */
export function transported(provider: string, headers: Readonly<Record<string, string>>, body: Buffer, t: Transport): EventSpec {
  const cased = (name: string) => [...name].map((c, i) => ((t.caseMask >> (i % 31)) & 1 ? c.toUpperCase() : c.toLowerCase())).join('');
  return {
    provider,
    headers: ([['content-type', t.contentType], ...Object.entries(headers)] as Array<[string, string]>).map(([n, v]) => [t.payload === '1.0' ? cased(n) : n.toLowerCase(), v] as const),
    // Bytes that are not UTF-8 cannot travel as a text body: API Gateway base64-encodes them.
    body: t.base64 || !isUtf8(body) ? body : body.toString('utf8'),
    payload: t.payload,
  };
}
