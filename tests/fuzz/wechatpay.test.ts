/**
 * Fuzzing /webhooks/wechatpay through the whole Lambda handler, on Redis:
 * (a) garbage and tampered notifications (no valid Wechatpay-Signature) are refused 4xx with WeChat's
 *     failure body {"code":"FAIL","message"};
 * (b) hostile notifications SIGNED with the configured key (signWechatpayBody) and, inside, hostile
 *     decrypted resources ENCRYPTED with the APIv3 key (encryptWechatpayResource): envelopes with
 *     broken resources (algorithm, base64, nonce, associated data, original type), transactions with
 *     fields replaced, duplicated, deleted. 204 exactly when an independent oracle says it is valid
 *     (scored, or acknowledged without counting), else 400/401/413/422 FAIL.
 * Never a 5xx, never a store call or a Redis key for a refused notification, never an unhandled rejection.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROBE_PREFIX, SIGNATURE_TYPE, encryptWechatpayResource, rfc3339Beijing, signWechatpayBody } from '../../lib/providers/wechatpay.js';
import {
  amountLexeme,
  dateValue,
  edgeString,
  hugeString,
  isIsoDateTime,
  isNonPlainNumber,
  isPlainObject,
  plain,
  rawAt,
  textProblem,
  toJson,
} from '../support/fuzz-arbitraries.js';
import { MAX_FUTURE_MS, codePoints, isId, validId } from '../support/fuzz-generic.js';
import {
  type EventSpec,
  KeyLedger,
  FUZZ_WECHATPAY_MCHIDS,
  RSA_RUNS,
  RSA_TAMPER_RUNS,
  RUNS,
  VALID_BUDGET,
  check,
  ensure,
  expectGarbageRefused,
  expectRefusal,
  gatewayEvent,
  keysWrittenSince,
  transport,
  transported,
  type Transport,
  useFuzzRuntime,
  validGate,
} from '../support/fuzz-harness.js';
import { type Corruption, type JsonCase, type Mutation, corrupt, corruptedVerdict, corruption, jsonCase, mutate, mutationArb, namesMutatedPath } from '../support/fuzz-mutations.js';
import { type Header, applyTamper, commonTamper, garbageRequest } from '../support/fuzz-requests.js';

const DB = 14;
const { fz, watch } = useFuzzRuntime(DB);

const nowSeconds = () => Math.floor(Date.now() / 1000);

// --- the oracle ----------------------------------------------------------------------------------

type Check = (v: unknown) => boolean;
const optional = (o: Record<string, unknown>, k: string, check: Check) => !Object.hasOwn(o, k) || check(o[k]);
const str = (max = Infinity): Check => (v) => typeof v === 'string' && codePoints(v) <= max;
const isRfc3339: Check = (v) => isIsoDateTime(v) && Date.parse(v) >= 0;
const isBase64 = (v: string) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v);

function isValidEnvelope(e: unknown): e is Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (!isPlainObject(e) || !isId(e.id) || typeof e.event_type !== 'string' || e.event_type.length === 0 || codePoints(e.event_type) > 64) return false;
  if (!optional(e, 'create_time', str(64)) || !optional(e, 'resource_type', str(64)) || !optional(e, 'summary', str())) return false;
  const r = e.resource;
  return (
    isPlainObject(r) &&
    r.algorithm === 'AEAD_AES_256_GCM' &&
    typeof r.ciphertext === 'string' &&
    r.ciphertext.length >= 24 &&
    isBase64(r.ciphertext) &&
    typeof r.nonce === 'string' &&
    Buffer.byteLength(r.nonce) === 12 &&
    optional(r, 'associated_data', str(256)) &&
    optional(r, 'original_type', str(64))
  );
}

function isValidTransaction(t: unknown): t is Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (!isPlainObject(t)) return false;
  const payer = t.payer;
  const amount = t.amount;
  return (
    ['appid', 'trade_state_desc', 'bank_type', 'attach'].every((k) => optional(t, k, str())) &&
    ['mchid', 'sp_mchid', 'sub_mchid'].every((k) => optional(t, k, isId)) &&
    isId(t.out_trade_no) &&
    isId(t.transaction_id) &&
    optional(t, 'trade_type', str(32)) &&
    t.trade_state === 'SUCCESS' &&
    optional(t, 'success_time', isRfc3339) &&
    isPlainObject(payer) &&
    ['openid', 'sp_openid', 'sub_openid'].every((k) => optional(payer, k, isId)) &&
    ['openid', 'sp_openid', 'sub_openid'].some((k) => payer[k] !== undefined) &&
    isPlainObject(amount) &&
    typeof amount.total === 'number' &&
    Number.isSafeInteger(amount.total) &&
    amount.total >= 0 &&
    optional(amount, 'currency', (c) => typeof c === 'string' && /^[A-Z]{3}$/.test(c)) &&
    optional(amount, 'payer_total', (n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) &&
    optional(amount, 'payer_currency', str()) &&
    (t.sub_mchid ?? t.mchid) !== undefined
  );
}

type WechatVerdict = 'score' | 'ack' | 400 | 401 | 413 | 422;

/** RISKHOOK_MAX_NOTIFICATION_AGE_HOURS, unset in the fuzz runtime: 48 h. */
const MAX_AGE_MS = 48 * 3_600_000;

