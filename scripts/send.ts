/**
 * npm run send -- examples/<file>.json [--url http://localhost:3000 | --port 3000] [--keep-ids] [--keep-time] [--event]
 *
 * Signs each event in the file (one JSON object, a JSON array sent in order, or JSON Lines: one object
 * per line) and posts it, printing each answer. The server is --url, else http://localhost:<--port>,
 * else RISKHOOK_URL, else http://localhost:3000 (npm start's default).
 * - A generic event (our own JSON) is signed with Standard Webhooks headers: the first of
 *   GENERIC_WEBHOOK_SECRETS, else the local-only secret `npm start` uses.
 * - A provider example, {"provider": "stripe" | "alipay" | "wechatpay", "at": "<ISO time>", ...},
 *   is signed in that provider's wire format with the local-only test keys (lib/local-defaults.ts).
 * Each run gets unique ids and current times (gaps in a sequence kept), unless --keep-ids / --keep-time.
 * --event prints the signed request as an API Gateway event instead, for
 *   npx serverless invoke local -f webhook --path <that file>
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LOCAL_BASE_URL, LOCAL_GENERIC_SECRET } from '../lib/local-defaults.js';
import { EXAMPLE_SIGNERS } from '../lib/providers/examples.js';
import { apiGatewayEvent, freshEvents, signGenericEvent } from '../lib/providers/generic-sender.js';
import type { SignedRequest } from '../lib/providers/types.js';
import { readExamples } from './examples-file.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    port: { type: 'string' },
    'keep-ids': { type: 'boolean', default: false },
    'keep-time': { type: 'boolean', default: false },
    event: { type: 'boolean', default: false },
  },
});
if (positionals.length !== 1) {
  console.error('usage: npm run send -- examples/<file>.json [--url URL | --port N] [--keep-ids] [--keep-time] [--event]');
  process.exit(2);
}
if (values.port !== undefined && !/^\d{1,5}$/.test(values.port)) {
  console.error(`--port: expected a port number, got ${JSON.stringify(values.port)}`);
  process.exit(2);
}
const baseUrl = values.url ?? (values.port ? `http://localhost:${values.port}` : process.env.RISKHOOK_URL?.trim() || LOCAL_BASE_URL);

type Example = Record<string, unknown> & { id?: string; provider?: string; at?: string; occurredAt?: string };
let items: Example[];
try {
  items = readExamples(positionals[0]!, readFileSync(positionals[0]!, 'utf8')) as Example[];
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
const keepIds = values['keep-ids'];
const keepTime = values['keep-time'];

function signAll(): { label: string; request: SignedRequest }[] {
  const secret = (process.env.GENERIC_WEBHOOK_SECRETS ?? '').split(',')[0]?.trim() || LOCAL_GENERIC_SECRET;
  if (items.every((i) => i.provider === undefined)) {
    return freshEvents(items as (Example & { id: string; occurredAt: string })[], { keepIds, keepTime }).map((e) => ({
      label: e.id,
      request: signGenericEvent(secret, e),
    }));
  }
  const now = Date.now();
  const suffix = keepIds ? undefined : randomBytes(4).toString('hex');
  const times = items.map((i) => Date.parse(String(i.at ?? i.occurredAt)));
  const last = Math.max(...times);
  return items.map((item, n) => {
    const signer = EXAMPLE_SIGNERS[String(item.provider)];
    if (!signer) throw new Error(`item ${n}: provider must be one of ${Object.keys(EXAMPLE_SIGNERS).join(', ')} (or none, for a generic event)`);
    const at = keepTime ? times[n]! : now - (last - times[n]!);
    return { label: `${item.provider} #${n + 1}`, request: signer(item, { now: at, suffix, keepTime }) };
  });
}

async function main() {
  const signed = signAll();
  if (values.event) {
    if (signed.length !== 1) throw new Error('--event takes a file with one event');
    console.log(JSON.stringify(apiGatewayEvent(signed[0]!.request), null, 2));
    return;
  }
  for (const { label, request } of signed) {
    const url = new URL(request.path, baseUrl);
    const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body }).catch((error: Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }) => {
      // localhost resolves to ::1 and 127.0.0.1: Node reports both in an AggregateError.
      throw new Error(`${url}: ${error.cause?.code ?? error.cause?.errors?.[0]?.code ?? error.cause?.message ?? error.message} (is the server running? --url or --port choose another)`);
    });
    const text = await response.text();
    let line = `${label}  ${response.status}  `;
    try {
      const body = JSON.parse(text);
      line += body.decision
        ? `${body.decision.toUpperCase()} score ${body.score}${body.degraded ? ` (degraded: ${body.degraded})` : ''}` +
          body.reasons.map((r: { rule: string; message: string }) => `\n    - ${r.rule}: ${r.message}`).join('')
        : text;
    } catch {
      // Alipay ("success") and WeChat Pay (204) only acknowledge: the decision is stored and logged.
      line += response.ok && (text === '' || text === 'success') ? `${text || '(no body)'}  acknowledged; the decision is in riskhook's log` : text;
    }
    console.log(line);
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
