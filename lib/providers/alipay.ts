// PLACEHOLDER: being written (issue 3). Replaced wholesale by the alipay adapter.
import { UnknownProviderError } from '../errors.js';
import type { ExampleSigner, ProviderAdapter } from './types.js';

export function createAlipayAdapter(_publicKeys: readonly string[]): ProviderAdapter {
  const refuse = () => {
    throw new UnknownProviderError('alipay is not available yet');
  };
  return { name: 'alipay', verify: refuse, respond: refuse, acknowledge: refuse };
}

export const alipayExample: ExampleSigner = () => {
  throw new Error('alipay examples are not available yet');
};
