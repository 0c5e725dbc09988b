// PLACEHOLDER: being written (issue 3). Replaced wholesale by the wechatpay adapter.
import { UnknownProviderError } from '../errors.js';
import type { ExampleSigner, ProviderAdapter } from './types.js';

export function createWechatpayAdapter(_config: { readonly publicKeys: Readonly<Record<string, string>>; readonly apiV3Key: string }): ProviderAdapter {
  const refuse = () => {
    throw new UnknownProviderError('wechatpay is not available yet');
  };
  return { name: 'wechatpay', verify: refuse, respond: refuse, acknowledge: refuse };
}

export const wechatpayExample: ExampleSigner = () => {
  throw new Error('wechatpay examples are not available yet');
};
