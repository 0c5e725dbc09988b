/**
 * WeChat Pay API v3 notifications (POST /webhooks/wechatpay), and the signers the tests and
 * `npm run send` use to play WeChat Pay.
 *
 * Verification, in order (research webhook-formats.md 2.7): the four Wechatpay-* headers; signature
 * type absent or WECHATPAY2-SHA256-RSA2048; timestamp within 5 minutes either way; signature probes
 * (WECHATPAY/SIGNTEST/...) refused; the key chosen by Wechatpay-Serial from the configured trust list
 * only; SHA256withRSA (PKCS#1 v1.5) over `timestamp\nnonce\n<raw body>\n`. Only then the body is
 * parsed, and `resource` decrypted with AEAD_AES_256_GCM under the APIv3 key, the tag always checked.
 *
 * - TRANSACTION.SUCCESS (original_type transaction) becomes a PaymentEvent, kind 'notification':
 *   the money has moved, so the answer is 204 whatever the decision; a hold is acted on by the
 *   merchant (hold fulfilment), and the decision is stored under the envelope id.
 * - Every other verified notification (REFUND.*, ENTRUST.*, profit sharing ...) is acknowledged, 204.
 * - Every refusal is 4xx with WeChat's failure body {"code":"FAIL","message":"..."}, so WeChat retries.
 *
 * Status of an undecryptable resource: 401 (invalid_signature). The RSA signature already proved
 * WeChat sent these bytes, so a failed GCM tag means the payload's authentication failed under our
 * key: almost always a wrong or rotated WECHATPAY_APIV3_KEY. 4xx makes WeChat retry (24 h), which
 * gives the operator time to fix the key; the message names the likely cause.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as z from 'zod';
import { STRICT_BASE64 } from '../base64.js';
import { ConfigError, type RiskhookError, SchemaError, SignatureError } from '../errors.js';
import { Identifier, type PaymentEvent } from '../events.js';
import { LOCAL_WECHATPAY_APIV3_KEY, LOCAL_WECHATPAY_SERIAL } from '../local-defaults.js';
import { MAX_FUTURE_MS, describeIssues } from './generic.js';
import { parseStrictJson } from './json.js';
import { rsaPublicKey } from './keys.js';
import { DEFAULT_MAX_NOTIFICATION_AGE_MS, staleReason } from './notification-age.js';
import {
  type ExampleSigner,
  type Freshness,
  type HttpResponse,
  type ProviderAdapter,
  type RawRequest,
  type SignedRequest,
  type Verified,
  jsonResponse,
} from './types.js';

export const PROVIDER = 'wechatpay';
export const WECHATPAY_PATH = '/webhooks/wechatpay';
/** |now - Wechatpay-Timestamp| must stay below this (the official SDKs reject at 300 s). */
export const WECHATPAY_TOLERANCE_SECONDS = 5 * 60;
export const SIGNATURE_TYPE = 'WECHATPAY2-SHA256-RSA2048';
export const PROBE_PREFIX = 'WECHATPAY/SIGNTEST/';
export const ALGORITHM = 'AEAD_AES_256_GCM';
const TAG_BYTES = 16;
/** WeChat's failure body allows a message of 1-64 characters. */
const MAX_MESSAGE_CHARS = 64;

const HEADERS = {
  timestamp: 'wechatpay-timestamp',
  nonce: 'wechatpay-nonce',
  signature: 'wechatpay-signature',
  serial: 'wechatpay-serial',
  signatureType: 'wechatpay-signature-type',
} as const;

export interface WechatpayConfig {
  /** Trusted keys by Wechatpay-Serial: a WeChat Pay public key ID (PUB_KEY_ID_...) or a platform certificate serial. */
  readonly publicKeys: Readonly<Record<string, string>>;
  /** The APIv3 key: 32 characters, used as its UTF-8 bytes. */
  readonly apiV3Key: string;
  /**
   * WECHATPAY_MCHIDS: a transaction whose receiving merchant (sp_mchid for a service provider, else
   * mchid) is not one of these is refused (422); undefined checks none (tests only: config always sets it).
   */
  readonly mchids?: readonly string[];
  /** RISKHOOK_MAX_NOTIFICATION_AGE_HOURS in ms: an older success_time is acknowledged, not scored. */
  readonly maxAgeMs?: number;
}

