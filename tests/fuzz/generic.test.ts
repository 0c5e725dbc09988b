/**
 * Fuzzing /webhooks/generic through the whole Lambda handler, on Redis:
 * (a) garbage and tampered requests (no valid signature) are refused 4xx in the JSON error shape;
 * (b) hostile events SIGNED with the configured secret reach the parser and the schema: 200 exactly
 *     when an independent oracle says the event is valid, else 400/413/422 naming the field.
 * Never a 5xx, never a store call or a Redis key for a refused request, never an unhandled rejection.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signStandardWebhook } from '../../lib/providers/standard-webhooks.js';
import { edgeString, hugeString } from '../support/fuzz-arbitraries.js';
import { genericCase, genericVerdict, validGenericEvent } from '../support/fuzz-generic.js';
import {
  type EventSpec,
  KeyLedger,
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
import { namesMutatedPath } from '../support/fuzz-mutations.js';
import { type Header, applyTamper, commonTamper, garbageRequest } from '../support/fuzz-requests.js';

const DB = 11;
const { fz, watch } = useFuzzRuntime(DB);

const nowSeconds = () => Math.floor(Date.now() / 1000);

const genericHeader: fc.Arbitrary<Header> = fc.oneof(
  fc.tuple(fc.mixedCase(fc.constant('webhook-id')), fc.oneof(fc.constant('msg_1'), edgeString(40), hugeString)),
  fc.tuple(
    fc.mixedCase(fc.constant('webhook-timestamp')),
    fc.oneof(
      fc.integer({ min: -400, max: 400 }).map((d) => String(nowSeconds() + d)),
      edgeString(15),
      fc.constantFrom('0', '-1', '1e9', '９', '99999999999999999999', ' 1700000000', '1700000000.0'),
    ),
  ),
  fc.tuple(
    fc.mixedCase(fc.constant('webhook-signature')),
    fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `v1,${Buffer.from(b).toString('base64')}`),
      fc.array(fc.uint8Array({ maxLength: 40 }).map((b) => `v1,${Buffer.from(b).toString('base64')}`), { maxLength: 5 }).map((a) => a.join(' ')),
      edgeString(60).map((s) => `v1,${s}`),
      edgeString(60),
      hugeString,
    ),
  ),
);

/** A signed request for a body, as a sender would send it (the header names' case and the transport vary). */
function signed(body: Buffer, t: Transport, msgId = `msg_${randomBytes(8).toString('hex')}`): EventSpec {
  return transported('generic', signStandardWebhook(fz.keys.genericSecret, msgId, body), body, t);
}

const plainTransport = (payload: '1.0' | '2.0'): Transport => ({ payload, base64: false, contentType: 'application/json', caseMask: 0x5555 });

