/**
 * npm run check-policy -- <file>: the command a policy author runs before deploying. Runs the real
 * script (tsx), as npm does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyFile } from '../../lib/policy/load.js';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-check-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const checkPolicy = (...args: string[]) => spawnSync('npx', ['tsx', 'scripts/check-policy.ts', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('npm run check-policy', () => {
  it('prints the version, rules and the features a valid policy reads', () => {
    const run = checkPolicy('policies/default.yaml');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('policies/default.yaml: valid');
    // The counts are the policy file's own, whatever it holds today.
    const policy = loadPolicyFile('policies/default.yaml');
    const shadow = policy.rules.filter((r) => r.mode === 'shadow').length;
    expect(run.stdout).toMatch(new RegExp(`rules: +${policy.rules.length} \\(${shadow} in shadow mode\\)`));
    expect(run.stdout).toMatch(new RegExp(`features read \\(${policy.readers.length}\\):`));
    expect(run.stdout).toMatch(/^ {4}linkedAccount\.passwordFree\.amount\.24h$/m);
  });

  it('exits 1 with the error naming the rule and field', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'version: 1\nholdAt: 70\nrules:\n  - { id: cny-only, when: { feature: event.currency, eq: cny }, score: 10, message: m }\n');
    const run = checkPolicy(path);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('rule "cny-only" (rules[0]) when.eq: "event.currency" is an ISO 4217 currency code, got "cny"');
    expect(run.stdout).toBe('');
  });

  it('exits 2 with the usage without a file', () => {
    const run = checkPolicy();
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/usage: npm run check-policy -- <policy/);
  });
});
