import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { appProxySignature } from '../src/security/shopify.js';
import { buildApp, expectError, form, listen, OPERATOR, photo, startEngine } from './support/app.js';

/**
 * Access rules, CORS, security headers and server timeouts over the real
 * app. Two apps share one engine: an open one (embedded defaults) and a
 * locked one (Shopify secret, JWT key and operator key configured).
 */
const SHOPIFY_SECRET = 'hush';
const JWT_SECRET = 'storefront-token-key-for-tests-0123456789';
const SHOP = 'pet-prints.myshopify.com';

let engine: Engine;
let open: PetcutApp;
let locked: PetcutApp;
let now = new Date('2026-11-28T18:00:00Z');
const logs: string[] = [];
let image: Buffer;

beforeAll(async () => {
  engine = await startEngine();
  image = await photo(96, 72, 'jpeg');
  open = (await buildApp(engine)).app;
  locked = (await buildApp(engine, {
    clock: () => now,
    env: { PETCUT_SHOPIFY_API_SECRET: SHOPIFY_SECRET, PETCUT_SHOPIFY_API_KEY: 'app-key', PETCUT_JWT_SECRET: JWT_SECRET, PETCUT_CORS_ORIGINS: 'https://*.myshopify.com,https://perkieprints.com' },
    logger: { level: 'info', stream: new Writable({ write: (chunk: Buffer, _enc, done) => { logs.push(chunk.toString()); done(); } }) },
  })).app;
});

afterAll(async () => {
  if (open) await closeApp(open);
  if (locked) await closeApp(locked);
  await engine?.close();
});

/** A query signed the way Shopify's App Proxy signs it, at the app's clock. */
function proxied(path: string, extra: Record<string, string> = {}): string {
  const query: Record<string, string> = { ...extra, shop: SHOP, logged_in_customer_id: '', path_prefix: '/apps/petcut', timestamp: String(Math.floor(now.getTime() / 1000)) };
  query.signature = appProxySignature(query, SHOPIFY_SECRET);
  return `${path}?${new URLSearchParams(query).toString()}`;
}

async function tokenFor(sessionId: string): Promise<string> {
  const response = await locked.inject({ method: 'POST', url: proxied('/v1/auth/token'), payload: { sessionId } });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ token: string }>().token;
}

/** Background cache writes finish before the app's data directory is removed. */
async function closeApp(app: PetcutApp): Promise<void> {
  await app.petcut.processing.drain();
  await app.close();
}

const cutout = (app: PetcutApp, url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, headers: { 'content-type': 'image/jpeg', ...headers }, payload: image });

