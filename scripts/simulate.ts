/**
 * npm run simulate -- [--days 14] [--people 2000] [--attacks burst=4,drip=4,quota=4,fresh=4,spread=4]
 *                     [--seed 1] [--warmup 7d] [--notice-hours 12] [--policy a.yaml] [--out dir] [--json]
 *
 * Labelled synthetic traffic (customers and adaptive attackers, README "Backtesting rules") scored
 * live through decide(). Prints the report; --out writes history.jsonl and labels.jsonl (for
 * `npm run replay`), report.json and report.html.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { logger } from '../lib/observability.js';
import { loadPolicyFile } from '../lib/policy/load.js';
import { renderTable, writeReport } from '../lib/replay/index.js';
import { progressBar } from '../lib/replay/progress.js';
import { moneyFormat } from '../lib/replay/table.js';
import { STRATEGY_DESCRIPTIONS, parseAttacks } from '../lib/simulate/attackers.js';
import { simulateToFiles } from '../lib/simulate/files.js';
import { type SimulationResult, simulate } from '../lib/simulate/simulate.js';
import { parseDuration } from '../lib/velocity/windows.js';

const USAGE =
  'usage: npm run simulate -- [--days 14] [--people 2000] [--attacks burst=4,drip=4,quota=4,fresh=4,spread=4,twofa=4 | all=N | none] ' +
  '[--seed 1] [--warmup 7d] [--notice-hours 12] [--policy policies/default.yaml] [--out dir] [--json]';

class UsageError extends Error {}

function whole(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name}: expected a whole number from ${min} to ${max}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      days: { type: 'string', default: '14' },
      people: { type: 'string', default: '2000' },
      attacks: { type: 'string', default: 'all=4' },
      seed: { type: 'string', default: '1' },
      warmup: { type: 'string', default: '7d' },
      'notice-hours': { type: 'string', default: '12' },
      policy: { type: 'string', default: process.env.RISKHOOK_POLICY ?? 'policies/default.yaml' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const warmupMs = values.warmup === '0' ? 0 : parseDuration(values.warmup);
  if (warmupMs === undefined || warmupMs % 86_400_000 !== 0) throw new UsageError('--warmup: expected whole days, e.g. 7d (or 0)');
  let attacks;
  try {
    attacks = parseAttacks(values.attacks);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  logger.setLogLevel('SILENT');
  const policy = { policy: loadPolicyFile(values.policy), file: values.policy };
  const out = values.out;
  const progress = progressBar('simulate');
  const started = Date.now();
  const options = {
    policy,
    days: whole('days', values.days, 1, 366),
    people: whole('people', values.people, 1, 1_000_000),
    seed: whole('seed', values.seed, 0, 2 ** 31 - 1),
    warmupDays: warmupMs / 86_400_000,
    attacks,
    noticeHours: Number(values['notice-hours']) > 0 ? Number(values['notice-hours']) : 12,
    onProgress: (done: number, total: number, payments: number) => progress.update(done, total, `${payments.toLocaleString('en-US')} payments`),
  };
  const result: SimulationResult = out ? await simulateToFiles(options, out) : await simulate(options);
  progress.end();
  if (values.json) console.log(JSON.stringify({ ...result.report, attacks: result.attacks }, null, 2));
  else {
    console.log(renderTable(result.report, { title: result.report.history.source }));
    const money = moneyFormat('CNY');
    console.log('\nattacks (victims: attempts, held, lost CNY)');
    for (const a of result.attacks) {
      if (a.victims === 0) continue;
      console.log(`  ${a.strategy.padEnd(7)} ${String(a.victims).padStart(3)} victims: ${a.attempts} attempts, ${a.held} held, ${money(a.lost)} lost  (${STRATEGY_DESCRIPTIONS[a.strategy]})`);
    }
  }
  console.error(`\n${result.payments.toLocaleString('en-US')} payments simulated and scored in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (out) {
    const written = writeReport(out, result.report);
    console.error(`wrote ${join(out, 'history.jsonl')}, ${join(out, 'labels.jsonl')}, ${written.json} and ${written.html}`);
    if (warmupMs) console.error(`replay it: npm run replay -- ${join(out, 'history.jsonl')} --labels ${join(out, 'labels.jsonl')} --warmup ${values.warmup}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? `${error.message}\n${USAGE}` : `simulate: ${(error as Error).message}`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
