/**
 * npm run bench (after bench/run.ts): replay speed on one core, memory store, and replay memory on a
 * long stream. A seeded simulated history (BENCH_REPLAY_PEOPLE people, default 1500, over 7 days: the
 * mix of customers and attackers the simulator models) is written once, then timed in CPU seconds
 * (process.cpuUsage: on a shared machine wall time includes other processes' turns):
 *   read            reading, parsing and validating records and restoring time order (no scoring),
 *                   best of 10, timed after the replays (a cold read took 2-3x as long as a warm one here)
 *   read gzip       the same from the gzip file
 *   replay          the whole replay (read, decide() on the memory store, report), default policy:
 *                   its first pass in this process, then the best of BENCH_REPLAY_PASSES more (a long
 *                   history runs at the steady speed; a first pass of 22,000 events includes compiling it)
 *   replay wide     the same with bench/policies/replay-wide.yaml (~40 features, every entity kind)
 *   two policies    default and a copy in one pass (events counted once per policy)
 *   stream          BENCH_REPLAY_STREAM_EVENTS (default 2,000,000; 0 skips it) events: the simulated week
 *                   repeated with shifted times and ids, gzip, replayed in one run; RSS sampled along
 *                   the way must stay flat (the store keeps its retention, not the history)
 * Three clocks per row: process CPU seconds (process.cpuUsage: every thread of the process, so the
 * GC's helper threads count too), the main thread's CPU seconds (Linux: /proc/self/task/<pid>/stat
 * utime + stime, 10 ms ticks; the one thread a replay runs on) and wall time.
 * npm run bench runs it as npm run replay runs a replay: node --no-parallel-scavenge (the young
 * generation collected on the main thread: a replay's scavenges are small, and helper threads cost
 * more CPU in all than they save; the main thread's time stays the same). The flags are printed.
 * Target (DESIGN.md section 8): replay at least 50,000 events/s on one core, judged on process CPU
 * seconds (all threads: the stricter reading of "one core") of the default policy's steady passes;
 * the main thread's and wall figures are printed beside it, never substituted for it. Prints a
 * table, writes bench/results/replay.json.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { logger } from '../lib/observability.js';
import { type Policy, loadPolicyFile } from '../lib/policy/load.js';
import { emptyCounts, readHistory } from '../lib/replay/history.js';
import { replay } from '../lib/replay/index.js';
import { inRecordedOrder } from '../lib/replay/order.js';
import { simulateToFiles } from '../lib/simulate/files.js';
import { parseAttacks } from '../lib/simulate/attackers.js';

const PEOPLE = Number(process.env.BENCH_REPLAY_PEOPLE ?? 1_500);
const PASSES = Number(process.env.BENCH_REPLAY_PASSES ?? 3);
const READ_PASSES = 10;
const STREAM_EVENTS = Number(process.env.BENCH_REPLAY_STREAM_EVENTS ?? 2_000_000);
const TARGET = 50_000;
const POLICY = 'policies/default.yaml';
const WIDE = 'bench/policies/replay-wide.yaml';
const DAY_MS = 86_400_000;

interface Row {
  scenario: string;
  events: number;
  /** Wall seconds. */
  seconds: number;
  /** Events per process CPU second (all threads): the figure the target is judged on. */
  perSecond: number;
  cpuSeconds: number;
  /** Events per CPU second of the main thread alone (null where /proc is not there). */
  mainPerSecond: number | null;
  mainCpuSeconds: number | null;
  wallPerSecond: number;
}

