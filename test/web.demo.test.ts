import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, FileChooser, Page } from 'playwright-core';
import { buildApp, listen, sniff, startEngine } from './support/app.js';
import type { TestApp } from './support/app.js';
import { chromiumPresent, desktopContext, launchBrowser, mobileContext, pageErrors, SCREENS, screenshot } from './support/browser.js';
import { makeDirs } from '../src/fsDirs.js';
import { sharedPath, sharedPresent } from './support/shared.js';
import type { Engine } from '../src/engine/engine.js';

/**
 * The demo page (/) and the API docs (/docs) in a real Chromium against the
 * real service and model: a real pet photo goes up, progress shows, then the
 * cut-out; a style switch re-renders without a new upload (HIT-CUTOUT); the
 * downloads are a PNG and a WebP; the curl command says what was done (and
 * its URL answers an image); Swagger UI lists the routes and "try it out"
 * works on the same origin; a phone has no horizontal scroll; no console
 * errors (CSP refusals among them) anywhere.
 */
const PET = 'cat_chelsea_skimage.png';

/** The little of the DOM the page functions read (the tests compile without the DOM library). Functions, not strings: the page's CSP forbids eval. */
interface Doc {
  getElementById(id: string): { readonly complete?: boolean; readonly naturalWidth?: number; readonly dataset: Record<string, string | undefined>; readonly textContent: string | null } | null;
}
const LONG = 120_000;
/** The production rate limits (per address and per session): a page load and a cut-out stay within them. */
const LIMITS = { PETCUT_RATE_LIMIT_IP_PER_MIN: '100', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '20' };

