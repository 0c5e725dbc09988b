/**
 * npm run receive [-- --port 4000] : a local merchant-webhook receiver. Verifies each delivery's
 * Standard Webhooks signature (MERCHANT_WEBHOOK_SECRETS, else the local-only secret `npm start`
 * signs with) on the raw body and prints it; answers 204, or 401 when the signature is wrong.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { LOCAL_MERCHANT_SECRET } from '../lib/local-defaults.js';
import { decodeSecret, verifyStandardWebhook } from '../lib/providers/standard-webhooks.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: process.env.PORT ?? '4000' } } });
const secrets = (process.env.MERCHANT_WEBHOOK_SECRETS ?? '').split(/[,\s]+/).filter(Boolean);
const keys = (secrets.length ? secrets : [LOCAL_MERCHANT_SECRET]).map(decodeSecret);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    try {
      const id = verifyStandardWebhook(headers, body, keys, Date.now());
      const event = JSON.parse(body.toString('utf8'));
      const r = event.data ?? {};
      console.log(`${new Date().toISOString()}  verified ${event.type}  webhook-id ${id}`);
      console.log(`    ${r.provider} ${r.eventId}: ${r.status}${r.note ? ` (note: ${r.note})` : ''}${r.reference ? `  order ${r.reference.orderId ?? '-'} tx ${r.reference.transactionId ?? '-'}` : ''}`);
      res.statusCode = 204;
    } catch (error) {
      console.log(`${new Date().toISOString()}  REFUSED ${req.method} ${req.url}: ${(error as Error).message}`);
      res.statusCode = 401;
    }
    res.end();
  });
});
server.listen(Number(values.port), () => console.log(`riskhook merchant-webhook receiver on http://localhost:${values.port}/ (verifying ${keys.length} secret${keys.length > 1 ? 's' : ''})`));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