/** CPU seconds the main thread has used (Linux /proc; undefined elsewhere). */
function mainThreadCpu(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: the unit of /proc times (100 on Linux for x86 and arm). */
const CLOCK_TICKS = 100;

async function timed(scenario: string, run: () => Promise<number>): Promise<Row> {
  const cpu = process.cpuUsage();
  const main = mainThreadCpu();
  const started = process.hrtime.bigint();
  const events = await run();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  const mainAfter = mainThreadCpu();
  const cpuSeconds = (used.user + used.system) / 1e6;
  const mainCpuSeconds = main === undefined || mainAfter === undefined ? null : mainAfter - main;
  return {
    scenario,
    events,
    seconds,
    perSecond: Math.round(events / cpuSeconds),
    cpuSeconds,
    mainPerSecond: mainCpuSeconds ? Math.round(events / mainCpuSeconds) : null,
    mainCpuSeconds,
    wallPerSecond: Math.round(events / seconds),
  };
}

/** The fastest of `passes` runs, named as such. */
async function best(scenario: string, passes: number, run: () => Promise<number>): Promise<Row> {
  let fastest: Row | undefined;
  for (let i = 0; i < passes; i++) {
    const row = await timed(scenario, run);
    if (!fastest || row.perSecond > fastest.perSecond) fastest = row;
  }
  return fastest!;
}

async function readOnly(path: string): Promise<number> {
  let n = 0;
  for await (const batch of inRecordedOrder(readHistory(path, emptyCounts()), 10 * 60_000, { late: 0, peakBuffered: 0 })) n += batch.length;
  return n;
}

type Policies = { policy: Policy; file: string }[];
const replayed = async (history: string, policies: Policies) => (await replay({ history, policies })).history.payments * policies.length;

/**
 * The simulated week again and again, each copy a week later with its own event ids (same people,
 * devices and merchants: the store's population stays that of one week), as one gzip file of
 * concatenated members, written copy by copy.
 */
function writeStream(history: string, path: string, events: number): number {
  const lines = readFileSync(history, 'utf8').split('\n').filter((l) => l !== '');
  const times = lines.map((l) => Number(/"occurredAt":(\d+)/.exec(l)![1]));
  const span = Math.ceil((Math.max(...times) - Math.min(...times) + 1) / DAY_MS) * DAY_MS;
  writeFileSync(path, '');
  let written = 0;
  for (let copy = 0; written < events; copy++) {
    const n = Math.min(lines.length, events - written);
    const shift = copy * span;
    const out: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      out[i] = lines[i]!.replace('{"id":"', `{"id":"w${copy}-`).replace(/"occurredAt":\d+/, `"occurredAt":${times[i]! + shift}`);
    }
    appendFileSync(path, gzipSync(`${out.join('\n')}\n`, { level: 1 }));
    written += n;
  }
  return written;
}

interface StreamResult {
  events: number;
  perSecond: number;
  cpuSeconds: number;
  mainPerSecond: number | null;
  fileMB: number;
  /** [payments replayed, RSS MB, heap used MB] every ~5% of the stream. */
  samples: [number, number, number][];
  rssFirstQuarterMB: number;
  rssLastQuarterMB: number;
  peakRssMB: number;
}

async function stream(history: string, dir: string, events: number, policies: Policies): Promise<StreamResult> {
  const path = join(dir, 'stream.jsonl.gz');
  const total = writeStream(history, path, events);
  const samples: [number, number, number][] = [];
  const every = Math.max(10_000, Math.round(total / 20 / 10_000) * 10_000);
  const cpu = process.cpuUsage();
  const main = mainThreadCpu();
  const report = await replay({
    history: path,
    policies,
    onProgress: (_bytes, payments) => {
      if (payments % every !== 0 && payments !== total) return;
      const m = process.memoryUsage();
      samples.push([payments, Math.round(m.rss / 1e6), Math.round(m.heapUsed / 1e6)]);
    },
  });
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const mainAfter = mainThreadCpu();
  const mainSeconds = main === undefined || mainAfter === undefined ? 0 : mainAfter - main;
  const quarter = (from: number, to: number) => Math.max(...samples.filter(([p]) => p > from * total && p <= to * total).map(([, rss]) => rss));
  return {
    events: report.history.payments,
    perSecond: Math.round(report.history.payments / cpuSeconds),
    cpuSeconds,
    mainPerSecond: mainSeconds > 0 ? Math.round(report.history.payments / mainSeconds) : null,
    fileMB: Math.round(statSync(path).size / 1e6),
    samples,
    rssFirstQuarterMB: quarter(0, 0.25),
    rssLastQuarterMB: quarter(0.75, 1),
    peakRssMB: Math.max(...samples.map(([, rss]) => rss)),
  };
}

