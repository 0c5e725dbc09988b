/**
 * Starts the real local server (`serverless offline start --stage local`, as `npm start` does) as a
 * child process on free ports, for the end-to-end tests, and stops its whole process group.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './global-redis.js';

export interface OfflineServer {
  /** e.g. http://localhost:41234, as the server announced it. */
  readonly baseUrl: string;
  /** Everything the server printed so far (stdout and stderr, the most recent 1 MB). */
  output(): string;
  /** The JSON log records (Powertools) the server printed so far. */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export interface OfflineOptions {
  /** Set in the child's environment after the riskhook variables inherited from this process are removed. */
  readonly env?: Readonly<Record<string, string>>;
  readonly readyTimeoutMs?: number;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const KEEP_OUTPUT = 1_000_000;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * The variables riskhook reads. With useInProcess the handler runs in the offline process and sees its
 * whole environment, so none may leak in from whoever runs the tests: a REDIS_URL would switch stores,
 * and vitest.config's POWERTOOLS_* (silent logs, no metrics) would hide the server's log records.
 */
export function isRiskhookVariable(name: string): boolean {
  return (
    name === 'REDIS_URL' ||
    name === 'GENERIC_WEBHOOK_SECRETS' ||
    name.startsWith('RISKHOOK_') ||
    name.startsWith('POWERTOOLS_') ||
    name === 'IS_OFFLINE' ||
    name === 'IS_LOCAL'
  );
}

/**
 * The decision deadline of the local servers tests start (a test may set its own): under the
 * function's 6 s timeout, not the 800 ms default. On a busy machine a server's first, cold decision
 * can take longer and would come back as the fallback (store_timeout); these tests are about the
 * HTTP path and the developer commands, and the deadline has tests/integration/faults.test.ts.
 */
export const LOCAL_TEST_DEADLINE_MS = '5000';

export async function startOffline(options: OfflineOptions = {}): Promise<OfflineServer> {
  const httpPort = await freePort();
  let lambdaPort = await freePort();
  while (lambdaPort === httpPort) lambdaPort = await freePort();

  const env = cleanEnv({ RISKHOOK_DEADLINE_MS: LOCAL_TEST_DEADLINE_MS, ...options.env });

  const args = ['serverless', 'offline', 'start', '--stage', 'local', '--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort)];
  const child = spawn('npx', args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });

  let output = '';
  let stdoutLines = '';
  const records: Record<string, unknown>[] = [];
  const append = (text: string) => {
    output += text.replace(ANSI, '');
    if (output.length > KEEP_OUTPUT) output = output.slice(-KEEP_OUTPUT);
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    append(chunk);
    stdoutLines += chunk;
    const lines = stdoutLines.split('\n');
    stdoutLines = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log record
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', append);

  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  // Should this process die without afterAll, do not leave the server listening.
  const onExit = () => killGroup('SIGKILL');
  process.once('exit', onExit);

  const stop = async () => {
    process.removeListener('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      killGroup('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    }
    killGroup('SIGKILL'); // whatever of the group is left (esbuild, a handler that ignored SIGTERM)
  };

  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  try {
    const baseUrl = await waitForReady(child, () => output, timeoutMs);
    return { baseUrl, output: () => output, logs: () => [...records], stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function waitForReady(child: ChildProcess, output: () => string, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const tail = () => output().slice(-4_000);
    const finish = (done: () => void) => {
      clearTimeout(timer);
      clearInterval(poll);
      child.removeListener('exit', onExit);
      child.removeListener('error', onError);
      done();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(() => reject(new Error(`serverless offline exited (${code ?? signal}) before it was ready:\n${tail()}`)));
    const onError = (error: Error) => finish(() => reject(error));
    const timer = setTimeout(
      () => finish(() => reject(new Error(`serverless offline was not ready within ${timeoutMs} ms:\n${tail()}`))),
      timeoutMs,
    );
    // serverless-offline prints "Server ready: http://localhost:<port> 🚀" (on stderr, with osls 4).
    const poll = setInterval(() => {
      const match = /Server ready: (http:\/\/\S+?)\/?\s/.exec(output());
      if (match) finish(() => resolve(match[1]!));
    }, 50);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** This process's environment without anything riskhook reads, plus `env`: for commands run as a user would. */
export function cleanEnv(env: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!isRiskhookVariable(name)) clean[name] = value;
  return { ...clean, ...env };
}

/** Every process descended from `root` (Linux /proc), to show none outlives a stop. */
export function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) if (parent === pid) found.push(child), walk(child);
  };
  walk(root);
  return found;
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