describe('embedded defaults (no auth configured)', () => {
  it('cut-outs work without credentials; operator routes are closed (403) with no key configured', async () => {
    expect((await cutout(open, '/v1/cutouts?size=64')).statusCode).toBe(200);
    const closed = (await buildApp(engine, { env: { PETCUT_OPERATOR_KEYS: '' } })).app;
    expectError(await closed.inject({ method: 'GET', url: '/v1/admin/whoami', headers: OPERATOR }), 403, 'PETCUT_E_OPERATOR_ONLY');
    expectError(await closed.inject({ method: 'POST', url: '/v1/admin/sweep' }), 403, 'PETCUT_E_OPERATOR_ONLY');
    await closeApp(closed);
  });

  it('order completion is never anonymous; "pending" is', async () => {
    const session = 'open-order-0001';
    expect((await cutout(open, '/v1/cutouts?size=64', { 'x-session-id': session })).statusCode).toBe(200);
    expectError(await open.inject({ method: 'POST', url: `/v1/sessions/${session}/order`, payload: { status: 'completed' } }), 403, 'PETCUT_E_OPERATOR_ONLY');
    expect((await open.inject({ method: 'POST', url: `/v1/sessions/${session}/order`, payload: { status: 'pending' } })).json()).toMatchObject({ tier: 'order_pending', moved: 2 });
    expect((await open.inject({ method: 'POST', url: `/v1/sessions/${session}/order`, headers: OPERATOR, payload: { status: 'completed' } })).json()).toMatchObject({ tier: 'order_completed', moved: 2 });
  });

  it('admin routes answer only an operator key', async () => {
    expect((await open.inject({ method: 'GET', url: '/v1/admin/whoami', headers: OPERATOR })).json()).toEqual({ kind: 'operator', name: 'tests' });
    expect((await open.inject({ method: 'GET', url: '/v1/admin/whoami', headers: { authorization: `Bearer ${OPERATOR['x-api-key']}` } })).statusCode).toBe(200);
    const refused = await open.inject({ method: 'POST', url: '/v1/admin/sweep' });
    expectError(refused, 401, 'PETCUT_E_UNAUTHORIZED');
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
    expectError(await open.inject({ method: 'POST', url: '/v1/admin/sweep', headers: { 'x-api-key': 'pk_guess' } }), 401, 'PETCUT_E_INVALID_TOKEN');
    expectError(await open.inject({ method: 'POST', url: '/v1/admin/sessions/open-order-0001/tier', payload: { tier: 'archived' } }), 401, 'PETCUT_E_UNAUTHORIZED');
    expect((await open.inject({ method: 'POST', url: '/v1/admin/sessions/open-order-0001/tier', headers: OPERATOR, payload: { tier: 'archived' } })).json()).toMatchObject({ moved: 2 });
    expect((await open.inject({ method: 'POST', url: '/v1/admin/sweep', headers: OPERATOR })).json()).toMatchObject({ deleted: expect.any(Number) });
  });
});

