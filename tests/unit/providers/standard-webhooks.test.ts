/**
 * Standard Webhooks signatures, cross-checked against the official `standardwebhooks` package:
 * what we sign they accept, what they sign we accept, and every tampering is a SignatureError.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SignatureError } from '../../../lib/errors.js';
import {
  TOLERANCE_SECONDS,
  decodeSecret,
  signStandardWebhook,
  verifyStandardWebhook,
} from '../../../lib/providers/standard-webhooks.js';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const SECRET = newSecret();
const KEYS = [decodeSecret(SECRET)];
const TS = Date.UTC(2026, 10, 22, 9, 0, 0) / 1_000; // in seconds
const NOW_MS = TS * 1_000;
const ID = 'msg_2nGqY4cQw8Hf';
// Non-ASCII on purpose: both sides must sign the UTF-8 bytes, not UTF-16 code units.
const PAYLOAD = { id: 'evt_1', merchant: '商户', amount: { minor: 3_500, currency: 'CNY' } };
const BODY = JSON.stringify(PAYLOAD);

const ourHeaders = (over: Record<string, string> = {}) => ({ ...signStandardWebhook(SECRET, ID, BODY, TS), ...over });

function rejection(headers: Record<string, string>, body = Buffer.from(BODY), keys = KEYS, nowMs = NOW_MS): SignatureError {
  try {
    verifyStandardWebhook(headers, body, keys, nowMs);
  } catch (error) {
    expect(error).toBeInstanceOf(SignatureError);
    return error as SignatureError;
  }
  throw new Error('expected a SignatureError, but the request verified');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('interoperability with the standardwebhooks package', () => {
  it('the published test vector signs to the published signature', () => {
    // From the Standard Webhooks / Svix reference test suites: an independent fixed point.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const headers = signStandardWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', '{"test": 2432232314}', 1_614_265_330);
    expect(headers['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('our signature verifies with Webhook.verify', () => {
    const now = Math.floor(Date.now() / 1_000); // their verify checks the timestamp against the real clock
    const headers = signStandardWebhook(SECRET, ID, BODY, now);
    expect(new Webhook(SECRET).verify(BODY, headers)).toEqual(PAYLOAD);
  });

  it('our default timestamp is now, so their verify accepts it without one', () => {
    expect(new Webhook(SECRET).verify(BODY, signStandardWebhook(SECRET, ID, BODY))).toEqual(PAYLOAD);
  });

  it('their Webhook.sign output verifies with verifyStandardWebhook', () => {
    const signature = new Webhook(SECRET).sign(ID, new Date(NOW_MS), BODY);
    const headers = { 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': signature };
    expect(verifyStandardWebhook(headers, Buffer.from(BODY), KEYS, NOW_MS)).toBe(ID);
  });

  it('produces the same signature as Webhook.sign', () => {
    expect(ourHeaders()['webhook-signature']).toBe(new Webhook(SECRET).sign(ID, new Date(NOW_MS), BODY));
  });

  it.each([
    -TOLERANCE_SECONDS - 1, -TOLERANCE_SECONDS, 0, TOLERANCE_SECONDS, TOLERANCE_SECONDS + 1,
  ])('agrees with Webhook.verify on a clock %i s ahead of the timestamp', (skew) => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime((TS + skew) * 1_000);
    const headers = ourHeaders();
    const theirs = (() => {
      try {
        new Webhook(SECRET).verify(BODY, headers);
        return true;
      } catch {
        return false;
      }
    })();
    const ours = (() => {
      try {
        verifyStandardWebhook(headers, Buffer.from(BODY), KEYS, Date.now());
        return true;
      } catch {
        return false;
      }
    })();
    expect(ours).toBe(theirs);
    expect(ours).toBe(Math.abs(skew) <= TOLERANCE_SECONDS);
  });
});

describe('verifyStandardWebhook', () => {
  it('returns the webhook-id of a valid request', () => {
    expect(verifyStandardWebhook(ourHeaders(), Buffer.from(BODY), KEYS, NOW_MS)).toBe(ID);
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('rejects a request without %s, naming it', (name) => {
    const headers: Record<string, string> = ourHeaders();
    delete headers[name];
    expect(rejection(headers).message).toContain(name);
    // An empty header is as good as missing.
    expect(rejection({ ...ourHeaders(), [name]: '' }).message).toContain(name);
  });

  it('rejects a body with one byte changed', () => {
    const body = Buffer.from(BODY);
    body[10] = body[10]! ^ 0x01;
    expect(rejection(ourHeaders(), body).message).toMatch(/does not match/);
  });

  it('rejects a changed webhook-id (the id is signed, so a replay cannot pose as a new message)', () => {
    expect(rejection(ourHeaders({ 'webhook-id': 'msg_other' })).message).toMatch(/does not match/);
  });

  it('rejects a changed timestamp, even one inside the tolerance', () => {
    expect(rejection(ourHeaders({ 'webhook-timestamp': String(TS + 1) })).message).toMatch(/does not match/);
  });

  it('rejects a webhook-id with a dot, which would make the signed content ambiguous', () => {
    const headers = signStandardWebhook(SECRET, 'msg.1', BODY, TS);
    expect(rejection(headers).message).toMatch(/webhook-id/);
  });

  it('accepts a timestamp exactly 5 minutes old, and rejects one a second older', () => {
    expect(verifyStandardWebhook(ourHeaders(), Buffer.from(BODY), KEYS, (TS + 300) * 1_000)).toBe(ID);
    expect(rejection(ourHeaders(), Buffer.from(BODY), KEYS, (TS + 301) * 1_000).message).toMatch(/too old/);
  });

  it('accepts a timestamp exactly 5 minutes ahead, and rejects one a second further', () => {
    expect(verifyStandardWebhook(ourHeaders(), Buffer.from(BODY), KEYS, (TS - 300) * 1_000)).toBe(ID);
    expect(rejection(ourHeaders(), Buffer.from(BODY), KEYS, (TS - 301) * 1_000).message).toMatch(/future/);
  });

  it.each(['16142653a0', `${TS}.5`, `-${TS}`, `0x${TS.toString(16)}`, ` ${TS}`, '1e9', '1234567890123'])(
    'rejects the non-numeric or malformed timestamp %j',
    (timestamp) => {
      expect(rejection(ourHeaders({ 'webhook-timestamp': timestamp })).message).toMatch(/webhook-timestamp/);
    },
  );

  it('rejects a signature made with another secret', () => {
    const headers = signStandardWebhook(newSecret(), ID, BODY, TS);
    expect(rejection(headers).message).toMatch(/does not match/);
  });

  it('rejects a valid signature under any version but v1', () => {
    const sig = ourHeaders()['webhook-signature']!.slice('v1,'.length);
    for (const signature of [`v1a,${sig}`, `v2,${sig}`, `v1a,${sig} v2,${sig}`, sig]) {
      expect(rejection(ourHeaders({ 'webhook-signature': signature })).message, signature).toMatch(/no v1 signature/);
    }
  });

  it('accepts when any one of several signatures is valid', () => {
    const good = ourHeaders()['webhook-signature'];
    const bad = signStandardWebhook(newSecret(), ID, BODY, TS)['webhook-signature'];
    for (const signature of [`${bad} ${good}`, `${good} ${bad}`, `v1a,abcd ${good}`]) {
      expect(verifyStandardWebhook(ourHeaders({ 'webhook-signature': signature }), Buffer.from(BODY), KEYS, NOW_MS)).toBe(ID);
    }
    expect(rejection(ourHeaders({ 'webhook-signature': `${bad} ${bad}` })).message).toMatch(/does not match/);
  });

  it('accepts a signature from any configured secret (rotation), and none from an unlisted one', () => {
    const [oldSecret, newer] = [newSecret(), newSecret()];
    const keys = [decodeSecret(oldSecret), decodeSecret(newer)];
    const fromNew = signStandardWebhook(newer, ID, BODY, TS);
    expect(verifyStandardWebhook(fromNew, Buffer.from(BODY), keys, NOW_MS)).toBe(ID);
    const fromOld = signStandardWebhook(oldSecret, ID, BODY, TS);
    expect(verifyStandardWebhook(fromOld, Buffer.from(BODY), keys, NOW_MS)).toBe(ID);
    rejection(signStandardWebhook(newSecret(), ID, BODY, TS), Buffer.from(BODY), keys);
  });

  it('rejects everything when no secret is configured', () => {
    rejection(ourHeaders(), Buffer.from(BODY), []);
  });
});

describe('decodeSecret', () => {
  it('returns the bytes after whsec_', () => {
    const key = randomBytes(24);
    expect(decodeSecret(`whsec_${key.toString('base64')}`).equals(key)).toBe(true);
  });

  it.each([
    [randomBytes(24).toString('base64'), /starts with whsec_/],
    [`WHSEC_${randomBytes(24).toString('base64')}`, /starts with whsec_/],
    ['whsec_', /not base64/],
    ['whsec_not*base64!', /not base64/],
    [`whsec_${randomBytes(24).toString('base64url').replace(/[-_]/g, '')}-_`, /not base64/],
    [`whsec_${randomBytes(15).toString('base64')}`, /at least 16 bytes/],
  ])('refuses %j', (secret, message) => {
    expect(() => decodeSecret(secret)).toThrow(RangeError);
    expect(() => decodeSecret(secret)).toThrow(message);
  });

  it('accepts exactly 16 bytes of key', () => {
    expect(decodeSecret(`whsec_${randomBytes(16).toString('base64')}`)).toHaveLength(16);
  });
});
