/**
 * The audit trail's hash chain on every store: verify passes on an untouched trail and reports an
 * entry changed in place, an entry removed from the middle, and entries removed from the end.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAudit, verifyAudit } from '../../lib/audit/trail.js';
import { opsKeys } from '../../lib/operations/backend.js';
import type { MemoryOpsBackend } from '../../lib/operations/memory.js';
import { RedisOpsBackend } from '../../lib/operations/redis.js';
import { type OpsHarness, opsHarness } from '../support/operations.js';
import { STORE_KINDS } from '../support/stores.js';

/** Rewrites one entry's fields where it is: in place in memory; on Redis the stream is rebuilt with the same ids. */
async function overwrite(h: OpsHarness, id: string, change: (fields: Record<string, string>) => Record<string, string>) {
  const entries = await h.backend.xrange(opsKeys.audit, '-', '+', 10_000);
  if (!(h.backend instanceof RedisOpsBackend)) {
    const entry = entries.find((e) => e.id === id)!;
    (h.backend as MemoryOpsBackend).overwriteStreamEntry(opsKeys.audit, id, change({ ...entry.fields }));
    return;
  }
  const client = h.backend.client as Redis;
  const key = h.backend.keyOf(opsKeys.audit);
  await client.del(key);
  for (const e of entries) {
    const fields = e.id === id ? change({ ...e.fields }) : e.fields;
    await client.xadd(key, e.id, ...Object.entries(fields).flat());
  }
}

describe.each(STORE_KINDS)('audit trail on the %s store', (kind) => {
  let h: OpsHarness;
  beforeAll(async () => {
    h = await opsHarness(kind);
    for (let i = 0; i < 6; i++) await h.api('PUT', `/v1/lists/block/ip/192.0.2.${i}`, { body: { note: `entry ${i}` } });
  });
  afterAll(async () => h.close());

  it('verifies an untouched trail', async () => {
    expect(await verifyAudit(h.backend)).toMatchObject({ ok: true, entries: 6, firstSeq: 1, lastSeq: 6, problems: [] });
  });

  it('detects an entry changed in place, naming it', async () => {
    const { entries } = await readAudit(h.backend, { limit: 10 });
    const target = entries[2]!;
    await overwrite(h, target.id, (f) => ({ ...f, e: f.e!.replace('entry 2', 'entry two') }));
    const report = await verifyAudit(h.backend);
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toContain(`entry ${target.id} (seq 3): content does not match its hash`);
    await overwrite(h, target.id, (f) => ({ ...f, e: f.e!.replace('entry two', 'entry 2') }));
    expect((await verifyAudit(h.backend)).ok).toBe(true);
  });

  it('detects a changed entry whose own hash was recomputed (the next entry no longer links to it)', async () => {
    const { entries } = await readAudit(h.backend, { limit: 10 });
    const target = entries[1]!;
    const { entryHash } = await import('../../lib/audit/trail.js');
    await overwrite(h, target.id, (f) => {
      const e = f.e!.replace('entry 1', 'entry one');
      return { ...f, e, h: entryHash(f.p!, e) };
    });
    const report = await verifyAudit(h.backend);
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toContain('previous hash does not match');
  });

  it('detects entries removed from the middle and from the end', async () => {
    const { entries } = await readAudit(h.backend, { limit: 10 });
    await h.backend.xdel(opsKeys.audit, entries[4]!.id);
    let report = await verifyAudit(h.backend);
    expect(report.problems.join('\n')).toContain('entries 5..5 are missing');
    await h.backend.xdel(opsKeys.audit, entries[5]!.id);
    report = await verifyAudit(h.backend);
    expect(report.problems.join('\n')).toContain('the head records seq 6');
  });
});
