/**
 * Replay's scorer on the memory store keys each event by its provider and id, as live: the same id
 * from another provider is another payment, the same id from the same provider a repeated delivery,
 * whatever the ids hold (a NUL included).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../../lib/policy/load.js';
import { replay } from '../../../lib/replay/index.js';
import { payment } from '../../support/velocity-v2.js';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-scorer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);
const policy = { policy: loadPolicyFile('policies/default.yaml'), file: 'policies/default.yaml' };

describe('replay scorer: event keys', () => {
  it('tells providers apart, counts a repeated id of one provider once, and keeps ids holding a NUL apart', async () => {
    const events = [
      { ...payment({ id: 'A1', at: T0, account: 'acct-1' }), provider: 'alipay' },
      { ...payment({ id: 'A1', at: T0 + 1_000, account: 'acct-2' }), provider: 'wechatpay' },
      { ...payment({ id: 'A1', at: T0 + 2_000, account: 'acct-1' }), provider: 'alipay' }, // a retry
      // An id holding the separator must not meet another provider's key ("wechatpay" NUL "X").
      { ...payment({ id: 'wechatpay\u0000X', at: T0 + 3_000, account: 'acct-3' }), provider: 'alipay' },
      { ...payment({ id: 'X', at: T0 + 4_000, account: 'acct-4' }), provider: 'wechatpay' },
      { ...payment({ id: 'X', at: T0 + 5_000, account: 'acct-4' }), provider: 'wechatpay' }, // a retry
    ];
    const path = join(dir, 'keys.jsonl');
    writeFileSync(path, events.map((e) => JSON.stringify(e)).join('\n'));
    const scored: string[] = [];
    const report = await replay({ history: path, policies: [policy], onPayment: (item) => scored.push(`${item.event.provider}/${item.event.id}`) });
    expect(report.history).toMatchObject({ payments: 4, duplicates: 2, badRecords: 0 });
    expect(scored).toEqual(['alipay/A1', 'wechatpay/A1', 'alipay/wechatpay\u0000X', 'wechatpay/X']);
  });
});
