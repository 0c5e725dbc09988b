/**
 * The audit trail: review actions, list changes and webhook failures, appended to a Redis Stream
 * (rh:{ops}:a) with who did it (the token name), what, on what, before and after, and when. Each
 * entry carries a sequence number, the hash of the previous entry and its own hash, so `npm run
 * audit -- verify` finds an entry changed or removed. Entries older than the retention are trimmed
 * with MINID. Not a secret-keyed MAC: it shows tampering by anyone who does not rewrite the chain
 * from the tampered entry on; export it (JSONL) to keep a copy elsewhere.
 */
import { createHash } from 'node:crypto';
import { type OpsBackend, type StreamEntry, type Write, opsKeys } from '../operations/backend.js';

export interface AuditInput {
  /** Token name, or "system" for riskhook's own actions (webhook failures). */
  readonly actor: string;
  /** e.g. review.released, list.added, list.removed, webhook.failed. */
  readonly action: string;
  readonly target: string;
  readonly before: unknown;
  readonly after: unknown;
}

export interface AuditEntry extends AuditInput {
  /** The stream id: where to continue paging from. */
  readonly id: string;
  readonly seq: number;
  readonly at: string;
  readonly prevHash: string;
  readonly hash: string;
}

const GENESIS = '0'.repeat(64);

export const entryHash = (prevHash: string, body: string) => createHash('sha256').update(`${prevHash}\n${body}`, 'utf8').digest('hex');

export function parseHead(head: string | null): { seq: number; hash: string } {
  if (head === null) return { seq: 0, hash: GENESIS };
  const at = head.indexOf(':');
  return { seq: Number(head.slice(0, at)), hash: head.slice(at + 1) };
}

/**
 * The writes that append `inputs` after `head` (as read), and the condition that makes them land only
 * if nobody appended meanwhile (the caller's commit re-reads and retries otherwise).
 */
export function auditWrites(head: string | null, inputs: readonly AuditInput[], now: number, retentionMs: number) {
  let { seq, hash } = parseHead(head);
  const writes: Write[] = [];
  for (const input of inputs) {
    seq += 1;
    const body = JSON.stringify({ seq, at: new Date(now).toISOString(), actor: input.actor, action: input.action, target: input.target, before: input.before ?? null, after: input.after ?? null });
    const next = entryHash(hash, body);
    writes.push({ op: 'xadd', key: opsKeys.audit, minIdMs: now - retentionMs, fields: { e: body, p: hash, h: next } });
    hash = next;
  }
  if (inputs.length > 0) writes.push({ op: 'set', key: opsKeys.auditHead, value: `${seq}:${hash}` });
  return { condition: { key: opsKeys.auditHead, equals: head }, writes };
}

export function toAuditEntry(entry: StreamEntry): AuditEntry {
  const body = JSON.parse(entry.fields.e ?? '{}') as Omit<AuditEntry, 'id' | 'prevHash' | 'hash'>;
  return { id: entry.id, ...body, prevHash: entry.fields.p ?? '', hash: entry.fields.h ?? '' };
}

/** Entries from `after` (exclusive stream id) or `fromMs`, oldest first. */
export async function readAudit(backend: OpsBackend, options: { fromMs?: number; toMs?: number; after?: string; limit: number }): Promise<{ entries: AuditEntry[]; next: string | null }> {
  const start = options.after !== undefined ? exclusiveNext(options.after) : options.fromMs !== undefined ? String(options.fromMs) : '-';
  const end = options.toMs !== undefined ? String(options.toMs) : '+';
  const raw = await backend.xrange(opsKeys.audit, start, end, options.limit + 1);
  const entries = raw.slice(0, options.limit).map(toAuditEntry);
  return { entries, next: raw.length > options.limit ? entries.at(-1)!.id : null };
}

/** The id right after `id` (XRANGE's exclusive "(" form, done by hand so the memory store needs no parser for it). */
function exclusiveNext(id: string): string {
  const [ms, seq] = id.split('-').map(Number) as [number, number];
  return `${ms}-${seq + 1}`;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  readonly problems: string[];
}

/**
 * Walks the whole stream: every entry's hash matches its content and the previous entry's hash,
 * sequence numbers have no gap, and the newest entry is the recorded head. The oldest retained entry
 * starts the walk (older ones are trimmed by retention, on purpose).
 */
export async function verifyAudit(backend: OpsBackend): Promise<VerifyReport> {
  const problems: string[] = [];
  let previous: AuditEntry | undefined;
  let first: AuditEntry | undefined;
  let count = 0;
  let after: string | undefined;
  for (;;) {
    const page = await readAudit(backend, { limit: 1000, ...(after !== undefined && { after }) });
    for (const entry of page.entries) {
      count += 1;
      first ??= entry;
      const body = JSON.stringify({ seq: entry.seq, at: entry.at, actor: entry.actor, action: entry.action, target: entry.target, before: entry.before, after: entry.after });
      if (entryHash(entry.prevHash, body) !== entry.hash) problems.push(`entry ${entry.id} (seq ${entry.seq}): content does not match its hash (changed)`);
      if (previous) {
        if (entry.prevHash !== previous.hash) problems.push(`entry ${entry.id} (seq ${entry.seq}): previous hash does not match entry ${previous.id} (an entry changed or removed)`);
        if (entry.seq !== previous.seq + 1) problems.push(`entries ${previous.seq + 1}..${entry.seq - 1} are missing (before ${entry.id})`);
      }
      previous = entry;
    }
    if (!page.next) break;
    after = page.next;
  }
  const head = await backend.get(opsKeys.auditHead);
  if (head !== null) {
    const { seq, hash } = parseHead(head);
    if (!previous) problems.push(`the trail is empty but its head records entry ${seq}`);
    else if (previous.seq !== seq || previous.hash !== hash) problems.push(`the newest entry is seq ${previous.seq}, but the head records seq ${seq}: entries at the end are missing or changed`);
  }
  return { ok: problems.length === 0, entries: count, firstSeq: first?.seq ?? null, lastSeq: previous?.seq ?? null, problems };
}
