/**
 * npm run audit -- verify | export --from ISO --to ISO [--out file.jsonl]
 * Reads the audit trail straight from Redis (REDIS_URL or REDIS_CLUSTER_NODES, as the functions do):
 * verify walks the hash chain and exits 1 when an entry is changed or missing; export writes JSONL.
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { readAudit, verifyAudit } from '../lib/audit/trail.js';
import { loadConfig } from '../lib/config.js';
import { RedisOpsBackend } from '../lib/operations/redis.js';
import { createStore } from '../lib/runtime.js';
import { RedisVelocityStore } from '../lib/velocity/redis.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' }, tag: { type: 'string' } },
});
const USAGE = 'usage: npm run audit -- verify\n       npm run audit -- export [--from ISO] [--to ISO] [--out file.jsonl]';

async function main(): Promise<number> {
  const command = positionals[0];
  if (command !== 'verify' && command !== 'export') throw new Error(USAGE);
  if (!process.env.REDIS_URL && !process.env.REDIS_CLUSTER_NODES) {
    throw new Error('set REDIS_URL or REDIS_CLUSTER_NODES: the audit trail lives in Redis (the embedded store of npm start is inside its process)');
  }
  const store = createStore(loadConfig({ ...process.env, IS_LOCAL: 'true' }));
  const backend = new RedisOpsBackend((store as RedisVelocityStore).client, values.tag ? { tag: values.tag } : {});
  try {
    if (command === 'verify') {
      const report = await verifyAudit(backend);
      console.log(report.ok ? `audit trail OK: ${report.entries} entries (seq ${report.firstSeq ?? '-'}..${report.lastSeq ?? '-'})` : `audit trail BROKEN (${report.entries} entries):`);
      for (const problem of report.problems) console.log(`  - ${problem}`);
      return report.ok ? 0 : 1;
    }
    const time = (name: 'from' | 'to') => {
      const v = values[name];
      if (v === undefined) return undefined;
      const ms = Date.parse(v);
      if (Number.isNaN(ms)) throw new Error(`--${name}: expected an ISO-8601 date-time`);
      return ms;
    };
    const [fromMs, toMs] = [time('from'), time('to')];
    const out = values.out ? createWriteStream(values.out) : process.stdout;
    let after: string | undefined;
    let count = 0;
    do {
      const page = await readAudit(backend, { limit: 1000, ...(after ? { after } : fromMs !== undefined && { fromMs }), ...(toMs !== undefined && { toMs }) });
      for (const entry of page.entries) out.write(`${JSON.stringify(entry)}\n`);
      count += page.entries.length;
      after = page.next ?? undefined;
    } while (after);
    if (values.out) {
      await new Promise((resolve) => (out as ReturnType<typeof createWriteStream>).end(resolve));
      console.error(`wrote ${count} entries to ${values.out}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message);
    process.exit(2);
  },
);
