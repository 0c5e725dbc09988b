/**
 * The audit trail's hash chain on every store: verify passes on an untouched trail and reports an
 * entry changed in place, an entry removed from the middle, and entries removed from the end.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readAudit, verifyAudit } from '../../lib/audit/trail.js';
import { opsKeys } from '../../lib/operations/backend.js';
import type { MemoryOpsBackend } from '../../lib/operations/memory.js';
import { RedisOpsBackend } from '../../lib/operations/redis.js';
import { type OpsHarness, opsHarness } from '../support/operations.js';
import { STORE_KINDS } from '../support/stores.js';

const run = promisify(execFile);

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

describe('npm run audit (the CLI, on Redis)', () => {
  let h: OpsHarness;
  beforeAll(async () => {
    h = await opsHarness('redis');
    for (let i = 0; i < 3; i++) await h.api('PUT', `/v1/lists/block/ip/198.51.100.${i}`, { body: { note: `cli ${i}` } });
  });
  afterAll(async () => h.close());

  const cli = async (...args: string[]) => {
    const tag = /^rh:\{(.+)\}:a$/.exec((h.backend as RedisOpsBackend).keyOf(opsKeys.audit))![1]!;
    const env = { ...process.env, REDIS_URL: inject('redisUrl'), POWERTOOLS_LOG_LEVEL: 'SILENT' };
    try {
      const { stdout } = await run('node', ['scripts/run-bundled.mjs', 'scripts/audit.ts', ...args, '--tag', tag], { env });
      return { code: 0, stdout };
    } catch (error) {
      const e = error as { code: number; stdout: string };
      return { code: e.code, stdout: e.stdout };
    }
  };

  it('verify exits 0 on an intact trail and 1 naming the entry once one is removed; export writes JSONL', async () => {
    expect(await cli('verify')).toMatchObject({ code: 0, stdout: expect.stringContaining('audit trail OK: 3 entries') });
    const exported = await cli('export', '--from', new Date(Date.now() - 60_000).toISOString());
    const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3]);
    expect(lines[0]).toMatchObject({ actor: 'admin', action: 'list.put', after: { note: 'cli 0' } });
    await h.backend.xdel(opsKeys.audit, lines[1].id);
    expect(await cli('verify')).toMatchObject({ code: 1, stdout: expect.stringContaining('entries 2..2 are missing') });
  });
});