/** What a notification must get: the envelope (signed JSON), then the resource (decrypted JSON). */
function wechatVerdict(c: WechatCase, maxBodyBytes: number, now: number): WechatVerdict {
  if (c.body.length > maxBodyBytes) return 413;
  if (c.envelope.corruption) return corruptedVerdict(c.body);
  if (textProblem(c.envelope.parts) !== undefined) return 400;
  const env = plain(c.envelope.parts);
  if (!isValidEnvelope(env)) return 422;
  // The GCM tag holds only for the ciphertext, nonce and associated data it was sealed with.
  const r = env.resource;
  if (r.ciphertext !== c.sealed.ciphertext || r.nonce !== c.sealed.nonce || (r.associated_data ?? '') !== c.sealed.associated_data) return 401;
  if (env.event_type !== 'TRANSACTION.SUCCESS' || (r.original_type !== undefined && r.original_type !== 'transaction')) return 'ack';
  const tx = c.transaction;
  if (tx.corruption) return corruptedVerdict(c.plaintext);
  if (textProblem(tx.parts) !== undefined) return 400;
  const total = rawAt(tx.parts, ['amount', 'total']);
  if (isNonPlainNumber(total)) return 422;
  const t = plain(tx.parts);
  if (t !== null && typeof t === 'object' && 'combine_mchid' in t) return 'ack';
  if (!isValidTransaction(t)) return 422;
  // Whose payment (the service provider's sp_mchid, else mchid: one of WECHATPAY_MCHIDS), then how old.
  if (!FUZZ_WECHATPAY_MCHIDS.includes((t.sp_mchid ?? t.mchid) as string)) return 422;
  const time = t.success_time ?? env.create_time;
  if (!isRfc3339(time)) return 422;
  if (now - Date.parse(time as string) > MAX_AGE_MS) return 'ack';
  if (Date.parse(time as string) - now > MAX_FUTURE_MS) return 422;
  return 'score';
}

// --- valid notifications and their mutations -----------------------------------------------------

const recentRfc3339 = dateValue.filter((d) => d.kind === 'valid').map((d) => d.text);

