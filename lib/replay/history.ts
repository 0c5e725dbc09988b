/**
 * Reads a history file for replay: JSONL or one JSON array, plain or gzip (detected by its magic
 * bytes), streamed record by record so a history of any length runs in bounded memory. Each record
 * is detected on its own:
 *   - a canonical v1 PaymentEvent (its clock is occurredAt) or Binding;
 *   - a decision log line (Powertools JSON, message "decision", a pseudonymized event and the
 *     recorded receivedAt, which is its clock); a repeated delivery (duplicate: true) is skipped,
 *     the first delivery being the event; other log lines (a service's start, a refusal) are skipped;
 *   - a CloudWatch Logs export record ({ message | @message: "<that log line as a string>" }).
 * Anything else is a bad record: reported with its line number and skipped, or fatal when strict.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Binding, type PaymentEvent } from '../events.js';
import { parsePaymentEvent } from './fast-event.js';

/** What the live service decided for a record of the decision log (compared with the replay when the policy is the same). */
export interface RecordedDecision {
  readonly decision: 'approve' | 'hold';
  readonly score: number;
  readonly rules: readonly string[];
  readonly policyVersion: string;
  readonly degraded: false | string;
}

export type HistoryItem =
  | { readonly kind: 'payment'; readonly event: PaymentEvent; readonly clock: number; readonly line: number; readonly recorded?: RecordedDecision }
  | { readonly kind: 'binding'; readonly binding: Binding; readonly clock: number; readonly line: number };

/** Why a record was left out without being an error. */
export type Skip = 'duplicate' | 'log';

export class HistoryError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

export interface HistoryCounts {
  records: number;
  payments: number;
  bindings: number;
  /** Repeated deliveries: decision log lines marked duplicate, or an event id seen again within the decision TTL. */
  duplicates: number;
  /** Log lines that are not decisions (start-up, refusals, bindings logged without their entities). */
  otherLogLines: number;
  badRecords: number;
}

export interface ReadOptions {
  /** Stop at the first bad record (HistoryError) instead of reporting it and going on. */
  readonly strict?: boolean;
  readonly onBadRecord?: (error: HistoryError) => void;
  /** Bytes of the file read so far (compressed bytes for gzip), for a progress bar. */
  readonly onBytes?: (bytes: number) => void;
}

/**
 * Reads and classifies every record of a history file, in file order, in batches (one per chunk
 * read: a promise per chunk rather than per record keeps the reader's own cost small).
 */
export async function* readHistory(path: string, counts: HistoryCounts, options: ReadOptions = {}): AsyncGenerator<HistoryItem[]> {
  try {
    yield* classify(records(await openHistory(path, options.onBytes)), counts, options);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('Z_')) throw new Error(`${path}: the gzip data is damaged or truncated (${(error as Error).message})`);
    throw error;
  }
}

async function* classify(batches: AsyncIterable<RawRecord[]>, counts: HistoryCounts, options: ReadOptions): AsyncGenerator<HistoryItem[]> {
  for await (const batch of batches) {
    const items: HistoryItem[] = [];
    for (const { text, line } of batch) {
      counts.records++;
      let item: HistoryItem | Skip;
      try {
        item = parseRecord(text, line);
      } catch (error) {
        if (!(error instanceof HistoryError)) throw error;
        counts.badRecords++;
        if (options.strict) throw error;
        options.onBadRecord?.(error);
        continue;
      }
      if (item === 'duplicate') counts.duplicates++;
      else if (item === 'log') counts.otherLogLines++;
      else {
        if (item.kind === 'payment') counts.payments++;
        else counts.bindings++;
        items.push(item);
      }
    }
    if (items.length) yield items;
  }
}

export const emptyCounts = (): HistoryCounts => ({ records: 0, payments: 0, bindings: 0, duplicates: 0, otherLogLines: 0, badRecords: 0 });

/** The file as a text stream, gunzipped when it starts with gzip's magic bytes (1f 8b). */
export async function openHistory(path: string, onBytes?: (bytes: number) => void): Promise<AsyncIterable<string>> {
  const handle = await open(path, 'r');
  const head = Buffer.alloc(2);
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  // 64 KiB chunks (~150 canonical records a batch): a batch's parsed records live until they are
  // scored, and small batches let the young generation collect them (1 MiB batches had them promoted).
  const raw = createReadStream(path, { highWaterMark: 1 << 16 });
  if (onBytes) raw.on('data', () => onBytes(raw.bytesRead));
  const stream: Readable = head[0] === 0x1f && head[1] === 0x8b ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (error) => stream.destroy(error));
  stream.setEncoding('utf8');
  return stream;
}

export interface RawRecord {
  readonly text: string;
  readonly line: number;
}

/**
 * The records of a text stream, a batch per chunk: one per non-blank line (JSONL), or, when the
 * text starts with "[", one per element of that array (each with the line it starts on), without
 * holding the whole array.
 */
export async function* records(chunks: AsyncIterable<string>): AsyncGenerator<RawRecord[]> {
  let mode: 'unknown' | 'lines' | 'array' = 'unknown';
  let pending = '';
  let line = 1;
  const splitter = new ArraySplitter();
  for await (const chunk of chunks) {
    let text = chunk;
    if (mode === 'unknown') {
      pending += chunk;
      const first = /\S/.exec(pending);
      if (!first) continue;
      mode = pending[first.index] === '[' ? 'array' : 'lines';
      text = pending;
      pending = '';
    }
    const batch = mode === 'array' ? splitter.push(text) : lines(text);
    if (batch.length) yield batch;
  }
  if (mode === 'lines' && pending.trim() !== '') yield [{ text: pending, line }];
  if (mode === 'array') splitter.end();

  function lines(chunk: string): RawRecord[] {
    const batch: RawRecord[] = [];
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      const text = pending + chunk.slice(start, nl);
      pending = '';
      if (text.trim() !== '') batch.push({ text, line });
      line++;
      start = nl + 1;
    }
    pending += chunk.slice(start);
    return batch;
  }
}

