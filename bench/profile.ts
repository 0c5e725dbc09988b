/**
 * A quick profile of decide's Redis work (not part of npm run bench): a private redis-server, a
 * preload of BENCH_PRELOAD typical events over a simulated 24 h, then PROFILE_EVENTS more at 16 in
 * flight; prints Redis CPU per event (INFO deltas) and INFO commandstats per event (calls and µs;
 * commands called from a function are counted both on their own and inside FCALL).
 *   RISKHOOK_POLICY=bench/policies/trust.yaml PROFILE_WORKLOAD=hub node scripts/run-bundled.mjs bench/profile.ts
 * PROFILE_NO_OPS=1 leaves operations out of decide (no list reads, decision stats or reviews): velocity alone.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../lib/config.js';
import { decide } from '../lib/decide.js';
import type { PaymentEvent } from '../lib/events.js';
import { createRuntime } from '../lib/runtime.js';
import { startRedisServer } from '../scripts/redis-server.js';

const PRELOAD = Number(process.env.BENCH_PRELOAD ?? 20_000);
const EVENTS = Number(process.env.PROFILE_EVENTS ?? 20_000);
const WORKLOAD = process.env.PROFILE_WORKLOAD ?? 'typical';
const N = 10_000;
const DAY = 86_400_000;
const pick = (n: number) => Math.floor(Math.random() * n);

function event(at: number): PaymentEvent {
  const i = pick(N);
  const own = (share: number) => (Math.random() < share ? i : pick(N));
  const hub = WORKLOAD === 'hub';
  const customer = WORKLOAD === 'customer' ? 7 : i;
  return {
    provider: 'generic',
    id: `evt_${randomBytes(8).toString('hex')}`,
    kind: 'authorization',
    occurredAt: at,
    amount: { minor: 100 + pick(200_000), currency: WORKLOAD === 'currencies' && Math.random() < 0.9 ? `X${String(pick(40)).padStart(2, '0')}`.replace(/\d/g, (d) => 'ABCDEFGHIJ'[+d]!) : 'CNY' },
    account: { id: `acct_${customer}`, twoFactor: i % 2 === 0 },
    linkedAccount: { id: `apple_${customer}`, kind: 'apple_id' },
    merchant: { id: hub ? 'merchant_hub' : `merchant_${pick(N)}`, category: '5818' },
    instrument: { id: `card_${WORKLOAD === 'customer' ? 7 : own(0.95)}`, kind: 'card' },
    authMethod: pick(2) ? 'password_free' : 'biometric',
    device: { id: hub ? 'dev_hub' : `dev_${WORKLOAD === 'customer' ? 7 : own(0.85)}` },
    ip: hub ? '203.0.113.7' : `10.0.${own(0.8) >> 8}.${own(0.8) & 255}`,
  } as unknown as PaymentEvent;
}

async function stats(admin: Redis): Promise<{ cpu: number; cmds: Map<string, [number, number]> }> {
  const cpuInfo = await admin.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(cpuInfo)?.[1] ?? 0);
  const cmds = new Map<string, [number, number]>();
  for (const m of (await admin.info('commandstats')).matchAll(/cmdstat_(\S+):calls=(\d+),usec=(\d+)/g)) cmds.set(m[1]!, [Number(m[2]), Number(m[3])]);
  return { cpu: (get('used_cpu_user') + get('used_cpu_sys')) * 1e6, cmds };
}

const server = await startRedisServer();
const config = loadConfig({
  GENERIC_WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString('base64')}`,
  RISKHOOK_PEPPER: randomBytes(16).toString('hex'),
  RISKHOOK_STAGE: 'bench',
  REDIS_URL: server.url,
  RISKHOOK_DEADLINE_MS: '5000',
  ...(process.env.RISKHOOK_POLICY && { RISKHOOK_POLICY: process.env.RISKHOOK_POLICY }),
});
const runtime = createRuntime(config);
const deps = process.env.PROFILE_NO_OPS ? { ...runtime.deps, operations: undefined } : runtime.deps;
const admin = new Redis(server.url);
try {
  const t0 = Date.now() - DAY;
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < PRELOAD) {
      const at = t0 + Math.floor((next++ * DAY) / PRELOAD);
      const start = Date.now();
      await decide(event(at), { ...deps, now: () => at + (Date.now() - start) }, at);
    }
  }));
  for (let round = 0; round < Number(process.env.PROFILE_ROUNDS ?? 2); round++) {
    const before = await stats(admin);
    let done = 0;
    let degraded = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (done < EVENTS) {
        done++;
        if ((await decide(event(Date.now()), deps)).degraded) degraded++;
      }
    }));
    const after = await stats(admin);
    console.log(`${WORKLOAD}, ${process.env.RISKHOOK_POLICY ?? 'default policy'}${process.env.PROFILE_NO_OPS ? ', no operations' : ''}: Redis CPU ${((after.cpu - before.cpu) / EVENTS).toFixed(1)} µs per event over ${EVENTS} events${degraded ? ` (${degraded} degraded)` : ''}`);
    const rows = [...after.cmds].map(([name, [calls, usec]]) => {
      const [c0, u0] = before.cmds.get(name) ?? [0, 0];
      return { name, calls: (calls - c0) / EVENTS, us: (usec - u0) / EVENTS };
    }).filter((r) => r.calls > 0).sort((a, b) => b.us - a.us);
    for (const r of rows) console.log(`  ${r.name.padEnd(20)} ${r.calls.toFixed(2).padStart(6)} calls ${r.us.toFixed(1).padStart(7)} µs`);
  }
} finally {
  await runtime.store.close();
  admin.disconnect();
  server.stop();
}
