/**
 * Strict padded standard base64, as API Gateway encodes bodies and providers encode signatures and
 * ciphertexts. Buffer.from(_, 'base64') skips what is not base64 and stops at '=': check first.
 */
export const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