async function main(): Promise<void> {
  logger.setLogLevel('SILENT');
  const dir = mkdtempSync(join(tmpdir(), 'riskhook-bench-replay-'));
  try {
    const policy = { policy: loadPolicyFile(POLICY), file: POLICY };
    const wide = { policy: loadPolicyFile(WIDE), file: WIDE };
    console.error(`simulating ${PEOPLE} people over 7 days for the replay benchmark ...`);
    const sim = await simulateToFiles(
      { policy, people: PEOPLE, days: 7, warmupDays: 0, seed: 42, attacks: parseAttacks('all=3'), noticeHours: 12 },
      dir,
    );
    const gz = join(dir, 'history.jsonl.gz');
    writeFileSync(gz, gzipSync(readFileSync(sim.history)));
    const features = (p: Policy) => p.readers.length;
    const rows: Row[] = [];
    const first = await timed(`replay, default policy, first pass`, () => replayed(sim.history, [policy]));
    rows.push(first);
    const steady = await best(`replay, default policy, best of ${PASSES}`, PASSES, () => replayed(sim.history, [policy]));
    rows.push(steady);
    const wideRow = await best(`replay, wide policy (${features(wide.policy)} features), best of ${PASSES}`, PASSES, () => replayed(sim.history, [wide]));
    rows.push(wideRow);
    rows.push(await timed('replay, two policies', () => replayed(sim.history, [policy, { ...policy, policy: { ...policy.policy, version: 'b' } }])));
    // After the replays (the first pass stays the process's first use of the reader), and warm, as the
    // replay's steady passes are: set against them, a single cold read overstated its share 2x.
    rows.unshift(
      await best(`read (parse, validate, order), best of ${READ_PASSES}`, READ_PASSES, () => readOnly(sim.history)),
      await best(`read gzip, best of ${READ_PASSES}`, READ_PASSES, () => readOnly(gz)),
    );
    console.error(STREAM_EVENTS > 0 ? `replaying a ${STREAM_EVENTS.toLocaleString('en-US')}-event stream (the week repeated) ...` : '');
    const long = STREAM_EVENTS > 0 ? await stream(sim.history, dir, STREAM_EVENTS, [policy]) : undefined;

    const readRow = rows[0]!;
    const own = steady.perSecond / readRow.perSecond;
    console.log(
      `replay benchmark: ${sim.payments.toLocaleString('en-US')} simulated payments, ${(statSync(sim.history).size / 1e6).toFixed(1)} MB JSONL; ` +
        `default policy ${features(policy.policy)} features`,
    );
    const n = (x: number | null) => (x === null ? '-' : x.toLocaleString('en-US'));
    console.log(
      'scenario'.padEnd(48) + 'events'.padStart(11) + 'events/CPU-s'.padStart(15) + 'main thread'.padStart(13) + 'events/wall-s'.padStart(15) + 'wall s'.padStart(9),
    );
    console.log(' '.repeat(59) + '(all threads)'.padStart(15) + 'events/CPU-s'.padStart(13));
    for (const r of rows) {
      console.log(
        r.scenario.padEnd(48) + n(r.events).padStart(11) + n(r.perSecond).padStart(15) + n(r.mainPerSecond).padStart(13) + n(r.wallPerSecond).padStart(15) + r.seconds.toFixed(2).padStart(9),
      );
    }
    if (long) {
      console.log(
        `stream, default policy, ${long.fileMB} MB gzip`.padEnd(48) + long.events.toLocaleString('en-US').padStart(11) + long.perSecond.toLocaleString('en-US').padStart(15) + n(long.mainPerSecond).padStart(13),
      );
      console.log(
        `  memory on the stream: RSS ${long.rssFirstQuarterMB} MB at most in its first quarter, ${long.rssLastQuarterMB} MB in its last, peak ${long.peakRssMB} MB ` +
          `(${long.rssLastQuarterMB <= long.rssFirstQuarterMB * 1.25 ? 'flat: bounded by the store\'s retention' : 'GROWING'}); ` +
          `samples [payments, RSS MB, heap MB]: ${long.samples.map((s) => `[${s.join(', ')}]`).join(' ')}`,
      );
    }
    const verdict = (x: number | null) => (x === null ? 'not measured' : x >= TARGET ? 'met' : 'NOT met');
    console.log(
      `target: replay >= ${TARGET.toLocaleString('en-US')} events/s on one core, judged on process CPU seconds (all threads, GC helpers included; node ${process.execArgv.join(' ') || 'without flags'}): ` +
        `${verdict(steady.perSecond)} (default policy ${steady.perSecond.toLocaleString('en-US')}/CPU-s, best of ${PASSES}); ` +
        `main thread alone: ${verdict(steady.mainPerSecond)} (${n(steady.mainPerSecond)}/CPU-s); wall: ${n(steady.wallPerSecond)}/s`,
    );
    console.log(
      `  also: first pass ${first.perSecond.toLocaleString('en-US')}/CPU-s (main thread ${n(first.mainPerSecond)}); ` +
        `wide policy ${wideRow.perSecond.toLocaleString('en-US')}/CPU-s${long ? `; ${long.events.toLocaleString('en-US')}-event stream ${long.perSecond.toLocaleString('en-US')}/CPU-s (main thread ${n(long.mainPerSecond)})` : ''}; ` +
        `reading and ordering take ${Math.round(own * 100)}% of the replay's time, decide() and the store the rest`,
    );
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/replay.json',
      `${JSON.stringify({ at: new Date().toISOString(), payments: sim.payments, target: TARGET, features: { default: features(policy.policy), wide: features(wide.policy) }, rows, stream: long }, null, 2)}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
