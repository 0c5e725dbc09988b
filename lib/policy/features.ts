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
  /**
   * The feature's one definition: a JavaScript expression over `e` (the event), `s` (the snapshot),
   * `l` (the list membership, or undefined) and `h` (helpers), every property name a constant, so
   * compiled code reads it with named loads. `read` is compiled from it.
   */
  readonly expr: string;
  readonly read: FeatureReader;
  /** What the feature needs the velocity store to keep and read; none for the event's own fields. */
  readonly needs?: StoreNeed | readonly StoreNeed[];
}
export type Features = Record<string, FeatureValue>;
/** A feature's name, reader and expression: what a policy reads, and what its builder is compiled from. */
export type NamedReader = readonly [name: string, read: FeatureReader, expr: string];

const DAY = 86_400_000;
const capitalised = (kind: EntityKind) => kind[0]!.toUpperCase() + kind.slice(1);

/** What feature expressions call as `h`: the rare feature too long to write inline. */
const helpers = {
  /**
   * The entity's own baseline: a windowed sum per day over the days it has been seen within the
   * window (at least one), so a customer seen for a week is not averaged over thirty days.
   */
  dailyAverage(sum: number | undefined, v: EntityVelocity, days: number): number | undefined {
    if (sum === undefined) return undefined;
    const seenDays = Math.min(days, Math.max(1, Math.ceil((v.countedAt - v.firstSeenAt) / DAY)));
    return Math.round(sum / seenDays);
  },
};

/** `expr` as a reader, compiled on its first call: a catalogue has ~1000 entries and a policy reads a few dozen. */
function lazyReader(expr: string): FeatureReader {
  let read: FeatureReader | undefined;
  return (e, s, l) => (read ??= new Function('h', `return (e, s, l) => (${expr});`)(helpers) as FeatureReader)(e, s, l);
}

function feature(type: FeatureType, expr: string, more: Pick<FeatureInfo, 'values' | 'codes' | 'needs'> = {}): FeatureInfo {
  return { type, ...more, expr, read: lazyReader(expr) };
}

