/**
 * npm run bench (second part): Redis memory per open review and per list entry, measured on a
 * private redis-server (or REDIS_URL, then under a private ops tag, nothing flushed): used_memory
 * before and after opening N reviews of realistic holds (default policy decision, reference,
 * four entities) with merchant webhooks on (each review has its outbox entry and holds-index entry),
 * and after adding N block entries (ops-slot entry + order, and the membership hash on the entity's tag).
 * Writes bench/results/operations.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { IdentityHasher } from '../lib/identity.js';
import type { OperationsConfig } from '../lib/operations/config.js';
import { createOperations } from '../lib/operations/index.js';
import { RedisOpsBackend } from '../lib/operations/redis.js';
import type { Decision } from '../lib/events.js';
import { createRedisClient } from '../lib/velocity/redis.js';
import { startRedisServer } from '../scripts/redis-server.js';

const N = Number(process.env.BENCH_OPS_N ?? 20_000);

async function usedMemory(client: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
}

async function main() {
  const server = process.env.REDIS_URL ? undefined : await startRedisServer();
  const client = createRedisClient(process.env.REDIS_URL ?? server!.url, 5_000);
  try {
    const hasher = new IdentityHasher(randomBytes(16).toString('hex'));
    const config: OperationsConfig = {
      tokens: [],
      reviewRetentionMs: 90 * 86_400_000,
      auditRetentionMs: 365 * 86_400_000,
      merchantWebhook: { url: 'https://merchant.example/riskhook', secrets: [`whsec_${randomBytes(32).toString('base64')}`] },
      localDefaults: [],
    };
    const ops = createOperations(new RedisOpsBackend(client, { tag: `bench-${randomBytes(4).toString('hex')}` }), hasher, config, 72 * 3_600_000);
    const before = await usedMemory(client);
    const started = Date.now();
    for (let i = 0; i < N; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, N - i) }, (_, j) => {
          const n = i + j;
          const decision: Decision = {
            eventId: `2026112201222110050000000${String(n).padStart(9, '0')}`,
            decision: 'hold',
            score: 70,
            reasons: [
              { rule: 'pf-quota-account', message: 'password-free spend by this account is 399800 fen in 24 h, over the 2,000 CNY quota' },
              { rule: 'pf-burst', message: 'burst of password-free charges: 3 on this account in 10 minutes' },
            ],
            features: { 'account.passwordFree.amount.24h': 399_800, 'account.passwordFree.count.10m': 3, 'event.passwordFree': true },
            policyVersion: 'default-2026-11-22',
            degraded: false,
            provider: 'alipay',
            kind: 'notification',
            amount: { minor: 199_900, currency: 'CNY' },
            occurredAt: new Date().toISOString(),
            receivedAt: new Date().toISOString(),
            reference: { orderId: `IAP2026112200${n}`, transactionId: `20261122220014000000${n}` },
          };
          const entities = ['account', 'linkedAccount', 'device', 'instrument'].map((kind) => ({ kind: kind as 'account', key: hasher.entity(kind as 'account', `${kind}-${n}`) }));
          return ops.openReview(decision, entities);
        }),
      );
    }
    const reviewsMs = Date.now() - started;
    const afterReviews = await usedMemory(client);
    // Audited writes queue on the audit trail's head: 10 at a time, as a busy admin team would.
    for (let i = 0; i < N; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, N - i) }, (_, j) => ops.lists.put('block', 'device', hasher.entity('device', `blocked-device-${i + j}`), { note: 'chargeback #1234' }, 'ops-1')),
      );
    }
    const afterLists = await usedMemory(client);
    const result = {
      at: new Date().toISOString(),
      n: N,
      bytesPerOpenReview: Math.round((afterReviews - before) / N),
      bytesPerListEntry: Math.round((afterLists - afterReviews) / N),
      openReviewsPerSecond: Math.round(N / (reviewsMs / 1000)),
      note: 'open review = review JSON + open index + holds index + review.opened outbox entry and its due index; list entry = ops-slot entry JSON + order + membership hash on the entity tag + one audit stream entry',
    };
    console.log('\noperations (Redis memory, used_memory delta)');
    console.log(`  per open review (with its outbox entry):  ${result.bytesPerOpenReview} B   (${N} reviews, ${result.openReviewsPerSecond}/s opened)`);
    console.log(`  per block-list entry (with its audit entry): ${result.bytesPerListEntry} B`);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/operations.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log('written: bench/results/operations.json');
  } finally {
    client.disconnect();
    server?.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
