/**
 * Replay reproduces live decisions: traffic goes through the real handler (handleWebhook, signed
 * generic events, a runtime on the memory store, the default policy), then the same history is
 * replayed, as canonical events and as the decision log lines the handler wrote (captured as
 * written: pseudonymized events, recorded receivedAt; CloudWatch export form included), and every
 * replayed decision equals the live one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision, PaymentEvent } from '../../lib/events.js';
import type { Runtime } from '../../lib/runtime.js';
import { Random } from '../../lib/simulate/random.js';
import { type CapturedOutput, captureOutput, releaseOutput } from '../support/captured-output.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
let runtime: Runtime;
let dir: string;
let output: CapturedOutput;
let modules: {
  signGenericEvent: typeof import('../../lib/providers/generic-sender.js').signGenericEvent;
  replay: typeof import('../../lib/replay/index.js').replay;
  handleWebhook: typeof import('../../lib/webhook.js').handleWebhook;
};
const live: { event: PaymentEvent; decision: Decision; receivedAt: number; duplicate: boolean }[] = [];
/** The 'decision' log lines as the handler wrote them, in order. */
let logLines: string[] = [];

/** Wire-format generic events: a few customers and an attacker's burst over shared devices and Apple IDs, in time order. */
function traffic(now: number): Record<string, unknown>[] {
  const random = new Random(7);
  const events: Record<string, unknown>[] = [];
  const start = now - 50 * 60_000;
  for (let i = 0; i < 240; i++) {
    const person = random.int(0, 11);
    const attacker = i > 120 && random.chance(0.3);
    events.push({
      id: `evt_${i}`,
      kind: 'authorization',
      occurredAt: new Date(start + i * 12_000).toISOString(),
      amount: { minor: attacker ? 64_800 : random.pick([600, 3_000, 12_800, 32_800]), currency: 'CNY' },
      account: { id: `acct_${person}`, twoFactor: person % 3 !== 0 },
      ...(person % 2 === 0 && { linkedAccount: { id: `apple_${attacker ? 99 : person}`, kind: 'apple_id' } }),
      merchant: { id: attacker ? 'app_store' : `shop_${random.int(0, 4)}` },
      authMethod: attacker || random.chance(0.5) ? 'password_free' : 'biometric',
      device: { id: attacker ? 'dev_attacker' : `dev_${person}_${random.chance(0.1) ? 'new' : 'own'}` },
      ip: attacker ? '198.51.100.7' : `10.0.0.${person}`,
    });
  }
  return events;
}

async function send(body: Record<string, unknown>): Promise<{ event: PaymentEvent; decision: Decision; receivedAt: number }> {
  const signed = modules.signGenericEvent(secret, body);
  const request = { method: 'POST', headers: signed.headers, body: Buffer.from(signed.body as string), receivedAt: Date.now() };
  const verified = runtime.adapters.get('generic')!.verify(request);
  if (verified.kind !== 'score') throw new Error('expected a scored event');
  const response = await modules.handleWebhook('generic', request, runtime);
  expect(response.statusCode).toBe(200);
  return { event: verified.event, decision: JSON.parse(response.body) as Decision, receivedAt: request.receivedAt };
}

beforeAll(async () => {
  output = captureOutput();
  const { loadConfig } = await import('../../lib/config.js');
  const { createRuntime } = await import('../../lib/runtime.js');
  modules = {
    signGenericEvent: (await import('../../lib/providers/generic-sender.js')).signGenericEvent,
    replay: (await import('../../lib/replay/index.js')).replay,
    handleWebhook: (await import('../../lib/webhook.js')).handleWebhook,
  };
  runtime = createRuntime(loadConfig({ IS_LOCAL: 'true', GENERIC_WEBHOOK_SECRETS: secret, RISKHOOK_PEPPER: randomBytes(16).toString('hex'), RISKHOOK_STAGE: 'test' }));
  expect(runtime.store.name).toBe('memory');
  dir = mkdtempSync(join(tmpdir(), 'riskhook-replay-'));
  const bodies = traffic(Date.now());
  for (const [i, body] of bodies.entries()) {
    live.push({ ...(await send(body)), duplicate: false });
    // A provider retry of an earlier event: the stored decision, nothing counted; logged as a duplicate.
    if (i % 40 === 39) live.push({ ...(await send(bodies[i - 3]!)), duplicate: true });
  }
  // One JSON line each (Powertools' dev mode indents them; CloudWatch keeps the record as one line).
  logLines = output.logs('decision').map((l) => JSON.stringify(l));
  output.clear();
});

afterAll(async () => {
  releaseOutput();
  await runtime.store.close();
  rmSync(dir, { recursive: true, force: true });
});