describe('generic adapter, fuzzed through the Lambda handler on Redis', () => {
  it(`refuses ${RUNS} unsigned or garbage requests with a 4xx JSON error, touching nothing`, async () => {
    await expectGarbageRefused(fz, watch, 'generic', garbageRequest('generic', genericHeader), 'request');
  });

  it(`refuses ${RUNS} valid requests each tampered in one way (401, 405, 413, 400 for bad base64)`, async () => {
    type GenericTamper =
      | { kind: 'flip'; at: number; xor: number }
      | { kind: 'drop'; header: string }
      | { kind: 'header'; header: string; value: string }
      | { kind: 'repeat'; header: string; value: string };
    const generic: fc.Arbitrary<GenericTamper> = fc.oneof(
      fc.tuple(fc.double({ min: 0, max: 0.9999, noNaN: true }), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => ({ kind: 'flip' as const, at, xor })),
      fc.constantFrom('webhook-id', 'webhook-timestamp', 'webhook-signature').map((header) => ({ kind: 'drop' as const, header })),
      fc.tuple(fc.constant('webhook-id'), edgeString(30)).map(([header, value]) => ({ kind: 'header' as const, header, value })),
      fc
        .oneof(
          fc.integer({ min: 301, max: 10_000_000 }).map((d) => String(nowSeconds() - d)),
          // 303 s and more ahead: a second may tick between signing and the check, never three.
          fc.integer({ min: 303, max: 10_000_000 }).map((d) => String(nowSeconds() + d)),
          fc.constantFrom(' ', '+', '0', '\n').map((p) => `${p}${nowSeconds()}`),
          fc.constantFrom('.0', 'e0', ' ', '\u0000').map((s) => `${nowSeconds()}${s}`),
        )
        .map((value) => ({ kind: 'header' as const, header: 'webhook-timestamp', value })),
      fc
        .oneof(
          fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `v1,${Buffer.from(b).toString('base64')}`),
          fc.constantFrom('v2,', 'V1,', '', 'v1, ', 'v1,,', 'v1a,').map((p) => `${p}SIG`),
        )
        .map((value) => ({ kind: 'header' as const, header: 'webhook-signature', value })),
      // Payload 2.0 joins a repeated header with commas: a stray copy before the real one.
      fc.tuple(fc.constantFrom('webhook-id', 'webhook-timestamp', 'webhook-signature'), fc.oneof(edgeString(20), fc.constant('v1,AAAA'))).map(([header, value]) => ({
        kind: 'repeat' as const,
        header,
        value,
      })),
    );
    const before = await fz.dbsize();
    await check(
      'generic/tampered',
      fc.asyncProperty(validGenericEvent, fc.oneof(generic, commonTamper), fc.constantFrom('1.0' as const, '2.0' as const), async (event, tamper, payload) => {
        const calls = fz.storeCalls();
        const body = Buffer.from(JSON.stringify(event), 'utf8');
        let spec = signed(body, plainTransport(payload));
        let expected: readonly number[] = [401];
        const sig = spec.headers.find(([n]) => n.toLowerCase() === 'webhook-signature')![1];
        if (tamper.kind === 'flip') {
          const bytes = Buffer.from(body);
          const i = Math.floor(tamper.at * bytes.length);
          bytes[i] = bytes[i]! ^ tamper.xor;
          spec = { ...spec, body: bytes, base64: true };
        } else if (tamper.kind === 'drop') {
          spec = { ...spec, headers: spec.headers.filter(([n]) => n.toLowerCase() !== tamper.header) };
        } else if (tamper.kind === 'header') {
          const value = tamper.value.replace('SIG', sig.slice(3));
          spec = { ...spec, headers: spec.headers.map(([n, v]) => (n.toLowerCase() === tamper.header ? [n, value] : [n, v])) };
        } else if (tamper.kind === 'repeat') {
          spec = { ...spec, headers: [[tamper.header, tamper.value], ...spec.headers], payload: '2.0' };
        } else {
          const applied = applyTamper(spec, tamper, fz.runtime.config.maxBodyBytes);
          spec = applied.spec;
          expected = applied.expect;
        }
        const res = await fz.handler(gatewayEvent(spec));
        const refusal = expectRefusal('generic', res);
        ensure(expected.includes(refusal.status), () => `${tamper.kind}: expected ${expected.join(' or ')}, got ${refusal.status} ${refusal.code}: ${refusal.message}`);
        ensure(fz.storeCalls() === calls, () => 'a refused request called the store');
      }),
    );
    expect(await fz.dbsize()).toBe(before);
    await watch.expectNone();
  });

  it(`answers ${RUNS} signed hostile events: 200 exactly when valid, else 400/413/422 naming the field, nothing counted`, async () => {
    const before = new Set(await fz.scanKeys());
    const ledger = new KeyLedger(fz.runtime);
    const adapter = fz.runtime.adapters.get('generic')!;
    const gate = validGate();
    let accepted = 0;
    await check(
      'generic/signed',
      fc.asyncProperty(
        genericCase,
        transport,
        async (c, t) => {
          const spec = signed(c.body, t);
          const event = gatewayEvent(spec);
          const verdict = genericVerdict(c.parts, c.body, c.corruption !== undefined, fz.runtime.config.maxBodyBytes, Date.now());
          if (verdict === 200) gate.admit();
          const calls = fz.storeCalls();
          const res = await fz.handler(event);
          if (verdict === 200) {
            ensure(res.statusCode === 200, () => `expected 200 for a valid event, got ${res.statusCode}: ${String(res.body).slice(0, 300)}`);
            const json = JSON.parse(String(res.body)) as Record<string, unknown>;
            ensure(Object.keys(json).sort().join(',') === 'decision,degraded,eventId,policyVersion,reasons,score', () => `decision shape: ${res.body}`);
            ensure(json.degraded === false, () => `degraded decision: ${res.body}`);
            ensure(fz.storeCalls() > calls, () => 'a valid event was not counted');
            // The event as the adapter read it, for the key ledger (verify is pure: it touches no store).
            const headers = Object.fromEntries(spec.headers.map(([n, v]) => [n.toLowerCase(), v]));
            const verified = adapter.verify({ method: 'POST', headers, body: c.body, receivedAt: Date.now() });
            if (verified.kind === 'score') ledger.accept('generic', verified.event);
            accepted++;
            return;
          }
          const refusal = expectRefusal('generic', res);
          ensure(refusal.status === verdict, () => `expected ${verdict}, got ${refusal.status} ${refusal.code}: ${refusal.message}`);
          ensure(fz.storeCalls() === calls, () => 'a refused request called the store');
          if (verdict === 422) ensure(namesMutatedPath(refusal.message!, c.mutations, c.structural || c.corruption !== undefined), () => `message does not name a mutated field: ${refusal.message}`);
          if (verdict === 400) ensure(/^body\b/.test(refusal.message!), () => `400 message does not start with "body": ${refusal.message}`);
        },
      ),
    );
    const written = await keysWrittenSince(fz, before);
    expect(ledger.unexplained(written)).toEqual([]);
    expect(accepted, 'the arbitraries must also produce valid events').toBeGreaterThanOrEqual(Math.min(VALID_BUDGET, RUNS / 50));
    console.info(`[fuzz] generic/signed: ${accepted} of ${RUNS} cases were valid (200), ${written.length} keys written for them`);
    await watch.expectNone();
  });

  it('answers 404 in the JSON error shape for unknown provider paths', async () => {
    const before = await fz.dbsize();
    await check(
      'http/unknown-provider',
      fc.asyncProperty(
        fc.oneof(edgeString(40), fc.constantFrom('__proto__', 'constructor', 'toString', 'Generic', 'GENERIC', 'generic ', 'generic/', 'stripe\u0000', '', 'hasOwnProperty')),
        async (provider) => {
          fc.pre(!['generic', 'stripe', 'alipay', 'wechatpay'].includes(provider));
          const res = await fz.handler(gatewayEvent({ provider, headers: [], body: '{}' }));
          ensure(expectRefusal('generic', res).status === 404, () => `expected 404 for provider ${JSON.stringify(provider)}`);
        },
      ),
      2_000,
    );
    expect(await fz.dbsize()).toBe(before);
    await watch.expectNone();
  });
});
