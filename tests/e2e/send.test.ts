/**
 * npm run send reads one event, a JSON array or JSON Lines, and names the bad line. Runs the real
 * script with --event (the signed request printed, no server needed) or against a closed port.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readExamples } from '../../scripts/examples-file.js';
import { freePort } from '../support/global-redis.js';
import { cleanEnv } from '../support/offline.js';

const dir = mkdtempSync(join(tmpdir(), 'riskhook-send-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const NORMAL = JSON.parse(readFileSync('examples/normal-purchase.json', 'utf8')) as Record<string, unknown>;

const send = (...args: string[]) => spawnSync('npx', ['tsx', 'scripts/send.ts', ...args], { encoding: 'utf8', env: cleanEnv(), timeout: 60_000 });
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('npm run send: the file', () => {
  it('reads JSON Lines (any extension), an array and one object alike', () => {
    const lines = [JSON.stringify(NORMAL), '', JSON.stringify({ ...NORMAL, id: 'evt_2' })].join('\n');
    expect(readExamples('events.jsonl', lines).map((e) => e.id)).toEqual([NORMAL.id, 'evt_2']);
    expect(readExamples('events.txt', `${lines}\n`)).toHaveLength(2);
    expect(readExamples('events.json', JSON.stringify([NORMAL, NORMAL], null, 2))).toHaveLength(2);
    expect(readExamples('one.json', JSON.stringify(NORMAL, null, 2))).toEqual([NORMAL]);
  });

  it('names the bad line of a JSON Lines file, and what is wrong', () => {
    const good = JSON.stringify(NORMAL);
    expect(() => readExamples('e.jsonl', `${good}\n${good}\n{"id": "evt_3",\n`)).toThrow(/^e\.jsonl line 3: not valid JSON/);
    expect(() => readExamples('e.jsonl', `${good}\n[1, 2]\n`)).toThrow(/^e\.jsonl line 2: expected a JSON object \(an event\) per line/);
    expect(() => readExamples('e.json', `${good}\n42\n`)).toThrow(/^e\.json line 2: expected a JSON object/);
    expect(() => readExamples('e.json', '{"id": ')).toThrow(/^e\.json: not valid JSON .*expected an event, a JSON array of events, or JSON Lines/);
    expect(() => readExamples('e.json', '[{"id": "a"}, 3]')).toThrow(/^e\.json: item 2: expected a JSON object/);
    expect(() => readExamples('e.jsonl', '\n\n')).toThrow(/no events/);
  });

  it('the command signs a one-line JSON Lines file and exits 1 naming a bad line', () => {
    const one = send('--event', file('one.jsonl', `${JSON.stringify(NORMAL)}\n`));
    expect(one.status, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ rawPath: '/webhooks/generic', requestContext: { http: { method: 'POST' } } });
    const bad = send(file('bad.jsonl', `${JSON.stringify(NORMAL)}\nnot json\n`));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/bad\.jsonl line 2: not valid JSON/);
  });

  it('--port N targets http://localhost:N (nothing listening there: the error says where it tried)', async () => {
    const port = await freePort();
    const run = send('--port', String(port), 'examples/normal-purchase.json');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`http://localhost:${port}/webhooks/generic: ECONNREFUSED`);
    expect(send('--port', 'abc', 'examples/normal-purchase.json').stderr).toMatch(/--port: expected a port number/);
  });
});

describe('generated files', () => {
  it('are ignored by git: the README\'s event.json, offline builds, the bundled policy copy', () => {
    const paths = ['event.json', '.esbuild-offline/12345/x.js', '.policy-bundle/outside.yaml', '.serverless/webhook.zip'];
    const run = spawnSync('git', ['check-ignore', ...paths], { encoding: 'utf8' });
    expect(run.stdout.trim().split('\n')).toEqual(paths);
  });
});
