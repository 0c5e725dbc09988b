/**
 * The labels file: JSONL (plain or gzip), one `{ "id": "<event id>", "label": "fraud" | "legit" }`
 * per line, optionally with `"segments": ["app-store", "gamer"]` (an attack strategy, a kind of
 * customer: the report gives figures per segment). Held in memory (one entry per labelled event).
 * A bad line names its number.
 */
import { HistoryError, openHistory, records } from './history.js';
import type { Label } from './report.js';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/;

export interface Labels {
  readonly byId: Map<string, Label>;
  /** Event id -> its segments, for the lines that name any. */
  readonly segments: Map<string, readonly string[]>;
  readonly fraud: number;
  readonly legit: number;
}

export async function readLabels(path: string): Promise<Labels> {
  const byId = new Map<string, Label>();
  const segments = new Map<string, readonly string[]>();
  // One list per distinct set of segments, however many lines name it: a history's labels name a few
  // dozen combinations, and a list per line was ~200,000 arrays of strings alive for the whole replay.
  const lists = new Map<string, readonly string[]>();
  for await (const batch of records(await openHistory(path))) for (const { text, line } of batch) {
    let value: { id?: unknown; label?: unknown; segments?: unknown };
    try {
      value = JSON.parse(text) as typeof value;
    } catch (error) {
      throw new HistoryError(line, `labels ${path}: not JSON (${(error as Error).message})`);
    }
    if (typeof value?.id !== 'string' || value.id === '') throw new HistoryError(line, `labels ${path}: id: expected the event id as a string`);
    if (value.label !== 'fraud' && value.label !== 'legit') throw new HistoryError(line, `labels ${path}: label: expected "fraud" or "legit"`);
    byId.set(value.id, value.label);
    if (value.segments !== undefined) {
      const list = value.segments;
      if (!Array.isArray(list) || list.length > 16 || !list.every((x) => typeof x === 'string' && SEGMENT.test(x))) {
        throw new HistoryError(line, `labels ${path}: segments: expected a list of up to 16 names (letters, digits, dashes, at most 40 characters)`);
      }
      // Valid names hold no comma: equal keys are equal lists.
      const key = list.join(',');
      let kept = lists.get(key);
      if (kept === undefined) lists.set(key, (kept = Object.freeze([...(list as string[])])));
      segments.set(value.id, kept);
    }
  }
  let fraud = 0;
  for (const label of byId.values()) if (label === 'fraud') fraud++;
  return { byId, segments, fraud, legit: byId.size - fraud };
}
