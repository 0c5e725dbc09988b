/**
 * `npm run hash -- <kind> <id>` prints the hash riskhook logs for an identifier (the same as the
 * decision line's pseudonymized event carries), says which pepper it used, and refuses a bad kind.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ENTITY_KINDS } from '../../lib/events.js';
import { IdentityHasher } from '../../lib/identity.js';
import { LOCAL_PEPPER } from '../../lib/local-defaults.js';

const run = (args: string[], pepper?: string) => {
  const env = { ...process.env };
  delete env.RISKHOOK_PEPPER;
  if (pepper !== undefined) env.RISKHOOK_PEPPER = pepper;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/hash.ts', ...args], { encoding: 'utf8', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('npm run hash', () => {
  it('prints the peppered hash of every entity kind under RISKHOOK_PEPPER, and says so', () => {
    const pepper = 'a-deployed-pepper-0123456789';
    const hasher = new IdentityHasher(pepper);
    for (const kind of ENTITY_KINDS) {
      const r = run([kind, 'Customer-42'], pepper);
      expect(r).toMatchObject({ code: 0, stdout: `${hasher.entity(kind, 'Customer-42')}\n` });
      expect(r.stderr).toMatch(/RISKHOOK_PEPPER from the environment/);
    }
    // An IP in another spelling is the same entity.
    expect(run(['ip', '::FFFF:192.0.2.1'], pepper).stdout).toBe(`${hasher.entity('ip', '192.0.2.1')}\n`);
  });

  it('uses the local-only default without RISKHOOK_PEPPER (or with it empty), and says so', () => {
    const expected = `${new IdentityHasher(LOCAL_PEPPER).entity('account', 'acct_1')}\n`;
    for (const pepper of [undefined, '']) {
      const r = run(['account', 'acct_1'], pepper);
      expect(r).toMatchObject({ code: 0, stdout: expected });
      expect(r.stderr).toMatch(/local-only default/);
    }
  });

  it('refuses a bad kind, a missing id and a short pepper with a clear message', () => {
    const bad = run(['acount', 'acct_1']);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/unknown kind "acount"; expected one of account, linkedAccount, device, ip, instrument, merchant/);
    expect(run(['account']).stderr).toMatch(/expected a kind and an id/);
    expect(run(['account', 'x'], 'short').stderr).toMatch(/RISKHOOK_PEPPER is shorter than 16 characters/);
  });
});
