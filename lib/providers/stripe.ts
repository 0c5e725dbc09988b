// PLACEHOLDER: being written (issue 3). Replaced wholesale by the stripe adapter.
import { UnknownProviderError } from '../errors.js';
import type { ExampleSigner, ProviderAdapter } from './types.js';

export function createStripeAdapter(_secrets: readonly string[]): ProviderAdapter {
  const refuse = () => {
    throw new UnknownProviderError('stripe is not available yet');
  };
  return { name: 'stripe', verify: refuse, respond: refuse, acknowledge: refuse };
}

export const stripeExample: ExampleSigner = () => {
  throw new Error('stripe examples are not available yet');
};
