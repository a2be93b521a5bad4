import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildApp, listen, OPERATOR_KEY, photo, startEngine } from './support/app.js';
import type { TestApp } from './support/app.js';
import { startAlertmanager } from './support/alertmanager.js';
import type { TestAlertmanager } from './support/alertmanager.js';
import { chromiumPresent, desktopContext, launchBrowser, mobileContext, pageErrors, screenshot } from './support/browser.js';
import { until } from './support/wait.js';
import type { Engine } from '../src/engine/engine.js';

/**
 * The operator dashboard at /dashboard in a real Chromium against the real
 * service (real model, real cut-outs): refused without a key, a wrong key
 * refused with a message, the right key shows live numbers and charts, the
 * key stays in sessionStorage (never the URL, never localStorage), sign-out
 * forgets it; desktop and phone screenshots in out/screens/.
 */
const KEY_NAME = 'petcut.operatorKey';

describe.skipIf(!chromiumPresent())('the operator dashboard in Chromium', () => {
  let engine: Engine;
  let test: TestApp;
  let base: string;
  let browser: Browser;
  let image: Buffer;
  let dir: string;
  let alertmanager: TestAlertmanager;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petcut-dashboard-'));
    [engine, alertmanager] = await Promise.all([startEngine(), startAlertmanager(dir)]);
    await alertmanager.fire('PetcutHighLatency', { severity: 'warning', service: 'petcut' }, 'P95 processing time above 5 s for 10 minutes');
    test = await buildApp(engine, { env: { PETCUT_ALERTMANAGER_URL: alertmanager.url } });
    base = await listen(test.app);
    browser = await launchBrowser();
    image = await photo(480, 360, 'jpeg', 11);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await test?.app.petcut.processing.drain();
    await test?.app.close();
    await engine?.close();
    await alertmanager?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Real traffic: a cut-out, the same photo again (a cache hit), a refused upload. */
  async function traffic(): Promise<void> {
    const cut = () => fetch(`${base}/v1/cutouts?size=160`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(image) });
    expect((await cut()).status).toBe(200);
    expect((await cut()).headers.get('x-cache')).toMatch(/^HIT/);
    expect((await fetch(`${base}/v1/cutouts`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: 'not a photo' })).status).toBe(415);
    // The widget's beacons (the business panel).
    for (const event of ['upload', 'cutout_shown', 'add_to_cart']) {
      expect((await fetch(`${base}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event, sessionId: 'dashboard-shopper-01' }) })).status).toBe(204);
    }
  }

  const tileValue = (page: Page, label: string) => page.locator(`[data-tile="${label}"] .tile-value`).innerText();
  const tileDetail = (page: Page, label: string) => page.locator(`[data-tile="${label}"] .tile-detail`).innerText();
  const stored = (page: Page) => page.evaluate(`[sessionStorage.getItem(${JSON.stringify(KEY_NAME)}), localStorage.length]`) as Promise<[string | null, number]>;

  async function open(context: BrowserContext): Promise<{ page: Page; errors: string[]; urls: string[] }> {
    const page = await context.newPage();
    const errors = pageErrors(page);
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));
    const response = await page.goto(`${base}/dashboard`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    return { page, errors, urls };
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.locator('#key').fill(key);
    await page.locator('#signin').click();
  }

  it('without a key: the login form, no numbers', async () => {
    const context = await desktopContext(browser);
    const { page, errors } = await open(context);
    await page.locator('#login').waitFor({ state: 'visible', timeout: 60_000 });
    expect(await page.locator('#main').isVisible()).toBe(false);
    expect(await page.locator('.tile').count()).toBe(0);
    expect(await page.locator('#key').getAttribute('type')).toBe('password');
    await screenshot(page, 'dashboard-login-desktop');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a wrong key is refused with the service\'s message; nothing is kept or shown', async () => {
    const context = await desktopContext(browser);
    const { page, errors, urls } = await open(context);
    await signIn(page, 'pk_not-the-operator-key');
    const message = page.locator('#login-error');
    await message.waitFor({ state: 'visible', timeout: 60_000 });
    expect(await message.innerText()).toMatch(/^Refused: .*\(401 PETCUT_E_INVALID_TOKEN\)$/);
    expect(await page.locator('#main').isVisible()).toBe(false);
    expect(await page.locator('.tile').count()).toBe(0);
    expect(await stored(page)).toEqual([null, 0]);
    expect(urls.some((u) => u.includes('pk_not'))).toBe(false);
    await screenshot(page, 'dashboard-refused-desktop');
    // The refused fetch is the only console line (Chromium logs every 4xx answer).
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    await context.close();
  });

  it('the right key: live numbers after traffic, charts drawn, the key in sessionStorage only; sign-out forgets it', async () => {
    await traffic();
    const context = await desktopContext(browser);
    const { page, errors, urls } = await open(context);
    await signIn(page, OPERATOR_KEY);
    await page.locator('[data-tile="Requests / min"]').waitFor({ timeout: 60_000 });
    const requests = async (): Promise<number> => Number((await tileDetail(page, 'Requests / min')).split(' ')[0]!.replace(/,/g, ''));
    expect(await requests()).toBeGreaterThanOrEqual(3);
    expect(await tileValue(page, 'P50 / P95 / P99')).toMatch(/^\d[\d,.]* (ms|s)$/);
    expect(await tileValue(page, 'Cache hit rate')).toMatch(/^[1-9]\d* %$/);
    expect(await tileDetail(page, 'Cache hit rate')).toMatch(/MISS [1-9]/);
    expect(await tileValue(page, 'Cold start')).toMatch(/^\d[\d.]* s$/);
    expect(await tileValue(page, 'Cost / 1000 images')).toMatch(/^\$|^–$/);
    expect(await page.locator('#budget [data-period]').count()).toBe(3);
    // The firing alert from the real Alertmanager, in the tile and the panel.
    expect(await tileValue(page, 'Alerts firing')).toBe('1');
    expect(await page.locator('#alerts li').innerText()).toMatch(/PetcutHighLatency[\s\S]*warning[\s\S]*P95 processing time above 5 s/);
    // The business panel: the widget's events counted.
    expect(await page.locator('#business table').first().innerText()).toMatch(/upload\s+1/);
    expect(await tileValue(page, 'Widget events')).toMatch(/^[3-9]|^\d\d/);
    expect(await page.locator('#mitigations').innerText()).toContain('No mitigation active');
    // Six charts, each a canvas with a real size.
    const canvases = page.locator('[data-chart] canvas');
    await until(async () => (await canvases.count()) === 6, 'six charts', 60_000, 200);
    for (const box of await Promise.all((await canvases.all()).map((c) => c.boundingBox()))) {
      expect(box?.width).toBeGreaterThan(100);
      expect(box?.height).toBeGreaterThan(50);
    }
    // Live: more traffic shows up at the next refresh without a reload.
    const before = await requests();
    await traffic();
    await until(async () => (await requests()) >= before + 3, 'the next refresh to count the new requests', 60_000, 500);
    // The key: in this tab's sessionStorage, never in a URL, never in localStorage.
    expect(await stored(page)).toEqual([OPERATOR_KEY, 0]);
    expect(page.url()).toBe(`${base}/dashboard`);
    expect(urls.filter((u) => u.includes(OPERATOR_KEY))).toEqual([]);
    await screenshot(page, 'dashboard-desktop', { fullPage: true });
    await screenshot(page, 'dashboard-desktop-top');
    // The weekly report (helper D's route), shown in the page.
    if ((await fetch(`${base}/v1/admin/report?format=md`, { headers: { 'x-api-key': OPERATOR_KEY } })).status === 200) {
      await page.locator('#report-load').click();
      await page.locator('#report').waitFor({ state: 'visible', timeout: 60_000 });
      expect((await page.locator('#report').innerText()).length).toBeGreaterThan(100);
      expect(await page.locator('#report script, #report style').count()).toBe(0);
      await page.locator('#report').scrollIntoViewIfNeeded();
      await screenshot(page, 'dashboard-report-desktop');
    }
    expect(errors).toEqual([]);
    // Sign out: the key and the numbers are gone.
    await page.locator('#signout').click();
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await stored(page)).toEqual([null, 0]);
    expect(await page.locator('.tile').count()).toBe(0);
    expect(await page.locator('[data-chart] canvas').count()).toBe(0);
    expect(await page.locator('#login-error').innerText()).toContain('Signed out');
    // A reload after sign-out asks for the key again.
    await page.reload();
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#main').isVisible()).toBe(false);
    await context.close();
  }, 240_000);

  it('refreshes every 12 s while visible, not at all while the tab is hidden, at once when shown again (page clock)', async () => {
    const context = await desktopContext(browser);
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.clock.install();
    let polls = 0;
    page.on('request', (request) => { if (request.url().includes('/v1/admin/kpis')) polls += 1; });
    await page.goto(`${base}/dashboard`);
    await signIn(page, OPERATOR_KEY);
    await page.locator('[data-tile="Requests / min"]').waitFor({ timeout: 60_000 });
    expect(polls).toBe(1);
    await page.clock.runFor(12_500);
    await until(() => polls === 2, 'the 12 s refresh', 60_000, 100);
    await page.locator('#status').waitFor();
    // Hidden: what a browser reports for a background tab.
    await page.evaluate(`Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }); document.dispatchEvent(new Event('visibilitychange'))`);
    await page.clock.runFor(120_000);
    expect(polls).toBe(2);
    await page.evaluate(`Object.defineProperty(document, 'hidden', { configurable: true, get: () => false }); document.dispatchEvent(new Event('visibilitychange'))`);
    await until(() => polls === 3, 'a refresh when shown again', 60_000, 100);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it('a phone: one column, the same numbers, a small screenshot for the docs', async () => {
    const context = await mobileContext(browser);
    const { page, errors } = await open(context);
    await screenshot(page, 'dashboard-login-mobile');
    await signIn(page, OPERATOR_KEY);
    await page.locator('[data-tile="Requests / min"]').waitFor({ timeout: 60_000 });
    await until(async () => (await page.locator('[data-chart] canvas').count()) === 6, 'six charts', 60_000, 200);
    const width = await page.evaluate('document.documentElement.scrollWidth') as number;
    expect(width).toBeLessThanOrEqual(390);
    const box = await page.locator('[data-chart] canvas').first().boundingBox();
    expect(box?.width).toBeGreaterThan(200);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    await screenshot(page, 'dashboard-mobile');
    await screenshot(page, 'dashboard-mobile-full', { fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);

  it('docs/images/dashboard.png is a small screenshot (<= 120 KB)', () => {
    expect(statSync('docs/images/dashboard.png').size).toBeLessThanOrEqual(120 * 1024);
  });
});
