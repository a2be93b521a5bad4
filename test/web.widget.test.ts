import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, FileChooser, Page, Request } from 'playwright-core';
import { buildApp, listen, photo, startEngine } from './support/app.js';
import type { TestApp } from './support/app.js';
import { chromiumPresent, desktopContext, launchBrowser, mobileContext, MOBILE_THROTTLE, pageErrors, screenshot, throttle } from './support/browser.js';
import { sharedPath, sharedPresent } from './support/shared.js';
import { until } from './support/wait.js';
import { appProxySignature } from '../src/security/shopify.js';
import type { Engine } from '../src/engine/engine.js';

/**
 * The storefront widget <petcut-uploader> in a real Chromium against the real service (real model): the example
 * product page served at /widget/example.html, a photo chosen, progress, the cut-out, styles without re-upload,
 * tap to select, retry after a 503, polling without the socket, a phone, keyboard only, the theme's form.
 */
// Page functions run in the browser: the test program has no DOM lib (it would change Node's types in src/), so the
// few browser globals they use are declared here, for this file only.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
declare const customElements: any;
declare const localStorage: any;
declare function getComputedStyle(element: any): any;
type CustomEvent = any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const WIDGET = join(process.cwd(), 'web', 'widget');
const FIRST_LOAD_LIMIT = 10 * 1024;

describe('widget first load', () => {
  it('petcut-uploader.js is under 10 KB gzipped (gzip -9)', () => {
    const size = gzipSync(readFileSync(join(WIDGET, 'petcut-uploader.js')), { level: 9 }).length;
    expect(size).toBeGreaterThan(1000);
    expect(size).toBeLessThan(FIRST_LOAD_LIMIT);
  });

  it('example.html has no inline scripts and loads the widget as a module', () => {
    const html = readFileSync(join(WIDGET, 'example.html'), 'utf8');
    expect(html).toMatch(/<script type="module" src="petcut-uploader.js"><\/script>/);
    expect([...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].every((m) => m[1]!.trim() === '' && /\ssrc=/.test(m[0]))).toBe(true);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).toMatch(/<form action="\/cart\/add" method="post"/);
  });
});

