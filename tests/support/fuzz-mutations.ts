/**
 * Mutating a valid JSON payload into hostile ones, for any JSON provider: fields replaced, deleted,
 * unknown keys added, keys duplicated, then possibly a byte-level corruption. Each provider's suite
 * brings its valid payloads, its field paths, its near misses and its oracle.
 */
import fc from 'fast-check';
import { Entries, edgeString, hostileValue, hugeString, invalidUtf8, isPlainObject, isUtf8, spliceBytes, toJson } from './fuzz-arbitraries.js';

export type Mutation =
  | { readonly op: 'set'; readonly path: string; readonly value: unknown }
  | { readonly op: 'delete'; readonly path: string }
  | { readonly op: 'extra'; readonly path: string; readonly key: string; readonly value: unknown }
  | { readonly op: 'duplicate'; readonly path: string; readonly index: number; readonly value: unknown; readonly same: boolean; readonly at: number };

const extraKey = fc.oneof(
  { arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'ID', 'Id', 'id ', ' id', 'amount\u0000', 'occurred_at', 'extra', ''), weight: 4 },
  { arbitrary: edgeString(12), weight: 4 },
  { arbitrary: hugeString, weight: 1 },
);

/** Mutations of a payload with these field paths (dotted) and object paths ('' is the root). */
export function mutationArb(fieldPaths: readonly string[], objectPaths: readonly string[], nearMiss: (path: string) => fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> {
  // Built once per path (an arbitrary built inside chain() would be rebuilt for every case: slow).
  const values = new Map(fieldPaths.map((path) => [path, fc.oneof(hostileValue, nearMiss(path)).map((value) => ({ op: 'set' as const, path, value }))]));
  return fc.oneof(
    { arbitrary: fc.constantFrom(...fieldPaths).chain((path) => values.get(path)!), weight: 6 },
    { arbitrary: fc.constantFrom(...fieldPaths).map((path) => ({ op: 'delete' as const, path })), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(...objectPaths), extraKey, hostileValue).map(([path, key, value]) => ({ op: 'extra' as const, path, key, value })), weight: 1 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...objectPaths), fc.nat(), hostileValue, fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }))
        .map(([path, index, value, same, at]) => ({ op: 'duplicate' as const, path, index, value, same, at })),
      weight: 1,
    },
  );
}

/** The object at a dotted path ('' is the root), if a plain object is there. */
function objectAt(root: Record<string, unknown>, path: string): Record<string, unknown> | undefined {
  let v: unknown = root;
  for (const key of path === '' ? [] : path.split('.')) v = isPlainObject(v) ? v[key] : undefined;
  return isPlainObject(v) ? v : undefined;
}

/**
 * Sets an own property (even "__proto__") to a fresh copy of the value: arbitraries such as
 * constantFrom hand out the same object every time, and a later mutation inside it would otherwise
 * change it for every case after (and could even make it contain itself).
 */
function setOwn(o: Record<string, unknown>, key: string, value: unknown) {
  Object.defineProperty(o, key, { value: fresh(value), enumerable: true, writable: true, configurable: true });
}

function fresh(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fresh);
  if (!isPlainObject(value)) return value; // primitives, and Raw and Entries, which are never changed
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) Object.defineProperty(copy, key, { value: fresh(value[key]), enumerable: true, writable: true, configurable: true });
  return copy;
}

/** Applies mutations to a copy of a valid event (a mutation whose parent is gone does nothing). */
export function mutate(event: object, mutations: readonly Mutation[]): Record<string, unknown> {
  const root = JSON.parse(JSON.stringify(event)) as Record<string, unknown>;
  for (const m of mutations) {
    const dot = m.path.lastIndexOf('.');
    if (m.op === 'set' || m.op === 'delete') {
      const parent = objectAt(root, dot === -1 ? '' : m.path.slice(0, dot));
      const key = m.path.slice(dot + 1);
      if (!parent) continue;
      if (m.op === 'set') setOwn(parent, key, m.value);
      else delete parent[key];
    } else if (m.op === 'extra') {
      const target = objectAt(root, m.path);
      if (target && !Object.hasOwn(target, m.key)) setOwn(target, m.key, m.value);
    } else {
      // A key written twice: the object becomes entries (so nothing further reaches inside it).
      const target = objectAt(root, m.path);
      if (!target) continue;
      const pairs: Array<readonly [string, unknown]> = Object.keys(target).map((k) => [k, target[k]] as const);
      if (pairs.length === 0) continue;
      const [key, first] = pairs[m.index % pairs.length]!;
      pairs.splice(Math.floor(m.at * (pairs.length + 1)), 0, [key, m.same ? first : m.value]);
      const entries = new Entries(pairs);
      if (m.path === '') return entries as unknown as Record<string, unknown>;
      const parent = objectAt(root, m.path.includes('.') ? m.path.slice(0, m.path.lastIndexOf('.')) : '')!;
      setOwn(parent, m.path.split('.').pop()!, entries);
    }
  }
  return root;
}

