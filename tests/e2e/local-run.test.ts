/**
 * The developer commands as a user runs them: `npm start` (a second instance on its own port, a
 * broken policy refused before "Server ready", SIGTERM stopping the whole tree), `npm run send`
 * following the port, and `npm run package` (run meanwhile without breaking the server; checking
 * and bundling the policy). Packaging writes .serverless/ in the repo: these tests run in sequence.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/global-redis.js';
import { LOCAL_TEST_DEADLINE_MS, cleanEnv, descendants, isRunning } from '../support/offline.js';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-local-run-'));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.pid) for (const pid of [...descendants(child.pid), child.pid]) killQuietly(pid);
  rmSync(dir, { recursive: true, force: true });
});

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

const BROKEN_POLICY = 'version: 1\nholdAt: 70\nrules:\n  - { id: cny-only, when: { feature: event.currency, eq: cny }, score: 10, message: m }\n';
const BROKEN_MESSAGE = 'rule "cny-only" (rules[0]) when.eq: "event.currency" is an ISO 4217 currency code, got "cny"';

interface Started {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function npmStart(args: string[], env: Record<string, string> = {}): Started {
  const child = spawn('npm', ['start', '--', ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until(what: string, test: () => boolean, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms:\n${output().slice(-3_000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

const npmRun = (args: string[], env: Record<string, string> = {}) =>
  spawnSync('npm', ['run', '--silent', ...args], { env: cleanEnv(env), encoding: 'utf8', timeout: 120_000 });

/** A zip's file names, from its central directory (no unzip needed). */
function zipEntries(path: string): string[] {
  const zip = readFileSync(path);
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const nameLength = zip.readUInt16LE(at + 28);
    names.push(zip.toString('utf8', at + 46, at + 46 + nameLength));
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return names;
}

/** Two free ports `gap` apart (the instance's HTTP and Lambda ports). */
async function portPair(gap: number): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + gap < 65_536 && !(await portOpen(port + gap))) return port;
  }
}

describe.sequential('local runs', () => {
  it('npm start refuses a broken policy before "Server ready", exiting non-zero with the message on stderr', async () => {
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, BROKEN_POLICY);
    const port = await portPair(2);
    let stderr = '';
    const run = npmStart(['--httpPort', String(port)], { RISKHOOK_POLICY: path });
    run.child.stderr!.on('data', (d: string) => (stderr += d));
    const code = await Promise.race([run.exited, until('exit', () => /Server ready/.test(run.output()), 90_000, run.output).then(() => 'ready' as const)]);
    expect(code).not.toBe('ready');
    expect(code).not.toBe(0);
    expect(stderr).toContain(BROKEN_MESSAGE);
    expect(await portOpen(port)).toBe(false);
  }, 120_000);

  it('a second instance on --httpPort N (Lambda port N+2), send --port N, npm run package meanwhile, then SIGTERM stops the whole tree', async () => {
    const port = await portPair(2);
    // Its first, cold decision must not come back as the fallback on a busy machine (see LOCAL_TEST_DEADLINE_MS).
    const server = npmStart(['--httpPort', String(port)], { RISKHOOK_DEADLINE_MS: LOCAL_TEST_DEADLINE_MS });
    await until('Server ready', () => /Server ready: http:\/\/localhost:(\d+)/.exec(server.output())?.[1] === String(port), 90_000, server.output);
    expect(server.output()).toContain(`npm run send -- --port ${port} examples/normal-purchase.json`);
    expect(await portOpen(port + 2)).toBe(true); // the Lambda port followed

    const send = () => npmRun(['send', '--', '--port', String(port), 'examples/normal-purchase.json']);
    const before = send();
    expect(before.status, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/ 200 {2}APPROVE score/);

    // Packaging deletes and rebuilds .esbuild/: the running server builds elsewhere, so it keeps answering decisions.
    const packaged = npmRun(['package']);
    expect(packaged.status, packaged.stderr).toBe(0);
    const after = send();
    expect(after.stdout).toMatch(/ 200 {2}APPROVE score/);
    expect(after.stdout).not.toContain('Cannot find module');

    const tree = descendants(server.child.pid!);
    expect(tree.length).toBeGreaterThan(1);
    server.child.kill('SIGTERM');
    await server.exited;
    await until('every process of the tree gone', () => tree.every((pid) => !isRunning(pid)), 20_000, () => JSON.stringify(tree));
    expect(await portOpen(port)).toBe(false);
    expect(await portOpen(port + 2)).toBe(false);
  }, 300_000);

  it('npm run package refuses a broken policy, naming the rule', () => {
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, BROKEN_POLICY);
    const run = npmRun(['package'], { RISKHOOK_POLICY: path });
    expect(run.status).not.toBe(0);
    expect(run.stdout + run.stderr).toContain(BROKEN_MESSAGE);
  }, 120_000);

  it('npm run package bundles a policy from outside the repo at the path the function reads', () => {
    const path = join(dir, 'outside.yaml');
    writeFileSync(path, readFileSync('policies/default.yaml', 'utf8').replace(/^version: .*$/m, 'version: outside-1'));
    const run = npmRun(['package'], { RISKHOOK_POLICY: path });
    expect(run.status, run.stderr).toBe(0);
    const template = JSON.parse(readFileSync('.serverless/cloudformation-template-update-stack.json', 'utf8'));
    const variables = template.Resources.WebhookLambdaFunction.Properties.Environment.Variables;
    expect(variables.RISKHOOK_POLICY).toBe('.policy-bundle/outside.yaml');
    expect(variables.RISKHOOK_FUNCTION_TIMEOUT_S).toBe('6');
    expect(zipEntries('.serverless/webhook.zip')).toEqual(expect.arrayContaining(['functions/webhook.js', '.policy-bundle/outside.yaml']));
    // As .ci/run lints it: no cfn-lint errors (warnings allowed, see .ci/run).
    const lint = spawnSync('cfn-lint', ['--non-zero-exit-code', 'error', '.serverless/cloudformation-template-update-stack.json'], { encoding: 'utf8' });
    expect(lint.error, 'cfn-lint must be installed (pip install cfn-lint), as .ci/run does').toBeUndefined();
    expect(lint.status, lint.stdout).toBe(0);
  }, 120_000);
});
