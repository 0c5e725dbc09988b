/**
 * npm run replay -- <history> [--policy a.yaml] [--compare b.yaml ...] [--labels labels.jsonl] [--out dir]
 *                   [--warmup 7d] [--reorder-window 10m] [--strict] [--redis URL] [--currency CNY]
 *                   [--unlabelled legit|skip] [--examples 10] [--json]
 *
 * Scores a history (canonical events or the decision log, JSONL or a JSON array, gzip or not) through
 * decide() under each policy on its own isolated store, with the recorded time as the clock, and
 * prints the report as a table (--json: report.json on stdout). --out writes report.json and report.html.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { logger } from '../lib/observability.js';
import { loadPolicyFile } from '../lib/policy/load.js';
import { DEFAULT_REORDER_WINDOW_MS, readLabels, renderTable, replay, writeReport } from '../lib/replay/index.js';
import { progressBar } from '../lib/replay/progress.js';
import { parseDuration } from '../lib/velocity/windows.js';

const USAGE =
  'usage: npm run replay -- <history.jsonl[.gz]|history.json> [--policy a.yaml] [--compare b.yaml] [--labels labels.jsonl] [--out dir] ' +
  '[--warmup 7d] [--reorder-window 10m] [--strict] [--redis redis://host:port] [--currency CNY] [--unlabelled legit|skip] [--examples N] [--json]';

function duration(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (text === '0') return 0;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`--${name}: "${text}" is not a duration such as 30m, 12h or 7d`);
  return ms;
}

class UsageError extends Error {}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      policy: { type: 'string', default: process.env.RISKHOOK_POLICY ?? 'policies/default.yaml' },
      compare: { type: 'string', multiple: true, default: [] },
      labels: { type: 'string' },
      out: { type: 'string' },
      warmup: { type: 'string' },
      'reorder-window': { type: 'string' },
      strict: { type: 'boolean', default: false },
      redis: { type: 'string' },
      currency: { type: 'string' },
      unlabelled: { type: 'string', default: 'legit' },
      examples: { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) throw new UsageError('expected one history file');
  if (values.unlabelled !== 'legit' && values.unlabelled !== 'skip') throw new UsageError('--unlabelled: expected legit or skip');
  if (values.currency !== undefined && !/^[A-Z]{3}$/.test(values.currency)) throw new UsageError('--currency: expected an ISO-4217 code such as CNY');
  const examples = Number(values.examples);
  if (!Number.isInteger(examples) || examples < 0) throw new UsageError('--examples: expected a whole number');
  const history = positionals[0]!;
  const size = statSync(history).size;
  // Shadow-rule log lines from decide() would flood the terminal: the report counts them instead.
  logger.setLogLevel('SILENT');
  const files = [values.policy, ...values.compare];
  const policies = files.map((file) => ({ policy: loadPolicyFile(file), file }));
  const versions = policies.map((p) => p.policy.version);
  if (new Set(versions).size !== versions.length) throw new UsageError(`two policies have the same version (${versions.join(', ')}): give the edited copy its own version`);
  const labels = values.labels ? { ...(await readLabels(values.labels)), source: values.labels } : undefined;

  // As live: how long a repeated event id gets the stored decision (and how long the replay keeps decisions).
  const ttl = process.env.RISKHOOK_DECISION_TTL_HOURS;
  const decisionTtlHours = ttl === undefined || ttl === '' ? undefined : Number(ttl);
  if (decisionTtlHours !== undefined && !(Number.isInteger(decisionTtlHours) && decisionTtlHours >= 1 && decisionTtlHours <= 720)) {
    throw new UsageError('RISKHOOK_DECISION_TTL_HOURS: expected a whole number of hours from 1 to 720');
  }
  const progress = progressBar('replay');
  const started = process.hrtime.bigint();
  const report = await replay({
    history,
    policies,
    ...(labels && { labels }),
    unlabelled: values.unlabelled,
    ...(values.currency && { currency: values.currency }),
    warmupMs: duration('warmup', values.warmup, 0),
    reorderWindowMs: duration('reorder-window', values['reorder-window'], DEFAULT_REORDER_WINDOW_MS),
    strict: values.strict,
    examples,
    ...(values.redis && { redisUrl: values.redis }),
    ...(decisionTtlHours !== undefined && { decisionTtlMs: decisionTtlHours * 3_600_000 }),
    onProgress: (bytes, payments) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      progress.update(bytes, size, `${payments.toLocaleString('en-US')} payments, ${Math.round(payments / Math.max(seconds, 1e-3)).toLocaleString('en-US')}/s`);
    },
    onBadRecord: (error) => {
      progress.end();
      console.error(`skipped ${error.message}`);
    },
  });
  progress.end();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else console.log(renderTable(report));
  console.error(`\n${report.history.payments.toLocaleString('en-US')} payments x ${policies.length} ${policies.length > 1 ? 'policies' : 'policy'} in ${seconds.toFixed(1)} s`);
  if (values.out) {
    const written = writeReport(values.out, report);
    console.error(`wrote ${written.json} and ${written.html}`);
  }
  if (values.redis) console.error('the Redis now holds this replay\'s counters: flush it before replaying into it again');
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? `${error.message}\n${USAGE}` : `replay: ${(error as Error).message}`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
