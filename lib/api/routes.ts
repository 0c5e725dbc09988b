/**
 * The admin API under /v1, as a table: method, path pattern, scope, and a small function from the
 * parsed request to a concern (reviews, lists, outbox, audit). No logic of its own beyond parsing
 * and shaping JSON. Lists answer `{ "data": [...], "nextCursor": <string or null> }`.
 */
import { readAudit } from '../audit/trail.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { type Decision } from '../events.js';
import { parseEntityKind, parseListName } from '../lists/lists.js';
import type { Scope } from '../operations/config.js';
import { DEFAULT_LIMIT, MAX_LIMIT, decodeCursor, encodeCursor } from '../operations/paging.js';
import type { Operations } from '../operations/index.js';
import { failedDeliveries, retryFailed } from '../outbox/failed.js';
import { REVIEW_STATUSES, type ReviewStatus } from '../review/review.js';
import type { VelocityStore } from '../velocity/store.js';
import type { Principal } from './auth.js';
import { auditByTarget, holdStats, reviewDeliveries } from './reads.js';

export interface ApiRequest {
  readonly method: string;
  /** Path segments after /v1, decoded. */
  readonly segments: readonly string[];
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The parsed JSON body (an object), or {} when there is none. */
  readonly body: Record<string, unknown>;
  readonly principal: Principal;
}

export interface ApiContext {
  readonly operations: Operations;
  readonly store: VelocityStore;
}

export interface ApiResult {
  readonly status: number;
  readonly body: unknown;
}

type Handler = (req: ApiRequest, params: Record<string, string>, ctx: ApiContext) => Promise<ApiResult>;

interface Route {
  readonly method: string;
  /** Segments after /v1; `{name}` captures one segment. */
  readonly pattern: readonly string[];
  readonly scope: Scope;
  readonly handle: Handler;
}

const ok = (body: unknown): ApiResult => ({ status: 200, body });

