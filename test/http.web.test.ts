import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { DEMO_CSP, DOCS_CSP, WIDGET_PAGE_CSP } from '../src/http/routes/web.js';
import { MODULES_ROOT, WEB_ROOT } from '../src/http/webFiles.js';
import { buildApp, expectError, listen } from './support/app.js';
import { rawRequest, statusOf } from './support/rawHttp.js';

/**
 * The pages and browser files (#19): types, ETag/304, gzip, each page's own
 * CSP (not helmet's API policy), the widget's files for any origin (and only
 * those), no path reaching another file, HEAD; and CORS for a developer's
 * loopback page with the embedded defaults only.
 */

// Serving files needs no model: the app answers while the engine "loads" (forever, here).
const engine = new Promise<Engine>(() => undefined);
let app: PetcutApp;
let base: string;

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });
const file = (...parts: string[]): Buffer => readFileSync(join(WEB_ROOT, ...parts));

beforeAll(async () => {
  ({ app } = await buildApp(engine));
  base = await listen(app);
});

afterAll(async () => {
  await app?.close();
});

describe('the demo page and its files', () => {
  it('/ is the demo page, with its own strict CSP (not the API\'s default-src \'none\'), no inline script', async () => {
    const page = await get('/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(DEMO_CSP);
    expect(DEMO_CSP).toMatch(/script-src|default-src 'self'/);
    expect(DEMO_CSP).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).toBe(file('demo', 'index.html').toString('utf8'));
    // Every <script> has a src (the CSP would refuse inline ones anyway); no inline handlers or styles.
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/\son[a-z]+=|\sstyle=/);
    expect(page.body).toContain('href="/docs"');
    expect(page.body).toContain('href="/widget/example.html"');
  });

  it('its script, stylesheet and icon, with their types; a file\'s ETag answers 304', async () => {
    for (const [url, type, name] of [['/demo/demo.js', 'text/javascript; charset=utf-8', 'demo.js'], ['/demo/demo.css', 'text/css; charset=utf-8', 'demo.css'], ['/demo/icon.svg', 'image/svg+xml', 'icon.svg']] as const) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type'], url).toBe(type);
      expect(response.rawPayload.equals(file('demo', name)), url).toBe(true);
      const etag = String(response.headers.etag);
      expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
      expect(response.headers['cache-control']).toBe('no-cache');
      const again = await get(url, { 'if-none-match': etag });
      expect(again.statusCode, url).toBe(304);
      expect(again.rawPayload.length).toBe(0);
      expect((await get(url, { 'if-none-match': '"something-else"' })).statusCode).toBe(200);
      // A list of tags, one of them ours.
      expect((await get(url, { 'if-none-match': `"x", ${etag}` })).statusCode).toBe(304);
    }
  });

  it('gzip when accepted (the same bytes once unzipped), plain otherwise; Vary: Accept-Encoding', async () => {
    const zipped = await get('/demo/demo.js', { 'accept-encoding': 'gzip, deflate, br' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toMatch(/Accept-Encoding/);
    expect(gunzipSync(zipped.rawPayload).equals(file('demo', 'demo.js'))).toBe(true);
    expect(zipped.rawPayload.length).toBeLessThan(file('demo', 'demo.js').length / 2);
    const plain = await get('/demo/demo.js', { 'accept-encoding': 'identity' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.rawPayload.equals(file('demo', 'demo.js'))).toBe(true);
  });

  it('HEAD answers the headers without a body', async () => {
    const head = await app.inject({ method: 'HEAD', url: '/' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(head.headers['content-security-policy']).toBe(DEMO_CSP);
    expect(head.rawPayload.length).toBe(0);
    expect((await app.inject({ method: 'HEAD', url: '/widget/petcut-uploader.js' })).statusCode).toBe(200);
  });

  it('/favicon.ico: 204, cached for a day (no 404 in the logs)', async () => {
    const icon = await get('/favicon.ico');
    expect(icon.statusCode).toBe(204);
    expect(icon.headers['cache-control']).toBe('public, max-age=86400');
  });
});

describe('rate limits', () => {
  it('page files are not charged to the caller\'s rate (a page load is a dozen files at once); the API calls are', async () => {
    const { app: limited } = await buildApp(engine, { env: { PETCUT_RATE_LIMIT_IP_PER_MIN: '100', PETCUT_RATE_LIMIT_BURST: '10' } });
    try {
      const files = ['/', '/demo/demo.js', '/demo/demo.css', '/demo/icon.svg', '/docs', '/docs/docs.js', '/docs/vendor/swagger-ui.css', '/widget/petcut-uploader.js', '/favicon.ico'];
      for (let round = 0; round < 3; round++) {
        for (const url of files) expect((await limited.inject({ method: 'GET', url })).statusCode, url).toBeLessThan(300);
      }
      const api = await Promise.all(Array.from({ length: 14 }, () => limited.inject({ method: 'GET', url: '/v1/effects' })));
      expect(api.filter((r) => r.statusCode === 429).length).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});

describe('/docs: Swagger UI from the service itself', () => {
  it('the page, with its own CSP (Swagger UI needs no unsafe-inline or eval: web.demo.test.ts sees no violation)', async () => {
    const page = await get('/docs');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toBe(DOCS_CSP);
    expect(DOCS_CSP).toMatch(/style-src 'self';/);
    expect(DOCS_CSP).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.body).toContain('/docs/vendor/swagger-ui-bundle.js');
    expect(page.body).toContain('/docs/docs.js');
    expect(page.body).not.toMatch(/https?:\/\/(?!localhost)[a-z]/i);
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('the vendored files are swagger-ui-dist\'s own, cached a day; its petstore initializer and index are not served', async () => {
    for (const name of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
      const response = await get(`/docs/vendor/${name}`);
      expect(response.statusCode, name).toBe(200);
      expect(response.rawPayload.equals(readFileSync(join(MODULES_ROOT, 'swagger-ui-dist', name))), name).toBe(true);
      expect(response.headers['cache-control']).toBe('public, max-age=86400');
    }
    for (const name of ['swagger-initializer.js', 'index.html', 'swagger-ui-bundle.js.map', 'oauth2-redirect.html', 'package.json']) {
      expectError(await get(`/docs/vendor/${name}`), 404, 'PETCUT_E_NOT_FOUND');
    }
    const init = await get('/docs/docs.js');
    expect(init.statusCode).toBe(200);
    expect(init.body).toContain("url: '/openapi.json'");
    expect(init.body).not.toMatch(/petstore\.swagger\.io|https?:\/\//);
  });
});

describe('/widget/: the storefront widget\'s files, for any origin', () => {
  it('served to a shop\'s page on any origin (ACAO *), cached 5 minutes; the API still refuses that origin', async () => {
    const origin = { origin: 'https://some-shop.example' };
    const script = await get('/widget/petcut-uploader.js', origin);
    expect(script.statusCode, script.body.slice(0, 200)).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['access-control-allow-origin']).toBe('*');
    expect(script.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(script.headers['cache-control']).toBe('public, max-age=300');
    expect(script.rawPayload.equals(file('widget', 'petcut-uploader.js'))).toBe(true);
    // Only the widget's files: the same origin on the API is refused, on every method.
    expectError(await get('/v1/effects', origin), 403, 'PETCUT_E_ORIGIN_NOT_ALLOWED');
    expectError(await get('/', origin), 403, 'PETCUT_E_ORIGIN_NOT_ALLOWED');
    expectError(await app.inject({ method: 'POST', url: '/widget/petcut-uploader.js', headers: origin }), 403, 'PETCUT_E_ORIGIN_NOT_ALLOWED');
    const preflight = await app.inject({ method: 'OPTIONS', url: '/widget/petcut-uploader.js', headers: { ...origin, 'access-control-request-method': 'POST' } });
    expect(preflight.statusCode).toBe(403);
    // Without an Origin (a classic <script>, curl) too.
    expect((await get('/widget/petcut-uploader.js')).headers['access-control-allow-origin']).toBe('*');
  });

  it('every file under web/widget/ is served; the example page has its page CSP', async () => {
    const page = await get('/widget/example.html');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(WIDGET_PAGE_CSP);
    expect(WIDGET_PAGE_CSP).not.toMatch(/script-src[^;]*unsafe|unsafe-eval/);
    const names = readdirNames('widget');
    expect(names).toContain('petcut-uploader.js');
    for (const name of names) expect((await get(`/widget/${name}`)).statusCode, name).toBe(200);
    // A query (a cache-busting version) does not change which file answers.
    expect((await get('/widget/petcut-uploader.js?v=2')).rawPayload.equals(file('widget', 'petcut-uploader.js'))).toBe(true);
  });
});

describe('no request path reaches another file', () => {
  const ATTEMPTS = [
    '/widget/../package.json', '/widget/%2e%2e/package.json', '/widget/..%2fpackage.json', '/widget/%2e%2e%2f%2e%2e%2fpackage.json',
    '/widget/..%5c..%5cpackage.json', '/demo/..%2f..%2fsrc%2fconfig.ts', '/docs/vendor/../../package.json', '/docs/vendor/%2e%2e%2fswagger-ui-dist%2fpackage.json',
    '/widget/petcut-uploader.js%00.html', '/widget/%00', '/widget//etc/passwd', '/widget/%2fetc%2fpasswd', '/demo/demo.js/', '/demo/DEMO.JS',
    '/widget/.hidden', '/demo/', '/docs/', '/widget/', `/demo/${'a'.repeat(5000)}.js`, `/widget/${'../'.repeat(300)}etc/passwd`,
  ];

  it('traversal, encoded slashes, NUL and over-long paths: 404 (or 400/414), in the API\'s JSON, in-process', async () => {
    for (const url of ATTEMPTS) {
      const response = await get(url);
      expect([400, 404, 414], url).toContain(response.statusCode);
      expect(response.headers['content-type'], url).toMatch(/^application\/json/);
      const body = response.json<{ error: { code: string } }>();
      expect(body.error.code, url).toMatch(/^PETCUT_E_(NOT_FOUND|BAD_REQUEST|URL_TOO_LONG|INVALID_OPTION)/);
      expect(response.body, url).not.toMatch(/"name":\s*"petcut"|PETCUT_CORS_ORIGINS|root:/);
    }
  });

  it('the same over a real socket (nothing normalises the path on the way)', async () => {
    for (const path of ATTEMPTS.slice(0, 14)) {
      const exchange = rawRequest(base, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      await exchange.closed;
      const answer = exchange.received();
      expect([400, 404], path).toContain(statusOf(answer));
      expect(answer, path).not.toMatch(/"name":\s*"petcut"|"devDependencies"|root:x:0/);
    }
  });
});

describe('CORS for a developer\'s loopback page', () => {
  const preflight = (target: PetcutApp, origin: string) => target.inject({
    method: 'OPTIONS', url: '/v1/cutouts', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-session-id' },
  });

  it('with the embedded defaults (PETCUT_CORS_ORIGINS unset): http(s)://localhost, 127.0.0.1 and [::1] on any port are allowed', async () => {
    for (const origin of ['http://localhost:5173', 'https://localhost:8443', 'http://127.0.0.1:8080', 'http://[::1]:3000', 'http://localhost']) {
      const pre = await preflight(app, origin);
      expect(pre.statusCode, origin).toBe(204);
      expect(pre.headers['access-control-allow-origin'], origin).toBe(origin);
      expect(String(pre.headers['access-control-allow-methods'])).toContain('POST');
      const simple = await get('/v1/effects', { origin });
      expect(simple.statusCode, origin).toBe(200);
      expect(simple.headers['access-control-allow-origin'], origin).toBe(origin);
    }
    // The shops still; look-alikes never.
    expect((await preflight(app, 'https://pet-prints.myshopify.com')).statusCode).toBe(204);
    for (const origin of ['http://localhost.evil.example', 'http://127.0.0.1.evil.example:80', 'http://evil.example:5173', 'http://localhost:5173.evil.example', 'null', 'http://192.168.1.10:5173']) {
      expectError(await get('/v1/effects', { origin }), 403, 'PETCUT_E_ORIGIN_NOT_ALLOWED');
      expect((await preflight(app, origin)).statusCode, origin).toBe(403);
    }
  });

  it('with PETCUT_CORS_ORIGINS set: its list only (a loopback page is refused)', async () => {
    const { app: strict } = await buildApp(engine, { env: { PETCUT_CORS_ORIGINS: 'https://shop.example' } });
    try {
      expect(strict.petcut.config.security.cors.loopback).toBe(false);
      expect((await preflight(strict, 'http://localhost:5173')).statusCode).toBe(403);
      expectError(await strict.inject({ method: 'GET', url: '/v1/effects', headers: { origin: 'http://localhost:5173' } }), 403, 'PETCUT_E_ORIGIN_NOT_ALLOWED');
      const shop = await preflight(strict, 'https://shop.example');
      expect(shop.statusCode).toBe(204);
      expect(shop.headers['access-control-allow-origin']).toBe('https://shop.example');
      // The widget's files are still any origin's.
      expect((await strict.inject({ method: 'GET', url: '/widget/petcut-uploader.js', headers: { origin: 'http://localhost:5173' } })).headers['access-control-allow-origin']).toBe('*');
    } finally {
      await strict.close();
    }
    expect(app.petcut.config.security.cors.loopback).toBe(true);
  });
});

function readdirNames(folder: string): string[] {
  return readdirSync(join(WEB_ROOT, folder)).filter((name) => !name.startsWith('.') && statSync(join(WEB_ROOT, folder, name)).isFile());
}