/** Splits a streamed JSON array into its elements' texts: tracks depth, strings and escapes, nothing more. */
class ArraySplitter {
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** The current element's text from earlier chunks. */
  #element = '';
  /** Line the current element starts on; 0 between elements. */
  #elementLine = 0;
  #line = 1;
  #closed = false;

  push(chunk: string): RawRecord[] {
    const batch: RawRecord[] = [];
    let from = -1; // where the current element starts in this chunk
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 10) this.#line++;
      if (from === -1 && this.#elementLine !== 0) from = i; // an element continued from the previous chunk
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === 92) this.#escaped = true;
        else if (c === 34) this.#inString = false;
        continue;
      }
      const space = c === 32 || c === 9 || c === 10 || c === 13;
      if (this.#depth === 0) {
        if (space) continue;
        if (c !== 91 || this.#closed) throw new HistoryError(this.#line, 'expected one JSON array of records and nothing after it');
        this.#depth = 1;
        continue;
      }
      if (this.#depth === 1 && (c === 44 || c === 93)) {
        const text = this.#element + (from === -1 ? '' : chunk.slice(from, i));
        if (text.trim() !== '') batch.push({ text, line: this.#elementLine });
        else if (c === 44) throw new HistoryError(this.#line, 'empty array element');
        this.#element = '';
        this.#elementLine = 0;
        from = -1;
        if (c === 93) {
          this.#depth = 0;
          this.#closed = true;
        }
        continue;
      }
      if (from === -1) {
        if (space) continue;
        this.#elementLine = this.#line;
        from = i;
      }
      if (c === 34) this.#inString = true;
      else if (c === 91 || c === 123) this.#depth++;
      else if (c === 93 || c === 125) this.#depth--;
    }
    if (from !== -1) this.#element += chunk.slice(from);
    return batch;
  }

  end(): void {
    if (this.#depth !== 0 || this.#inString) throw new HistoryError(this.#line, 'the JSON array is not closed (truncated file?)');
  }
}

/** One record's text -> what it is. Throws HistoryError naming the line and what is wrong. */
export function parseRecord(text: string, line: number): HistoryItem | Skip {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HistoryError(line, `not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HistoryError(line, 'expected a JSON object');
  let record = value as Record<string, unknown>;
  // A CloudWatch Logs export: the log line is the message, as a string.
  const exported = typeof record['@message'] === 'string' ? record['@message'] : record.message;
  if (typeof exported === 'string' && exported.trimStart().startsWith('{')) {
    try {
      record = JSON.parse(exported) as Record<string, unknown>;
    } catch (error) {
      throw new HistoryError(line, `the exported log message is not JSON (${(error as Error).message})`);
    }
    if (typeof record !== 'object' || record === null) throw new HistoryError(line, 'the exported log message is not a JSON object');
  }
  if (typeof record.message === 'string' && typeof record.level === 'string') return decisionLine(record, line);
  if ('state' in record && !('amount' in record)) {
    const binding = Binding.safeParse(record);
    if (!binding.success) throw new HistoryError(line, `not a binding: ${issues(binding.error)}`);
    return { kind: 'binding', binding: binding.data, clock: binding.data.occurredAt, line };
  }
  if (!('id' in record && 'occurredAt' in record)) {
    throw new HistoryError(line, 'neither a PaymentEvent (id, occurredAt, amount, ...) nor a decision log line (message "decision")');
  }
  const event = parsePaymentEvent(record);
  if (!event.success) throw new HistoryError(line, `not a PaymentEvent: ${issues(event.error)}`);
  return { kind: 'payment', event: event.data, clock: event.data.occurredAt, line };
}

/** A Powertools log line: the decision log line is replayed, any other line is skipped. */
function decisionLine(record: Record<string, unknown>, line: number): HistoryItem | Skip {
  if (record.message !== 'decision') return 'log';
  if (record.duplicate === true) return 'duplicate';
  if (record.event === undefined) return 'log'; // a decision logged before the log line carried its event: nothing to replay
  const event = parsePaymentEvent(record.event);
  if (!event.success) throw new HistoryError(line, `decision log line: event: ${issues(event.error)}`);
  const receivedAt = record.receivedAt;
  if (typeof receivedAt !== 'number' || !Number.isSafeInteger(receivedAt) || receivedAt < 0) {
    throw new HistoryError(line, 'decision log line: receivedAt: expected epoch milliseconds');
  }
  const reasons = Array.isArray(record.reasons) ? (record.reasons as { rule?: unknown }[]) : [];
  const recorded: RecordedDecision | undefined =
    (record.decision === 'hold' || record.decision === 'approve') && typeof record.score === 'number' && typeof record.policyVersion === 'string'
      ? {
          decision: record.decision,
          score: record.score,
          rules: reasons.map((r) => String(r?.rule)),
          policyVersion: record.policyVersion,
          degraded: typeof record.degraded === 'string' ? record.degraded : false,
        }
      : undefined;
  return { kind: 'payment', event: event.data, clock: receivedAt, line, ...(recorded && { recorded }) };
}

function issues(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || '(record)'}: ${i.message}`)
    .join('; ');
}