// --- wire formats ----------------------------------------------------------------------------

const Base64 = z.string().regex(STRICT_BASE64, 'expected base64');

export const EncryptedResource = z.looseObject({
  algorithm: z.literal(ALGORITHM, { error: `expected ${ALGORITHM}` }),
  ciphertext: Base64.min(24, `expected at least the ${TAG_BYTES}-byte tag`),
  // 12 bytes, as WeChat documents it; Go's GCM (the official SDK) refuses any other length.
  nonce: z.string().refine((n) => Buffer.byteLength(n) === 12, 'expected 12 characters'),
  // May be empty; documented as always present, treated as empty when absent.
  associated_data: z.string().max(256).optional(),
  original_type: z.string().max(64).optional(),
});
export type EncryptedResource = z.infer<typeof EncryptedResource>;

export const Envelope = z.looseObject({
  id: Identifier,
  // RFC 3339 on payment notifications, but other products send e.g. 20180225112233: checked only when used.
  create_time: z.string().max(64).optional(),
  event_type: z.string().min(1).max(64),
  resource_type: z.string().max(64).optional(),
  summary: z.string().optional(),
  resource: EncryptedResource,
});
export type Envelope = z.infer<typeof Envelope>;

const Rfc3339 = z.iso
  .datetime({ offset: true, error: 'expected an RFC 3339 date-time, e.g. 2026-11-22T17:00:00+08:00' })
  .refine((v) => Date.parse(v) >= 0, 'expected a date-time after 1970-01-01');

/** An optional risk signal: kept when well-formed, dropped (not refused) otherwise. */
const signal = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);

/**
 * The decrypted `transaction` resource (wechatpay-go services/payments Transaction and
 * partnerpayments Transaction, wechatpay-java Transaction). Direct merchants get mchid/appid and
 * payer.openid; service providers get sp_mchid/sub_mchid and payer.sp_openid/sub_openid.
 */
export const Transaction = z
  .looseObject({
    appid: z.string().optional(),
    mchid: Identifier.optional(),
    sp_mchid: Identifier.optional(),
    sub_mchid: Identifier.optional(),
    out_trade_no: Identifier,
    transaction_id: Identifier,
    trade_type: z.string().max(32).optional(),
    trade_state: z.literal('SUCCESS', { error: 'expected SUCCESS on a TRANSACTION.SUCCESS notification' }),
    trade_state_desc: z.string().optional(),
    bank_type: z.string().optional(),
    attach: z.string().optional(),
    success_time: Rfc3339.optional(),
    payer: z
      .looseObject({ openid: Identifier.optional(), sp_openid: Identifier.optional(), sub_openid: Identifier.optional() })
      .refine((p) => (p.openid ?? p.sp_openid ?? p.sub_openid) !== undefined, 'expected openid (or sp_openid / sub_openid)'),
    amount: z.looseObject({
      total: z.number().int('expected a whole number of fen').nonnegative().max(Number.MAX_SAFE_INTEGER),
      // Domestic merchants are CNY only; WeChat always sends it on a payment.
      currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO-4217 code such as CNY').default('CNY'),
      payer_total: z.number().int().nonnegative().optional(),
      payer_currency: z.string().optional(),
    }),
    scene_info: signal(
      z.looseObject({
        device_id: signal(Identifier),
        payer_client_ip: signal(z.union([z.ipv4(), z.ipv6()])),
      }),
    ),
    /** Present on some agreement (委托代扣) deductions; the agreement becomes the instrument. */
    contract_id: signal(Identifier),
  })
  .refine((t) => (t.sub_mchid ?? t.mchid) !== undefined, { message: 'expected mchid (or sub_mchid)', path: ['mchid'] });
export type Transaction = z.infer<typeof Transaction>;

/** Agreement deductions (委托代扣, password-free by contract) arrive with trade_type PAP. */
export const PASSWORD_FREE_TRADE_TYPES: ReadonlySet<string> = new Set(['PAP']);

// --- crypto ----------------------------------------------------------------------------------

