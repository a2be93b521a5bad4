import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { makeDirs } from '../../src/fsDirs.js';

/**
 * A real Chromium for the web tests: Debian's `chromium` package driven by
 * playwright-core (no browser download; `.ci/run` installs the package).
 * PETCUT_CHROMIUM names another binary. Without one the browser tests skip
 * with a message, and fail under CI=true (as ../shared does).
 */
export const CHROMIUM = process.env.PETCUT_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumPresent(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`No Chromium at ${CHROMIUM}: .ci/run installs Debian's chromium package (or set PETCUT_CHROMIUM).`);
  console.warn(`[petcut tests] no Chromium at ${CHROMIUM}: browser tests skipped (apt-get install chromium, or set PETCUT_CHROMIUM)`);
  return false;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Root in a container has no user namespace for the sandbox; /dev/shm is small there.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--disable-extensions', '--mute-audio'],
  });
}

/** A desktop window: 1280x800, mouse, no throttling. */
export function desktopContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, locale: 'en-US' });
}

/** A phone: 390x844 CSS px (iPhone 12-15), touch, a mobile user agent. */
export function mobileContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US',
    userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36',
  });
}

export interface Throttle {
  /** CPU slow-down factor (4: Lighthouse's mobile preset). */
  readonly cpu: number;
  /** Network: round trip in ms, down/up in kbit/s (Lighthouse's "slow 4G": 150 ms, 1600/750 kbit/s). */
  readonly latencyMs: number;
  readonly downKbps: number;
  readonly upKbps: number;
}

/** Lighthouse's mobile preset: 4x CPU, slow 4G. */
export const MOBILE_THROTTLE: Throttle = { cpu: 4, latencyMs: 150, downKbps: 1600, upKbps: 750 };

/** Throttles a page through the Chrome DevTools Protocol (what Lighthouse does). */
export async function throttle(page: Page, t: Throttle): Promise<CDPSession> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: t.cpu });
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: t.latencyMs, downloadThroughput: (t.downKbps * 1024) / 8, uploadThroughput: (t.upKbps * 1024) / 8,
  });
  return cdp;
}

/** Where screenshots go: out/screens/<name>.png (look at them; a few small ones are kept in docs/). */
export const SCREENS = join(process.cwd(), 'out', 'screens');

export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<string> {
  await makeDirs(SCREENS);
  const path = join(SCREENS, `${name}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? false, animations: 'disabled' });
  return path;
}

/** Collects the page's console errors and uncaught exceptions (a test asserts there are none). */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}
