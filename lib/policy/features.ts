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
import { COUNTRY_CODES, CURRENCY_CODES } from '../iso-codes.js';
import { type Metric, PAIR_KINDS, RELATIONS, type StoreNeed } from '../velocity/plan.js';
import type { EntityVelocity, VelocitySnapshot } from '../velocity/store.js';
import { parseDuration } from '../velocity/windows.js';
import type { ListMembership } from '../lists/lists.js';

export type FeatureType = 'number' | 'boolean' | 'string';
/** A feature's value for an event and what the store returned; undefined when the event has none. */
export type FeatureReader = (event: PaymentEvent, snapshot: VelocitySnapshot, lists?: ListMembership) => FeatureValue | undefined;
export interface FeatureInfo {
  readonly type: FeatureType;
  /** The values a string feature can take, when they are a closed set. */
  readonly values?: readonly string[];
  /** The code list a string feature's values come from (ISO 4217, ISO 3166-1), too long to print in an error. */
  readonly codes?: { readonly name: string; readonly set: ReadonlySet<string> };
  readonly read: FeatureReader;
  /** What the feature needs the velocity store to keep and read; none for the event's own fields. */
  readonly needs?: StoreNeed | readonly StoreNeed[];
}
export type Features = Record<string, FeatureValue>;

const DAY = 86_400_000;
const capitalised = (kind: EntityKind) => kind[0]!.toUpperCase() + kind.slice(1);

/** Features of the event itself: available even when the velocity store is down. */
const EVENT_FEATURES: ReadonlyArray<[string, FeatureInfo]> = [
  ['event.kind', { type: 'string', values: EVENT_KINDS, read: (e) => e.kind }],
  ['event.amount', { type: 'number', read: (e) => e.amount.minor }],
  ['event.currency', { type: 'string', codes: { name: 'an ISO 4217 currency code', set: CURRENCY_CODES }, read: (e) => e.amount.currency }],
  ['event.authMethod', { type: 'string', values: AUTH_METHODS, read: (e) => e.authMethod }],
  ['event.passwordFree', { type: 'boolean', read: (e) => e.authMethod === 'password_free' }],
  ['event.country', { type: 'string', codes: { name: 'an ISO 3166-1 alpha-2 country code', set: COUNTRY_CODES }, read: (e) => e.country }],
  ['event.merchantCategory', { type: 'string', read: (e) => e.merchant.category }],
  ['event.linkedAccountKind', { type: 'string', values: LINKED_ACCOUNT_KINDS, read: (e) => e.linkedAccount?.kind }],
  ['event.instrumentKind', { type: 'string', values: INSTRUMENT_KINDS, read: (e) => e.instrument?.kind }],
  ['account.twoFactor', { type: 'boolean', read: (e) => e.account.twoFactor }],
  [
    'account.ageMs',
    {
      type: 'number',
      needs: { kind: 'account', state: true },
      // From account.createdAt when the provider says; else from our own first sighting (on the velocity clock).
      read: (e, s) =>
        e.account.createdAt !== undefined ? e.occurredAt - e.account.createdAt : s.account && s.account.countedAt - s.account.firstSeenAt,
    },
  ],
];

/** Windowed metrics, by the name a feature gives them: `<entity>.<name>.<window>`. */
const WINDOWED: ReadonlyArray<readonly [string, Metric]> = [
  ['count', 'count'],
  ['amount', 'amount'],
  ['passwordFree.count', 'passwordFreeCount'],
  ['passwordFree.amount', 'passwordFreeAmount'],
  ['approved.count', 'approvedCount'],
  ['approved.amount', 'approvedAmount'],
];
/** Password-free attempts from a device not trusted for this account (or linked account), or with no device. */
const UNTRUSTED: ReadonlyArray<readonly [string, Metric]> = [
  ['untrusted.passwordFree.count', 'untrustedPasswordFreeCount'],
  ['untrusted.passwordFree.amount', 'untrustedPasswordFreeAmount'],
];

