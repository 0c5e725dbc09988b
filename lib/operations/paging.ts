/**
 * Cursor paging over sorted sets. A cursor is opaque to callers (base64url of the last item's score
 * and member), so a page continues exactly after the last item even when scores tie or items are added.
 */
import { InvalidRequestError } from '../errors.js';
import type { OpsBackend, Scored } from './backend.js';

export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 100;

export interface Page<T> {
  readonly data: T[];
  readonly nextCursor: string | null;
}

export const encodeCursor = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

export function decodeCursor<T>(cursor: string | undefined, check: (v: unknown) => v is T): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (check(value)) return value;
  } catch {
    // reported below
  }
  throw new InvalidRequestError('cursor: not a cursor this API returned');
}

const isScoreCursor = (v: unknown): v is { s: number; m: string } =>
  typeof v === 'object' && v !== null && typeof (v as { s: unknown }).s === 'number' && typeof (v as { m: unknown }).m === 'string';

/** Members of `key` scored within [min, max], ascending (or descending with rev), after the cursor, passing `keep`. */
export async function pageByScore(
  backend: OpsBackend,
  key: string,
  options: { min: number; max: number; rev?: boolean; limit: number; cursor?: string | undefined; keep?: (member: string) => boolean },
): Promise<{ items: Scored[]; nextCursor: string | null }> {
  const rev = options.rev ?? false;
  const after = decodeCursor(options.cursor, isScoreCursor);
  let { min, max } = options;
  if (after) {
    if (rev) max = Math.min(max, after.s);
    else min = Math.max(min, after.s);
  }
  const items: Scored[] = [];
  const batch = Math.max(options.limit + 1, 50);
  for (let offset = 0; items.length <= options.limit; offset += batch) {
    const got = await backend.zrangeByScore(key, min, max, { offset, count: batch, rev });
    for (const item of got) {
      if (after && item.score === after.s && (rev ? item.member >= after.m : item.member <= after.m)) continue;
      if (options.keep && !options.keep(item.member)) continue;
      items.push(item);
      if (items.length > options.limit) break;
    }
    if (got.length < batch) break;
  }
  const more = items.length > options.limit;
  const data = items.slice(0, options.limit);
  return { items: data, nextCursor: more ? encodeCursor({ s: data.at(-1)!.score, m: data.at(-1)!.member }) : null };
}
