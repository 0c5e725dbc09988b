/**
 * npm run bench (after bench/run.ts): replay speed on one core, default policy, memory store.
 * A seeded simulated history (BENCH_REPLAY_PEOPLE people, default 1500, over 7 days: the mix of
 * customers and attackers the simulator models) is written once, then timed:
 *   read       reading, parsing and validating records and restoring time order (no scoring): the replay's own cost
 *   read gzip  the same from the gzip file
 *   replay     the whole replay: read, decide() on the memory store, report
 * Target (DESIGN.md section 8): replay at least 50,000 events/s. Prints a table, writes
 * bench/results/replay.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { logger } from '../lib/observability.js';
import { loadPolicyFile } from '../lib/policy/load.js';
import { emptyCounts, readHistory } from '../lib/replay/history.js';
import { replay } from '../lib/replay/index.js';
import { inRecordedOrder } from '../lib/replay/order.js';
import { simulateToFiles } from '../lib/simulate/files.js';
import { parseAttacks } from '../lib/simulate/attackers.js';

const PEOPLE = Number(process.env.BENCH_REPLAY_PEOPLE ?? 1_500);
const TARGET = 50_000;
const POLICY = 'policies/default.yaml';

interface Row {
  scenario: string;
  events: number;
  seconds: number;
  perSecond: number;
  cpuSeconds: number;
}

async function timed(scenario: string, run: () => Promise<number>): Promise<Row> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const events = await run();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  // Events per CPU second: on a shared machine wall time includes other processes' turns.
  return { scenario, events, seconds, perSecond: Math.round(events / cpuSeconds), cpuSeconds };
}

async function readOnly(path: string): Promise<number> {
  let n = 0;
  for await (const batch of inRecordedOrder(readHistory(path, emptyCounts()), 10 * 60_000, { late: 0, peakBuffered: 0 })) n += batch.length;
  return n;
}

async function main(): Promise<void> {
  logger.setLogLevel('SILENT');
  const dir = mkdtempSync(join(tmpdir(), 'riskhook-bench-replay-'));
  try {
    const policy = { policy: loadPolicyFile(POLICY), file: POLICY };
    console.error(`simulating ${PEOPLE} people over 7 days for the replay benchmark ...`);
    const sim = await simulateToFiles(
      { policy, people: PEOPLE, days: 7, warmupDays: 0, seed: 42, attacks: parseAttacks('all=3'), noticeHours: 12 },
      dir,
    );
    const gz = join(dir, 'history.jsonl.gz');
    writeFileSync(gz, gzipSync(readFileSync(sim.history)));
    const rows: Row[] = [];
    rows.push(await timed('read (parse, validate, order)', () => readOnly(sim.history)));
    rows.push(await timed('read gzip', () => readOnly(gz)));
    rows.push(await timed('replay, memory store, default policy', async () => (await replay({ history: sim.history, policies: [policy] })).history.payments));
    rows.push(await timed('replay, two policies', async () => (await replay({ history: sim.history, policies: [policy, { ...policy, policy: { ...policy.policy, version: 'b' } }] })).history.payments * 2));

    const full = rows[2]!;
    const readRow = rows[0]!;
    const own = 1 / readRow.perSecond / (1 / full.perSecond);
    console.log(`replay benchmark: ${sim.payments.toLocaleString('en-US')} simulated payments, ${(statSync(sim.history).size / 1e6).toFixed(1)} MB JSONL`);
    console.log('scenario'.padEnd(40) + 'events'.padStart(10) + 'events/CPU-s'.padStart(15) + 'wall s'.padStart(9));
    for (const r of rows) console.log(r.scenario.padEnd(40) + r.events.toLocaleString('en-US').padStart(10) + r.perSecond.toLocaleString('en-US').padStart(15) + r.seconds.toFixed(2).padStart(9));
    console.log(
      `target: replay >= ${TARGET.toLocaleString('en-US')} events/s on one core: ${full.perSecond >= TARGET ? 'met' : 'NOT met'} (${full.perSecond.toLocaleString('en-US')}/s); ` +
        `reading and ordering take ${(own * 100).toFixed(0)}% of the replay's time, decide() and the store the rest`,
    );
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/replay.json', `${JSON.stringify({ at: new Date().toISOString(), payments: sim.payments, target: TARGET, rows }, null, 2)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
