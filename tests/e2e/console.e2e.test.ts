/**
 * The review console end to end, in a real headless Chromium (Debian's chromium, driven by
 * playwright-core) against the `npm start` server (serverless-offline) on a Redis of its own:
 * an analyst signs in, sees the holds `npm run send` produced, releases one (the merchant webhook
 * reaches a real receiver, the audit entry shows), confirms another as fraud blocking its device
 * (the next payment from that device is held by the list), a wrong token is refused, a token
 * without a scope and an unreachable API get clear messages, axe-core finds no serious or critical
 * violation and the page raises no Content-Security-Policy violation.
 * Screenshots go to tests/e2e/screenshots/ (not committed); UPDATE_SCREENSHOTS=1 also refreshes
 * docs/console-queue.png, the one README shows.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../scripts/redis-server.js';
import { type OfflineServer, startOffline } from '../support/offline.js';
import { TOKENS, apiTokensEnv } from '../support/operations.js';
import { type Receiver, startReceiver } from '../support/receiver.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCREENSHOTS = join(ROOT, 'tests/e2e/screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const run = promisify(execFile);
// Generous: a busy 2-core machine runs several servers and browsers at once.
const WAIT = 60_000;

describe('review console in a real browser', { timeout: 300_000 }, () => {
  let redis: RedisServer;
  let server: OfflineServer;
  let receiver: Receiver;
  let browser: Browser;
  let work: string;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`the console test needs Chromium at ${CHROMIUM} (Debian: apt-get install -y chromium), or set CHROMIUM_PATH`);
    work = mkdtempSync(join(tmpdir(), 'riskhook-console-'));
    redis = await startRedisServer();
    receiver = await startReceiver();
    server = await startOffline({
      env: {
        REDIS_URL: redis.url,
        RISKHOOK_API_TOKENS: apiTokensEnv(),
        MERCHANT_WEBHOOK_URL: receiver.url,
        MERCHANT_WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString('base64')}`,
      },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await receiver?.stop();
    redis?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** A state the page reaches, waited for generously (expect.poll's own default is 1 s). */
  const eventually = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: WAIT, interval: 200 });

  /** `npm run send` (scripts/send.ts), as an analyst's terminal would run it. */
  const send = (file: string) => run('npx', ['tsx', 'scripts/send.ts', file, '--url', server.baseUrl], { cwd: ROOT, timeout: WAIT });

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(new URL('/console', server.baseUrl).href);
    return { context, page };
  }

  async function signIn(page: Page, token: string) {
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  async function axe(page: Page) {
    // Evaluated through the DevTools protocol: not an inline script, so the page's CSP stays as served.
    await page.evaluate(readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8'));
    const result = (await page.evaluate(
      'axe.run().then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) })))',
    )) as { id: string; impact: string }[];
    expect(result.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
  }

  async function deliveredTo(eventId: string, type: string) {
    const deadline = Date.now() + WAIT;
    while (Date.now() < deadline) {
      if (receiver.received.some((r) => JSON.parse(r.body).type === type && JSON.parse(r.body).data.eventId === eventId)) return true;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return false;
  }

  it('serves the page with a strict Content-Security-Policy and its files from the function', async () => {
    const response = await fetch(new URL('/console', server.baseUrl));
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).not.toMatch(/<script>|<style|style="|https?:\/\//);
    for (const file of ['app.js', 'app.css', 'uPlot.iife.min.js', 'uPlot.min.css']) {
      expect((await fetch(new URL(`/console/${file}`, server.baseUrl))).status).toBe(200);
    }
    expect((await fetch(new URL('/console/nope.js', server.baseUrl))).status).toBe(404);
  });

  it('refuses a wrong token with a clear message', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'rh_wrong_token');
    await eventually(() => page.locator('#message').textContent()).toContain('refused (401)');
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await context.close();
  });

  it('an analyst releases one hold and confirms another as fraud; the device is then held by the list', async () => {
    await send('examples/attack-burst.json');
    const { context, page } = await newPage();
    await signIn(page, TOKENS.admin!.token);
    const rows = page.locator('#queue tbody tr button.link');
    await rows.first().waitFor();
    expect(await rows.count()).toBeGreaterThanOrEqual(2);
    // The token is in this tab's session storage only: not in the URL, not in a cookie.
    expect(await page.evaluate("sessionStorage.getItem('riskhook.token')")).toBe(TOKENS.admin!.token);
    expect(page.url()).not.toContain(TOKENS.admin!.token);
    expect((await context.cookies()).length).toBe(0);
    const firstRow = page.locator('#queue tbody tr').first();
    expect(await firstRow.locator('td').first().textContent()).toBe('generic');
    expect(await firstRow.locator('td').nth(1).textContent()).toMatch(/\d+\.\d\d CNY/);
    await page.screenshot({ path: join(SCREENSHOTS, 'queue.png'), fullPage: true });
    if (process.env.UPDATE_SCREENSHOTS === '1') copyFileSync(join(SCREENSHOTS, 'queue.png'), join(ROOT, 'docs/console-queue.png'));
    await axe(page);

    // Release the oldest, trusting its account for 7 days.
    const released = (await rows.first().getAttribute('data-event'))!;
    await rows.first().click();
    await page.locator('#detail-reasons li').first().waitFor();
    expect(await page.locator('#detail-features tbody tr').count()).toBeGreaterThan(0);
    await page.locator('#detail-deliveries li[data-type="review.opened"]').waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'hold.png'), fullPage: true });
    await axe(page);
    await page.getByLabel('Note', { exact: true }).first().fill('customer called, verified');
    await page.getByLabel('Trust the account for days (optional)').fill('7');
    await page.getByRole('button', { name: 'Release…' }).click();
    await eventually(() => page.locator('#confirm-text').textContent()).toContain('trust the account for 7 days');
    await page.getByRole('button', { name: 'Yes, do it' }).click();
    await page.locator('#detail-audit li[data-action="review.released"]').waitFor();
    expect(await page.locator('#detail-audit li[data-action="review.released"]').textContent()).toContain('by admin: customer called, verified');
    expect(await deliveredTo(released, 'review.released')).toBe(true);
    // The console shows the delivery (its outbox entry is removed on the receiver's 2xx).
    await page.locator('#f-status').selectOption('released');
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Apply' }).click();
          await page.locator(`#queue tbody button[data-event="${released}"]`).click();
          await page.locator('#detail-deliveries li[data-type="review.released"]').waitFor();
          return page.locator('#detail-deliveries li[data-type="review.released"]').getAttribute('data-state');
        },
        { timeout: WAIT, interval: 1_000 },
      )
      .toBe('delivered');

    // Confirm another as fraud, blocking only its device (the list entries are editable).
    await page.locator('#f-status').selectOption('open');
    await page.getByRole('button', { name: 'Apply' }).click();
    const fraud = page.locator('#queue tbody button.link').first();
    await fraud.waitFor();
    const fraudId = (await fraud.getAttribute('data-event'))!;
    expect(fraudId).not.toBe(released);
    await fraud.click();
    await page.locator('#block-kinds input[value="device"]').waitFor();
    for (const kind of ['account', 'linkedAccount', 'instrument']) await page.locator(`#block-kinds input[value="${kind}"]`).uncheck();
    await page.locator('#fraud-note').fill('card testing');
    await page.getByRole('button', { name: 'Confirm fraud…' }).click();
    await eventually(() => page.locator('#confirm-text').textContent()).toContain('block device for 180 days');
    await page.getByRole('button', { name: 'Yes, do it' }).click();
    await page.locator('#detail-audit li[data-action="review.confirmed_fraud"]').waitFor();
    expect(await deliveredTo(fraudId, 'review.confirmed_fraud')).toBe(true);

    // The block list now has the device (as its hash), and a normal payment from that device is held.
    await page.getByRole('button', { name: 'Lists' }).click();
    await page.locator('#l-kind').selectOption('device');
    await page.getByRole('button', { name: 'Show entries' }).click();
    await eventually(() => page.locator('#list-entries tbody').textContent()).toContain(`review generic ${fraudId}`);
    // The example event that hold came from (npm run send appends a suffix to its id): its device.
    const attack = (JSON.parse(readFileSync(join(ROOT, 'examples/attack-burst.json'), 'utf8')) as { id: string; device: unknown }[]).find(
      (e) => fraudId.startsWith(`${e.id}-`),
    )!;
    const normal = JSON.parse(readFileSync(join(ROOT, 'examples/normal-purchase.json'), 'utf8'));
    const sameDevice = join(work, 'same-device.json');
    writeFileSync(sameDevice, JSON.stringify({ ...normal, device: attack.device }));
    const sent = await send(sameDevice);
    expect(sent.stdout).toContain('HOLD');
    expect(sent.stdout).toContain('blocked-entity');
    await page.getByRole('button', { name: 'Queue' }).click();
    await eventually(() => page.locator('#queue tbody').textContent()).toContain('blocked-entity');

    // The chart of decisions and holds per hour by rule draws: the burst's approvals and holds, the list's hold.
    await page.getByRole('button', { name: 'Decisions per hour' }).click();
    await page.locator('#chart canvas').waitFor();
    await eventually(() => page.locator('#chart-summary').textContent()).toContain('blocked-entity');
    const [, decisions, holds] = (await page.locator('#chart-summary').textContent())!.match(/(\d+) decisions and (\d+) holds/)!.map(Number);
    expect(decisions).toBeGreaterThanOrEqual(8); // the burst's 7 payments and the blocked device's one
    expect(holds).toBeGreaterThanOrEqual(2);
    expect(holds).toBeLessThan(decisions!);
    const blockedRow = page.locator('#chart-rules tbody tr', { hasText: 'blocked-entity' });
    expect(Number(await blockedRow.locator('td').nth(1).textContent())).toBeGreaterThanOrEqual(1);
    expect(await page.locator('.u-legend').textContent()).toContain('holds');
    await page.screenshot({ path: join(SCREENSHOTS, 'chart.png'), fullPage: true });
    await axe(page);
    expect(cspViolations).toEqual([]);
    await context.close();
  });

  it('a token without the scope, and an unreachable API, get clear messages', async () => {
    const { context, page } = await newPage();
    await signIn(page, TOKENS.reader!.token);
    await page.getByRole('button', { name: 'Lists' }).click();
    await page.getByLabel('Raw id').fill('device_from_reader');
    await page.getByRole('button', { name: 'Save entry' }).click();
    await eventually(() => page.locator('#message').textContent()).toContain('lacks the scope for this (403)');
    await page.route('**/v1/**', (route) => route.abort('connectionrefused'));
    await page.getByRole('button', { name: 'Show entries' }).click();
    await eventually(() => page.locator('#message').textContent()).toContain('unreachable');
    await context.close();
  });
});
