/**
 * The simulator is seeded (the same seed writes the same history, byte for byte) and drives decide
 * live: the same attackers behave differently under a policy that holds them and one that does not.
 */
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compilePolicy, loadPolicyFile } from '../../../lib/policy/load.js';
import { parseAttacks } from '../../../lib/simulate/attackers.js';
import { simulate } from '../../../lib/simulate/simulate.js';
import { smallSimulation } from '../../support/simulated-history.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const run = (policy: ReturnType<typeof loadPolicyFile>, attacks: string) =>
  simulate({ policy: { policy, file: 'p' }, people: 80, days: 2, warmupDays: 0, seed: 5, attacks: parseAttacks(attacks), noticeHours: 48 });

describe('simulate', () => {
  it('is reproducible: the same seed writes the same history and labels; another seed does not', async () => {
    const [a, b, c] = await Promise.all([smallSimulation({ seed: 21 }), smallSimulation({ seed: 21 }), smallSimulation({ seed: 22 })]);
    dirs.push(a.dir, b.dir, c.dir);
    expect(a.payments).toBeGreaterThan(500);
    expect(readFileSync(a.history, 'utf8')).toBe(readFileSync(b.history, 'utf8'));
    expect(readFileSync(a.labels, 'utf8')).toBe(readFileSync(b.labels, 'utf8'));
    expect(readFileSync(a.history, 'utf8')).not.toBe(readFileSync(c.history, 'utf8'));
    expect(a.report.policies).toEqual(b.report.policies);
    expect(readFileSync(a.labels, 'utf8')).toContain('"label":"fraud"');
  });

  it('attackers react to decisions: the burst attacker gives up after two holds, and keeps going when nothing is held', async () => {
    const strict = await run(loadPolicyFile('policies/default.yaml'), 'burst=3');
    const lenient = await run(compilePolicy({ version: 'lenient', holdAt: 100, rules: [{ id: 'never', when: { feature: 'event.amount', lt: 0 }, score: 0, message: 'never' }] }), 'burst=3');
    const burst = (r: typeof strict) => r.attacks.find((a) => a.strategy === 'burst')!;
    expect(burst(lenient)).toMatchObject({ victims: 3, attempts: 24, held: 0, lost: 24 * 64_800 });
    expect(burst(strict).victims).toBe(3);
    expect(burst(strict).held).toBeGreaterThanOrEqual(6);
    expect(burst(strict).attempts).toBeLessThan(24);
    expect(burst(strict).attempts - burst(strict).held).toBe(burst(strict).lost / 64_800);
  });
});

describe('simulate: attackers and customer segments', () => {
  it('labels every payment with its segments: each attack strategy, and the customers the issue names', async () => {
    const seen = new Map<string, { fraud: number; legit: number }>();
    const twoFactorOf = new Map<string, boolean | undefined>();
    const result = await simulate({
      policy: { policy: loadPolicyFile('policies/default.yaml'), file: 'p' },
      people: 400, days: 12, warmupDays: 0, seed: 9, attacks: parseAttacks('all=2'), noticeHours: 48,
      onPayment: (event, label, segments) => {
        for (const s of segments) {
          const c = seen.get(s) ?? { fraud: 0, legit: 0 };
          c[label]++;
          seen.set(s, c);
        }
        if (label === 'fraud') twoFactorOf.set(segments[0]!, event.account.twoFactor);
      },
    });
    for (const strategy of ['burst', 'drip', 'quota', 'fresh', 'spread', 'twofa']) {
      expect(seen.get(strategy), strategy).toMatchObject({ legit: 0 });
      expect(seen.get(strategy)!.fraud, strategy).toBeGreaterThan(0);
      expect(result.attacks.find((a) => a.strategy === strategy)!.victims).toBe(2);
    }
    // The 2FA attacker's victims have 2FA; the others' do not.
    expect(twoFactorOf.get('twofa')).toBe(true);
    expect(twoFactorOf.get('drip')).toBe(false);
    for (const segment of ['everyday', 'app-store', 'gamer', 'subscription', 'new-phone', 'ipad-idle-7d', 'family-device', 'no-2fa']) {
      expect(seen.get(segment)?.legit ?? 0, segment).toBeGreaterThan(0);
      expect(seen.get(segment)!.fraud, segment).toBe(0);
    }
    // The report gives the same segments, fraud strategies with fraud payments only.
    const segments = result.report.policies[0]!.segments!;
    expect(segments.twofa!.fraud).toBe(seen.get('twofa')!.fraud);
    expect(segments.gamer!.legit).toBe(seen.get('gamer')!.legit);
  });
});
