/**
 * Logs and metrics as the handler writes them, for the tests that look at them: Powertools is
 * switched on (JSON logs at INFO, EMF metrics) and writes through the global console, which is
 * captured here. Call in beforeAll, then import the modules under test dynamically (the logger and
 * metrics read the environment when lib/observability.ts is first imported).
 */
import { vi } from 'vitest';

export type JsonLine = Record<string, unknown>;

export interface CapturedOutput {
  /** Every line written, in order. */
  readonly lines: string[];
  /** The lines that are JSON (log records and EMF records). */
  json(): JsonLine[];
  /** Log records with this message. */
  logs(message: string): JsonLine[];
  /** EMF records that carry this metric. */
  metrics(name: string): JsonLine[];
  clear(): void;
}

export function captureOutput(): CapturedOutput {
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_DEV', 'true'); // Powertools writes through the global console, where we can read it
  const lines: string[] = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  }
  vi.resetModules();
  const json = () =>
    lines.flatMap((l) => {
      try {
        const value: unknown = JSON.parse(l);
        return value && typeof value === 'object' ? [value as JsonLine] : [];
      } catch {
        return [];
      }
    });
  const isMetric = (l: JsonLine) => (l._aws as { CloudWatchMetrics?: unknown } | undefined)?.CloudWatchMetrics !== undefined;
  return {
    lines,
    json,
    logs: (message) => json().filter((l) => l.message === message),
    metrics: (name) => json().filter((l) => isMetric(l) && name in l),
    clear: () => void lines.splice(0),
  };
}

/** Undoes captureOutput (afterAll). */
export function releaseOutput(): void {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
}

/** Waits until `found` returns something (a log line written by work in the background), or fails after `timeoutMs`. */
export async function eventually<T>(found: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = found();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
