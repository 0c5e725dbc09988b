/**
 * npm start: the API on http://localhost:3000 through serverless-offline (stage "local").
 * Prints what the local run uses before handing over, since missing secrets are filled with the
 * public local-only defaults (refused anywhere but a local run). The configuration and the policy are
 * checked before the server starts (scripts/serverless-riskhook.js): a problem exits non-zero.
 *
 * `npm start -- --httpPort 4000` runs a second instance; its Lambda port follows (4002) unless
 * --lambdaPort is given. serverless runs in a process group of its own, stopped whole on SIGINT or
 * SIGTERM, so no child outlives `npm start`.
 */
import { spawn } from 'node:child_process';
import { loadConfig } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { LOCAL_API_TOKEN, LOCAL_GENERIC_SECRET, LOCAL_MERCHANT_WEBHOOK_URL, LOCAL_PEPPER } from '../lib/local-defaults.js';

const DEFAULT_HTTP_PORT = 3000;
/** serverless-offline's Lambda port is httpPort + 2 by default (3002): keep that distance for every instance. */
const LAMBDA_PORT_OFFSET = 2;
const STOP_GRACE_MS = 5_000;

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (at < 0) return undefined;
  return args[at]!.includes('=') ? args[at]!.split('=')[1] : args[at + 1];
};
const httpPortText = option('httpPort');
const httpPort = httpPortText === undefined ? DEFAULT_HTTP_PORT : Number(httpPortText);
if (!Number.isInteger(httpPort) || httpPort < 1 || httpPort > 65_535 - LAMBDA_PORT_OFFSET) {
  console.error(`--httpPort: expected a port number, got ${JSON.stringify(httpPortText)}`);
  process.exit(2);
}
if (httpPortText !== undefined && option('lambdaPort') === undefined) args.push('--lambdaPort', String(httpPort + LAMBDA_PORT_OFFSET));

// The configuration the handler will see, checked before anything starts (the serverless plugin checks it
// again with serverless.yml's values, before "Server ready").
try {
  loadConfig({ ...process.env, IS_OFFLINE: 'true' });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`riskhook: ${error.message}`);
  process.exit(1);
}

const env = process.env;
const set = (name: string) => (env[name] ?? '').trim() !== '';
const redisUrl = env.REDIS_URL ?? '';
const lines = [
  'riskhook local run',
  `  store:                   ${set('REDIS_URL') ? `Redis at ${redisUrl.replace(/\/\/[^@]*@/, '//***@')}` : set('REDIS_CLUSTER_NODES') ? 'Redis Cluster (REDIS_CLUSTER_NODES)' : 'embedded in-memory store (set REDIS_URL to use Redis)'}`,
  `  GENERIC_WEBHOOK_SECRETS: ${set('GENERIC_WEBHOOK_SECRETS') ? '(from the environment)' : `${LOCAL_GENERIC_SECRET}  (local-only default)`}`,
  `  RISKHOOK_PEPPER:         ${set('RISKHOOK_PEPPER') ? '(from the environment)' : `${LOCAL_PEPPER}  (local-only default)`}`,
  `  stripe, alipay, wechatpay: ${['STRIPE_WEBHOOK_SECRETS', 'ALIPAY_PUBLIC_KEYS', 'WECHATPAY_PUBLIC_KEYS'].every((v) => !set(v)) ? 'local-only test secrets and keys (lib/local-defaults.ts, examples/keys/)' : 'as configured in the environment'}`,
  `  policy:                  ${set('RISKHOOK_POLICY') ? env.RISKHOOK_POLICY : 'policies/default.yaml'}`,
  `  admin API (/v1) token:   ${set('RISKHOOK_API_TOKENS') ? '(RISKHOOK_API_TOKENS from the environment)' : `${LOCAL_API_TOKEN}  (local-only; curl -H "Authorization: Bearer <token>")`}`,
  `  merchant webhooks:       ${set('MERCHANT_WEBHOOK_URL') ? env.MERCHANT_WEBHOOK_URL : `${LOCAL_MERCHANT_WEBHOOK_URL}  (run npm run receive to see them)`}, sent every 2 s`,
  `  try:                     npm run send -- ${httpPort === DEFAULT_HTTP_PORT ? '' : `--port ${httpPort} `}examples/normal-purchase.json   (or attack-burst, stripe-*, alipay-*, wechatpay-*)`,
  '                           npm run review -- list                            (README: Operating riskhook)',
  '  review console:          http://localhost:3000/console   (sign in with the admin API token above)',
  '',
];
console.log(lines.join('\n'));

// detached: serverless and everything it starts (esbuild) share a new process group, killed as one.
const child = spawn('npx', ['serverless', 'offline', 'start', '--stage', 'local', ...args], { stdio: 'inherit', detached: true });
const killGroup = (signal: NodeJS.Signals) => {
  try {
    process.kill(-child.pid!, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
};
let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  killGroup(signal);
  // Whatever ignores the signal is killed after a grace period.
  setTimeout(() => killGroup('SIGKILL'), STOP_GRACE_MS).unref();
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(signal));
// Orphaned (whoever ran us was killed without passing the signal on): stop rather than hold the port.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && stop('SIGTERM'), 1_000).unref();
child.on('exit', (code, signal) => {
  killGroup('SIGKILL'); // children the exiting process left behind
  process.exit(code ?? (signal ? 128 + 15 : 0));
});