describe('auth configured', () => {
  it('storefront routes need credentials; public ones do not', async () => {
    const refused = await cutout(locked, '/v1/cutouts');
    expectError(refused, 401, 'PETCUT_E_UNAUTHORIZED');
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer realm="petcut"/);
    expectError(await locked.inject({ method: 'GET', url: '/v1/sessions/some-session-01/images' }), 401, 'PETCUT_E_UNAUTHORIZED');
    // The first version's routes keep their own error shape.
    const compat = await locked.inject({ method: 'POST', url: '/api/v2/process-with-effects' });
    expect(compat.statusCode).toBe(401);
    expect(compat.json()).toMatchObject({ success: false, code: 'PETCUT_E_UNAUTHORIZED' });
    expect((await locked.inject({ method: 'GET', url: '/v1/effects' })).statusCode).toBe(200);
    expect((await locked.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await locked.inject({ method: 'GET', url: '/openapi.json' })).statusCode).toBe(200);
  });

  it('an App Proxy request is accepted with its signed parameters removed before validation', async () => {
    const response = await cutout(locked, proxied('/v1/cutouts', { size: '48', format: 'webp' }));
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toBe('image/webp');
    expect(response.headers['x-image-width']).toBe('48');
    // Public routes take the proxy parameters without complaint too.
    expect((await locked.inject({ method: 'GET', url: proxied('/v1/effects') })).statusCode).toBe(200);
    expectError(await cutout(locked, proxied('/v1/cutouts', { size: '48' }).replace(/size=48/, 'size=64')), 401, 'PETCUT_E_INVALID_SIGNATURE');
  });

  it('a stale App Proxy signature is refused', async () => {
    const url = proxied('/v1/cutouts');
    now = new Date(now.getTime() + 301_000);
    try {
      expectError(await cutout(locked, url), 401, 'PETCUT_E_STALE_REQUEST');
    } finally {
      now = new Date(now.getTime() - 301_000);
    }
  });

  it('POST /v1/auth/token: a Shopify context gets a 1-hour token for one session', async () => {
    const response = await locked.inject({ method: 'POST', url: proxied('/v1/auth/token'), payload: {} });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ token: string; expiresIn: number; expiresAt: string; sessionId: string; shop: string }>();
    expect(body).toMatchObject({ expiresIn: 3600, shop: SHOP, tokenType: 'Bearer' });
    expect(new Date(body.expiresAt).getTime() - now.getTime()).toBe(3600_000);
    expect(body.sessionId).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    // Without a Shopify context, or with a storefront token, there is nothing to exchange.
    expectError(await locked.inject({ method: 'POST', url: '/v1/auth/token', payload: {} }), 401, 'PETCUT_E_UNAUTHORIZED');
    expectError(await locked.inject({ method: 'POST', url: '/v1/auth/token', headers: { authorization: `Bearer ${body.token}` }, payload: {} }), 403, 'PETCUT_E_FORBIDDEN');
    expectError(await open.inject({ method: 'POST', url: '/v1/auth/token', headers: OPERATOR, payload: {} }), 501, 'PETCUT_E_NOT_CONFIGURED');
  });

  it('a storefront token reaches its own session only, and expires', async () => {
    const token = await tokenFor('token-session-01');
    const bearer = { authorization: `Bearer ${token}` };
    const stored = await cutout(locked, '/v1/cutouts?size=48', bearer);
    expect(stored.statusCode, stored.body).toBe(200);
    // The token's session is used when the request names none.
    expect(stored.headers['x-session-id']).toBe('token-session-01');
    expect((await locked.inject({ method: 'GET', url: '/v1/sessions/token-session-01/images', headers: bearer })).json<{ images: unknown[] }>().images).toHaveLength(2);
    expectError(await locked.inject({ method: 'GET', url: '/v1/sessions/other-session-01/images', headers: bearer }), 403, 'PETCUT_E_FORBIDDEN');
    expectError(await cutout(locked, '/v1/cutouts', { ...bearer, 'x-session-id': 'other-session-01' }), 403, 'PETCUT_E_FORBIDDEN');
    // The first version's routes name the session in a form field: checked there too.
    const compat = await locked.inject({ method: 'POST', url: '/store-image', headers: bearer, payload: form([{ data: image, field: 'file' }], { session_id: 'other-session-01' }) });
    expect(compat.statusCode).toBe(403);
    expect(compat.json()).toMatchObject({ success: false, code: 'PETCUT_E_FORBIDDEN' });
    expect((await locked.inject({ method: 'POST', url: '/store-image', headers: bearer, payload: form([{ data: image, field: 'file' }], { session_id: 'token-session-01' }) })).statusCode).toBe(200);
    expect((await locked.inject({ method: 'POST', url: '/v1/sessions/token-session-01/order', headers: bearer, payload: { status: 'pending' } })).statusCode).toBe(200);
    expectError(await locked.inject({ method: 'POST', url: '/v1/sessions/token-session-01/order', headers: bearer, payload: { status: 'completed' } }), 403, 'PETCUT_E_OPERATOR_ONLY');
    expectError(await locked.inject({ method: 'GET', url: '/v1/admin/whoami', headers: bearer }), 403, 'PETCUT_E_OPERATOR_ONLY');
    now = new Date(now.getTime() + 3611_000);
    try {
      expectError(await cutout(locked, '/v1/cutouts', bearer), 401, 'PETCUT_E_TOKEN_EXPIRED');
    } finally {
      now = new Date(now.getTime() - 3611_000);
    }
    expectError(await cutout(locked, '/v1/cutouts', { authorization: `Bearer ${token.slice(0, -2)}xx` }), 401, 'PETCUT_E_INVALID_TOKEN');
  });

  it('credentials never reach the logs', () => {
    const text = logs.join('');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(JWT_SECRET);
    expect(text).not.toContain(OPERATOR['x-api-key']);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });
});

