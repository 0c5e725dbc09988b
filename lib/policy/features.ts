/**
 * Feature names and values: the vocabulary rules are written in. The catalogue is derived from the
 * windows, so a policy that names a feature that cannot exist is refused at start-up.
 */
import {
  AUTH_METHODS,
  BINDING_KINDS,
  ENTITY_KINDS,
  EVENT_KINDS,
  type EntityKind,
  type FeatureValue,
  INSTRUMENT_KINDS,
  LINKED_ACCOUNT_KINDS,
  type PaymentEvent,
} from '../events.js';
import { RELATIONS, type VelocitySnapshot } from '../velocity/store.js';
import type { WindowSpec } from '../velocity/windows.js';

export type FeatureType = 'number' | 'boolean' | 'string';
export interface FeatureInfo {
  readonly type: FeatureType;
  /** The values a string feature can take, when they are a closed set. */
  readonly values?: readonly string[];
}
export type Features = Record<string, FeatureValue>;

const capitalised = (kind: EntityKind) => kind[0]!.toUpperCase() + kind.slice(1);

/** Every feature a rule may name, with its type. */
export function featureCatalogue(windows: readonly WindowSpec[]): Map<string, FeatureInfo> {
  const catalogue = new Map<string, FeatureInfo>([
    ['event.kind', { type: 'string', values: EVENT_KINDS }],
    ['event.amount', { type: 'number' }],
    ['event.currency', { type: 'string' }],
    ['event.authMethod', { type: 'string', values: AUTH_METHODS }],
    ['event.passwordFree', { type: 'boolean' }],
    ['event.country', { type: 'string' }],
    ['event.merchantCategory', { type: 'string' }],
    ['event.linkedAccountKind', { type: 'string', values: LINKED_ACCOUNT_KINDS }],
    ['event.instrumentKind', { type: 'string', values: INSTRUMENT_KINDS }],
    ['account.twoFactor', { type: 'boolean' }],
    ['account.ageMs', { type: 'number' }],
  ]);
  for (const kind of BINDING_KINDS) catalogue.set(`${kind}.boundForMs`, { type: 'number' });
  for (const kind of ENTITY_KINDS) {
    catalogue.set(`${kind}.isNew`, { type: 'boolean' });
    catalogue.set(`${kind}.seenForMs`, { type: 'number' });
    for (const w of windows) {
      catalogue.set(`${kind}.count.${w.name}`, { type: 'number' });
      catalogue.set(`${kind}.amount.${w.name}`, { type: 'number' });
      catalogue.set(`${kind}.passwordFree.count.${w.name}`, { type: 'number' });
      catalogue.set(`${kind}.passwordFree.amount.${w.name}`, { type: 'number' });
    }
    for (const relation of RELATIONS[kind]) {
      catalogue.set(`${kind}.isNew${capitalised(relation)}`, { type: 'boolean' });
      for (const w of windows) catalogue.set(`${kind}.distinct.${relation}.${w.name}`, { type: 'number' });
    }
  }
  return catalogue;
}

/** Features of the event itself: available even when the velocity store is down. */
export function eventFeatures(event: PaymentEvent): Features {
  const f: Features = {
    'event.kind': event.kind,
    'event.amount': event.amount.minor,
    'event.currency': event.amount.currency,
    'event.authMethod': event.authMethod,
    'event.passwordFree': event.authMethod === 'password_free',
  };
  if (event.country !== undefined) f['event.country'] = event.country;
  if (event.merchant.category !== undefined) f['event.merchantCategory'] = event.merchant.category;
  if (event.linkedAccount) f['event.linkedAccountKind'] = event.linkedAccount.kind;
  if (event.instrument) f['event.instrumentKind'] = event.instrument.kind;
  if (event.account.twoFactor !== undefined) f['account.twoFactor'] = event.account.twoFactor;
  if (event.account.createdAt !== undefined) f['account.ageMs'] = event.occurredAt - event.account.createdAt;
  return f;
}

/** Adds the velocity features of every entity the store returned. */
export function addVelocityFeatures(f: Features, event: PaymentEvent, snapshot: VelocitySnapshot): Features {
  for (const [kind, v] of Object.entries(snapshot) as [EntityKind, NonNullable<VelocitySnapshot[EntityKind]>][]) {
    f[`${kind}.isNew`] = v.isNew;
    f[`${kind}.seenForMs`] = event.occurredAt - v.firstSeenAt;
    if (v.boundAt !== undefined) f[`${kind}.boundForMs`] = event.occurredAt - v.boundAt;
    for (const [name, t] of Object.entries(v.windows)) {
      f[`${kind}.count.${name}`] = t.count;
      f[`${kind}.amount.${name}`] = t.amount;
      f[`${kind}.passwordFree.count.${name}`] = t.passwordFreeCount;
      f[`${kind}.passwordFree.amount.${name}`] = t.passwordFreeAmount;
    }
    for (const [relation, counts] of Object.entries(v.distinct) as [EntityKind, Record<string, number>][]) {
      for (const [name, n] of Object.entries(counts)) f[`${kind}.distinct.${relation}.${name}`] = n;
      if (v.newRelations[relation] !== undefined) f[`${kind}.isNew${capitalised(relation)}`] = v.newRelations[relation]!;
    }
  }
  // Age from our own first sighting when the provider did not say when the account was created.
  if (f['account.ageMs'] === undefined && snapshot.account) f['account.ageMs'] = f['account.seenForMs']!;
  return f;
}
