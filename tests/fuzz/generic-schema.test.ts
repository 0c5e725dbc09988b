/**
 * Fuzzing the generic schema and the strict JSON reader directly (no handler, no Redis): structurally
 * plausible events with fields replaced by hostile values. GenericEventV1 must agree with an
 * independent oracle, every refusal must be a SchemaError or BodyParseError whose message names a
 * field path, and an accepted event must map to a valid PaymentEvent carrying the same values.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyParseError, RiskhookError, SchemaError } from '../../lib/errors.js';
import { PaymentEvent } from '../../lib/events.js';
import { GenericEventV1, createGenericAdapter, describeIssues } from '../../lib/providers/generic.js';
import { parseStrictJson } from '../../lib/providers/json.js';
import { signStandardWebhook } from '../../lib/providers/standard-webhooks.js';
import type { RawRequest } from '../../lib/providers/types.js';
import { anyCodePoint, edgeString, hostileValue, jsonEqual, plain, textProblem, toJson } from '../support/fuzz-arbitraries.js';
import { genericCase, genericVerdict, isValidGenericEvent } from '../support/fuzz-generic.js';
import { RUNS, check, ensure } from '../support/fuzz-harness.js';
import { namesMutatedPath } from '../support/fuzz-mutations.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const adapter = createGenericAdapter([secret]);
const MAX_BODY = 65_536;

function signedRequest(body: Buffer): RawRequest {
  const headers = signStandardWebhook(secret, `msg_${randomBytes(6).toString('hex')}`, body);
  return { method: 'POST', headers, body, receivedAt: Date.now() };
}

describe('generic schema (GenericEventV1) and adapter.verify, fuzzed directly', () => {
  it(`GenericEventV1 and adapter.verify on ${RUNS} signed hostile bodies: the oracle's verdict, a SchemaError or BodyParseError naming the field, nothing else`, async () => {
    let schemaChecked = 0;
    await check(
      'generic-schema',
      fc.property(genericCase, (c) => {
        // 1. The schema alone, on values (what JSON.parse made of the body): text-level problems are the reader's.
        if (c.corruption === undefined && textProblem(c.parts) === undefined) {
          const value = plain(c.parts);
          const parsed = GenericEventV1.safeParse(value);
          const oracle = isValidGenericEvent(value, Date.now(), false);
          ensure(parsed.success === oracle, () => `zod says ${parsed.success}, the oracle ${oracle}: ${parsed.success ? '' : describeIssues(parsed.error)}`);
          if (!parsed.success) {
            const message = describeIssues(parsed.error);
            ensure(message.length <= 1_000, () => `message of ${message.length} characters`);
            ensure(namesMutatedPath(message, c.mutations, c.structural), () => `message names no mutated field: ${message}`);
          }
          schemaChecked++;
        }
        // 2. The adapter on the signed bytes: reader, schema, mapping.
        const verdict = genericVerdict(c.parts, c.body, c.corruption !== undefined, MAX_BODY, Date.now());
        if (verdict === 413) return; // the size limit is lib/http's, before any adapter
        let outcome: ReturnType<typeof adapter.verify> | RiskhookError;
        try {
          outcome = adapter.verify(signedRequest(c.body));
        } catch (error) {
          ensure(error instanceof RiskhookError, () => `verify threw a non-RiskhookError: ${(error as Error)?.stack}`);
          outcome = error;
        }
        if (verdict === 200) {
          ensure(!(outcome instanceof RiskhookError), () => `a valid event was refused: ${(outcome as Error).message}`);
          ensure(outcome.kind === 'score', () => `expected a score, got ${outcome.kind}`);
          const event = outcome.event;
          const input = plain(c.parts) as { id: string; amount: { minor: number; currency: string }; account: { id: string }; merchant: { id: string } };
          ensure(PaymentEvent.safeParse(event).success, () => `not a valid PaymentEvent: ${JSON.stringify(event)}`);
          ensure(event.id === input.id && event.amount.minor === input.amount.minor && event.amount.currency === input.amount.currency, () => 'id or amount changed');
          ensure(event.account.id === input.account.id && event.merchant.id === input.merchant.id, () => 'account or merchant changed');
          return;
        }
        const expected = verdict === 400 ? BodyParseError : SchemaError;
        ensure(outcome instanceof expected, () => `expected ${expected.name} (${verdict}), got ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : 'a score'}`);
        const message = (outcome as RiskhookError).message;
        if (verdict === 422) ensure(namesMutatedPath(message, c.mutations, c.structural || c.corruption !== undefined), () => `message names no mutated field: ${message}`);
        else ensure(/^body\b/.test(message), () => `message does not say "body": ${message}`);
      }),
      RUNS,
    );
    expect(schemaChecked).toBeGreaterThan(RUNS / 2);
  });

  it(`the strict JSON reader returns what JSON.parse returns, or refuses with a reason, on ${RUNS} values and texts`, async () => {
    const texts = fc.oneof(
      fc.oneof(fc.jsonValue({ maxDepth: 5 }), hostileValue).map((v) => ({ text: toJson(v), problem: textProblem(v) })),
      fc.oneof(edgeString(60), fc.string({ unit: anyCodePoint, maxLength: 60 })).map((text) => ({ text, problem: undefined as string | undefined })),
    );
    await check(
      'strict-json/differential',
      fc.property(texts, ({ text, problem }) => {
        let expectedValue: unknown;
        let syntaxOk = true;
        try {
          expectedValue = JSON.parse(text);
        } catch {
          syntaxOk = false;
        }
        // A text with a lone surrogate has no UTF-8 form (Buffer would write U+FFFD): not this property's business.
        fc.pre(!/\p{Cs}/u.test(text));
        let result: unknown;
        try {
          result = parseStrictJson(Buffer.from(text, 'utf8'));
        } catch (error) {
          ensure(error instanceof BodyParseError, () => `not a BodyParseError: ${(error as Error)?.stack}`);
          ensure(!syntaxOk ? /not valid JSON/.test(error.message) : problem !== undefined || /more than once|__proto__|lone surrogate/.test(error.message), () => `refused ${text.slice(0, 80)}: ${error.message}`);
          return;
        }
        ensure(syntaxOk && problem === undefined, () => `accepted ${text.slice(0, 80)} (${problem})`);
        ensure(jsonEqual(result, expectedValue), () => `read ${text.slice(0, 80)} differently from JSON.parse`);
      }),
      RUNS,
    );
  });
});
