/**
 * npm run review -- <command>: the admin API from a terminal.
 *   list [--status open|released|confirmed_fraud] [--provider P]   reviews (open: oldest first)
 *   show <provider> <eventId>                                      one review
 *   release <provider> <eventId> [--note TEXT] [--trust-days N]    release the hold (optionally trust the account)
 *   confirm-fraud <provider> <eventId> [--note TEXT] [--block account,device,...|none]
 *   holds [--provider P]                                           held decisions (decision TTL)
 * --url (RISKHOOK_URL, default http://localhost:3000) and --token (RISKHOOK_API_TOKEN, default the
 * local-only token `npm start` prints).
 */
import { parseArgs } from 'node:util';
import { LOCAL_API_TOKEN, LOCAL_BASE_URL } from '../lib/local-defaults.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: process.env.RISKHOOK_URL ?? LOCAL_BASE_URL },
    token: { type: 'string', default: process.env.RISKHOOK_API_TOKEN ?? LOCAL_API_TOKEN },
    status: { type: 'string', default: 'open' },
    provider: { type: 'string' },
    note: { type: 'string' },
    'trust-days': { type: 'string' },
    block: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const USAGE = `usage: npm run review -- list [--status open|released|confirmed_fraud] [--provider P]
       npm run review -- show <provider> <eventId>
       npm run review -- release <provider> <eventId> [--note TEXT] [--trust-days N]
       npm run review -- confirm-fraud <provider> <eventId> [--note TEXT] [--block account,linkedAccount,device,instrument|none]
       npm run review -- holds [--provider P]
options: --url URL (RISKHOOK_URL)  --token TOKEN (RISKHOOK_API_TOKEN)  --json`;

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(new URL(path, values.url), {
    method,
    headers: { authorization: `Bearer ${values.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = { error: { code: String(response.status), message: text.slice(0, 200) } };
  }
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${json?.error?.code ?? ''}: ${json?.error?.message ?? json?.message ?? text}`);
  return json;
}

const money = (a?: { minor: number; currency: string }) => (a ? `${(a.minor / 100).toFixed(2)} ${a.currency}` : '-');

function line(review: any): string {
  const d = review.decision ?? {};
  const ref = review.reference ? ` order ${review.reference.orderId ?? '-'} tx ${review.reference.transactionId ?? '-'}` : '';
  return `${review.status.padEnd(15)} ${review.provider.padEnd(9)} ${review.eventId}  ${money(d.amount)}  score ${d.score}${d.degraded ? ` (degraded: ${d.degraded})` : ''}${ref}\n    opened ${review.openedAt}${review.closedAt ? `, closed ${review.closedAt}` : ''}${review.note ? `, note: ${review.note}` : ''}\n    ${(d.reasons ?? []).map((r: any) => r.rule).join(', ')}`;
}

async function main(): Promise<void> {
  const [command, provider, eventId] = positionals;
  const path = (p: string, e: string) => `/v1/reviews/${encodeURIComponent(p)}/${encodeURIComponent(e)}`;
  const print = (x: any, text: () => string) => console.log(values.json ? JSON.stringify(x, null, 2) : text());
  const needIds = () => {
    if (!provider || !eventId) throw new Error(`${command} needs <provider> <eventId>\n${USAGE}`);
  };
  switch (command) {
    case 'list': {
      let cursor: string | null = null;
      const all: any[] = [];
      do {
        const q = new URLSearchParams({ status: values.status!, limit: '100', ...(values.provider && { provider: values.provider }), ...(cursor && { cursor }) });
        const page: any = await call('GET', `/v1/reviews?${q}`);
        all.push(...page.data);
        cursor = page.nextCursor;
      } while (cursor);
      return print(all, () => (all.length ? all.map(line).join('\n') : `no ${values.status} reviews`));
    }
    case 'holds': {
      const q = new URLSearchParams({ decision: 'hold', limit: '100', ...(values.provider && { provider: values.provider }) });
      const page = await call('GET', `/v1/decisions?${q}`);
      return print(page, () => page.data.map((d: any) => `${d.receivedAt}  ${d.provider.padEnd(9)} ${d.eventId}  ${money(d.amount)}  score ${d.score}`).join('\n') || 'no holds');
    }
    case 'show': {
      needIds();
      const review = await call('GET', path(provider!, eventId!));
      return print(review, () => line(review));
    }
    case 'release': {
      needIds();
      const body = { ...(values.note !== undefined && { note: values.note }), ...(values['trust-days'] !== undefined && { trustDays: Number(values['trust-days']) }) };
      const review = await call('POST', `${path(provider!, eventId!)}/release`, body);
      return print(review, () => line(review));
    }
    case 'confirm-fraud': {
      needIds();
      const block = values.block === undefined ? undefined : values.block === 'none' ? false : values.block.split(',').map((s) => s.trim());
      const review = await call('POST', `${path(provider!, eventId!)}/confirm-fraud`, { ...(values.note !== undefined && { note: values.note }), ...(block !== undefined && { block }) });
      return print(review, () => line(review));
    }
    default:
      throw new Error(USAGE);
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
