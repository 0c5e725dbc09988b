/** A simulation written for replay: history.jsonl (canonical events, warm-up included) and labels.jsonl. */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type SimulateOptions, type SimulationResult, simulate } from './simulate.js';

export interface SimulationFiles extends SimulationResult {
  readonly history: string;
  readonly labels: string;
}

export async function simulateToFiles(options: Omit<SimulateOptions, 'onPayment'>, dir: string): Promise<SimulationFiles> {
  mkdirSync(dir, { recursive: true });
  const history = lineWriter(join(dir, 'history.jsonl'));
  const labels = lineWriter(join(dir, 'labels.jsonl'));
  try {
    const result = await simulate({
      ...options,
      onPayment: (event, label, segments) => {
        history.write(JSON.stringify(event));
        labels.write(`{"id":${JSON.stringify(event.id)},"label":"${label}"${segments.length ? `,"segments":${JSON.stringify(segments)}` : ''}}`);
      },
    });
    return { ...result, history: history.path, labels: labels.path };
  } finally {
    history.close();
    labels.close();
  }
}

/** Buffered line writer: one write per few hundred lines. */
function lineWriter(path: string): { path: string; write(line: string): void; close(): void } {
  const fd = openSync(path, 'w');
  let buffer: string[] = [];
  let open = true;
  const flush = () => {
    if (buffer.length) writeSync(fd, `${buffer.join('\n')}\n`);
    buffer = [];
  };
  return {
    path,
    write(line) {
      buffer.push(line);
      if (buffer.length >= 500) flush();
    },
    close() {
      if (!open) return;
      open = false;
      flush();
      closeSync(fd);
    },
  };
}
