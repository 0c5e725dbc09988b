/** Public keys as providers hand them out: PEM blocks, or the bare base64 SPKI that Alipay's console shows. */
import { type KeyObject, createPublicKey } from 'node:crypto';

/** Several keys in one variable: concatenated PEM blocks, or comma-separated bare base64. */
export function splitPublicKeys(text: string): string[] {
  const pems = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g);
  if (pems) return pems;
  return text
    .split(',')
    .map((s) => s.replace(/\s+/g, ''))
    .filter(Boolean)
    .map((b64) => `-----BEGIN PUBLIC KEY-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----`);
}

/** An RSA public key, or a RangeError saying why not. */
export function rsaPublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new RangeError(`not a public key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new RangeError(`expected an RSA public key, got ${key.asymmetricKeyType}`);
  return key;
}
