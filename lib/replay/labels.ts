/**
 * The labels file: JSONL (plain or gzip), one `{ "id": "<event id>", "label": "fraud" | "legit" }`
 * per line. Held in memory (one entry per labelled event). A bad line names its number.
 */
import { HistoryError, openHistory, records } from './history.js';
import type { Label } from './report.js';

export interface Labels {
  readonly byId: Map<string, Label>;
  readonly fraud: number;
  readonly legit: number;
}

export async function readLabels(path: string): Promise<Labels> {
  const byId = new Map<string, Label>();
  for await (const batch of records(await openHistory(path))) for (const { text, line } of batch) {
    let value: { id?: unknown; label?: unknown };
    try {
      value = JSON.parse(text) as typeof value;
    } catch (error) {
      throw new HistoryError(line, `labels ${path}: not JSON (${(error as Error).message})`);
    }
    if (typeof value?.id !== 'string' || value.id === '') throw new HistoryError(line, `labels ${path}: id: expected the event id as a string`);
    if (value.label !== 'fraud' && value.label !== 'legit') throw new HistoryError(line, `labels ${path}: label: expected "fraud" or "legit"`);
    byId.set(value.id, value.label);
  }
  let fraud = 0;
  for (const label of byId.values()) if (label === 'fraud') fraud++;
  return { byId, fraud, legit: byId.size - fraud };
}