describe('Shopify order webhooks', () => {
  const deliver = (app: PetcutApp, topic: string, order: unknown, id: string, secret = SHOPIFY_SECRET) => {
    const body = JSON.stringify(order);
    return app.inject({
      method: 'POST', url: '/v1/webhooks/shopify', payload: body,
      headers: { 'content-type': 'application/json', 'x-shopify-topic': topic, 'x-shopify-webhook-id': id, 'x-shopify-shop-domain': SHOP, 'x-shopify-hmac-sha256': createHmac('sha256', secret).update(body).digest('base64') },
    });
  };

  it('orders/create keeps the session 30 days, orders/fulfilled 180; replays change nothing; forgeries are refused', async () => {
    const session = 'webhook-session-01';
    expect((await cutout(locked, proxied('/v1/cutouts', { size: '48' }), { 'x-session-id': session })).statusCode).toBe(200);
    const order = { id: 1001, note_attributes: [{ name: 'gift', value: 'no' }], line_items: [{ properties: [{ name: '_petcut_session', value: session }] }, { properties: [{ name: '_petcut_session', value: 'gone-session-01' }] }] };
    expect((await deliver(locked, 'orders/create', order, 'd-1')).json()).toMatchObject({ tier: 'order_pending', duplicate: false, sessions: [{ sessionId: session, moved: 2, found: true }, { sessionId: 'gone-session-01', moved: 0, found: false }] });
    expect((await deliver(locked, 'orders/create', order, 'd-1')).json()).toMatchObject({ duplicate: true });
    expect((await deliver(locked, 'orders/fulfilled', order, 'd-2')).json()).toMatchObject({ tier: 'order_completed', sessions: [{ moved: 2 }, { found: false }] });
    // A late orders/create (another delivery id) never moves images back.
    expect((await deliver(locked, 'orders/create', order, 'd-3')).json()).toMatchObject({ sessions: [{ moved: 0, found: true }, { found: false }] });
    const listed = await locked.inject({ method: 'GET', url: proxied(`/v1/sessions/${session}/images`) });
    expect(listed.json<{ images: Array<{ tier: string }> }>().images.map((i) => i.tier)).toEqual(['order_completed', 'order_completed']);
    expect((await deliver(locked, 'customers/create', {}, 'd-4')).json()).toMatchObject({ ignored: true });
    expectError(await deliver(locked, 'orders/fulfilled', order, 'd-5', 'not-the-secret'), 401, 'PETCUT_E_INVALID_SIGNATURE');
    expectError(await locked.inject({ method: 'POST', url: '/v1/webhooks/shopify', headers: { 'content-type': 'application/json', 'x-shopify-topic': 'orders/create' }, payload: '{}' }), 401, 'PETCUT_E_INVALID_SIGNATURE');
    expectError(await deliver(open, 'orders/create', order, 'd-6'), 501, 'PETCUT_E_NOT_CONFIGURED');
  });
});