/** The signed message: `timestamp\nnonce\n<body bytes>\n`, the timestamp exactly as sent. */
export function signedMessage(timestamp: string, nonce: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`, 'utf8'), body, Buffer.from('\n', 'utf8')]);
}

function apiV3KeyBytes(apiV3Key: string): Buffer {
  const key = Buffer.from(apiV3Key, 'utf8');
  if (key.length !== 32) throw new RangeError('the APIv3 key is 32 characters (used as its UTF-8 bytes)');
  return key;
}

/** AES-256-GCM decryption of a resource; the tag is always checked (decipher.final()). */
export function decryptWechatpayResource(resource: Pick<EncryptedResource, 'ciphertext' | 'nonce' | 'associated_data'>, apiV3Key: string): Buffer {
  const sealed = Buffer.from(resource.ciphertext, 'base64');
  if (sealed.length < TAG_BYTES) throw new SignatureError('resource.ciphertext is shorter than the GCM tag');
  const decipher = createDecipheriv('aes-256-gcm', apiV3KeyBytes(apiV3Key), Buffer.from(resource.nonce, 'utf8'), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  decipher.setAAD(Buffer.from(resource.associated_data ?? '', 'utf8'));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([plaintext, decipher.final()]);
  } catch {
    throw new SignatureError('resource does not decrypt (GCM tag mismatch): check WECHATPAY_APIV3_KEY');
  }
}

/** AES-256-GCM encryption as WeChat does it: base64(ciphertext || 16-byte tag). */
export function encryptWechatpayResource(
  apiV3Key: string,
  plaintext: string | Buffer,
  options: { nonce?: string; associatedData?: string; originalType?: string } = {},
): EncryptedResource {
  const nonce = options.nonce ?? randomBytes(6).toString('hex'); // 12 characters
  const associatedData = options.associatedData ?? '';
  const cipher = createCipheriv('aes-256-gcm', apiV3KeyBytes(apiV3Key), Buffer.from(nonce, 'utf8'), { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const sealed = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final(), cipher.getAuthTag()]);
  return {
    ...(options.originalType !== undefined && { original_type: options.originalType }),
    algorithm: ALGORITHM,
    ciphertext: sealed.toString('base64'),
    associated_data: associatedData,
    nonce,
  };
}

/** Wechatpay-* headers for a body, as WeChat Pay signs a notification. */
export function signWechatpayBody(
  privateKeyPem: string | KeyObject,
  serial: string,
  body: string | Buffer,
  options: { timestampSeconds?: number; nonce?: string } = {},
): Record<string, string> {
  const timestamp = String(options.timestampSeconds ?? Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? randomBytes(16).toString('hex').toUpperCase();
  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const key = typeof privateKeyPem === 'string' ? createPrivateKey(privateKeyPem) : privateKeyPem;
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': sign('sha256', signedMessage(timestamp, nonce, raw), key).toString('base64'),
    'Wechatpay-Serial': serial,
    'Wechatpay-Signature-Type': SIGNATURE_TYPE,
  };
}

export interface WechatpayNotifyOptions {
  readonly privateKeyPem: string | KeyObject;
  readonly serial: string;
  readonly apiV3Key: string;
  readonly eventType: string;
  /** The plaintext resource (e.g. the transaction), encrypted into the envelope. */
  readonly resource: object;
  /** The envelope id; random when absent. */
  readonly id?: string;
  /** The envelope create_time (RFC 3339); now in +08:00 when absent. */
  readonly createTime?: string;
  /** Wechatpay-Timestamp; the wall clock when absent. */
  readonly timestampSeconds?: number;
  /** Wechatpay-Nonce (the header); random when absent. */
  readonly nonce?: string;
  /** resource.nonce (the GCM nonce, 12 characters); random when absent. */
  readonly resourceNonce?: string;
  /** resource.original_type; derived from the event type (TRANSACTION.* -> transaction, REFUND.* -> refund) when absent. */
  readonly originalType?: string;
  /** resource.associated_data; the original type (or empty) when absent. */
  readonly associatedData?: string;
  readonly summary?: string;
}

const SUMMARIES: Readonly<Record<string, string>> = { 'TRANSACTION.SUCCESS': '支付成功', 'REFUND.SUCCESS': '退款成功' };

/** A complete signed notification, as WeChat Pay would POST it. */
export function signWechatpayNotify(options: WechatpayNotifyOptions): SignedRequest {
  const derived = options.eventType.startsWith('TRANSACTION.') ? 'transaction' : options.eventType.startsWith('REFUND.') ? 'refund' : undefined;
  const originalType = options.originalType ?? derived;
  const resource = encryptWechatpayResource(options.apiV3Key, JSON.stringify(options.resource), {
    ...(options.resourceNonce !== undefined && { nonce: options.resourceNonce }),
    associatedData: options.associatedData ?? originalType ?? '',
    ...(originalType !== undefined && { originalType }),
  });
  const envelope = {
    id: options.id ?? randomUUIDLike(),
    create_time: options.createTime ?? rfc3339Beijing(Date.now()),
    resource_type: 'encrypt-resource',
    event_type: options.eventType,
    summary: options.summary ?? SUMMARIES[options.eventType] ?? options.eventType,
    resource,
  };
  const body = JSON.stringify(envelope);
  const headers = signWechatpayBody(options.privateKeyPem, options.serial, body, {
    ...(options.timestampSeconds !== undefined && { timestampSeconds: options.timestampSeconds }),
    ...(options.nonce !== undefined && { nonce: options.nonce }),
  });
  return { path: WECHATPAY_PATH, headers: { 'Content-Type': 'application/json', ...headers }, body };
}

/** e.g. 2026-11-22T17:00:00+08:00: how WeChat writes times (Beijing time, no fraction). */
export function rfc3339Beijing(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000 + 8 * 3_600_000).toISOString().slice(0, 19)}+08:00`;
}

