/**
 * npm run send -- examples/<file>.json [--url http://localhost:3000] [--keep-ids] [--keep-time] [--event]
 *
 * Signs each event in the file (one event, or a list sent in order) with Standard Webhooks headers
 * and posts it to /webhooks/generic, printing each decision. The secret is the first of
 * GENERIC_WEBHOOK_SECRETS, else the local-only default that `npm start` uses.
 * --event prints the signed request as an API Gateway event instead, for
 *   npx serverless invoke local -f webhook --path <that file>
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LOCAL_BASE_URL, LOCAL_GENERIC_SECRET } from '../lib/local-defaults.js';
import { apiGatewayEvent, freshEvents, signGenericEvent } from '../lib/providers/generic-sender.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: process.env.RISKHOOK_URL ?? LOCAL_BASE_URL },
    'keep-ids': { type: 'boolean', default: false },
    'keep-time': { type: 'boolean', default: false },
    event: { type: 'boolean', default: false },
  },
});
if (positionals.length !== 1) {
  console.error('usage: npm run send -- examples/<file>.json [--url URL] [--keep-ids] [--keep-time] [--event]');
  process.exit(2);
}
const secret = (process.env.GENERIC_WEBHOOK_SECRETS ?? '').split(',')[0]?.trim() || LOCAL_GENERIC_SECRET;
const parsed = JSON.parse(readFileSync(positionals[0]!, 'utf8'));
const events = freshEvents(Array.isArray(parsed) ? parsed : [parsed], { keepIds: values['keep-ids'], keepTime: values['keep-time'] });

if (values.event) {
  if (events.length !== 1) throw new Error('--event takes a file with one event');
  console.log(JSON.stringify(apiGatewayEvent(signGenericEvent(secret, events[0]!)), null, 2));
} else {
  void postAll();
}

async function postAll() {
  for (const event of events) {
    const request = signGenericEvent(secret, event);
    const response = await fetch(new URL(request.path, values.url), { method: 'POST', headers: request.headers, body: request.body });
    const text = await response.text();
    let line = `${event.id}  ${response.status}  `;
    try {
      const body = JSON.parse(text);
      line += body.decision
        ? `${body.decision.toUpperCase()} score ${body.score}${body.degraded ? ` (degraded: ${body.degraded})` : ''}` +
          body.reasons.map((r: { rule: string; message: string }) => `\n    - ${r.rule}: ${r.message}`).join('')
        : text;
    } catch {
      line += text;
    }
    console.log(line);
  }
}