/** Features of the event itself: available even when the velocity store is down. */
const EVENT_FEATURES: ReadonlyArray<[string, FeatureInfo]> = [
  ['event.kind', feature('string', 'e.kind', { values: EVENT_KINDS })],
  ['event.amount', feature('number', 'e.amount.minor')],
  ['event.currency', feature('string', 'e.amount.currency', { codes: { name: 'an ISO 4217 currency code', set: CURRENCY_CODES } })],
  ['event.authMethod', feature('string', 'e.authMethod', { values: AUTH_METHODS })],
  ['event.passwordFree', feature('boolean', 'e.authMethod === "password_free"')],
  ['event.country', feature('string', 'e.country', { codes: { name: 'an ISO 3166-1 alpha-2 country code', set: COUNTRY_CODES } })],
  ['event.merchantCategory', feature('string', 'e.merchant.category')],
  ['event.linkedAccountKind', feature('string', 'e.linkedAccount?.kind', { values: LINKED_ACCOUNT_KINDS })],
  ['event.instrumentKind', feature('string', 'e.instrument?.kind', { values: INSTRUMENT_KINDS })],
  ['account.twoFactor', feature('boolean', 'e.account.twoFactor')],
  [
    'account.ageMs',
    // From account.createdAt when the provider says; else from our own first sighting (on the velocity clock).
    feature('number', 'e.account.createdAt !== undefined ? e.occurredAt - e.account.createdAt : s.account && s.account.countedAt - s.account.firstSeenAt', {
      needs: { kind: 'account', state: true },
    }),
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
  // A feature of one entity: undefined when the snapshot has none; `body` writes it over the entity's code (`s.account`).
  // Entity kinds, metrics and relations are identifiers of this code; window names ("24h") are written as JSON strings.
  const velocity = (type: FeatureType, kind: EntityKind, needs: StoreNeed | readonly StoreNeed[], body: (v: string) => string): FeatureInfo =>
    feature(type, `s.${kind} && (${body(`s.${kind}`)})`, { needs });
  const state = (kind: EntityKind): StoreNeed => ({ kind, state: true });
  const totals = (name: string) => `windows[${JSON.stringify(name)}]`;
  for (const kind of BINDING_KINDS) {
    catalogue.set(`${kind}.boundForMs`, velocity('number', kind, state(kind), (v) => `${v}.boundAt === undefined ? undefined : e.occurredAt - ${v}.boundAt`));
  }
  for (const kind of ENTITY_KINDS) {
    catalogue.set(`${kind}.isNew`, velocity('boolean', kind, state(kind), (v) => `${v}.isNew`));
    catalogue.set(`${kind}.seenForMs`, velocity('number', kind, state(kind), (v) => `${v}.countedAt - ${v}.firstSeenAt`));
    const metrics = PAIR_KINDS.includes(kind) ? [...WINDOWED, ...UNTRUSTED] : WINDOWED;
    for (const { name } of windows) {
      for (const [label, metric] of metrics) {
        catalogue.set(`${kind}.${label}.${name}`, velocity('number', kind, { kind, metric, window: name }, (v) => `${v}.${totals(name)}?.${metric}`));
      }
    }
    // Per-day baselines over the day-long windows (h.dailyAverage).
    for (const { name } of windows) {
      const days = (parseDuration(name) ?? 0) / DAY;
      if (!Number.isInteger(days) || days < 1) continue;
      for (const [label, metric] of metrics) {
        const info = velocity('number', kind, [{ kind, metric, window: name }, state(kind)], (v) => `h.dailyAverage(${v}.${totals(name)}?.${metric}, ${v}, ${days})`);
        catalogue.set(`${kind}.${label}.dailyAverage.${name}`, info);
        if (label === 'amount') catalogue.set(`${kind}.dailyAverage.${name}`, info);
      }
    }
    for (const relation of RELATIONS[kind]) {
      catalogue.set(`${kind}.isNew${capitalised(relation)}`, velocity('boolean', kind, { kind, relation }, (v) => `${v}.newRelations.${relation}`));
      for (const { name } of windows) {
        catalogue.set(`${kind}.distinct.${relation}.${name}`, velocity('number', kind, { kind, relation, window: name }, (v) => `${v}.distinct.${relation}?.[${JSON.stringify(name)}]`));
      }
    }
    if (PAIR_KINDS.includes(kind)) {
      // This entity with the event's device, from approved payments only (a held one never makes a device known or trusted).
      // The pair is undefined when the event has no device, null when the device was never approved with this entity.
      const pairs: StoreNeed = { kind, pairs: true };
      const pair = (v: string) => `${v}.device`;
      catalogue.set(`${kind}.device.known`, velocity('boolean', kind, pairs, (v) => `${pair(v)} === undefined ? undefined : ${pair(v)} !== null`));
      catalogue.set(`${kind}.device.trusted`, velocity('boolean', kind, pairs, (v) => `${pair(v)} === undefined ? undefined : ${pair(v)}?.trustedAt !== undefined`));
      catalogue.set(`${kind}.device.seenForMs`, velocity('number', kind, pairs, (v) => `${pair(v)} ? ${v}.countedAt - ${pair(v)}.firstSeenAt : undefined`));
      catalogue.set(`${kind}.device.idleForMs`, velocity('number', kind, pairs, (v) => `${pair(v)} ? Math.max(0, ${v}.countedAt - ${pair(v)}.lastSeenAt) : undefined`));
      catalogue.set(
        `${kind}.device.trustedForMs`,
        velocity('number', kind, pairs, (v) => `${pair(v)}?.trustedAt !== undefined ? ${v}.countedAt - ${pair(v)}.trustedAt : undefined`),
      );
    }
    // Block / allow lists (issue 10): undefined when the event has no such entity or lists were not read.
    catalogue.set(`${kind}.blocked`, feature('boolean', `l?.${kind}?.blocked`));
    catalogue.set(`${kind}.allowed`, feature('boolean', `l?.${kind}?.allowed`));
  }
  return catalogue;
}

/**
 * A policy's features for an event and snapshot: every feature its rules read, in the readers' order,
 * an absent one as undefined (the same entries as buildFeatures, which leaves absent ones out; a log
 * line's JSON is the same, since JSON leaves undefined out).
 */
export type FeatureBuilder = (event: PaymentEvent, snapshot: VelocitySnapshot, lists?: ListMembership) => Features;

/**
 * buildFeatures for fixed readers, compiled once per policy into one object literal: each feature's
 * expression inline (every load a named one: a reader shared by many features loads by computed
 * name, and such loads go megamorphic), every feature a property even when absent. Leaving absent
 * ones out gave every combination of absent features its own object shape, so the rules' reads of
 * it went megamorphic too, and the object was built store by store; one literal has one shape,
 * made in one allocation. The names are catalogue names, each written as a JSON string literal.
 */
export function compileFeatures(readers: readonly NamedReader[]): FeatureBuilder {
  const fields = readers.map(([name, , expr]) => `${JSON.stringify(name)}: ${expr}`);
  const body = `return function features(e, s, l) {\n  return {\n    ${fields.join(',\n    ')}\n  };\n};`;
  return new Function('h', body)(helpers) as FeatureBuilder;
}

/** The features `readers` name, for this event and snapshot (absent ones left out). */
export function buildFeatures(event: PaymentEvent, snapshot: VelocitySnapshot, readers: readonly NamedReader[], lists?: ListMembership): Features {
  const f: Features = {};
  for (const [name, read] of readers) {
    const value = read(event, snapshot, lists);
    if (value !== undefined) f[name] = value;
  }
  return f;
}

const named = ([name, info]: readonly [string, FeatureInfo]): NamedReader => [name, info.read, info.expr];

/** Every feature of the event itself (what rules can still read when the store is down). */
export function eventFeatures(event: PaymentEvent): Features {
  return buildFeatures(event, {}, EVENT_FEATURES.map(named));
}

/** Every feature of the event and of every entity the store returned (for tools and tests; decisions build only what their policy reads). */
export function addVelocityFeatures(f: Features, event: PaymentEvent, snapshot: VelocitySnapshot, lists?: ListMembership): Features {
  const windows = Object.keys(Object.values(snapshot)[0]?.windows ?? {}).map((name) => ({ name }));
  return Object.assign(f, buildFeatures(event, snapshot, [...featureCatalogue(windows)].map(named), lists));
}