/** Every feature a rule may name, with its type and reader. Only window names are used from `windows`. */
export function featureCatalogue(windows: readonly { readonly name: string }[]): Map<string, FeatureInfo> {
  const catalogue = new Map<string, FeatureInfo>(EVENT_FEATURES);
  const number = (kind: EntityKind, needs: StoreNeed | readonly StoreNeed[], read: (v: EntityVelocity, e: PaymentEvent) => number | undefined): FeatureInfo => ({
    type: 'number',
    needs,
    read: (e, s) => {
      const v = s[kind];
      return v && read(v, e);
    },
  });
  const boolean = (kind: EntityKind, needs: StoreNeed, read: (v: EntityVelocity) => boolean | undefined): FeatureInfo => ({
    type: 'boolean',
    needs,
    read: (_, s) => {
      const v = s[kind];
      return v && read(v);
    },
  });
  const state = (kind: EntityKind): StoreNeed => ({ kind, state: true });
  for (const kind of BINDING_KINDS) {
    catalogue.set(`${kind}.boundForMs`, number(kind, state(kind), (v, e) => (v.boundAt === undefined ? undefined : e.occurredAt - v.boundAt)));
  }
  for (const kind of ENTITY_KINDS) {
    catalogue.set(`${kind}.isNew`, boolean(kind, state(kind), (v) => v.isNew));
    catalogue.set(`${kind}.seenForMs`, number(kind, state(kind), (v) => v.countedAt - v.firstSeenAt));
    const metrics = PAIR_KINDS.includes(kind) ? [...WINDOWED, ...UNTRUSTED] : WINDOWED;
    for (const { name } of windows) {
      for (const [label, metric] of metrics) {
        catalogue.set(`${kind}.${label}.${name}`, number(kind, { kind, metric, window: name }, (v) => v.windows[name]?.[metric]));
      }
    }
    // The entity's own baseline: a windowed sum per day over the days it has been seen within the
    // window (at least one), so a customer seen for a week is not averaged over thirty days.
    for (const window of windows) {
      const days = (parseDuration(window.name) ?? 0) / DAY;
      if (!Number.isInteger(days) || days < 1) continue;
      for (const [label, metric] of metrics) {
        const info = number(kind, [{ kind, metric, window: window.name }, state(kind)], (v) => {
          const sum = v.windows[window.name]?.[metric];
          if (sum === undefined) return undefined;
          const seenDays = Math.min(days, Math.max(1, Math.ceil((v.countedAt - v.firstSeenAt) / DAY)));
          return Math.round(sum / seenDays);
        });
        catalogue.set(`${kind}.${label}.dailyAverage.${window.name}`, info);
        if (label === 'amount') catalogue.set(`${kind}.dailyAverage.${window.name}`, info);
      }
    }
    for (const relation of RELATIONS[kind]) {
      catalogue.set(`${kind}.isNew${capitalised(relation)}`, boolean(kind, { kind, relation }, (v) => v.newRelations[relation]));
      for (const { name } of windows) {
        catalogue.set(`${kind}.distinct.${relation}.${name}`, number(kind, { kind, relation, window: name }, (v) => v.distinct[relation]?.[name]));
      }
    }
    if (PAIR_KINDS.includes(kind)) {
      // This entity with the event's device, from approved payments only (a held one never makes a device known or trusted).
      const pairs: StoreNeed = { kind, pairs: true };
      const pair = (v: EntityVelocity) => v.device;
      catalogue.set(`${kind}.device.known`, boolean(kind, pairs, (v) => (pair(v) === undefined ? undefined : pair(v) !== null)));
      catalogue.set(`${kind}.device.trusted`, boolean(kind, pairs, (v) => (pair(v) === undefined ? undefined : pair(v)?.trustedAt !== undefined)));
      catalogue.set(`${kind}.device.seenForMs`, number(kind, pairs, (v) => (pair(v) ? v.countedAt - pair(v)!.firstSeenAt : undefined)));
      catalogue.set(`${kind}.device.idleForMs`, number(kind, pairs, (v) => (pair(v) ? Math.max(0, v.countedAt - pair(v)!.lastSeenAt) : undefined)));
      catalogue.set(
        `${kind}.device.trustedForMs`,
        number(kind, pairs, (v) => (pair(v)?.trustedAt !== undefined ? v.countedAt - pair(v)!.trustedAt! : undefined)),
      );
    }
    // Block / allow lists (issue 10): undefined when the event has no such entity or lists were not read.
    catalogue.set(`${kind}.blocked`, { type: 'boolean', read: (_, __, lists) => lists?.[kind]?.blocked });
    catalogue.set(`${kind}.allowed`, { type: 'boolean', read: (_, __, lists) => lists?.[kind]?.allowed });
  }
  return catalogue;
}

/** A policy's features for an event and snapshot (absent ones left out): buildFeatures over fixed readers. */
export type FeatureBuilder = (event: PaymentEvent, snapshot: VelocitySnapshot, lists?: ListMembership) => Features;

/**
 * buildFeatures for fixed readers, compiled once per policy into straight-line code: one call site
 * per reader (each sees one function, so it can be inlined) and one named store per feature. A loop
 * stores by computed key, and V8 turns an object given more than ~16 properties that way into a
 * hash table: every decision's features would be a dictionary built entry by entry. The names are
 * catalogue names, each written as a JSON string literal.
 */
export function compileFeatures(readers: ReadonlyArray<readonly [string, FeatureReader]>): FeatureBuilder {
  const lines = readers.map(([name], i) => `v = read[${i}](event, snapshot, lists); if (v !== undefined) f[${JSON.stringify(name)}] = v;`);
  const body = `return function features(event, snapshot, lists) {\n  const f = {};\n  let v;\n  ${lines.join('\n  ')}\n  return f;\n};`;
  return new Function('read', body)(readers.map(([, read]) => read)) as FeatureBuilder;
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
