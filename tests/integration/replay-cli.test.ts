/**
 * npm run replay from a terminal's point of view: the table on stdout, each bad line on stderr with
 * its number, report.json and report.html written with --out, --strict fatal, usage errors exit 2.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-replay-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (id: string, minute: number, minor: number) =>
  JSON.stringify({
    id,
    provider: 'generic',
    kind: 'authorization',
    occurredAt: Date.UTC(2026, 10, 2) + minute * 60_000,
    amount: { minor, currency: 'CNY' },
    account: { id: 'acct_1', twoFactor: false },
    linkedAccount: { id: 'apple_1', kind: 'apple_id' },
    merchant: { id: 'app_store' },
    authMethod: 'password_free',
    device: { id: 'dev_1' },
  });

// Its own quota policy, so the figures below follow from this file and not from the shipped default's tuning.
const policy = join(dir, 'quota.yaml');
writeFileSync(
  policy,
  JSON.stringify({
    version: 'cli-quota',
    holdAt: 70,
    rules: [{ id: 'pf-quota-account', when: { all: [{ feature: 'event.passwordFree', eq: true }, { feature: 'account.passwordFree.amount.24h', gt: 200_000 }] }, hold: true, message: 'over the quota' }],
  }),
);

const history = join(dir, 'history.jsonl');
writeFileSync(history, [event('e1', 0, 150_000), 'not json at all', event('e2', 1, 150_000), event('e3', 2, 1_000)].join('\n'));

function run(...args: string[]) {
  const result = spawnSync(process.execPath, ['scripts/run-bundled.mjs', 'scripts/replay.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm run replay', () => {
  it('prints the table, reports the bad line by number and skips it, writes report.json and report.html', () => {
    const out = join(dir, 'report');
    const { status, stdout, stderr } = run(history, '--policy', policy, '--out', out);
    expect(stderr).toContain('skipped line 2: not JSON');
    expect(status).toBe(0);
    expect(stdout).toMatch(/^replay of .*history\.jsonl: 3 payments/);
    expect(stdout).toMatch(/1 bad records skipped/);
    expect(stdout).toMatch(/held\s+2 \(66\.67%\)/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.policies[0]).toMatchObject({ events: 3, held: 2, heldAmount: 151_000 }); // e2 over the quota, e3 while it is exceeded
    expect(report.history.issues).toEqual([{ line: 2, message: expect.stringMatching(/^line 2: not JSON/) }]);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  it('stops at the bad line with --strict (exit 1)', () => {
    const { status, stderr } = run(history, '--strict');
    expect(status).toBe(1);
    expect(stderr).toMatch(/^replay: line 2: not JSON/m);
  });

  it('answers a usage error with the usage (exit 2)', () => {
    const { status, stderr } = run(history, '--warmup', 'a week');
    expect(status).toBe(2);
    expect(stderr).toMatch(/--warmup: "a week" is not a duration/);
    expect(stderr).toMatch(/usage: npm run replay/);
  });
});