/** A byte-level corruption of the serialized body: each makes it not JSON, or not UTF-8. */
export type Corruption =
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'invalid-utf8'; readonly at: number; readonly bytes: Buffer }
  | { readonly kind: 'trailing'; readonly text: string }
  | { readonly kind: 'bom' }
  | { readonly kind: 'random'; readonly bytes: Buffer };

export const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc.double({ min: 0, max: 0.999, noNaN: true }).map((at) => ({ kind: 'truncate' as const, at })),
  fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), invalidUtf8).map(([at, bytes]) => ({ kind: 'invalid-utf8' as const, at, bytes })),
  fc.constantFrom('x', '}', ',', '{}', '\u0000', 'null', '"', '/*', '//').map((text) => ({ kind: 'trailing' as const, text })),
  fc.constant({ kind: 'bom' as const }),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'random' as const, bytes: Buffer.from(b) })),
);

export function corrupt(body: Buffer, c: Corruption): Buffer {
  switch (c.kind) {
    case 'truncate':
      return body.subarray(0, Math.floor(c.at * body.length));
    case 'invalid-utf8':
      return spliceBytes(body, c.at, c.bytes);
    case 'trailing':
      return Buffer.concat([body, Buffer.from(c.text, 'utf8')]);
    case 'bom':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]);
    case 'random':
      return c.bytes;
  }
}

export interface JsonCase<T> {
  /** The valid payload it started from. */
  readonly valid: T;
  readonly parts: unknown;
  /** The whole body was replaced (not a payload with mutated fields). */
  readonly structural: boolean;
  readonly mutations: readonly Mutation[];
  readonly corruption: Corruption | undefined;
  readonly body: Buffer;
}

/**
 * A signed-body candidate: a valid payload, mutated (or, 1 in `validOneIn`, not), serialized,
 * corrupted (1 in 8), or now and then replaced whole (1 in 20: an array, a string, null, deep nesting).
 */
export function jsonCase<T extends object>(valid: fc.Arbitrary<T>, mutation: fc.Arbitrary<Mutation>, validOneIn = 25): fc.Arbitrary<JsonCase<T>> {
  return fc
    .record({
      event: valid,
      mutations: fc.oneof({ arbitrary: fc.constant([] as Mutation[]), weight: 1 }, { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }), weight: validOneIn - 1 }),
      corruption: fc.oneof({ arbitrary: fc.constant(null), weight: 7 }, { arbitrary: corruption, weight: 1 }),
      structural: fc.oneof({ arbitrary: fc.constant(null), weight: 19 }, { arbitrary: fc.oneof(hostileValue, fc.jsonValue({ maxDepth: 4 })), weight: 1 }),
    })
    .map(({ event, mutations, corruption: c, structural }) => {
      const parts = structural !== null ? structural : mutate(event, mutations);
      const text = toJson(parts);
      const body = c ? corrupt(Buffer.from(text, 'utf8'), c) : Buffer.from(text, 'utf8');
      return { valid: event, parts, structural: structural !== null, mutations: structural !== null ? [] : mutations, corruption: c ?? undefined, body };
    });
}

/**
 * The verdict on a corrupted body: corruptions break JSON (400), except a truncated number
 * ("12" -> "1") or random bytes that happen to be JSON ("7", "[]"), which are no payload (422).
 */
export function corruptedVerdict(body: Buffer): 400 | 422 {
  if (!isUtf8(body)) return 400;
  try {
    JSON.parse(body.toString('utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) return 400;
    throw error;
  }
  return 422;
}

/**
 * Whether a 422 message names a field: it starts with a path ("amount.minor: ...", "(body): ...")
 * and, unless the whole body was replaced, that path is a prefix or an extension of a mutated one,
 * or the message mentions a mutated field by name.
 */
export function namesMutatedPath(message: string, mutations: readonly Mutation[], structural: boolean): boolean {
  const first = /^([^:]*): /.exec(message)?.[1];
  if (first === undefined || !/^(\(body\)|[A-Za-z_]+(\[\d+\])*(\.[A-Za-z_]+(\[\d+\])*)*)$/.test(first)) return false;
  if (structural) return true;
  const issue = first === '(body)' ? [] : first.split('.');
  return mutations.some((m) => {
    const path = m.path === '' ? [] : m.path.split('.');
    const n = Math.min(issue.length, path.length);
    if (issue.slice(0, n).join('.') === path.slice(0, n).join('.')) return true;
    const leaf = path[path.length - 1];
    return leaf !== undefined && message.includes(leaf);
  });
}
