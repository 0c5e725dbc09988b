/**
 * What `npm run send` reads: one JSON object, a JSON array of them, or JSON Lines (one object per
 * line; blank lines skipped). A bad line is named by its number, so a long capture can be fixed.
 */
export function readExamples(name: string, text: string): Record<string, unknown>[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const jsonLines = /\.(jsonl|ndjson)$/i.test(name);
  if (!jsonLines) {
    let whole: unknown;
    let error: Error | undefined;
    try {
      whole = JSON.parse(text);
    } catch (e) {
      error = e as Error;
    }
    if (!error) {
      const items = Array.isArray(whole) ? whole : [whole];
      const bad = items.findIndex((item) => !isObject(item));
      if (bad >= 0) throw new Error(`${name}: ${Array.isArray(whole) ? `item ${bad + 1}: ` : ''}expected a JSON object (an event), got ${JSON.stringify(items[bad])?.slice(0, 40)}`);
      if (items.length === 0) throw new Error(`${name}: no events (an empty array)`);
      return items;
    }
    // Not one JSON document: JSON Lines when its first line is an object by itself, else the JSON error.
    const first = text.split('\n').find((line) => line.trim() !== '') ?? '';
    let firstIsObject = false;
    try {
      firstIsObject = isObject(JSON.parse(first));
    } catch {
      // not JSON Lines either
    }
    if (!firstIsObject) throw new Error(`${name}: not valid JSON (${error.message}); expected an event, a JSON array of events, or JSON Lines`);
  }
  const items: Record<string, unknown>[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch (e) {
      throw new Error(`${name} line ${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (!isObject(item)) throw new Error(`${name} line ${i + 1}: expected a JSON object (an event) per line, got ${JSON.stringify(item).slice(0, 40)}`);
    items.push(item);
  });
  if (items.length === 0) throw new Error(`${name}: no events`);
  return items;
}
