/**
 * Whole requests for the fuzz suites: garbage (no valid signature can be in it), and valid signed
 * requests corrupted in exactly one way that must make them fail (tampering).
 */
import fc from 'fast-check';
import {
  BASE64_JUNK,
  contentType,
  corruptBase64,
  edgeString,
  hugeString,
  invalidUtf8,
  otherMethod,
  spliceBytes,
} from './fuzz-arbitraries.js';
import type { EventSpec } from './fuzz-harness.js';

export type Header = readonly [string, string];

/** Strict, padded base64 as API Gateway writes it (an independent check of what rawRequest must accept). */
export const isStrictBase64 = (s: string) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s);

/** Names API Gateway and proxies add, in any case, with hostile values. */
const COMMON_NAMES = ['content-type', 'content-length', 'host', 'user-agent', 'x-forwarded-for', 'x-amzn-trace-id', 'accept', 'transfer-encoding', 'cookie', 'authorization'];

export const randomHeader: fc.Arbitrary<Header> = fc.tuple(
  fc.oneof(fc.mixedCase(fc.constantFrom(...COMMON_NAMES)), edgeString(20).filter((s) => s.length > 0), fc.constantFrom('__proto__', 'constructor', 'toString', '')),
  fc.oneof({ arbitrary: edgeString(60), weight: 5 }, { arbitrary: hugeString, weight: 1 }),
);

export const contentTypeHeader: fc.Arbitrary<Header> = fc.tuple(fc.mixedCase(fc.constant('content-type')), contentType);

/** A body no signature can cover: random bytes, text, JSON, deep or truncated JSON, huge, invalid UTF-8, bad base64, none. */
export const garbageBody: fc.Arbitrary<Pick<EventSpec, 'body' | 'base64'>> = fc.oneof(
  fc.uint8Array({ maxLength: 1_024 }).map((b) => ({ body: Buffer.from(b) })),
  edgeString(200).map((s) => ({ body: s })),
  fc.json({ maxDepth: 4 }).map((s) => ({ body: s })),
  fc.tuple(fc.json({ maxDepth: 4 }), fc.double({ min: 0, max: 1, noNaN: true })).map(([s, at]) => ({ body: s.slice(0, Math.floor(s.length * at)) })),
  fc.integer({ min: 1, max: 30_000 }).map((n) => ({ body: `${'['.repeat(n)}${']'.repeat(n)}` })),
  fc.integer({ min: 1, max: 30_000 }).map((n) => ({ body: '{"a":['.repeat(n) })),
  hugeString.map((s) => ({ body: s })),
  fc.tuple(fc.json({ maxDepth: 2 }), fc.double({ min: 0, max: 1, noNaN: true }), invalidUtf8).map(([s, at, bad]) => ({ body: spliceBytes(Buffer.from(s), at, bad) })),
  fc.constantFrom<Pick<EventSpec, 'body' | 'base64'>>({ body: null }, { body: '' }, { body: '', base64: true }, { body: '\ufeff{}' }, { body: 'null' }),
  fc
    .tuple(fc.uint8Array({ maxLength: 300 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...BASE64_JUNK))
    .map(([b, at, junk]) => ({ body: corruptBase64(Buffer.from(b).toString('base64'), at, junk), base64: true })),
  edgeString(100).map((s) => ({ body: s, base64: true })),
  fc.integer({ min: 80_000, max: 120_000 }).map((n) => ({ body: 'A'.repeat(n), base64: true })),
);

/** A garbage request to /webhooks/{provider}: the provider's own header names (any case, any value) among others. */
export function garbageRequest(provider: string, providerHeaders: fc.Arbitrary<Header>): fc.Arbitrary<EventSpec> {
  return fc.record({
    provider: fc.constant(provider),
    headers: fc.array(fc.oneof({ arbitrary: providerHeaders, weight: 4 }, { arbitrary: randomHeader, weight: 1 }, { arbitrary: contentTypeHeader, weight: 1 }), { maxLength: 8 }),
    body: garbageBody,
    method: fc.oneof({ arbitrary: fc.constant('POST'), weight: 9 }, { arbitrary: otherMethod, weight: 1 }),
    payload: fc.constantFrom('1.0' as const, '2.0' as const),
  }).map(({ body, ...rest }) => ({ ...rest, ...body }));
}

/** Corruptions of a valid request that no provider may accept, with the status each must get. */
export type Tamper =
  | { readonly kind: 'method'; readonly method: string }
  | { readonly kind: 'oversize'; readonly extra: number }
  | { readonly kind: 'base64'; readonly at: number; readonly junk: string };

export const commonTamper: fc.Arbitrary<Tamper> = fc.oneof(
  otherMethod.map((method) => ({ kind: 'method' as const, method })),
  fc.integer({ min: 1, max: 70_000 }).map((extra) => ({ kind: 'oversize' as const, extra })),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(...BASE64_JUNK)).map(([at, junk]) => ({ kind: 'base64' as const, at, junk })),
);

/**
 * Applies a common tamper to a valid request; returns the request and the status it must get
 * (405; 413; 400 for base64 that is not strict base64, else the signature fails: 401, or a form that no longer parses: 400).
 */
export function applyTamper(spec: EventSpec, tamper: Tamper, maxBodyBytes: number): { spec: EventSpec; expect: readonly number[] } {
  const bytes = Buffer.isBuffer(spec.body) ? spec.body : Buffer.from(spec.body ?? '', spec.base64 ? 'base64' : 'utf8');
  switch (tamper.kind) {
    case 'method':
      return { spec: { ...spec, method: tamper.method }, expect: [405] };
    case 'oversize': {
      const padded = Buffer.concat([bytes, Buffer.alloc(maxBodyBytes - bytes.length + tamper.extra, 0x20)]);
      const base64 = Buffer.isBuffer(spec.body) || spec.base64 === true;
      return { spec: { ...spec, body: base64 ? padded.toString('base64') : padded.toString('utf8'), base64 }, expect: [413] };
    }
    case 'base64': {
      const b64 = corruptBase64(bytes.toString('base64'), tamper.at, tamper.junk);
      // Still strict base64 (the junk was whole quanta of the alphabet): other bytes, so the signature fails.
      return { spec: { ...spec, body: b64, base64: true }, expect: isStrictBase64(b64) ? (Buffer.from(b64, 'base64').equals(bytes) ? [200, 204] : [400, 401]) : [400] };
    }
  }
}
