/**
 * Local-only defaults, so `npm start` and `serverless invoke local` work with no environment.
 * They are public (this file is in the repo): config refuses them whenever riskhook is not running
 * locally, even when set explicitly.
 */
export const LOCAL_GENERIC_SECRET = `whsec_${Buffer.from('riskhook-local-only-generic-secret-000').toString('base64')}`;
export const LOCAL_PEPPER = 'riskhook-local-only-pepper-do-not-deploy';
export const LOCAL_BASE_URL = 'http://localhost:3000';

/** Stripe webhook signing secret for local runs (the whole string is the HMAC key, as Stripe does it). */
export const LOCAL_STRIPE_SECRET = 'whsec_riskhook_local_only_stripe_secret';

/** Public half of the key pair in examples/keys/alipay-local-private.pem, playing Alipay locally. */
export const LOCAL_ALIPAY_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAos/HmHsZiIrQZzp6DdQR
W32QQvkY035EP7PCZ5w3PvWT58ioWD1bD5RN+J2ZFbBOutVDcL5FExZfGMBjqW2g
99jmQUzjf6mP8Y8xsd6cE9xzULAMeeA7T+aTrtM4PyO+FJAPy5LU6UvpVUhWzMhu
qa5X1biJO6tA+8O+xIvEKe30GV8ntHXRJokKwzNioxVO42y4MZ1ZEbxVxVEBgcsa
+xR/nhUKZDUKLq72gP4w4LlfjPMsXegkiYLH8/Kkq5/iZZJ24ZNIoNfDY9WG3PSd
W1VCpU+oSw7reUunrV+Cs2AO7GUBHMUvnAJql5W1YtEiYpxMNJK51dGvek8iMS7H
6QIDAQAB
-----END PUBLIC KEY-----`;

/** WeChat Pay platform key for local runs: serial -> public half of examples/keys/wechatpay-local-private.pem. */
export const LOCAL_WECHATPAY_SERIAL = 'PUB_KEY_ID_0000000000000000RISKHOOKLOCAL';
export const LOCAL_WECHATPAY_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsS2AYV6T7hQksMdIZn0Z
yFaO3OCasnerHtDFfme+7J7WRd50q8sSLamLzY8/IkvkQXZi9Ro2Uy9a8AixFLjM
/D1aIcqDEeR2/aYsImjjDvVFL4C7+3OmzGE1uVtRR6DF7mt0tHtxhAVW+Uu9r+5J
9Fb1LtmEqp8LuxwAXAgqxN2fxib8rX6cDreTkXtTON9dUAtUAvMZFx4d9b9XUXuP
xxMCHGLtOa31y3Ytn9Yg8Fhrhnr46m9QO56YRc0ISOYXm7Rxcw0RrKySYGaZRQgV
D7ehUo3Y95pz3Ky7xOlbR1jmbx+HR/l8Qk1MZ3GCjf5qRZx9hcxdab7BPjOMik8m
uwIDAQAB
-----END PUBLIC KEY-----`;
/** APIv3 key (32 bytes of text) for local runs. */
export const LOCAL_WECHATPAY_APIV3_KEY = 'riskhookLocalOnlyApiV3Key0000000';

/**
 * The app and merchant ids the examples (examples/*.json) are written for: accepted by default in
 * local runs only. They are not secret, so nothing refuses them when deployed, but nothing fills them in.
 */
export const LOCAL_ALIPAY_APP_IDS: readonly string[] = ['2021000000000001'];
export const LOCAL_WECHATPAY_MCHIDS: readonly string[] = ['1230000109'];
/** Admin API bearer token for local runs (all scopes); `npm start` prints it. Its hash is refused when deployed. */
export const LOCAL_API_TOKEN = 'rh_local_only_admin_token_do_not_deploy';
/** Merchant webhooks for local runs: `npm run receive` listens here and verifies with this secret. */
export const LOCAL_MERCHANT_WEBHOOK_URL = 'http://localhost:4000/riskhook';
export const LOCAL_MERCHANT_SECRET = `whsec_${Buffer.from('riskhook-local-only-merchant-secret-00').toString('base64')}`;
