/**
 * Feature names and values: the vocabulary rules are written in. The catalogue is derived from the
 * windows, so a policy that names a feature that cannot exist is refused at start-up; each entry
 * also knows how to read its value, so a decision builds only the features its policy reads.
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
import { type EntityVelocity, RELATIONS, type VelocitySnapshot } from '../velocity/store.js';
import type { ListMembership } from '../lists/lists.js';

export type FeatureType = 'number' | 'boolean' | 'string';
/** A feature's value for an event and what the store returned; undefined when the event has none. */
export type FeatureReader = (event: PaymentEvent, snapshot: VelocitySnapshot, lists?: ListMembership) => FeatureValue | undefined;
export interface FeatureInfo {
  readonly type: FeatureType;
  /** The values a string feature can take, when they are a closed set. */
  readonly values?: readonly string[];
  readonly read: FeatureReader;
}
export type Features = Record<string, FeatureValue>;

const capitalised = (kind: EntityKind) => kind[0]!.toUpperCase() + kind.slice(1);

/** Features of the event itself: available even when the velocity store is down. */
const EVENT_FEATURES: ReadonlyArray<[string, FeatureInfo]> = [
  ['event.kind', { type: 'string', values: EVENT_KINDS, read: (e) => e.kind }],
  ['event.amount', { type: 'number', read: (e) => e.amount.minor }],
  ['event.currency', { type: 'string', read: (e) => e.amount.currency }],
  ['event.authMethod', { type: 'string', values: AUTH_METHODS, read: (e) => e.authMethod }],
  ['event.passwordFree', { type: 'boolean', read: (e) => e.authMethod === 'password_free' }],
  ['event.country', { type: 'string', read: (e) => e.country }],
  ['event.merchantCategory', { type: 'string', read: (e) => e.merchant.category }],
  ['event.linkedAccountKind', { type: 'string', values: LINKED_ACCOUNT_KINDS, read: (e) => e.linkedAccount?.kind }],
  ['event.instrumentKind', { type: 'string', values: INSTRUMENT_KINDS, read: (e) => e.instrument?.kind }],
  ['account.twoFactor', { type: 'boolean', read: (e) => e.account.twoFactor }],
  [
    'account.ageMs',
    {
      type: 'number',
      // From account.createdAt when the provider says; else from our own first sighting.
      read: (e, s) =>
        e.account.createdAt !== undefined ? e.occurredAt - e.account.createdAt : s.account && e.occurredAt - s.account.firstSeenAt,
    },
  ],
];

/** Every feature a rule may name, with its type and reader. Only window names are used from `windows`. */
export function featureCatalogue(windows: readonly { readonly name: string }[]): Map<string, FeatureInfo> {
  const catalogue = new Map<string, FeatureInfo>(EVENT_FEATURES);
  const number = (kind: EntityKind, read: (v: EntityVelocity, e: PaymentEvent) => number | undefined): FeatureInfo => ({
    type: 'number',
    read: (e, s) => {
      const v = s[kind];
      return v && read(v, e);
    },
  });
  const boolean = (kind: EntityKind, read: (v: EntityVelocity) => boolean | undefined): FeatureInfo => ({
    type: 'boolean',
    read: (_, s) => {
      const v = s[kind];
      return v && read(v);
    },
  });
  for (const kind of BINDING_KINDS) {
    catalogue.set(`${kind}.boundForMs`, number(kind, (v, e) => (v.boundAt === undefined ? undefined : e.occurredAt - v.boundAt)));
  }
  for (const kind of ENTITY_KINDS) {
    catalogue.set(`${kind}.isNew`, boolean(kind, (v) => v.isNew));
    catalogue.set(`${kind}.seenForMs`, number(kind, (v, e) => e.occurredAt - v.firstSeenAt));
    for (const { name } of windows) {
      catalogue.set(`${kind}.count.${name}`, number(kind, (v) => v.windows[name]?.count));
      catalogue.set(`${kind}.amount.${name}`, number(kind, (v) => v.windows[name]?.amount));
      catalogue.set(`${kind}.passwordFree.count.${name}`, number(kind, (v) => v.windows[name]?.passwordFreeCount));
      catalogue.set(`${kind}.passwordFree.amount.${name}`, number(kind, (v) => v.windows[name]?.passwordFreeAmount));
    }
    for (const relation of RELATIONS[kind]) {
      catalogue.set(`${kind}.isNew${capitalised(relation)}`, boolean(kind, (v) => v.newRelations[relation]));
      for (const { name } of windows) catalogue.set(`${kind}.distinct.${relation}.${name}`, number(kind, (v) => v.distinct[relation]?.[name]));
    }
    // Block / allow lists (issue 10): undefined when the event has no such entity or lists were not read.
    catalogue.set(`${kind}.blocked`, { type: 'boolean', read: (_, __, lists) => lists?.[kind]?.blocked });
    catalogue.set(`${kind}.allowed`, { type: 'boolean', read: (_, __, lists) => lists?.[kind]?.allowed });
  }
  return catalogue;
}

/** The features `readers` name, for this event and snapshot (absent ones left out). */
export function buildFeatures(event: PaymentEvent, snapshot: VelocitySnapshot, readers: ReadonlyArray<readonly [string, FeatureReader]>, lists?: ListMembership): Features {
  const f: Features = {};
  for (const [name, read] of readers) {
    const value = read(event, snapshot, lists);
    if (value !== undefined) f[name] = value;
  }
  return f;
}

/** Every feature of the event itself (what rules can still read when the store is down). */
export function eventFeatures(event: PaymentEvent): Features {
  return buildFeatures(event, {}, EVENT_FEATURES.map(([name, info]) => [name, info.read]));
}

/** Every feature of the event and of every entity the store returned (for tools and tests; decisions build only what their policy reads). */
export function addVelocityFeatures(f: Features, event: PaymentEvent, snapshot: VelocitySnapshot, lists?: ListMembership): Features {
  const windows = Object.keys(Object.values(snapshot)[0]?.windows ?? {}).map((name) => ({ name }));
  const readers = [...featureCatalogue(windows)].map(([name, info]) => [name, info.read] as const);
  return Object.assign(f, buildFeatures(event, snapshot, readers, lists));
}
