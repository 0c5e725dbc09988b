/** The provider adapters, by the name in POST /webhooks/{provider}. */
import type { ProviderConfig } from '../config.js';
import { createGenericAdapter } from './generic.js';
import type { ProviderAdapter } from './types.js';

export type { HttpResponse, ProviderAdapter, RawRequest, Verified } from './types.js';

/** Adapters for the providers that are configured; an unconfigured provider is a 404 like an unknown one. */
export function createAdapters(config: ProviderConfig): ReadonlyMap<string, ProviderAdapter> {
  const adapters = new Map<string, ProviderAdapter>();
  if (config.genericSecrets.length > 0) adapters.set('generic', createGenericAdapter(config.genericSecrets));
  return adapters;
}
