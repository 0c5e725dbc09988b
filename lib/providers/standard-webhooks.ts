/**
 * Standard Webhooks (standardwebhooks.com) v1 signatures, as pure functions: the generic adapter
 * verifies with them, and `npm run send` and the tests sign with them.
 * Signed content: `${webhook-id}.${webhook-timestamp}.${raw body}`; HMAC-SHA256 keyed with the
 * base64-decoded part of each `whsec_` secret after the prefix; several secrets accepted (rotation).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { STRICT_BASE64 } from '../base64.js';
import { SignatureError } from '../errors.js';

export const TOLERANCE_SECONDS = 5 * 60;
const PREFIX = 'whsec_';

/** Decodes `whsec_<base64>` secrets; throws RangeError naming the problem. */
export function decodeSecret(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new RangeError('a secret starts with whsec_');
  const b64 = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new RangeError('the part after whsec_ is not base64');
  const key = Buffer.from(b64, 'base64');
  if (key.length < 16) throw new RangeError('a secret needs at least 16 bytes of key');
  return key;
}

function hmac(key: Buffer, id: string, timestamp: string, body: Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(body).digest();
}

/** Verifies the three webhook-* headers against the raw body. Returns the webhook-id. */
export function verifyStandardWebhook(
  headers: Readonly<Record<string, string>>,
  body: Buffer,
  keys: readonly Buffer[],
  nowMs: number,
): string {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signature = headers['webhook-signature'];
  if (!id || !timestamp || !signature) {
    const missing = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].filter((h) => !headers[h]);
    throw new SignatureError(`missing header ${missing.join(', ')}`);
  }
  if (id.length > 256 || id.includes('.')) throw new SignatureError('webhook-id is malformed');
  if (!/^\d{1,12}$/.test(timestamp)) throw new SignatureError('webhook-timestamp is not an integer of seconds');
  const skew = Math.floor(nowMs / 1000) - Number(timestamp);
  if (skew > TOLERANCE_SECONDS) throw new SignatureError('webhook-timestamp is too old (more than 5 minutes)');
  if (skew < -TOLERANCE_SECONDS) throw new SignatureError('webhook-timestamp is in the future (more than 5 minutes)');
  const v1 = signature
    .split(' ')
    .filter((part) => part.startsWith('v1,'))
    .map((part) => part.slice(3));
  if (v1.length === 0) throw new SignatureError('webhook-signature has no v1 signature');
  // Strict base64: Buffer.from would skip stray characters and stop at '=', accepting "v1,,<sig>" or "v1,<sig>=junk".
  const candidates = v1.filter((b64) => STRICT_BASE64.test(b64)).map((b64) => Buffer.from(b64, 'base64'));
  for (const key of keys) {
    const expected = hmac(key, id, timestamp, body);
    for (const candidate of candidates) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) return id;
    }
  }
  throw new SignatureError('webhook-signature does not match');
}

/** The headers a sender puts on a request: what `npm run send` and the tests use. */
export function signStandardWebhook(
  secret: string,
  id: string,
  body: string | Buffer,
  timestampSeconds = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const signature = hmac(decodeSecret(secret), id, String(timestampSeconds), raw).toString('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${signature}` };
}
