/**
 * npm start: the API on http://localhost:3000 through serverless-offline (stage "local").
 * Prints what the local run uses before handing over, since missing secrets are filled with the
 * public local-only defaults (refused anywhere but a local run).
 */
import { spawn } from 'node:child_process';
import { LOCAL_API_TOKEN, LOCAL_GENERIC_SECRET, LOCAL_MERCHANT_WEBHOOK_URL, LOCAL_PEPPER } from '../lib/local-defaults.js';

const env = process.env;
const lines = [
  'riskhook local run',
  `  store:                   ${env.REDIS_URL ? `Redis at ${env.REDIS_URL.replace(/\/\/[^@]*@/, '//***@')}` : 'embedded in-memory store (set REDIS_URL to use Redis)'}`,
  `  GENERIC_WEBHOOK_SECRETS: ${env.GENERIC_WEBHOOK_SECRETS ? '(from the environment)' : `${LOCAL_GENERIC_SECRET}  (local-only default)`}`,
  `  RISKHOOK_PEPPER:         ${env.RISKHOOK_PEPPER ? '(from the environment)' : `${LOCAL_PEPPER}  (local-only default)`}`,
  `  stripe, alipay, wechatpay: ${['STRIPE_WEBHOOK_SECRETS', 'ALIPAY_PUBLIC_KEYS', 'WECHATPAY_PUBLIC_KEYS'].every((v) => !env[v]) ? 'local-only test secrets and keys (lib/local-defaults.ts, examples/keys/)' : 'as configured in the environment'}`,
  `  policy:                  ${env.RISKHOOK_POLICY ?? 'policies/default.yaml'}`,
  `  admin API (/v1) token:   ${env.RISKHOOK_API_TOKENS ? '(RISKHOOK_API_TOKENS from the environment)' : `${LOCAL_API_TOKEN}  (local-only; curl -H "Authorization: Bearer <token>")`}`,
  `  merchant webhooks:       ${env.MERCHANT_WEBHOOK_URL ?? `${LOCAL_MERCHANT_WEBHOOK_URL}  (run npm run receive to see them)`}, sent every 2 s`,
  '  try:                     npm run send -- examples/normal-purchase.json   (or attack-burst, stripe-*, alipay-*, wechatpay-*)',
  '                           npm run review -- list                            (README: Operating riskhook)',
  '  review console:          http://localhost:3000/console   (sign in with the admin API token above)',
  '',
];
console.log(lines.join('\n'));

const child = spawn('npx', ['serverless', 'offline', 'start', '--stage', 'local', ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