function randomUUIDLike(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// --- the adapter -----------------------------------------------------------------------------

function lowerCased(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

/** The serial normalised for lookup: hex certificate serials are case-insensitive. */
const serialKey = (serial: string) => serial.trim().toUpperCase();

/** Checks the Wechatpay-* headers and the RSA signature over the raw body; throws SignatureError. */
export function verifyWechatpaySignature(request: RawRequest, keys: ReadonlyMap<string, KeyObject>): void {
  const h = lowerCased(request.headers);
  const missing = [HEADERS.timestamp, HEADERS.nonce, HEADERS.signature, HEADERS.serial].filter((name) => !h[name]);
  if (missing.length > 0) throw new SignatureError(`missing header ${missing.join(', ')}`);
  const timestamp = h[HEADERS.timestamp]!;
  const nonce = h[HEADERS.nonce]!;
  const signature = h[HEADERS.signature]!;
  const serial = h[HEADERS.serial]!;
  const type = h[HEADERS.signatureType];
  // Messages name the header, never echo its text: they are the response body.
  if (type !== undefined && type !== SIGNATURE_TYPE) throw new SignatureError(`Wechatpay-Signature-Type is not ${SIGNATURE_TYPE}`);
  if (signature.startsWith(PROBE_PREFIX)) throw new SignatureError('signature probe (WECHATPAY/SIGNTEST/) refused');
  if (!/^\d{1,12}$/.test(timestamp)) throw new SignatureError('Wechatpay-Timestamp is not an integer of seconds');
  const skew = Math.floor(request.receivedAt / 1000) - Number(timestamp);
  if (skew >= WECHATPAY_TOLERANCE_SECONDS) throw new SignatureError('Wechatpay-Timestamp is too old (5 minutes or more)');
  if (skew <= -WECHATPAY_TOLERANCE_SECONDS) throw new SignatureError('Wechatpay-Timestamp is in the future (5 minutes or more)');
  if (nonce.length > 64 || /[\r\n]/.test(nonce)) throw new SignatureError('Wechatpay-Nonce is malformed');
  const key = keys.get(serialKey(serial));
  if (!key) throw new SignatureError('unknown Wechatpay-Serial (not in WECHATPAY_PUBLIC_KEYS)');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) throw new SignatureError('Wechatpay-Signature is not base64');
  if (!verify('sha256', signedMessage(timestamp, nonce, request.body), key, Buffer.from(signature, 'base64'))) {
    throw new SignatureError('Wechatpay-Signature does not match');
  }
}

function schemaError(error: z.ZodError, prefix: readonly string[] = []): SchemaError {
  const issues = error.issues.map((issue) => ({ ...issue, path: [...prefix, ...issue.path] }));
  return new SchemaError(describeIssues(new z.ZodError(issues)));
}

/** When the payment happened: success_time, else the envelope's create_time. */
function transactionTime(envelope: Envelope, tx: Transaction): number {
  if (tx.success_time !== undefined) return Date.parse(tx.success_time);
  const parsed = Rfc3339.safeParse(envelope.create_time);
  if (!parsed.success) throw new SchemaError('create_time: expected an RFC 3339 date-time (no success_time to use)');
  return Date.parse(parsed.data);
}

/** The canonical event of a verified TRANSACTION.SUCCESS. */
export function toPaymentEvent(envelope: Envelope, tx: Transaction, receivedAt: number): PaymentEvent {
  const occurredAt = transactionTime(envelope, tx);
  if (occurredAt - receivedAt > MAX_FUTURE_MS) throw new SchemaError('transaction.success_time: more than 5 minutes in the future');
  const passwordFree = tx.trade_type !== undefined && PASSWORD_FREE_TRADE_TYPES.has(tx.trade_type);
  const device = tx.scene_info?.device_id;
  const ip = tx.scene_info?.payer_client_ip;
  return {
    id: envelope.id,
    provider: PROVIDER,
    kind: 'notification',
    occurredAt,
    amount: { minor: tx.amount.total, currency: tx.amount.currency },
    account: { id: (tx.payer.openid ?? tx.payer.sp_openid ?? tx.payer.sub_openid)! },
    // The merchant that sold: the sub-merchant when a service provider (sp_mchid) acts for it.
    merchant: { id: (tx.sub_mchid ?? tx.mchid)! },
    ...(tx.contract_id !== undefined && { instrument: { id: tx.contract_id, kind: 'agreement' as const } }),
    authMethod: passwordFree ? 'password_free' : 'unknown',
    ...(device !== undefined && { device: { id: device } }),
    ...(ip !== undefined && { ip }),
    reference: { orderId: tx.out_trade_no, transactionId: tx.transaction_id },
  };
}

const NO_CONTENT: HttpResponse = { statusCode: 204, headers: {}, body: '' };

/** WeChat's failure body; the message cut to the 64 characters it allows (the full one is logged). */
export function wechatpayFailure(status: number, message: string): HttpResponse {
  const chars = Array.from(message || 'failed');
  return jsonResponse(status, { code: 'FAIL', message: chars.length > MAX_MESSAGE_CHARS ? chars.slice(0, MAX_MESSAGE_CHARS).join('') : message || 'failed' });
}

export function createWechatpayAdapter(config: WechatpayConfig): ProviderAdapter {
  const keys = new Map<string, KeyObject>();
  for (const [serial, pem] of Object.entries(config.publicKeys)) {
    try {
      keys.set(serialKey(serial), rsaPublicKey(pem));
    } catch (error) {
      throw new ConfigError(`WECHATPAY_PUBLIC_KEYS: ${serial.slice(0, 48)}: ${(error as Error).message}`);
    }
  }
  if (keys.size === 0) throw new ConfigError('WECHATPAY_PUBLIC_KEYS: expected at least one key');
  if (Buffer.byteLength(config.apiV3Key, 'utf8') !== 32) throw new ConfigError('WECHATPAY_APIV3_KEY: expected the 32-character APIv3 key');
  const { apiV3Key, mchids, maxAgeMs = DEFAULT_MAX_NOTIFICATION_AGE_MS } = config;

  return {
    name: PROVIDER,
    verify(request: RawRequest): Verified {
      verifyWechatpaySignature(request, keys);
      const parsed = Envelope.safeParse(parseStrictJson(request.body));
      if (!parsed.success) throw schemaError(parsed.error);
      const envelope = parsed.data;
      const plaintext = decryptWechatpayResource(envelope.resource, apiV3Key);
      const originalType = envelope.resource.original_type;
      if (envelope.event_type !== 'TRANSACTION.SUCCESS' || (originalType !== undefined && originalType !== 'transaction')) {
        return { kind: 'acknowledge', reason: `${envelope.event_type}${originalType ? ` (${originalType})` : ''} is not scored` };
      }
      const json = parseStrictJson(plaintext, { what: 'resource: decrypted transaction', integerPaths: ['amount.total'], pathPrefix: 'transaction.' });
      if (json !== null && typeof json === 'object' && 'combine_mchid' in json) {
        // 合单支付: one notification for several sub-orders, without a top-level amount or payer.
        return { kind: 'acknowledge', reason: 'combined payment (combine_mchid) is not scored' };
      }
      const tx = Transaction.safeParse(json);
      if (!tx.success) throw schemaError(tx.error, ['transaction']);
      // Whose payment it is (another merchant's, or forged: refused), then how old (stale: acknowledged).
      const receiver = tx.data.sp_mchid !== undefined ? 'sp_mchid' : 'mchid';
      if (mchids && !mchids.includes(tx.data[receiver] ?? '')) {
        throw new SchemaError(`transaction.${receiver}: ${tx.data[receiver] === undefined ? 'missing (and no sp_mchid)' : 'not one of WECHATPAY_MCHIDS (a notification for another merchant)'}`);
      }
      const stale = staleReason(tx.data.success_time !== undefined ? 'success_time' : 'create_time', transactionTime(envelope, tx.data), request.receivedAt, maxAgeMs);
      if (stale) return { kind: 'acknowledge', reason: stale };
      return { kind: 'score', event: toPaymentEvent(envelope, tx.data, request.receivedAt) };
    },
    // The money has moved: the answer only acknowledges receipt. A hold is for the merchant to act on.
    respond: () => NO_CONTENT,
    acknowledge: () => NO_CONTENT,
    respondError: (error: RiskhookError) => wechatpayFailure(error.status, error.message),
  };
}

// --- examples for `npm run send` -------------------------------------------------------------

export const LOCAL_PRIVATE_KEY_PATH = 'examples/keys/wechatpay-local-private.pem';
let localPrivateKey: KeyObject | undefined;

const ExampleFile = z.looseObject({
  provider: z.literal(PROVIDER),
  at: z.iso.datetime({ offset: true }),
  event_type: z.string().min(1).default('TRANSACTION.SUCCESS'),
  /** The envelope id; random when absent. */
  id: z.string().min(1).optional(),
  /** The decrypted resource: `transaction` for TRANSACTION.*, `resource` for anything else. */
  transaction: z.record(z.string(), z.unknown()).optional(),
  resource: z.record(z.string(), z.unknown()).optional(),
});

/**
 * {"provider":"wechatpay","at":"<ISO>","event_type":"TRANSACTION.SUCCESS","transaction":{...}} signed
 * with the local-only key pair, serial and APIv3 key. success_time and create_time are fresh.now in
 * +08:00; the signature timestamp is the wall clock; fresh.suffix makes the ids unique.
 */
export const wechatpayExample: ExampleSigner = (example: Record<string, unknown>, fresh: Freshness): SignedRequest => {
  const parsed = ExampleFile.safeParse(example);
  if (!parsed.success) throw new Error(`wechatpay example: ${describeIssues(parsed.error)}`);
  const { event_type: eventType, transaction, resource, id } = parsed.data;
  const plaintext = transaction ?? resource;
  if (!plaintext) throw new Error('wechatpay example: expected "transaction" (or "resource" for other event types)');
  const withSuffix = (value: unknown) => (fresh.suffix !== undefined && typeof value === 'string' ? `${value}-${fresh.suffix}` : value);
  const time = rfc3339Beijing(fresh.now);
  const body: Record<string, unknown> = { ...plaintext };
  for (const field of ['transaction_id', 'out_trade_no']) if (field in body) body[field] = withSuffix(body[field]);
  if (transaction) body.success_time = time;
  localPrivateKey ??= createPrivateKey(readFileSync(resolve(process.cwd(), LOCAL_PRIVATE_KEY_PATH)));
  return signWechatpayNotify({
    privateKeyPem: localPrivateKey,
    serial: LOCAL_WECHATPAY_SERIAL,
    apiV3Key: LOCAL_WECHATPAY_APIV3_KEY,
    eventType,
    resource: body,
    ...(id !== undefined && { id: withSuffix(id) as string }),
    createTime: time,
  });
};