function limitOf(query: ApiRequest['query']): number {
  if (query.limit === undefined) return DEFAULT_LIMIT;
  const n = Number(query.limit);
  if (!/^\d+$/.test(query.limit) || n < 1 || n > MAX_LIMIT) throw new InvalidRequestError(`limit: expected a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

function timeOf(query: ApiRequest['query'], name: string): number | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || !/^\d{4}-\d\d-\d\d/.test(value)) throw new InvalidRequestError(`${name}: expected an ISO-8601 date-time, e.g. 2026-11-22T00:00:00Z`);
  return ms;
}

function provider(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[a-z0-9_-]{1,32}$/.test(value)) throw new InvalidRequestError('provider: expected a provider name such as alipay');
  return value;
}

function only(query: ApiRequest['query'], allowed: readonly string[]): void {
  const unknown = Object.keys(query).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new InvalidRequestError(`${unknown[0]!.slice(0, 40)}: unknown query parameter; expected ${allowed.join(', ') || 'none'}`);
}

const getDecision: Handler = async (req, { provider: p, eventId }, ctx) => {
  only(req.query, []);
  const name = provider(p)!;
  const stored = await ctx.store.readDecision(ctx.operations.ctx.hasher.event(name, eventId!));
  const decision: Decision | undefined = stored ?? (await ctx.operations.reviews.decisionOf(name, eventId!));
  if (!decision) throw new NotFoundError(`no decision for ${name} event ${eventId!.slice(0, 256)} (approvals are kept for the decision TTL)`);
  return ok(decision);
};

const listDecisions: Handler = async (req, _, ctx) => {
  only(req.query, ['decision', 'provider', 'from', 'to', 'cursor', 'limit']);
  if (req.query.decision !== 'hold') {
    throw new InvalidRequestError('decision: only decision=hold is listed (approvals are found by id: GET /v1/decisions/{provider}/{eventId})');
  }
  return ok(
    await ctx.operations.reviews.holds({
      provider: provider(req.query.provider),
      fromMs: timeOf(req.query, 'from'),
      toMs: timeOf(req.query, 'to'),
      cursor: req.query.cursor,
      limit: limitOf(req.query),
    }),
  );
};

const listReviews: Handler = async (req, _, ctx) => {
  only(req.query, ['status', 'provider', 'cursor', 'limit']);
  const status = (req.query.status ?? 'open') as ReviewStatus;
  if (!REVIEW_STATUSES.includes(status)) throw new InvalidRequestError(`status: expected one of ${REVIEW_STATUSES.join(', ')}`);
  return ok(await ctx.operations.reviews.page(status, provider(req.query.provider), req.query.cursor, limitOf(req.query)));
};

const getReview: Handler = async (req, { provider: p, eventId }, ctx) => {
  only(req.query, []);
  return ok(await ctx.operations.reviews.get(provider(p)!, eventId!));
};

const closeReview =
  (action: 'release' | 'confirm-fraud'): Handler =>
  async (req, { provider: p, eventId }, ctx) => {
    only(req.query, []);
    const allowed = action === 'release' ? ['note', 'trustDays'] : ['note', 'block'];
    const unknown = Object.keys(req.body).find((k) => !allowed.includes(k));
    if (unknown) throw new InvalidRequestError(`${unknown.slice(0, 40)}: unknown field; expected ${allowed.join(', ')}`);
    return ok(await ctx.operations.reviews.close(provider(p)!, eventId!, action, req.body, req.principal.name));
  };

const listEntry =
  (verb: 'get' | 'put' | 'delete'): Handler =>
  async (req, params, ctx) => {
    only(req.query, ['idType']);
    const { lists } = ctx.operations;
    const list = parseListName(params.list);
    const kind = parseEntityKind(params.entityKind);
    const hash = lists.hashOf(kind, params.id!, req.query.idType);
    if (verb === 'get') return ok(await lists.get(list, kind, hash));
    if (verb === 'delete') return ok(await lists.remove(list, kind, hash, req.principal.name));
    const unknown = Object.keys(req.body).find((k) => !['ttlDays', 'expiresAt', 'note'].includes(k));
    if (unknown) throw new InvalidRequestError(`${unknown.slice(0, 40)}: unknown field; expected ttlDays or expiresAt, and note`);
    return ok(await lists.put(list, kind, hash, req.body, req.principal.name));
  };

const listEntries: Handler = async (req, params, ctx) => {
  only(req.query, ['cursor', 'limit']);
  return ok(await ctx.operations.lists.page(parseListName(params.list), parseEntityKind(params.entityKind), req.query.cursor, limitOf(req.query)));
};

const listAudit: Handler = async (req, _, ctx) => {
  only(req.query, ['from', 'to', 'target', 'cursor', 'limit']);
  const after = decodeCursor(req.query.cursor, (v): v is string => typeof v === 'string' && /^\d+-\d+$/.test(v));
  const fromMs = timeOf(req.query, 'from');
  const toMs = timeOf(req.query, 'to');
  if (req.query.target !== undefined) {
    if (req.query.target.length === 0 || req.query.target.length > 600) throw new InvalidRequestError('target: expected e.g. review/<provider>/<eventId> or block/device/<hash>');
    return ok(await auditByTarget(ctx.operations, req.query.target, { fromMs, toMs, after, limit: limitOf(req.query) }));
  }
  const page = await readAudit(ctx.operations.ctx.backend, {
    limit: limitOf(req.query),
    ...(after !== undefined ? { after } : fromMs !== undefined && { fromMs }),
    ...(toMs !== undefined && { toMs }),
  });
  return ok({ data: page.entries, nextCursor: page.next === null ? null : encodeCursor(page.next) });
};

const MAX_STATS_SPAN_MS = 8 * 24 * 3_600_000;

const statsHolds: Handler = async (req, _, ctx) => {
  only(req.query, ['from', 'to']);
  const { fromMs, toMs } = statsWindow(req.query, ctx.operations.ctx.now());
  return ok(await holdStats(ctx.operations, fromMs, toMs));
};

/** A stats window: `to` defaults to now, `from` to 7 days before it, at most 8 days long. */
function statsWindow(query: ApiRequest['query'], nowMs: number): { fromMs: number; toMs: number } {
  const toMs = timeOf(query, 'to') ?? nowMs;
  const fromMs = timeOf(query, 'from') ?? toMs - 7 * 24 * 3_600_000;
  if (fromMs > toMs) throw new InvalidRequestError('from: must not be after to');
  if (toMs - fromMs > MAX_STATS_SPAN_MS) throw new InvalidRequestError('from: at most 8 days before to');
  return { fromMs, toMs };
}

const statsDecisions: Handler = async (req, _, ctx) => {
  only(req.query, ['from', 'to']);
  const { fromMs, toMs } = statsWindow(req.query, ctx.operations.ctx.now());
  return ok(await ctx.operations.stats.read(fromMs, toMs));
};

const deliveries: Handler = async (req, { provider: p, eventId }, ctx) => {
  only(req.query, []);
  return ok(await reviewDeliveries(ctx.operations, provider(p)!, eventId!));
};

const listFailed: Handler = async (req, _, ctx) => {
  only(req.query, ['cursor', 'limit']);
  return ok(await failedDeliveries(ctx.operations.ctx, req.query.cursor, limitOf(req.query)));
};

const retry: Handler = async (req, { id }, ctx) => {
  only(req.query, []);
  return ok(await retryFailed(ctx.operations.ctx, id!, req.principal.name));
};

export const ROUTES: readonly Route[] = [
  { method: 'GET', pattern: ['decisions'], scope: 'decisions:read', handle: listDecisions },
  { method: 'GET', pattern: ['decisions', '{provider}', '{eventId}'], scope: 'decisions:read', handle: getDecision },
  { method: 'GET', pattern: ['reviews'], scope: 'decisions:read', handle: listReviews },
  { method: 'GET', pattern: ['reviews', '{provider}', '{eventId}'], scope: 'decisions:read', handle: getReview },
  { method: 'GET', pattern: ['reviews', '{provider}', '{eventId}', 'deliveries'], scope: 'decisions:read', handle: deliveries },
  { method: 'POST', pattern: ['reviews', '{provider}', '{eventId}', 'release'], scope: 'reviews:write', handle: closeReview('release') },
  { method: 'POST', pattern: ['reviews', '{provider}', '{eventId}', 'confirm-fraud'], scope: 'reviews:write', handle: closeReview('confirm-fraud') },
  { method: 'GET', pattern: ['lists', '{list}', '{entityKind}'], scope: 'decisions:read', handle: listEntries },
  { method: 'GET', pattern: ['lists', '{list}', '{entityKind}', '{id}'], scope: 'decisions:read', handle: listEntry('get') },
  { method: 'PUT', pattern: ['lists', '{list}', '{entityKind}', '{id}'], scope: 'lists:write', handle: listEntry('put') },
  { method: 'DELETE', pattern: ['lists', '{list}', '{entityKind}', '{id}'], scope: 'lists:write', handle: listEntry('delete') },
  { method: 'GET', pattern: ['audit'], scope: 'audit:read', handle: listAudit },
  { method: 'GET', pattern: ['stats', 'holds'], scope: 'decisions:read', handle: statsHolds },
  { method: 'GET', pattern: ['stats', 'decisions'], scope: 'decisions:read', handle: statsDecisions },
  { method: 'GET', pattern: ['webhooks', 'failed'], scope: 'decisions:read', handle: listFailed },
  { method: 'POST', pattern: ['webhooks', 'failed', '{id}', 'retry'], scope: 'reviews:write', handle: retry },
];

/** The route for a path, with its captures; `methods` lists what the path allows when the method does not match. */
export function matchRoute(method: string, segments: readonly string[]): { route?: Route; params: Record<string, string>; methods: string[] } {
  const methods: string[] = [];
  for (const route of ROUTES) {
    if (route.pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = route.pattern.every((part, i) => {
      if (part.startsWith('{')) {
        params[part.slice(1, -1)] = segments[i]!;
        return segments[i]!.length > 0;
      }
      return part === segments[i];
    });
    if (!fits) continue;
    if (route.method === method) return { route, params, methods };
    methods.push(route.method);
  }
  return { params: {}, methods };
}
