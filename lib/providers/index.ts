/** The provider adapters, by the name in POST /webhooks/{provider}. */
import type { ProviderConfig } from '../config.js';
import { createAlipayAdapter } from './alipay.js';
import { createGenericAdapter } from './generic.js';
import { createStripeAdapter } from './stripe.js';
import type { ProviderAdapter } from './types.js';
import { createWechatpayAdapter } from './wechatpay.js';

export type { HttpResponse, ProviderAdapter, RawRequest, Verified } from './types.js';

/** Adapters for the providers that are configured; an unconfigured provider is a 404 like an unknown one. */
export function createAdapters(config: ProviderConfig): ReadonlyMap<string, ProviderAdapter> {
  const adapters = new Map<string, ProviderAdapter>();
  if (config.genericSecrets.length > 0) adapters.set('generic', createGenericAdapter(config.genericSecrets));
  if (config.stripeSecrets.length > 0) adapters.set('stripe', createStripeAdapter(config.stripeSecrets));
  const maxAgeMs = config.maxNotificationAgeMs;
  if (config.alipayPublicKeys.length > 0) adapters.set('alipay', createAlipayAdapter(config.alipayPublicKeys, { appIds: config.alipayAppIds, maxAgeMs }));
  if (config.wechatpay) adapters.set('wechatpay', createWechatpayAdapter({ ...config.wechatpay, maxAgeMs }));
  return adapters;
}
