/**
 * The admin API and the operations concerns on every store (memory, a real Redis, a real Redis
 * Cluster), through the webhook and api handlers: a list hit changes a decision, holds open reviews
 * found by every route, closing is exactly once (also under concurrency), list entries expire,
 * release trusts and confirm-fraud blocks, paging, errors and scopes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../lib/audit/trail.js';
import { type OpsHarness, TOKENS, genericEvent, opsHarness } from '../support/operations.js';
import { STORE_KINDS } from '../support/stores.js';

const DAY = 86_400_000;

describe.each(STORE_KINDS)('operations on the %s store', (kind) => {
  let h: OpsHarness;
  beforeAll(async () => {
    h = await opsHarness(kind);
  });
  afterAll(async () => h.close());

  /** Blocks the event's device, sends it: a hold (the default policy's blocked-entity rule). */
  async function hold(overrides: Record<string, unknown> = {}) {
    const event = genericEvent(overrides);
    const device = (event.device as { id: string }).id;
    expect((await h.api('PUT', `/v1/lists/block/device/${encodeURIComponent(device)}`, { body: { ttlDays: 1, note: 'test' } })).status).toBe(200);
    const answer = await h.send(event);
    expect(answer.body).toMatchObject({ decision: 'hold' });
    return event;
  }

  it('a list hit changes the decision: the same payment approves, then holds once its device is blocked', async () => {
    const event = genericEvent();
    expect((await h.send(event)).body).toMatchObject({ decision: 'approve' });
    const device = (event.device as { id: string }).id;
    await h.api('PUT', `/v1/lists/block/device/${device}`, { body: { note: 'stolen phone' } });
    const again = await h.send({ ...genericEvent(), device: { id: device } });
    expect(again.body).toMatchObject({ decision: 'hold', reasons: [expect.objectContaining({ rule: 'blocked-entity' })] });
  });

  it('a hold is found by id and in the holds index, with the merchant reference and no raw identifier', async () => {
    const event = await hold();
    const byId = await h.api('GET', `/v1/decisions/generic/${event.id}`);
    expect(byId.status).toBe(200);
    expect(byId.body).toMatchObject({
      eventId: event.id,
      decision: 'hold',
      provider: 'generic',
      kind: 'notification',
      amount: { minor: 6_800, currency: 'CNY' },
      reference: event.reference,
      occurredAt: expect.stringMatching(/Z$/),
      receivedAt: expect.stringMatching(/Z$/),
    });
    const text = JSON.stringify(byId.body);
    for (const raw of [(event.account as { id: string }).id, (event.device as { id: string }).id, (event.instrument as { id: string }).id]) {
      expect(text).not.toContain(raw);
    }
    const holds = await h.api('GET', '/v1/decisions?decision=hold&provider=generic&limit=100');
    expect(holds.status).toBe(200);
    expect(holds.body.data.map((d: { eventId: string }) => d.eventId)).toContain(event.id);
    expect(holds.body).toHaveProperty('nextCursor');
    expect((await h.api('GET', '/v1/decisions?decision=approve')).status).toBe(400);
    expect((await h.api('GET', '/v1/decisions/generic/evt_nope')).status).toBe(404);
  });

  it('every hold opens a review; release closes it exactly once, another action is 409', async () => {
    const event = await hold();
    const review = await h.api('GET', `/v1/reviews/generic/${event.id}`);
    expect(review.body).toMatchObject({ provider: 'generic', eventId: event.id, status: 'open', closedAt: null, note: null, reference: event.reference, decision: { decision: 'hold' } });
    expect(Object.keys(review.body).sort()).toEqual(['closedAt', 'decision', 'eventId', 'note', 'openedAt', 'provider', 'reference', 'status']);
    const released = await h.api('POST', `/v1/reviews/generic/${event.id}/release`, { body: { note: 'called the customer' } });
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ status: 'released', note: 'called the customer', closedAt: expect.any(String) });
    const again = await h.api('POST', `/v1/reviews/generic/${event.id}/release`, { body: { note: 'twice' } });
    expect(again).toEqual(released);
    const other = await h.api('POST', `/v1/reviews/generic/${event.id}/confirm-fraud`, { body: {} });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('review_closed');
    const closed = await h.api('GET', '/v1/reviews?status=released&provider=generic&limit=100');
    expect(closed.body.data.map((r: { eventId: string }) => r.eventId)).toContain(event.id);
    const open = await h.api('GET', '/v1/reviews?status=open&limit=100');
    expect(open.body.data.map((r: { eventId: string }) => r.eventId)).not.toContain(event.id);
  });

  it('concurrent closes: one wins, the same action answers the winner, the other 409, one audit entry', async () => {
    const event = await hold();
    const actions = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 'release' : 'confirm-fraud'));
    const answers = await Promise.all(actions.map((a) => h.api('POST', `/v1/reviews/generic/${event.id}/${a}`, { body: { note: a } })));
    const winner = answers.find((a) => a.status === 200)!.body.status as string;
    const winning = winner === 'released' ? 'release' : 'confirm-fraud';
    answers.forEach((answer, i) => {
      if (actions[i] === winning) expect(answer).toMatchObject({ status: 200, body: { status: winner } });
      else expect(answer.status).toBe(409);
    });
    expect(new Set(answers.filter((a) => a.status === 200).map((a) => a.body.closedAt)).size).toBe(1);
    const audit = await h.api('GET', '/v1/audit?limit=100');
    const closes = audit.body.data.filter((e: { action: string; target: string }) => e.target === `review/generic/${event.id}`);
    expect(closes).toHaveLength(1);
    expect((await verifyAudit(h.backend)).ok).toBe(true);
  });

  it('confirm-fraud blocks the account, linked account, device and instrument; the next payment from the account holds', async () => {
    const event = await hold();
    const confirmed = await h.api('POST', `/v1/reviews/generic/${event.id}/confirm-fraud`, { body: { note: 'victim report #123' } });
    expect(confirmed.body.status).toBe('confirmed_fraud');
    for (const kind of ['account', 'linkedAccount', 'instrument'] as const) {
      const id = (event[kind] as { id: string }).id;
      const entry = await h.api('GET', `/v1/lists/block/${kind}/${id}`);
      expect(entry.body).toMatchObject({ list: 'block', entityKind: kind, source: { type: 'review', provider: 'generic', eventId: event.id } });
      expect(JSON.stringify(entry.body)).not.toContain(id);
    }
    const next = await h.send(genericEvent({ account: { id: (event.account as { id: string }).id, twoFactor: true } }));
    expect(next.body).toMatchObject({ decision: 'hold', reasons: [expect.objectContaining({ rule: 'blocked-entity' })] });
  });

  it('confirm-fraud with block: ["device"] blocks only the device; block: false nothing', async () => {
    const a = await hold();
    await h.api('POST', `/v1/reviews/generic/${a.id}/confirm-fraud`, { body: { block: ['instrument'] } });
    expect((await h.api('GET', `/v1/lists/block/instrument/${(a.instrument as { id: string }).id}`)).status).toBe(200);
    expect((await h.api('GET', `/v1/lists/block/account/${(a.account as { id: string }).id}`)).status).toBe(404);
    const b = await hold();
    await h.api('POST', `/v1/reviews/generic/${b.id}/confirm-fraud`, { body: { block: false } });
    expect((await h.api('GET', `/v1/lists/block/account/${(b.account as { id: string }).id}`)).status).toBe(404);
    expect((await h.api('POST', `/v1/reviews/generic/${b.id}/confirm-fraud`, { body: { block: ['nose'] } })).status).toBe(400);
  });

  it('release with trustDays allows the account: its next payment approves, unless a hold rule fires', async () => {
    const event = await hold();
    await h.api('POST', `/v1/reviews/generic/${event.id}/release`, { body: { note: 'known customer', trustDays: 30 } });
    const account = (event.account as { id: string }).id;
    const entry = await h.api('GET', `/v1/lists/allow/account/${account}`);
    expect(entry.body).toMatchObject({ list: 'allow', source: { type: 'review' } });
    // A burst that would score over holdAt: approved, since the account is allowed.
    const burst = { account: { id: account, twoFactor: false }, authMethod: 'password_free', device: { id: `other-${event.id}` } };
    let last: Record<string, unknown> = {};
    for (let i = 0; i < 4; i++) last = (await h.send(genericEvent(burst))).body;
    expect(last).toMatchObject({ decision: 'approve', reasons: expect.arrayContaining([expect.objectContaining({ rule: 'allowed-account' })]) });
    // Its blocked device still holds: block > allow.
    const blocked = await h.send(genericEvent({ account: { id: account, twoFactor: true }, device: event.device }));
    expect(blocked.body).toMatchObject({ decision: 'hold' });
  });

  it("release makes the held payment's device trusted: the customer's next password-free payment from it is approved, another device's is not", async () => {
    const suffix = Date.now().toString(36);
    const who = { account: { id: `acct_rel_${suffix}`, twoFactor: true }, linkedAccount: { id: `apple_rel_${suffix}`, kind: 'apple_id' }, authMethod: 'password_free' };
    const device = { id: `dev_rel_${suffix}` };
    // 648 CNY password-free from a device the account never paid from: over the untrusted-device budget.
    const first = genericEvent({ ...who, device, amount: { minor: 64_800, currency: 'CNY' } });
    const held = await h.send(first);
    expect(held.body).toMatchObject({ decision: 'hold', reasons: expect.arrayContaining([expect.objectContaining({ rule: 'untrusted-pf-budget' })]) });
    // Released without trustDays: no allow-list entry, only the device trust.
    expect((await h.api('POST', `/v1/reviews/generic/${first.id}/release`, { body: { note: 'customer confirmed' } })).status).toBe(200);
    expect((await h.api('GET', `/v1/lists/allow/account/${who.account.id}`)).status).toBe(404);
    const next = await h.send(genericEvent({ ...who, device, amount: { minor: 64_800, currency: 'CNY' } }));
    expect(next.body).toMatchObject({ decision: 'approve' });
    expect((next.body.reasons as { rule: string }[]).map((r) => r.rule)).not.toContain('untrusted-pf-budget');
    // A repeated release trusts nothing more and breaks nothing.
    expect((await h.api('POST', `/v1/reviews/generic/${first.id}/release`, { body: {} })).status).toBe(200);
    const other = await h.send(genericEvent({ ...who, device: { id: `dev_rel_other_${suffix}` }, amount: { minor: 64_800, currency: 'CNY' } }));
    expect(other.body).toMatchObject({ decision: 'hold' });
  });

  it('list entries: raw ids hashed on arrival, bounds on expiry, expiry ends membership, delete, paging by hash', async () => {
    const raw = `dev_list_${Date.now()}`;
    expect((await h.api('PUT', `/v1/lists/allow/device/${raw}`, { body: { ttlDays: 181 } })).status).toBe(400);
    expect((await h.api('PUT', `/v1/lists/allow/device/${raw}`, { body: { expiresAt: '2020-01-01T00:00:00Z' } })).status).toBe(400);
    expect((await h.api('PUT', `/v1/lists/allow/device/${raw}`, { body: { ttlDays: 1, colour: 'red' } })).status).toBe(400);
    expect((await h.api('PUT', `/v1/lists/grey/device/${raw}`, { body: {} })).status).toBe(400);
    expect((await h.api('PUT', `/v1/lists/allow/shoe/${raw}`, { body: {} })).status).toBe(400);
    const put = await h.api('PUT', `/v1/lists/allow/device/${raw}`, { body: { ttlDays: 2, note: 'tester' } });
    expect(put.body).toMatchObject({ list: 'allow', entityKind: 'device', note: 'tester', source: { type: 'manual' }, createdBy: 'admin' });
    expect(put.body.id).toBe(h.runtime.hasher.entity('device', raw));
    expect(JSON.stringify(put.body)).not.toContain(raw);
    expect(await h.ops.lists.membership([{ kind: 'device', key: put.body.id }])).toEqual({ device: { blocked: false, allowed: true } });
    // by hash too
    expect((await h.api('GET', `/v1/lists/allow/device/${put.body.id}?idType=hash`)).body.id).toBe(put.body.id);
    h.clock.offsetMs += 3 * DAY;
    try {
      expect((await h.api('GET', `/v1/lists/allow/device/${raw}`)).status).toBe(404);
      expect(await h.ops.lists.membership([{ kind: 'device', key: put.body.id }], Date.now() + h.clock.offsetMs)).toEqual({ device: { blocked: false, allowed: false } });
      const listed = await h.api('GET', '/v1/lists/allow/device?limit=100');
      expect(listed.body.data.map((e: { id: string }) => e.id)).not.toContain(put.body.id);
    } finally {
      h.clock.offsetMs -= 3 * DAY;
    }
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await h.api('PUT', `/v1/lists/block/ip/10.0.0.${i}`, { body: {} })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { data: { id: string }[]; nextCursor: string | null } } = await h.api('GET', `/v1/lists/block/ip?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((e) => e.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    const removed = await h.api('DELETE', `/v1/lists/block/ip/10.0.0.0`);
    expect(removed.status).toBe(200);
    expect((await h.api('GET', `/v1/lists/block/ip/10.0.0.0`)).status).toBe(404);
    expect((await h.api('DELETE', `/v1/lists/block/ip/10.0.0.0`)).status).toBe(404);
  });

  it('open reviews page oldest first without repeats; closed ones drop out after the retention', async () => {
    const events: Array<{ id: string }> = [];
    for (let i = 0; i < 5; i++) events.push(await hold({ kind: 'authorization' }));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { eventId: string; openedAt: string }[]; nextCursor: string | null } } = await h.api('GET', `/v1/reviews?status=open&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.data.map((r) => r.eventId));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    const mine = seen.filter((id) => events.some((e) => e.id === id));
    expect(mine).toEqual(events.map((e) => e.id));
    await h.api('POST', `/v1/reviews/generic/${events[0]!.id}/release`, { body: {} });
    h.clock.offsetMs += 91 * DAY;
    try {
      const closed = await h.api('GET', '/v1/reviews?status=released&limit=100');
      expect(closed.body.data.map((r: { eventId: string }) => r.eventId)).not.toContain(events[0]!.id);
    } finally {
      h.clock.offsetMs -= 91 * DAY;
    }
  });

  it('auth and errors: 401 without or with a wrong token, 403 without the scope, 404, 405, 400, in the error shape', async () => {
    const unauth = await h.api('GET', '/v1/reviews', { token: null });
    expect(unauth).toMatchObject({ status: 401, body: { error: { code: 'unauthorized', message: expect.any(String) } } });
    expect((await h.api('GET', '/v1/reviews', { token: 'rh_wrong' })).status).toBe(401);
    const forbidden = await h.api('POST', '/v1/reviews/generic/x/release', { token: TOKENS.reader!.token, body: {} });
    expect(forbidden).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect((await h.api('PUT', '/v1/lists/block/device/d1', { token: TOKENS.reader!.token, body: {} })).status).toBe(403);
    expect((await h.api('GET', '/v1/audit', { token: TOKENS.lists!.token })).status).toBe(403);
    expect((await h.api('PUT', '/v1/lists/block/device/d1', { token: TOKENS.lists!.token, body: {} })).status).toBe(200);
    expect((await h.api('GET', '/v1/nothing')).status).toBe(404);
    expect((await h.api('DELETE', '/v1/reviews')).status).toBe(405);
    expect((await h.api('GET', '/v1/reviews/generic/evt_none')).status).toBe(404);
    expect((await h.api('POST', '/v1/reviews/generic/evt_none/release', { body: {} })).status).toBe(404);
    const badLimit = await h.api('GET', '/v1/reviews?limit=1000');
    expect(badLimit).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', message: expect.stringContaining('limit') } } });
    expect((await h.api('GET', '/v1/reviews?status=maybe')).status).toBe(400);
    expect((await h.api('GET', '/v1/reviews?cursor=zzz')).status).toBe(400);
    expect((await h.api('POST', '/v1/reviews/generic/x/release', { body: '[1,2' })).status).toBe(400);
    expect((await h.api('GET', '/v1/webhooks/failed')).body).toEqual({ data: [], nextCursor: null });
    expect((await h.api('POST', '/v1/webhooks/failed/msg_none/retry', { body: {} })).status).toBe(404);
  });

  it('the audit trail lists review actions and list changes with actor, before and after, and verifies', async () => {
    const event = await hold();
    await h.api('POST', `/v1/reviews/generic/${event.id}/release`, { token: TOKENS.admin!.token, body: { note: 'ok' } });
    const all: Array<{ actor: string; action: string; target: string; before: unknown; after: unknown; at: string }> = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { data: typeof all; nextCursor: string | null } } = await h.api('GET', `/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      all.push(...page.body.data);
      cursor = page.body.nextCursor;
    } while (cursor);
    const release = all.find((e) => e.target === `review/generic/${event.id}`)!;
    expect(release).toMatchObject({ actor: 'admin', action: 'review.released', before: { status: 'open' }, after: { status: 'released', note: 'ok' } });
    expect(all.some((e) => e.action === 'list.put' && e.actor === 'admin')).toBe(true);
    // `from` is by stream time (the store's clock): a margin past the entry's own time.
    const from = new Date(Date.parse(release.at) + 5_000).toISOString();
    const later = await h.api('GET', `/v1/audit?from=${from}&limit=100`);
    expect(later.body.data.find((e: { target: string }) => e.target === release.target)).toBeUndefined();
    expect(await verifyAudit(h.backend)).toMatchObject({ ok: true, problems: [] });
  });
});
