/** Example signers by provider, for `npm run send`: each signs with the local-only test keys. */
import { alipayExample } from './alipay.js';
import { stripeExample } from './stripe.js';
import type { ExampleSigner } from './types.js';
import { wechatpayExample } from './wechatpay.js';

export const EXAMPLE_SIGNERS: Readonly<Record<string, ExampleSigner>> = {
  stripe: stripeExample,
  alipay: alipayExample,
  wechatpay: wechatpayExample,
};