describe('CORS', () => {
  const preflight = (origin: string) => locked.inject({ method: 'OPTIONS', url: '/v1/cutouts', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-session-id' } });

  it('allowed origins get a cached preflight with our headers; others are refused', async () => {
    for (const origin of ['https://pet-prints.myshopify.com', 'https://abc123.shopifypreview.com', 'https://perkieprints.com']) {
      const app = origin.includes('shopifypreview') ? open : locked;
      const response = await app.inject({ method: 'OPTIONS', url: '/v1/cutouts', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-session-id' } });
      expect(response.statusCode, origin).toBe(204);
      expect(response.headers['access-control-allow-origin']).toBe(origin);
      expect(String(response.headers['access-control-allow-headers'])).toMatch(/Authorization.*X-Session-ID/);
      expect(response.headers['access-control-max-age']).toBe('7200');
      expect(response.headers.vary).toMatch(/Origin/);
    }
    for (const origin of ['https://evil.example', 'https://myshopify.com', 'https://shop.myshopify.com.evil.example', 'http://pet-prints.myshopify.com', 'null']) {
      const response = await preflight(origin);
      expectError(response, 403, 'PETCUT_E_ORIGIN_NOT_ALLOWED');
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('a cross-origin upload from a refused origin never runs; an allowed one exposes the result headers', async () => {
    expectError(await cutout(open, '/v1/cutouts', { origin: 'https://evil.example' }), 403, 'PETCUT_E_ORIGIN_NOT_ALLOWED');
    const response = await cutout(open, '/v1/cutouts?size=48', { origin: 'https://pet-prints.myshopify.com' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBe('https://pet-prints.myshopify.com');
    const exposed = String(response.headers['access-control-expose-headers']);
    for (const name of ['X-Processing-Time-Ms', 'X-Cache', 'X-Image-Width', 'X-Foreground-Box', 'X-Session-ID', 'X-Request-ID', 'Retry-After', 'RateLimit-Remaining']) expect(exposed).toContain(name);
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });
});

describe('hardening', () => {
  it('security headers on every response, errors included; nothing internal in error bodies', async () => {
    const responses = [
      await open.inject({ method: 'GET', url: '/healthz' }),
      await open.inject({ method: 'GET', url: '/nowhere' }),
      await cutout(locked, '/v1/cutouts'),
      await open.inject({ method: 'POST', url: '/v1/cutouts', headers: { 'content-type': 'image/jpeg' }, payload: Buffer.from('not a photo') }),
    ];
    for (const response of responses) {
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['content-security-policy']).toContain("default-src 'none'");
      expect(response.headers['strict-transport-security']).toMatch(/max-age=31536000/);
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['cross-origin-resource-policy']).toBe('cross-origin');
      expect(response.headers['x-frame-options']).toBeDefined();
      expect(response.headers['x-powered-by']).toBeUndefined();
      expect(response.body).not.toMatch(/\/work\/|node_modules|\bat [\w.<>]+ \(|\.ts:\d+/);
    }
  });

  it('trusts X-Forwarded-For only through the configured hops', async () => {
    const allowed = { PETCUT_ALLOWED_IPS: '198.51.100.0/24' };
    const direct = (await buildApp(engine, { env: allowed })).app;
    const oneHop = (await buildApp(engine, { env: { ...allowed, PETCUT_TRUSTED_PROXIES: '1' } })).app;
    const from = (app: PetcutApp, xff: string) => cutout(app, '/v1/cutouts?size=48', { 'x-forwarded-for': xff });
    expectError(await from(direct, '198.51.100.7'), 401, 'PETCUT_E_UNAUTHORIZED');
    expect((await from(oneHop, '198.51.100.7')).statusCode).toBe(200);
    // A client cannot claim an allowed address by adding its own entry on the left.
    expectError(await from(oneHop, '198.51.100.7, 203.0.113.9'), 401, 'PETCUT_E_UNAUTHORIZED');
    await closeApp(direct);
    await closeApp(oneHop);
  });

  // The configured 1 s timeouts, not the 120 s defaults, must end both exchanges: past this deadline the test fails.
  it('a slow upload is cut off with 408 and other clients are served meanwhile', async () => {
    const app = (await buildApp(engine, { env: { PETCUT_REQUEST_TIMEOUT_S: '1', PETCUT_HEADERS_TIMEOUT_S: '1' } })).app;
    const base = new URL(await listen(app));
    const slow = (head: string, trickle: boolean) => new Promise<{ text: string }>((resolve) => {
      const socket = connect(Number(base.port), base.hostname);
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ text });
      });
      socket.on('error', () => undefined);
      socket.write(head);
      const timer = setInterval(() => trickle && socket.writable && socket.write('x'), 200);
    });
    const body = slow(`POST /v1/cutouts HTTP/1.1\r\nHost: ${base.host}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n`, true);
    const headers = slow(`GET /healthz HTTP/1.1\r\nHost: ${base.host}\r\nX-Slow: `, false);
    expect((await fetch(new URL('/healthz', base))).status).toBe(200);
    for (const result of await Promise.all([body, headers])) {
      expect(result.text).toMatch(/^HTTP\/1\.1 408/);
      expect(result.text).toContain('PETCUT_E_REQUEST_TIMEOUT');
    }
    await closeApp(app);
  }, 30_000);

  it('oversized headers get 431 with a code', async () => {
    const app = (await buildApp(engine, { env: { PETCUT_MAX_HEADER_KB: '4' } })).app;
    const base = new URL(await listen(app));
    const text = await new Promise<string>((resolve) => {
      const socket = connect(Number(base.port), base.hostname);
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', () => undefined);
      socket.write(`GET /healthz HTTP/1.1\r\nHost: ${base.host}\r\nX-Big: ${'a'.repeat(8192)}\r\n\r\n`);
    });
    expect(text).toMatch(/^HTTP\/1\.1 431/);
    expect(text).toContain('PETCUT_E_HEADERS_TOO_LARGE');
    await closeApp(app);
  });
});

describe('rate limits in the service', () => {
  const rate = (app: PetcutApp, url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });

  it('per client IP: 429 with Retry-After, RateLimit-* and CORS headers; health probes are never limited', async () => {
    const app = (await buildApp(engine, { env: { PETCUT_RATE_LIMIT_IP_PER_MIN: '6', PETCUT_RATE_LIMIT_BURST: '1' } })).app;
    const origin = { origin: 'https://pet-prints.myshopify.com' };
    const first = await rate(app, '/v1/effects', origin);
    expect(first.statusCode).toBe(200);
    expect(first.headers).toMatchObject({ 'ratelimit-limit': '6', 'ratelimit-remaining': '1', 'ratelimit-policy': '6;w=60;burst=1' });
    expect((await rate(app, '/v1/effects', origin)).statusCode).toBe(200);
    const refused = await rate(app, '/v1/effects', origin);
    expectError(refused, 429, 'PETCUT_E_RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['access-control-allow-origin']).toBe(origin.origin);
    // Other routes share the address's budget; the platform's probes do not.
    expectError(await cutout(app, '/v1/cutouts'), 429, 'PETCUT_E_RATE_LIMITED');
    for (let i = 0; i < 10; i++) expect((await rate(app, '/healthz')).statusCode).toBe(200);
    expect(app.rateLimiter?.stats().rejected).toEqual({ ip: 2 });
    await closeApp(app);
  });

  it('per session: uploads in one session are limited before any work, other sessions are not', async () => {
    const app = (await buildApp(engine, { env: { PETCUT_RATE_LIMIT_SESSION_PER_MIN: '1', PETCUT_RATE_LIMIT_BURST: '0', PETCUT_RATE_LIMIT_IP_PER_MIN: '0' } })).app;
    expect((await cutout(app, '/v1/cutouts?size=48', { 'x-session-id': 'limited-session-1' })).statusCode).toBe(200);
    const refused = await cutout(app, '/v1/cutouts?size=48', { 'x-session-id': 'limited-session-1' });
    expectError(refused, 429, 'PETCUT_E_RATE_LIMITED');
    expect(refused.json<{ error: { message: string } }>().error.message).toMatch(/in this session/);
    expect(refused.headers['x-processing-time-ms']).toBeUndefined();
    expect((await cutout(app, '/v1/cutouts?size=48', { 'x-session-id': 'limited-session-2' })).statusCode).toBe(200);
    // Reads of the session are not uploads.
    expect((await rate(app, '/v1/sessions/limited-session-1/images')).statusCode).toBe(200);
    await closeApp(app);
  });

  it('cold warm-ups spend a service-wide budget; a warm service answers for free', async () => {
    const app = (await buildApp(engine, { env: { PETCUT_RATE_LIMIT_WARMUP_PER_HOUR: '1' } })).app;
    // Two at once share one run, charged once (warmup.test.ts has the rest of the rules).
    const [first, second] = await Promise.all([app.inject({ method: 'POST', url: '/warmup' }), app.inject({ method: 'POST', url: '/warmup' })]);
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    expect([first.json().result, second.json().result].sort()).toEqual(['joined', 'ran']);
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'POST', url: '/warmup' })).json()).toMatchObject({ warm: true, alreadyWarm: true });
    await closeApp(app);
  });

  it('through the App Proxy each shopper has an own budget; unsigned requests cannot pick their address', async () => {
    const app = (await buildApp(engine, {
      clock: () => now,
      env: { PETCUT_SHOPIFY_API_SECRET: SHOPIFY_SECRET, PETCUT_TRUSTED_PROXIES: '1', PETCUT_RATE_LIMIT_IP_PER_MIN: '1', PETCUT_RATE_LIMIT_BURST: '0' },
    })).app;
    const via = (shopper: string, signed: boolean) => rate(app, signed ? proxied('/v1/effects') : '/v1/effects', { 'x-forwarded-for': `${shopper}, 23.227.38.65` });
    expect((await via('198.51.100.1', true)).statusCode).toBe(200);
    expect((await via('198.51.100.2', true)).statusCode).toBe(200);
    expect((await via('198.51.100.1', true)).statusCode).toBe(429);
    // Unsigned: the address is Shopify's (the one trusted hop), whatever the client wrote on the left.
    expect((await via('198.51.100.3', false)).statusCode).toBe(200);
    expect((await via('198.51.100.4', false)).statusCode).toBe(429);
    await closeApp(app);
  });

  // Issue #12, item 3: one captured signature replayed with a new X-Forwarded-For each time got 40/40 through.
  it.each(['0', '1'])('with PETCUT_TRUSTED_PROXIES=%s, replaying one signed query with a fresh X-Forwarded-For each time buys no fresh budgets', async (trusted) => {
    const app = (await buildApp(engine, {
      clock: () => now,
      env: { PETCUT_SHOPIFY_API_SECRET: SHOPIFY_SECRET, PETCUT_TRUSTED_PROXIES: trusted, PETCUT_RATE_LIMIT_IP_PER_MIN: '100', PETCUT_RATE_LIMIT_BURST: '10', PETCUT_APP_PROXY_MAX_USES: '5' },
    })).app;
    const url = proxied('/v1/effects', { replayed: 'yes' });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await rate(app, url, { 'x-forwarded-for': trusted === '0' ? `203.0.113.${i + 1}` : `203.0.113.${i + 1}, 23.227.38.65` })).statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.slice(5).every((s) => s === 429)).toBe(true);
    const refused = await rate(app, url, { 'x-forwarded-for': '203.0.113.99' });
    expect(refused.json<{ error: { message: string } }>().error.message).toMatch(/used too many times/);
    expect(refused.headers['retry-after']).toBeDefined();
    // A fresh signature (Shopify signs each proxied request anew) is not held back by the replayed one.
    expect((await rate(app, proxied('/v1/effects', { replayed: 'no' }), { 'x-forwarded-for': '203.0.113.1' })).statusCode).toBe(200);
    await closeApp(app);
  });

  it('uploads that name no session are charged to their address under the session rule', async () => {
    const app = (await buildApp(engine, { env: { PETCUT_RATE_LIMIT_SESSION_PER_MIN: '1', PETCUT_RATE_LIMIT_BURST: '0', PETCUT_RATE_LIMIT_IP_PER_MIN: '0' } })).app;
    const first = await cutout(app, '/v1/cutouts?size=48', {});
    expect(first.statusCode, first.body).toBe(200);
    expectError(await cutout(app, '/v1/cutouts?size=48', {}), 429, 'PETCUT_E_RATE_LIMITED');
    // Another address has its own budget; a named session its own.
    expect((await app.inject({ method: 'POST', url: '/v1/cutouts?size=48', remoteAddress: '198.51.100.20', payload: form([{ data: image }]) })).statusCode).toBe(200);
    expect((await cutout(app, '/v1/cutouts?size=48', { 'x-session-id': 'named-session-1' })).statusCode).toBe(200);
    await closeApp(app);
  });
});