describe.skipIf(!chromiumPresent())('<petcut-uploader> in Chromium', () => {
  let engine: Engine;
  let test: TestApp;
  let base: string;
  let browser: Browser;
  let disc: string;
  let pet: string | undefined;

  beforeAll(async () => {
    engine = await startEngine();
    test = await buildApp(engine);
    base = await listen(test.app);
    browser = await launchBrowser();
    const dir = await mkdtemp(join(tmpdir(), 'petcut-widget-'));
    disc = join(dir, 'disc.jpg');
    writeFileSync(disc, await photo(800, 600));
    if (sharedPresent('fixtures/pets/cat_grey_white_am2k_sample3.jpg')) pet = sharedPath('fixtures', 'pets', 'cat_grey_white_am2k_sample3.jpg');
    const module = await fetch(`${base}/widget/petcut-uploader.js`);
    expect(module.status, 'the service serves the widget at /widget/').toBe(200);
  });

  afterAll(async () => {
    await browser?.close();
    await test?.app.close();
    await engine?.close();
  });

  interface Opened {
    readonly page: Page;
    readonly errors: string[];
    readonly requests: Request[];
  }

  async function open(context: BrowserContext, before?: (page: Page) => void): Promise<Opened> {
    const page = await context.newPage();
    before?.(page);
    const errors = pageErrors(page);
    const requests: Request[] = [];
    page.on('request', (request) => requests.push(request));
    await page.addInitScript(() => {
      const seen: { type: string; detail: unknown }[] = [];
      (window as unknown as { petcutEvents: typeof seen }).petcutEvents = seen;
      for (const type of ['progress', 'cutout', 'style', 'point', 'error', 'poll', 'rating']) {
        document.addEventListener(`petcut:${type}`, (event: CustomEvent) => seen.push({ type, detail: (event as CustomEvent).detail }));
      }
    });
    await page.goto(`${base}/widget/example.html`);
    await page.waitForFunction(() => customElements.get('petcut-uploader') !== undefined);
    return { page, errors, requests };
  }

  const events = (page: Page, type?: string): Promise<{ type: string; detail: Record<string, unknown> }[]> =>
    page.evaluate((t) => (window as unknown as { petcutEvents: { type: string; detail: Record<string, unknown> }[] }).petcutEvents.filter((e) => !t || e.type === t), type);

  const choose = (page: Page, file: string): Promise<void> => page.locator('petcut-uploader input.file:not(.cam)').setInputFiles(file);

  async function cutoutShown(page: Page, count = 1): Promise<void> {
    await page.waitForFunction((n) => {
      const seen = (window as unknown as { petcutEvents: { type: string }[] }).petcutEvents;
      const img = document.querySelector('petcut-uploader')?.shadowRoot?.querySelector('img.cut');
      return seen.filter((e) => e.type === 'cutout').length >= n && img && !img.hidden && img.complete && img.naturalWidth > 0;
    }, count, { timeout: 150_000 });
  }

  const posts = (requests: Request[], pattern: RegExp): Request[] => requests.filter((r) => r.method() === 'POST' && pattern.test(new URL(r.url()).pathname));

  it('a real pet photo: progress events over the socket, then the cut-out on a checkerboard', async () => {
    const context = await desktopContext(browser);
    const { page, errors, requests } = await open(context);
    await choose(page, pet ?? disc);
    await cutoutShown(page);
    const progress = await events(page, 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.map((e) => e.detail.stage)).toContain('segmentation');
    expect(posts(requests, /^\/v1\/jobs$/)).toHaveLength(1);
    const status = await page.locator('petcut-uploader [role=status]').textContent();
    expect(status).toMatch(/ready|spot a pet/);
    const [cutout] = await events(page, 'cutout');
    expect(cutout!.detail.url).toMatch(/\/v1\/sessions\/[\w-]+\/images\//);
    expect(await page.locator('petcut-uploader .view').evaluate((el) => getComputedStyle(el).backgroundImage)).toMatch(/conic-gradient/);
    // The style picker shows the service's previews (GET /v1/effects/<name>/preview.png).
    await page.waitForFunction(() => {
      const imgs = [...document.querySelector('petcut-uploader')!.shadowRoot!.querySelectorAll('.style img')];
      return imgs.length > 1 && imgs.every((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 0);
    }, undefined, { timeout: 90_000 });
    await screenshot(page, 'widget-desktop-cutout', { fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('switching styles uses the renders route: no second job, no second upload, the cut-out is reused', async () => {
    const context = await desktopContext(browser);
    const { page, errors, requests } = await open(context);
    await choose(page, disc);
    await cutoutShown(page);
    const radios = page.locator('petcut-uploader [role=radiogroup] [role=radio]');
    await expect.poll(() => radios.count(), { timeout: 30_000 }).toBeGreaterThan(1);
    const other = radios.nth(1);
    const name = await other.getAttribute('data-effect');
    const rendered = page.waitForResponse((r) => /\/renders\?/.test(r.url()), { timeout: 120_000 });
    await other.click();
    const response = await rendered;
    expect(response.status()).toBe(200);
    expect(response.headers()['x-cache']).toBe('HIT-CUTOUT');
    await cutoutShown(page, 2);
    expect(await other.getAttribute('aria-checked')).toBe('true');
    expect(posts(requests, /^\/v1\/jobs$/)).toHaveLength(1);
    const last = (await events(page, 'cutout')).at(-1)!;
    expect(last.detail.effect).toBe(name);
    await screenshot(page, `widget-desktop-style-${name}`, { fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('tap to select: the no-pet prompt, a tap on the photo sends point=x,y through the renders route', async () => {
    const context = await desktopContext(browser);
    const { page, errors } = await open(context);
    await choose(page, disc);
    await cutoutShown(page);
    const photoImg = page.locator('petcut-uploader img.photo');
    // A generated disc has no animal in it: the service says petFound false and the widget asks for a tap.
    const [first] = await events(page, 'cutout');
    if (first!.detail.petFound === false) expect(await page.locator('petcut-uploader .prompt').textContent()).toContain('could not spot a pet');
    await page.locator('petcut-uploader button.tap').click();
    await photoImg.waitFor({ state: 'visible', timeout: 30_000 });
    await screenshot(page, 'widget-desktop-tap', { fullPage: true });
    const rendered = page.waitForRequest((r) => /\/renders\?/.test(r.url()), { timeout: 60_000 });
    const box = (await photoImg.boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.45, box.y + box.height * 0.5);
    const url = new URL((await rendered).url());
    expect(url.searchParams.get('point')).toBe('0.45,0.50');
    await cutoutShown(page, 2);
    expect((await events(page, 'point'))[0]!.detail).toEqual({ x: 0.45, y: 0.5 });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a raw HEIC is refused in the browser with a clear message, before any upload', async () => {
    const context = await desktopContext(browser);
    const { page, errors, requests } = await open(context);
    // An ISO-BMFF header with the "heic" brand, as an iPhone's file app hands over.
    const heic = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(2000)]);
    await page.locator('petcut-uploader input.file:not(.cam)').setInputFiles({ name: 'IMG_0001.HEIC', mimeType: 'image/heic', buffer: heic });
    await page.waitForFunction(() => (window as { petcutEvents: { type: string }[] }).petcutEvents.some((e) => e.type === 'error'), undefined, { timeout: 60_000 });
    expect(await page.locator('petcut-uploader .error').textContent()).toContain('HEIC');
    expect(await page.locator('petcut-uploader [role=alert]').isVisible()).toBe(true);
    expect(posts(requests, /^\/v1\/jobs$/)).toHaveLength(0);
    expect(await page.locator('petcut-uploader .error button').textContent()).toBe('Use another photo');
    await screenshot(page, 'widget-desktop-heic');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a 503 with Retry-After on the upload is retried, and the cut-out arrives', async () => {
    const context = await desktopContext(browser);
    const { page, errors, requests } = await open(context);
    let refused = 0;
    await page.route((url) => url.pathname === '/v1/jobs', async (route) => {
      if (route.request().method() === 'POST' && refused === 0) {
        refused++;
        return route.fulfill({ status: 503, headers: { 'Retry-After': '1', 'Content-Type': 'application/json' }, body: JSON.stringify({ error: { code: 'PETCUT_E_OVERLOADED', message: 'busy' } }) });
      }
      return route.continue();
    });
    await choose(page, disc);
    await expect.poll(() => page.locator('petcut-uploader [role=status]').textContent(), { timeout: 30_000 }).toMatch(/busy|ready|spot|Finding|Reading|Almost|Uploading|Waiting/);
    await cutoutShown(page);
    expect(refused).toBe(1);
    expect(posts(requests, /^\/v1\/jobs$/)).toHaveLength(2);
    // The 503 was answered by the test, so the browser logged it as a failed resource: not a widget error.
    expect(errors.filter((e) => !/503/.test(e))).toEqual([]);
    await context.close();
  });

  it('with the WebSocket blocked the widget polls the job and still shows the cut-out', async () => {
    const context = await desktopContext(browser);
    const { page, errors, requests } = await open(context);
    await page.routeWebSocket(/\/v1\/jobs\/[^/]+\/events/, (ws) => ws.close({ code: 1011, reason: 'blocked by the test' }));
    await choose(page, disc);
    await cutoutShown(page);
    expect((await events(page, 'poll')).length).toBeGreaterThan(0);
    expect(requests.some((r) => r.method() === 'GET' && /^\/v1\/jobs\/[^/]+$/.test(new URL(r.url()).pathname))).toBe(true);
    expect(errors.filter((e) => !/WebSocket/.test(e))).toEqual([]);
    await context.close();
  });

  it('a phone (390x844, touch, CPU 4x, slow 4G) reaches the cut-out as the desktop does', async () => {
    const context = await mobileContext(browser);
    const { page, errors } = await open(context);
    await throttle(page, MOBILE_THROTTLE);
    expect(await page.locator('petcut-uploader button.camera').isVisible()).toBe(true);
    await page.locator('petcut-uploader button.drop').tap();
    await choose(page, pet ?? disc);
    await cutoutShown(page);
    const target = await page.locator('petcut-uploader button.drop').boundingBox();
    expect(target!.height).toBeGreaterThanOrEqual(44);
    await page.waitForFunction(() => [...document.querySelector('petcut-uploader')!.shadowRoot!.querySelectorAll('.style img')]
      .every((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 0), undefined, { timeout: 90_000 });
    await screenshot(page, 'widget-mobile-cutout', { fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('keyboard only: Tab to the drop zone, Enter opens the chooser, arrow keys change the style', async () => {
    const context = await desktopContext(browser);
    const choosers: FileChooser[] = [];
    const { page, errors, requests } = await open(context, (p) => p.on('filechooser', (chooser) => choosers.push(chooser)));
    const focusedClass = (): Promise<string> => page.evaluate(() => {
      let el = document.activeElement;
      while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
      return `${el?.tagName.toLowerCase()}.${el?.className}`;
    });
    for (let i = 0; i < 10 && !(await focusedClass()).includes('drop'); i++) await page.keyboard.press('Tab');
    expect(await focusedClass()).toContain('drop');
    // A listener from the page's start: Playwright turns file-chooser interception on asynchronously.
    await page.keyboard.press('Enter');
    await until(() => choosers.length > 0, 'the file chooser opened by Enter', 30_000);
    await choosers[0]!.setFiles(disc);
    await cutoutShown(page);
    const radios = page.locator('petcut-uploader [role=radio]');
    await expect.poll(() => radios.count(), { timeout: 30_000 }).toBeGreaterThan(1);
    for (let i = 0; i < 20 && !(await focusedClass()).includes('style'); i++) await page.keyboard.press('Tab');
    expect(await focusedClass()).toContain('style');
    const before = await page.evaluate(() => document.querySelector('petcut-uploader')!.shadowRoot!.querySelector('[aria-checked=true]')?.getAttribute('data-effect'));
    const rendered = page.waitForResponse((r) => /\/renders\?/.test(r.url()), { timeout: 120_000 });
    await page.keyboard.press('ArrowRight');
    expect((await rendered).status()).toBe(200);
    await cutoutShown(page, 2);
    const after = await page.evaluate(() => document.querySelector('petcut-uploader')!.shadowRoot!.querySelector('[aria-checked=true]')?.getAttribute('data-effect'));
    expect(after).not.toBe(before);
    expect(await focusedClass()).toContain('style');
    const outline = await page.evaluate(() => {
      const el = document.querySelector('petcut-uploader')!.shadowRoot!.activeElement!;
      return getComputedStyle(el).outlineStyle;
    });
    expect(outline).toBe('solid');
    expect(posts(requests, /^\/v1\/jobs$/)).toHaveLength(1);
    await screenshot(page, 'widget-desktop-keyboard', { fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the theme\'s product form submits the line-item properties', async () => {
    const context = await desktopContext(browser);
    const { page, errors } = await open(context);
    let body = '';
    await page.route((url) => url.pathname === '/cart/add', async (route) => {
      body = route.request().postData() ?? '';
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>cart</title><p>added</p>' });
    });
    await choose(page, disc);
    await cutoutShown(page);
    const [cutout] = await events(page, 'cutout');
    // The one-tap rating goes to the session's feedback route; the usage events reach /metrics (sendBeacon).
    const rated = page.waitForResponse((r) => /\/feedback$/.test(new URL(r.url()).pathname), { timeout: 30_000 });
    await page.locator('petcut-uploader [data-rating=good]').click();
    expect((await rated).status()).toBe(201);
    await expect.poll(async () => (await (await fetch(`${base}/metrics`)).text()).match(/^petcut_widget_events_total\{[^}]*event="cutout_shown"[^}]*\} [1-9]/m) !== null, { timeout: 30_000 }).toBe(true);
    await page.locator('button.add').click();
    await expect.poll(() => body, { timeout: 30_000 }).toContain('properties[_petcut_session]');
    for (const key of ['image_url', 'effect', 'session', 'image_id', 'original_url']) expect(body).toContain(`name="properties[_petcut_${key}]"`);
    expect(body).toContain(String(cutout!.detail.sessionId));
    expect(body).toContain(String(cutout!.detail.imageId));
    expect(body).toContain('name="id"');
    await expect.poll(async () => (await (await fetch(`${base}/metrics`)).text()).match(/^petcut_widget_events_total\{[^}]*event="add_to_cart"[^}]*\} [1-9]/m) !== null, { timeout: 30_000 }).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('through the App Proxy: a storefront token from {proxy}/v1/auth/token, then Authorization: Bearer to the service', async () => {
    const secret = 'shpss_widget-test-secret';
    const proxied = await buildApp(engine, { env: { PETCUT_SHOPIFY_API_SECRET: secret, PETCUT_JWT_SECRET: 'widget-test-jwt-secret-of-at-least-32-characters' } });
    const service = await listen(proxied.app);
    try {
      expect((await fetch(`${service}/v1/jobs`, { method: 'POST' })).status, 'the service refuses an upload without credentials').toBe(401);
      const context = await desktopContext(browser);
      // Shopify's App Proxy, played by the test: /apps/petcut/<path> -> the service's /<path> with a signed query.
      let proxiedCalls = 0;
      await context.route((url) => url.pathname.startsWith('/apps/petcut/'), async (route) => {
        proxiedCalls++;
        const request = route.request();
        const url = new URL(request.url());
        const query: Record<string, string> = { shop: 'widget-test.myshopify.com', logged_in_customer_id: '', path_prefix: '/apps/petcut', timestamp: String(Math.floor(Date.now() / 1000)) };
        query.signature = appProxySignature(query, secret);
        const answer = await fetch(`${service}${url.pathname.slice('/apps/petcut'.length)}?${new URLSearchParams(query)}`, {
          method: request.method(), headers: { 'content-type': request.headers()['content-type'] ?? 'application/json' }, body: request.postDataBuffer() ?? undefined,
        });
        await route.fulfill({ status: answer.status, headers: { 'content-type': answer.headers.get('content-type') ?? 'application/json' }, body: Buffer.from(await answer.arrayBuffer()) });
      });
      const page = await context.newPage();
      const errors = pageErrors(page);
      const requests: Request[] = [];
      page.on('request', (request) => requests.push(request));
      await page.addInitScript(() => {
        const seen: { type: string }[] = [];
        (window as { petcutEvents: typeof seen }).petcutEvents = seen;
        document.addEventListener('petcut:cutout', () => seen.push({ type: 'cutout' }));
      });
      await page.goto(`${service}/widget/example.html`);
      await page.waitForFunction(() => customElements.get('petcut-uploader') !== undefined);
      // The block's settings: the App Proxy path for the token, the service URL for the rest (and its WebSocket).
      await page.evaluate((url) => {
        const el = document.querySelector('petcut-uploader');
        el.setAttribute('proxy-path', '/apps/petcut');
        el.setAttribute('service-url', url);
      }, service);
      await choose(page, disc);
      await cutoutShown(page);
      // One token for the page (config, effects and the upload asked at once), bound to the session the job used.
      expect(posts(requests, /^\/apps\/petcut\/v1\/auth\/token$/)).toHaveLength(1);
      expect(proxiedCalls).toBe(1);
      const job = posts(requests, /^\/v1\/jobs$/)[0]!;
      expect(await job.headerValue('authorization')).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await proxied.app.close();
    }
  });

  it('warm-up: one POST /warmup per page view on load, hover, focus and touch; none after a recent cut-out', async () => {
    const context = await mobileContext(browser);
    // Counted by the service (/metrics): a keepalive no-cors ping is not always reported to the page's request events.
    const served = async (): Promise<number> => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return [...text.matchAll(/^petcut_warmups_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const before = await served();
    const warmups = async (): Promise<number> => (await served()) - before;
    const { page, errors } = await open(context);
    await expect.poll(warmups, { timeout: 30_000 }).toBe(1);
    await page.locator('petcut-uploader button.drop').hover();
    await page.locator('petcut-uploader button.drop').focus();
    await page.locator('petcut-uploader button.drop').tap();
    await page.keyboard.press('Escape');
    await choose(page, disc);
    await cutoutShown(page);
    expect(await warmups()).toBe(1);
    // The service was warm a moment ago (a job completed): the next page view skips the ping.
    await page.reload();
    await page.waitForFunction(() => customElements.get('petcut-uploader') !== undefined);
    await page.locator('petcut-uploader button.drop').hover();
    await page.locator('petcut-uploader button.drop').focus();
    expect(await page.evaluate(() => localStorage.getItem('petcut:warm'))).not.toBeNull();
    // A ping would have been sent at load: by the time the cut-out's session shows, it would have arrived.
    await expect.poll(() => page.locator('petcut-uploader .recent button').count(), { timeout: 30_000 }).toBe(1);
    expect(await warmups()).toBe(1);
    expect(errors).toEqual([]);
    await context.close();
  });
});