const validTransaction = fc
  .record({
    serviceProvider: fc.boolean(),
    // Mostly one of ours (WECHATPAY_MCHIDS); a service provider's sub-merchant (sub_mchid) is anyone.
    mchid: fc.oneof({ arbitrary: fc.constantFrom(...FUZZ_WECHATPAY_MCHIDS), weight: 4 }, { arbitrary: fc.oneof(fc.stringMatching(/^1[0-9]{9}$/), validId), weight: 1 }),
    out_trade_no: validId,
    transaction_id: fc.stringMatching(/^42[0-9]{26}$/),
    trade_type: fc.constantFrom('JSAPI', 'NATIVE', 'APP', 'MWEB', 'PAP', 'MICROPAY'),
    success_time: fc.option(recentRfc3339, { nil: undefined }),
    openid: validId,
    total: fc.oneof(fc.integer({ min: 0, max: 500_000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
    currency: fc.constantFrom('CNY', 'CNY', 'USD', undefined),
    device: fc.option(fc.oneof(validId, edgeString(10), fc.constant('x'.repeat(300))), { nil: undefined }),
    ip: fc.option(fc.oneof(fc.ipV4(), fc.constantFrom('not-an-ip', '::1', '999.1.1.1')), { nil: undefined }),
    contract: fc.option(fc.oneof(validId, fc.constant('')), { nil: undefined }),
  })
  .map((t) => ({
    ...(t.serviceProvider ? { sp_appid: 'wx8888888888888888', sp_mchid: '1900000109', sub_mchid: t.mchid } : { appid: 'wxd678efh567hg6787', mchid: t.mchid }),
    out_trade_no: t.out_trade_no,
    transaction_id: t.transaction_id,
    trade_type: t.trade_type,
    trade_state: 'SUCCESS',
    trade_state_desc: '支付成功',
    bank_type: 'CMB_DEBIT',
    attach: '',
    ...(t.success_time !== undefined && { success_time: t.success_time }),
    payer: t.serviceProvider ? { sp_openid: t.openid, sub_openid: t.openid } : { openid: t.openid },
    amount: { total: t.total, payer_total: t.total, ...(t.currency !== undefined && { currency: t.currency }), payer_currency: 'CNY' },
    ...((t.device !== undefined || t.ip !== undefined) && { scene_info: { ...(t.device !== undefined && { device_id: t.device }), ...(t.ip !== undefined && { payer_client_ip: t.ip }) } }),
    ...(t.contract !== undefined && { contract_id: t.contract }),
  }));

const TX_FIELDS = [
  'appid', 'mchid', 'sp_mchid', 'sub_mchid', 'out_trade_no', 'transaction_id', 'trade_type', 'trade_state', 'trade_state_desc', 'bank_type',
  'attach', 'success_time', 'payer', 'payer.openid', 'payer.sp_openid', 'payer.sub_openid', 'amount', 'amount.total', 'amount.currency',
  'amount.payer_total', 'amount.payer_currency', 'scene_info', 'scene_info.device_id', 'scene_info.payer_client_ip', 'contract_id', 'combine_mchid',
];
const TX_OBJECTS = ['', 'payer', 'amount', 'scene_info'];

function txNearMiss(path: string): fc.Arbitrary<unknown> {
  const leaf = path.split('.').pop()!;
  switch (leaf) {
    case 'trade_state':
      return fc.constantFrom('SUCCESS', 'success', 'REFUND', 'NOTPAY', 'SUCCESS ', '');
    case 'total':
    case 'payer_total':
      return amountLexeme;
    case 'currency':
      return fc.constantFrom('CNY', 'cny', 'CN', 'ＣＮＹ', null, '');
    case 'success_time':
      return dateValue.map((d) => d.text);
    case 'trade_type':
      return fc.constantFrom('PAP', 'pap', 'x'.repeat(32), 'x'.repeat(33), null);
    case 'combine_mchid':
      return fc.constantFrom('1900000109', null, {}, []);
    case 'payer_client_ip':
      return fc.constantFrom('192.0.2.1', '::1', 'x', 5, null);
    default:
      return fc.oneof(validId, fc.constantFrom('', 'x'.repeat(257), null, 0, {}, []));
  }
}

const ENV_FIELDS = ['id', 'create_time', 'event_type', 'resource_type', 'summary', 'resource', 'resource.algorithm', 'resource.ciphertext', 'resource.nonce', 'resource.associated_data', 'resource.original_type'];
const ENV_OBJECTS = ['', 'resource'];

function envNearMiss(path: string): fc.Arbitrary<unknown> {
  const leaf = path.split('.').pop()!;
  switch (leaf) {
    case 'event_type':
      return fc.constantFrom('TRANSACTION.SUCCESS', 'REFUND.SUCCESS', 'transaction.success', 'TRANSACTION.SUCCESS ', 'TRANSACTION.CLOSED', '', 'x'.repeat(65));
    case 'create_time':
      return fc.oneof(dateValue.map((d) => d.text), fc.constantFrom('20180225112233', 'x'.repeat(65)));
    case 'algorithm':
      return fc.constantFrom('AEAD_AES_256_GCM', 'aead_aes_256_gcm', 'AEAD_AES_128_GCM', 'AES', '');
    case 'ciphertext':
      return fc.oneof(
        fc.uint8Array({ minLength: 0, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')),
        fc.constantFrom('', 'AAAA', '!!!!', 'A'.repeat(23), 'A'.repeat(24), 'QUJD\n', 'QUJD=', 'QUJD-_'),
      );
    case 'nonce':
      return fc.constantFrom('123456789012', '12345678901', '1234567890123', '中中中中', '中中中中1', '\u0000'.repeat(12), '😀😀😀', '', 'abcdefabcdef');
    case 'associated_data':
      return fc.constantFrom('', 'transaction', 'refund', 'x'.repeat(256), 'x'.repeat(257), null);
    case 'original_type':
      return fc.constantFrom('transaction', 'refund', 'Transaction', '', 'x'.repeat(65), null);
    case 'id':
      return fc.oneof(validId, fc.constantFrom('', 'x'.repeat(257), null));
    default:
      return fc.constantFrom('encrypt-resource', '支付成功', '', null, 5, {}, 'x'.repeat(65));
  }
}

interface WechatCase {
  readonly transaction: JsonCase<object>;
  readonly plaintext: Buffer;
  /** The resource as sealed (before any envelope mutation): what the GCM tag covers. */
  readonly sealed: { ciphertext: string; nonce: string; associated_data: string };
  readonly envelope: { parts: unknown; mutations: readonly Mutation[]; corruption: Corruption | undefined };
  readonly body: Buffer;
}

const txCase = jsonCase(validTransaction, mutationArb(TX_FIELDS, TX_OBJECTS, txNearMiss), 12);
const envMutation = mutationArb(ENV_FIELDS, ENV_OBJECTS, envNearMiss);

const wechatCase: fc.Arbitrary<WechatCase> = fc
  .record({
    tx: txCase,
    id: validId,
    createTime: recentRfc3339,
    eventType: fc.constantFrom('TRANSACTION.SUCCESS', 'TRANSACTION.SUCCESS', 'TRANSACTION.SUCCESS', 'TRANSACTION.SUCCESS', 'TRANSACTION.SUCCESS', 'REFUND.SUCCESS'),
    nonce: fc.stringMatching(/^[0-9a-zA-Z]{12}$/),
    originalType: fc.constantFrom('transaction', 'transaction', undefined),
    // A third of the cases break the envelope; the others break (or not) the transaction inside.
    // (Half and half, with a quarter of refunds, left ~97 of 6,000 cases valid against the floor of 75
    // below: about one seed in 70 failed it. Now ~125 (113-143 in four runs), four standard deviations above it.)
    envMutations: fc.oneof({ arbitrary: fc.constant([] as Mutation[]), weight: 2 }, { arbitrary: fc.array(envMutation, { minLength: 1, maxLength: 2 }), weight: 1 }),
    envCorruption: fc.oneof({ arbitrary: fc.constant(undefined), weight: 9 }, { arbitrary: corruption, weight: 1 }),
  })
  .map(({ tx, id, createTime, eventType, nonce, originalType, envMutations, envCorruption: corruption }) => {
    const associatedData = originalType ?? '';
    const resource = encryptWechatpayResource(fz.keys.wechatpayApiV3Key, tx.body, { nonce, associatedData, ...(originalType !== undefined && { originalType }) });
    const envelope = { id, create_time: createTime, resource_type: 'encrypt-resource', event_type: eventType, summary: '支付成功', resource };
    const parts = mutate(envelope, envMutations);
    const text = Buffer.from(toJson(parts), 'utf8');
    const body = corruption ? corrupt(text, corruption) : text;
    return {
      transaction: tx,
      plaintext: tx.body,
      sealed: { ciphertext: resource.ciphertext, nonce, associated_data: associatedData },
      envelope: { parts, mutations: envMutations, corruption },
      body,
    };
  });

function signed(body: Buffer, t: Transport): EventSpec {
  return transported('wechatpay', signWechatpayBody(fz.keys.wechatpayPrivateKey, fz.keys.wechatpaySerial, body), body, t);
}

describe('wechatpay adapter, fuzzed through the Lambda handler on Redis', () => {
  it(`refuses ${RUNS} unsigned or garbage notifications with a 4xx FAIL, touching nothing`, async () => {
    const wechatHeader: fc.Arbitrary<Header> = fc.oneof(
      fc.tuple(fc.mixedCase(fc.constant('wechatpay-timestamp')), fc.oneof(fc.integer({ min: -400, max: 400 }).map((d) => String(nowSeconds() + d)), edgeString(14))),
      fc.tuple(fc.mixedCase(fc.constant('wechatpay-nonce')), fc.oneof(fc.stringMatching(/^[0-9A-F]{32}$/), edgeString(70), fc.constant('a\nb'))),
      fc.tuple(
        fc.mixedCase(fc.constant('wechatpay-signature')),
        fc.oneof(
          fc.uint8Array({ minLength: 256, maxLength: 256 }).map((b) => Buffer.from(b).toString('base64')),
          fc.constant(`${PROBE_PREFIX}${'A'.repeat(40)}`),
          edgeString(60),
          hugeString,
        ),
      ),
      fc.tuple(fc.mixedCase(fc.constant('wechatpay-serial')), fc.oneof(fc.constant(fz.keys.wechatpaySerial), fc.constant(fz.keys.wechatpaySerial.toLowerCase()), edgeString(50))),
      fc.tuple(fc.mixedCase(fc.constant('wechatpay-signature-type')), fc.constantFrom(SIGNATURE_TYPE, `${SIGNATURE_TYPE} `, 'WECHATPAY2-SHA256-RSA', '', 'HMAC-SHA256')),
    );
    await expectGarbageRefused(fz, watch, 'wechatpay', garbageRequest('wechatpay', wechatHeader), 'notification');
  });

  it(`refuses ${RSA_TAMPER_RUNS} valid notifications each tampered in one way (401, 405, 413, 400 for bad base64)`, async () => {
    type WechatTamper = { kind: 'flip'; at: number; xor: number } | { kind: 'drop'; header: string } | { kind: 'header'; header: string; make: (v: string) => string } | { kind: 'repeat'; header: string; value: string };
    const HEADERS = ['wechatpay-timestamp', 'wechatpay-nonce', 'wechatpay-signature', 'wechatpay-serial'];
    const tampers: fc.Arbitrary<WechatTamper> = fc.oneof(
      fc.tuple(fc.double({ min: 0, max: 0.9999, noNaN: true }), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => ({ kind: 'flip' as const, at, xor })),
      fc.constantFrom(...HEADERS).map((header) => ({ kind: 'drop' as const, header })),
      // 303 s and more either way: a second may tick between signing and the check, never three.
      fc.tuple(fc.integer({ min: 303, max: 10_000_000 }), fc.constantFrom(-1, 1)).map(([d, sign]) => ({
        kind: 'header' as const,
        header: 'wechatpay-timestamp',
        make: () => String(nowSeconds() + sign * d),
      })),
      fc.constantFrom<WechatTamper>(
        { kind: 'header', header: 'wechatpay-timestamp', make: (v) => `0${v}` },
        { kind: 'header', header: 'wechatpay-timestamp', make: (v) => ` ${v}` },
        { kind: 'header', header: 'wechatpay-nonce', make: (v) => `${v}X` },
        { kind: 'header', header: 'wechatpay-nonce', make: (v) => `${v}\n` },
        { kind: 'header', header: 'wechatpay-signature', make: (v) => v.replace(/[A-Za-z]/, (c) => (c === 'A' ? 'B' : 'A')) },
        { kind: 'header', header: 'wechatpay-signature', make: (v) => `${PROBE_PREFIX}${v}` },
        { kind: 'header', header: 'wechatpay-signature', make: (v) => `${v}!` },
        { kind: 'header', header: 'wechatpay-signature', make: (v) => v.slice(4) },
        { kind: 'header', header: 'wechatpay-serial', make: (v) => `${v}0` },
        { kind: 'header', header: 'wechatpay-serial', make: () => 'PUB_KEY_ID_0000' },
        { kind: 'header', header: 'wechatpay-signature-type', make: () => 'WECHATPAY2-SHA256-RSA2048 ' },
        { kind: 'header', header: 'wechatpay-signature-type', make: () => 'HMAC-SHA256' },
      ),
      // Payload 2.0 joins a repeated header with commas: a stray copy before the real one.
      fc.tuple(fc.constantFrom(...HEADERS), fc.constantFrom('x', '0', 'AAAA')).map(([header, value]) => ({ kind: 'repeat' as const, header, value })),
    );
    const before = await fz.dbsize();
    await check(
      'wechatpay/tampered',
      fc.asyncProperty(validTransaction, fc.oneof(tampers, commonTamper), fc.constantFrom('1.0' as const, '2.0' as const), async (tx, tamper, payload) => {
        const calls = fz.storeCalls();
        const resource = encryptWechatpayResource(fz.keys.wechatpayApiV3Key, JSON.stringify(tx), { associatedData: 'transaction', originalType: 'transaction' });
        const body = Buffer.from(JSON.stringify({ id: `EV-${randomBytes(6).toString('hex')}`, create_time: rfc3339Beijing(Date.now()), resource_type: 'encrypt-resource', event_type: 'TRANSACTION.SUCCESS', summary: '支付成功', resource }));
        let spec = signed(body, { payload, base64: false, contentType: 'application/json', caseMask: 0x1234 });
        let expected: readonly number[] = [401];
        const named = (h: string) => ([n]: readonly [string, string]) => n.toLowerCase() === h;
        if (tamper.kind === 'flip') {
          const bytes = Buffer.from(body);
          const i = Math.floor(tamper.at * bytes.length);
          bytes[i] = bytes[i]! ^ tamper.xor;
          spec = { ...spec, body: bytes };
        } else if (tamper.kind === 'drop') {
          spec = { ...spec, headers: spec.headers.filter((h) => !named(tamper.header)(h)) };
        } else if (tamper.kind === 'header') {
          spec = { ...spec, headers: spec.headers.map(([n, v]) => (named(tamper.header)([n, v]) ? [n, tamper.make(v)] : [n, v])) };
        } else if (tamper.kind === 'repeat') {
          spec = { ...spec, headers: [[tamper.header, tamper.value], ...spec.headers], payload: '2.0' };
        } else {
          const applied = applyTamper(spec, tamper, fz.runtime.config.maxBodyBytes);
          spec = applied.spec;
          expected = applied.expect;
        }
        const refusal = expectRefusal('wechatpay', await fz.handler(gatewayEvent(spec)));
        ensure(expected.includes(refusal.status), () => `${tamper.kind}: expected ${expected.join(' or ')}, got ${refusal.status} ${refusal.message}`);
        ensure(fz.storeCalls() === calls, () => 'a refused notification called the store');
      }),
      RSA_TAMPER_RUNS,
    );
    expect(await fz.dbsize()).toBe(before);
    await watch.expectNone();
  });

  it(`answers ${RSA_RUNS} signed hostile envelopes and encrypted transactions: 204 exactly when valid, else 4xx FAIL`, async () => {
    const before = new Set(await fz.scanKeys());
    const ledger = new KeyLedger(fz.runtime);
    const adapter = fz.runtime.adapters.get('wechatpay')!;
    const seen: Record<string, number> = {};
    const gate = validGate();
    await check(
      'wechatpay/signed',
      fc.asyncProperty(wechatCase, transport, async (c, t) => {
        const spec = signed(c.body, t);
        const verdict = wechatVerdict(c, fz.runtime.config.maxBodyBytes, Date.now());
        if (verdict === 'score') gate.admit();
        seen[String(verdict)] = (seen[String(verdict)] ?? 0) + 1;
        const calls = fz.storeCalls();
        const res = await fz.handler(gatewayEvent(spec));
        if (verdict === 'score' || verdict === 'ack') {
          ensure(res.statusCode === 204 && (res.body ?? '') === '', () => `expected 204 (${verdict}), got ${res.statusCode} ${res.body}`);
          if (verdict === 'ack') {
            ensure(fz.storeCalls() === calls, () => 'an acknowledged notification called the store');
            return;
          }
          ensure(fz.storeCalls() > calls, () => 'a valid transaction was not counted');
          const headers = Object.fromEntries(spec.headers.map(([n, v]) => [n.toLowerCase(), v]));
          const verified = adapter.verify({ method: 'POST', headers, body: c.body, receivedAt: Date.now() });
          if (verified.kind === 'score') ledger.accept('wechatpay', verified.event);
          return;
        }
        const refusal = expectRefusal('wechatpay', res);
        ensure(refusal.status === verdict, () => `expected ${verdict}, got ${refusal.status}: ${refusal.message}`);
        ensure(fz.storeCalls() === calls, () => 'a refused notification called the store');
        if (verdict === 422 && c.envelope.mutations.length === 0 && !c.envelope.corruption && !c.transaction.structural && !c.transaction.corruption) {
          // Inside the resource, fields are named from "transaction."; the envelope's from the top.
          const message = refusal.message!.startsWith('transaction.') ? refusal.message!.slice('transaction.'.length) : refusal.message!;
          ensure(namesMutatedPath(message, c.transaction.mutations, false) || /^create_time:|^transaction\.(sp_)?mchid: not one of WECHATPAY_MCHIDS/.test(refusal.message!), () => `message names no mutated field: ${refusal.message}`);
        }
      }),
      RSA_RUNS,
    );
    const written = await keysWrittenSince(fz, before);
    expect(ledger.unexplained(written)).toEqual([]);
    expect(seen.score ?? 0, 'the arbitraries must also produce valid transactions').toBeGreaterThan(Math.min(VALID_BUDGET, RSA_RUNS) / 4);
    console.info(`[fuzz] wechatpay/signed verdicts: ${JSON.stringify(seen)}; ${written.length} keys written for the scored`);
    await watch.expectNone();
  });
});