const policies = () => [{ policy: runtime.config.policy, file: runtime.config.policyPath }];
const firstDeliveries = () => live.filter((l) => !l.duplicate);
/** What the webhook answers (the response leaves out the features). */
const answer = ({ eventId, decision, score, reasons, policyVersion, degraded }: Decision) => ({ eventId, decision, score, reasons, policyVersion, degraded });

describe('replay reproduces live decisions', () => {
  it('the handler wrote one decision log line per delivery, pseudonymized, with its receivedAt', () => {
    expect(logLines).toHaveLength(live.length);
    const parsed = logLines.map((l) => JSON.parse(l) as { eventId: string; duplicate: boolean; receivedAt: number; event: PaymentEvent });
    expect(parsed.map((l) => [l.eventId, l.duplicate, l.receivedAt])).toEqual(live.map((l) => [l.event.id, l.duplicate, l.receivedAt]));
    expect(parsed[0]!.event.account.id).not.toBe(live[0]!.event.account.id);
  });

  it('the live traffic holds some payments and approves others (the comparison means something)', () => {
    const held = firstDeliveries().filter((l) => l.decision.decision === 'hold').length;
    expect(held).toBeGreaterThan(5);
    expect(held).toBeLessThan(firstDeliveries().length - 5);
    expect(new Set(firstDeliveries().flatMap((l) => l.decision.reasons.map((r) => r.rule))).size).toBeGreaterThan(3);
  });

  it('from decision log lines (pseudonymized events, receivedAt as the clock): every decision equal', async () => {
    const path = join(dir, 'decisions.jsonl');
    writeFileSync(path, `${logLines.join('\n')}\n`);
    const replayed: ReturnType<typeof answer>[] = [];
    const report = await modules.replay({ history: path, policies: policies(), onPayment: (_, [outcome]) => replayed.push(answer(outcome!.decision)) });
    const first = firstDeliveries();
    expect(replayed).toEqual(first.map((l) => l.decision));
    expect(report.history).toMatchObject({ payments: first.length, duplicates: live.length - first.length, badRecords: 0 });
    expect(report.policies[0]!.live).toMatchObject({ compared: first.length, same: first.length, differ: 0 });
    expect(report.policies[0]!.held).toBe(first.filter((l) => l.decision.decision === 'hold').length);
  });

  it('from a CloudWatch Logs export (the log line as a message string), shuffled within the reorder window: every decision equal', async () => {
    const path = join(dir, 'export.jsonl');
    const lines = logLines.map((message, i) => ({ timestamp: live[i]!.receivedAt, message, logStreamName: `s${i % 3}` }));
    // Interleaved log streams: neighbours swapped, far less than the reorder window apart. Only
    // lines with different clocks: two decisions in the same millisecond carry nothing that orders
    // them (live, they may be concurrent), so the reader keeps such lines in file order.
    let swapped = 0;
    for (let i = 0; i + 1 < lines.length; i += 2) {
      if (lines[i]!.timestamp === lines[i + 1]!.timestamp) continue;
      [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
      swapped++;
    }
    expect(swapped).toBeGreaterThan(20);
    writeFileSync(path, lines.map((l) => JSON.stringify(l)).join('\n'));
    const report = await modules.replay({ history: path, policies: policies() });
    expect(report.history.late).toBe(0);
    expect(report.policies[0]!.live).toMatchObject({ compared: firstDeliveries().length, differ: 0 });
  });

  it('from canonical events (raw ids, occurredAt as the clock, the retries included): the same decisions, each reported once', async () => {
    const path = join(dir, 'events.jsonl');
    writeFileSync(path, live.map((l) => JSON.stringify(l.event)).join('\n'));
    const replayed = new Map<string, Omit<Decision, 'features'>>();
    const report = await modules.replay({ history: path, policies: policies(), onPayment: (item, [outcome]) => replayed.set(item.event.id, answer(outcome!.decision)) });
    const p = report.policies[0]!;
    const first = firstDeliveries();
    expect(first.map((l) => replayed.get(l.event.id))).toEqual(first.map((l) => l.decision));
    expect(report.history).toMatchObject({ payments: first.length, duplicates: live.length - first.length });
    expect(p.events).toBe(first.length);
    expect(p.held).toBe(first.filter((l) => l.decision.decision === 'hold').length);
    const liveHits = new Map<string, number>();
    for (const l of first) for (const r of l.decision.reasons) liveHits.set(r.rule, (liveHits.get(r.rule) ?? 0) + 1);
    for (const rule of p.rules.filter((r) => r.mode === 'active')) expect([rule.rule, rule.hits]).toEqual([rule.rule, liveHits.get(rule.rule) ?? 0]);
    const liveScores = new Array<number>(21).fill(0);
    for (const l of first) liveScores[Math.min(Math.floor(l.decision.score / 5), 20)]!++;
    expect(p.scores.unlabelled).toEqual(liveScores);
  });
});