describe.skipIf(!chromiumPresent() || !sharedPresent(`fixtures/pets/${PET}`))('the demo page and the API docs in Chromium', () => {
  let engine: Engine;
  let test: TestApp;
  let base: string;
  let browser: Browser;
  const pet = sharedPath('fixtures', 'pets', PET);

  beforeAll(async () => {
    engine = await startEngine();
    test = await buildApp(engine, { env: LIMITS });
    base = await listen(test.app);
    browser = await launchBrowser();
  }, LONG);

  afterAll(async () => {
    await makeDirs(SCREENS);
    writeFileSync(join(SCREENS, 'demo-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
    await browser?.close();
    await test?.app.petcut.processing.drain();
    await test?.app.close();
    await engine?.close();
  });

  /** A page with its errors collected (CSP refusals among them) and every status line it showed recorded (window.__statuses). */
  async function open(context: BrowserContext, path: string, at = base): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.addInitScript(`
      window.__statuses = [];
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sample || '')));
      document.addEventListener('DOMContentLoaded', () => {
        const node = document.getElementById('status-text');
        if (node) new MutationObserver(() => window.__statuses.push(node.textContent)).observe(node, { childList: true, characterData: true, subtree: true });
      });`);
    await page.goto(`${at}${path}`);
    return { page, errors };
  }

  /** Time from choosing the photo to the cut-out shown, per scenario (written to out/screens/demo-timings.json; no assertion: the bench times). */
  const timings: Record<string, number> = {};

  /** Chooses the photo and waits for the cut-out; returns the status lines shown on the way. */
  async function cutOut(page: Page, scenario?: string): Promise<string[]> {
    await page.waitForSelector('.style-option input', { state: 'attached', timeout: LONG });
    const started = Date.now();
    await page.setInputFiles('#file', pet);
    await page.waitForSelector('#result:not([hidden])', { timeout: LONG });
    await page.waitForFunction(() => {
      const img = (globalThis as unknown as { document: Doc }).document.getElementById('cutout');
      return Boolean(img?.complete && img.naturalWidth);
    }, undefined, { timeout: LONG });
    if (scenario) timings[scenario] = Date.now() - started;
    return page.evaluate('window.__statuses') as Promise<string[]>;
  }

  const violations = (page: Page): Promise<string[]> => page.evaluate('window.__violations') as Promise<string[]>;
  const noHorizontalScroll = (page: Page): Promise<boolean> => page.evaluate('document.documentElement.scrollWidth <= window.innerWidth') as Promise<boolean>;

  it('desktop: upload with socket progress, the cut-out, a style switch without re-upload, PNG and WebP downloads, the curl command', async () => {
    const context = await desktopContext(browser);
    try {
      const { page, errors } = await open(context, '/');
      const sockets: string[] = [];
      page.on('websocket', (socket) => sockets.push(socket.url()));
      await screenshot(page, 'demo-desktop-empty');
      const statuses = await cutOut(page, 'desktop, model run (ms)');
      // Progress from the job's socket (stage messages with a percentage), then done.
      expect(sockets.some((url) => /\/v1\/jobs\/[0-9a-f-]+\/events$/.test(url)), sockets.join(', ')).toBe(true);
      expect(statuses[0]).toBe('Uploading…');
      expect(statuses.length, statuses.join(' | ')).toBeGreaterThan(2);
      expect(statuses.at(-1)).toBe('Done: your cut-out is below.');
      expect(await page.getAttribute('#cutout', 'src')).toMatch(/\/v1\/sessions\/[^/]+\/images\/[^/]+$/);
      await screenshot(page, 'demo-desktop-cutout', { fullPage: true });

      // Another style: the stored photo is rendered again from the cached cut-out.
      const before = await page.getAttribute('#cutout', 'src');
      const rendered = page.waitForResponse((r) => r.url().includes('/renders?') && r.request().method() === 'POST', { timeout: LONG });
      await page.check('#effect-popart');
      const answer = await rendered;
      expect(answer.status()).toBe(200);
      expect(answer.headers()['x-cache']).toBe('HIT-CUTOUT');
      await page.waitForFunction(() => (globalThis as unknown as { document: Doc }).document.getElementById('cutout')?.dataset.effect === 'popart', undefined, { timeout: LONG });
      expect(await page.getAttribute('#cutout', 'src')).not.toBe(before);
      expect(await page.isChecked('#effect-popart')).toBe(true);
      await screenshot(page, 'demo-desktop-popart', { fullPage: true });

      // Downloads: a PNG and a WebP of the chosen style.
      for (const format of ['png', 'webp'] as const) {
        const download = page.waitForEvent('download', { timeout: LONG });
        await page.click(`#download-${format}`);
        const file = await download;
        expect(file.suggestedFilename()).toBe(`pet-popart.${format}`);
        expect(sniff(await readFile((await file.path())!))).toBe(format);
      }

      // The curl command repeats the last thing done (the WebP download), with the photo's own name.
      const curl = (await page.textContent('#curl'))!;
      expect(curl).toBe(`curl -F image=@${PET} '${base}/v1/cutouts?effects=popart&format=webp' -o pet-popart.webp`);
      const url = /'([^']+)'/.exec(curl)![1]!;
      const body = new FormData();
      body.append('image', new Blob([await readFile(pet)], { type: 'image/png' }), PET);
      const direct = await fetch(url, { method: 'POST', body });
      expect(direct.status).toBe(200);
      expect(direct.headers.get('content-type')).toBe('image/webp');
      expect(sniff(Buffer.from(await direct.arrayBuffer()))).toBe('webp');

      await page.click('#copy-curl');
      await page.waitForFunction(() => Boolean((globalThis as unknown as { document: Doc }).document.getElementById('copied')?.textContent));
      expect(errors).toEqual([]);
      expect(await violations(page)).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);

  it('a phone (390x844, touch) behind a proxy without WebSockets: polling instead, no horizontal scroll, 44 px targets', async () => {
    // Another shopper (a fresh limiter: every test's browser comes from 127.0.0.1).
    const phone = await buildApp(engine, { env: LIMITS });
    const context = await mobileContext(browser);
    try {
      // The job's socket is closed at once (App Proxy carries no WebSockets): the page polls the job instead.
      await context.routeWebSocket(/\/events$/, (socket) => void socket.close({ code: 1011, reason: 'no sockets here' }));
      const { page, errors } = await open(context, '/', await listen(phone.app));
      const polls: string[] = [];
      page.on('request', (request) => {
        if (request.method() === 'GET' && /\/v1\/jobs\/[0-9a-f-]+$/.test(request.url())) polls.push(request.url());
      });
      await page.waitForSelector('.style-option input', { state: 'attached', timeout: LONG });
      expect(await noHorizontalScroll(page)).toBe(true);
      await screenshot(page, 'demo-mobile-empty');
      await cutOut(page, 'phone, polling, model run (ms)');
      expect(polls.length).toBeGreaterThan(0);
      expect(await noHorizontalScroll(page)).toBe(true);
      // Every control a thumb uses is at least 44 px tall.
      const small = await page.evaluate(`[...document.querySelectorAll('button, .drop-text strong, .style-option label, .top nav a')]
        .filter((el) => el.getBoundingClientRect().height < 44).map((el) => el.textContent.trim())`) as string[];
      expect(small).toEqual([]);
      await screenshot(page, 'demo-mobile-cutout', { fullPage: true });
      expect(errors).toEqual([]);
      expect(await violations(page)).toEqual([]);
    } finally {
      await context.close();
      await phone.app.petcut.processing.drain();
      await phone.app.close();
    }
  }, 300_000);

  it('keyboard only, reduced motion: Tab reaches the file picker, Space opens it, arrow keys switch the style', async () => {
    // Another shopper: its own rate budget (every test's browser comes from 127.0.0.1).
    const own = await buildApp(engine, { env: LIMITS });
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, reducedMotion: 'reduce' });
    try {
      const { page, errors } = await open(context, '/', await listen(own.app));
      // Listen now, long before Space: Playwright turns on Chromium's file-chooser interception
      // asynchronously, and a key pressed before it is on opens a (headless, invisible) dialog instead.
      const chooser = new Promise<FileChooser>((resolve) => page.once('filechooser', resolve));
      await page.waitForSelector('.style-option input', { state: 'attached', timeout: LONG });
      const focused = (): Promise<string> => page.evaluate("document.activeElement.id || document.activeElement.className || document.activeElement.tagName") as Promise<string>;
      await page.keyboard.press('Tab');
      expect(await focused()).toBe('skip');
      // The skip link, the two nav links, then the picker.
      for (let i = 0; i < 3; i++) await page.keyboard.press('Tab');
      expect(await focused()).toBe('file');
      await page.keyboard.press('Space');
      await (await chooser).setFiles(pet);
      await page.waitForSelector('#result:not([hidden])', { timeout: LONG });
      await page.waitForFunction(() => (globalThis as unknown as { document: Doc }).document.getElementById('cutout')?.dataset.effect === 'color', undefined, { timeout: LONG });
      // Focus moved to the result; the style group is next, then an arrow key picks the next style.
      expect(await focused()).toBe('result-title');
      await page.keyboard.press('Tab');
      expect(await focused()).toBe('effect-color');
      await page.keyboard.press('ArrowRight');
      const next = await page.evaluate("document.activeElement.value") as string;
      expect(next).not.toBe('color');
      await page.waitForFunction((effect) => (globalThis as unknown as { document: Doc }).document.getElementById('cutout')?.dataset.effect === effect, next, { timeout: LONG });
      // The keyboard focus stayed on the style group through the render.
      expect(await focused()).toBe(`effect-${next}`);
      // Reduced motion: no transition on the cut-out.
      expect(await page.evaluate("getComputedStyle(document.getElementById('cutout')).transitionDuration")).toMatch(/^0s$/);
      await screenshot(page, 'demo-keyboard');
      expect(errors).toEqual([]);
      expect(await violations(page)).toEqual([]);
    } finally {
      await context.close();
      await own.app.petcut.processing.drain();
      await own.app.close();
    }
  }, 300_000);

  it('/docs: Swagger UI lists the service\'s routes from /openapi.json; "try it out" on GET /healthz answers 200', async () => {
    const context = await desktopContext(browser);
    try {
      const { page, errors } = await open(context, '/docs');
      await page.waitForSelector('.opblock-summary-path', { timeout: LONG });
      const paths = await page.$$eval('.opblock-summary-path', (nodes) => nodes.map((n) => n.getAttribute('data-path')));
      const documented = Object.keys((await (await fetch(`${base}/openapi.json`)).json() as { paths: Record<string, unknown> }).paths);
      expect(new Set(paths)).toEqual(new Set(documented));
      expect(paths).toContain('/v1/sessions/{sessionId}/images/{imageId}/renders');
      await screenshot(page, 'docs-desktop');

      const healthz = page.locator('.opblock-get', { has: page.locator('.opblock-summary-path[data-path="/healthz"]') });
      await healthz.locator('.opblock-summary').first().click();
      await healthz.locator('button.try-out__btn').click();
      await healthz.locator('button.execute').click();
      const status = healthz.locator('.live-responses-table tbody .response-col_status').first();
      await status.waitFor({ timeout: LONG });
      expect((await status.textContent())!.trim()).toMatch(/^200/);
      // The request went to this origin.
      expect(await healthz.locator('.request-url').first().textContent()).toContain(`${base}/healthz`);
      await screenshot(page, 'docs-try-it-out');
      expect(errors).toEqual([]);
      expect(await violations(page)).toEqual([]);

      const phone = await mobileContext(browser);
      try {
        const { page: small, errors: smallErrors } = await open(phone, '/docs');
        await small.waitForSelector('.opblock-summary-path', { timeout: LONG });
        await screenshot(small, 'docs-mobile');
        expect(smallErrors).toEqual([]);
        expect(await violations(small)).toEqual([]);
      } finally {
        await phone.close();
      }
    } finally {
      await context.close();
    }
  }, 300_000);
});
