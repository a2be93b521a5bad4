import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { buildApp, expectError, form, listen, OPERATOR, photo, Probe, refusedUpgrade, startEngine } from './support/app.js';

/**
 * Session scope (issue #12, item 1): the session a request acts on is one
 * value, checked against the caller's token, whichever place names it. An
 * outside test listed, filled and moved another shopper's session by naming
 * its own session in the header and the victim's in the path. Here every
 * route that names a session is called with a token for session A, the
 * victim B in the route's own place, and A (or nothing) in every other
 * place: never a 2xx, and B is untouched.
 */
const JWT_SECRET = 'scope-test-jwt-secret-at-least-32-characters';
const A = 'shopper-session-aaaa';
const B = 'victim-session-bbbb';

let engine: Engine;
let app: PetcutApp;
let image: Buffer;
let tokenA: string;
let tokenB: string;
let imageOfB: string;
let listening: Promise<string> | undefined;
/** The app on a real socket (once: sockets need one). */
const baseUrl = (): Promise<string> => (listening ??= listen(app));

async function tokenFor(sessionId: string): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/v1/auth/token', headers: OPERATOR, payload: { sessionId } });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ token: string }>().token;
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function listingOf(session: string): Promise<Array<{ id: string; tier: string }>> {
  const response = await app.inject({ method: 'GET', url: `/v1/sessions/${session}/images`, headers: bearer(session === B ? tokenB : tokenA) });
  return response.statusCode === 404 ? [] : response.json<{ images: Array<{ id: string; tier: string }> }>().images.map(({ id, tier }) => ({ id, tier }));
}

beforeAll(async () => {
  engine = await startEngine();
  ({ app } = await buildApp(engine, { env: { PETCUT_JWT_SECRET: JWT_SECRET } }));
  image = await photo(64, 48, 'jpeg');
  tokenA = await tokenFor(A);
  tokenB = await tokenFor(B);
  const stored = await app.inject({ method: 'POST', url: `/v1/sessions/${B}/images`, headers: bearer(tokenB), payload: form([{ data: image }]) });
  expect(stored.statusCode, stored.body).toBe(201);
  imageOfB = stored.json<{ id: string }>().id;
});

afterAll(async () => {
  await app?.petcut.processing.drain();
  await app?.close();
  await engine?.close();
});

type Place = 'header' | 'query' | 'path' | 'form';

interface SessionRoute {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  /** Where this route takes its session from. */
  readonly place: Place;
  /** The path, with the session when the route's place is the path. */
  readonly path: (session: string) => string;
  /** Multipart upload routes (can carry a form field); the file field's name. */
  readonly file?: string;
  readonly json?: Record<string, unknown>;
}

const ROUTES: readonly SessionRoute[] = [
  { name: 'POST /v1/cutouts', method: 'POST', place: 'header', path: () => '/v1/cutouts?size=48', file: 'image' },
  { name: 'POST /v1/jobs', method: 'POST', place: 'header', path: () => '/v1/jobs?size=48', file: 'image' },
  { name: 'POST /v1/sessions/:id/images', method: 'POST', place: 'path', path: (s) => `/v1/sessions/${s}/images`, file: 'image' },
  { name: 'GET /v1/sessions/:id/images', method: 'GET', place: 'path', path: (s) => `/v1/sessions/${s}/images` },
  { name: 'POST /v1/sessions/:id/order', method: 'POST', place: 'path', path: (s) => `/v1/sessions/${s}/order`, json: { status: 'pending' } },
  { name: 'POST /v1/sessions/:id/images/:imageId/renders', method: 'POST', place: 'path', path: (s) => `/v1/sessions/${s}/images/${imageOfB}/renders?size=48` },
  { name: 'POST /api/v2/process-with-effects', method: 'POST', place: 'query', path: () => '/api/v2/process-with-effects', file: 'file' },
  { name: 'POST /remove-background', method: 'POST', place: 'query', path: () => '/remove-background', file: 'file' },
  { name: 'POST /store-image', method: 'POST', place: 'query', path: () => '/store-image', file: 'file' },
  { name: 'GET /session/:id/images', method: 'GET', place: 'path', path: (s) => `/session/${s}/images` },
  // The widget's satisfaction rating (#19): stored with the session.
  { name: 'POST /v1/sessions/:id/feedback', method: 'POST', place: 'path', path: (s) => `/v1/sessions/${s}/feedback`, json: { rating: 'good' } },
];

/** The request with `sessions` named in their places, under token A. */
function call(route: SessionRoute, sessions: Partial<Record<Place, string>>): InjectOptions {
  const headers: Record<string, string> = { ...bearer(tokenA) };
  if (sessions.header) headers['x-session-id'] = sessions.header;
  let url = route.path(sessions.path ?? A);
  if (sessions.query) url += `${url.includes('?') ? '&' : '?'}session_id=${sessions.query}`;
  if (route.file) {
    const fields: Record<string, string> = sessions.form ? { session_id: sessions.form } : {};
    return { method: route.method, url, headers, payload: form([{ data: image, field: route.file }], fields) };
  }
  return { method: route.method, url, headers, ...(route.json ? { payload: route.json } : {}) };
}

/** Every way to put B where the route acts and A (or nothing) elsewhere. */
function attacks(route: SessionRoute): Array<{ label: string; sessions: Partial<Record<Place, string>>; code: string; status: number }> {
  const others = (['header', 'query', 'form'] as const).filter((place) => place !== route.place && (place !== 'form' || route.file));
  return [
    { label: `B in the ${route.place} alone`, sessions: { [route.place]: B }, status: 403, code: 'PETCUT_E_FORBIDDEN' },
    // A form is read only after the header, query and path passed: B there with A elsewhere is refused before the body.
    ...others.map((place) => place === 'form'
      ? { label: `B in the ${route.place}, A in the form`, sessions: { [route.place]: B, form: A }, status: 403, code: 'PETCUT_E_FORBIDDEN' }
      : { label: `B in the ${route.place}, A in the ${place}`, sessions: { [route.place]: B, [place]: A }, status: 400, code: 'PETCUT_E_SESSION_CONFLICT' }),
    // The token's own session where the route looks, the victim somewhere else: two sessions, its own 400.
    ...others.map((place) => ({ label: `A in the ${route.place}, B in the ${place}`, sessions: { [route.place]: A, [place]: B }, status: 400, code: 'PETCUT_E_SESSION_CONFLICT' })),
  ];
}

describe('a storefront token reaches only its own session, whichever place names the other one', () => {
  for (const route of ROUTES) {
    it(`${route.name}: refused in every combination, and session B is untouched`, async () => {
      const before = await listingOf(B);
      for (const attack of attacks(route)) {
        const response = await app.inject(call(route, attack.sessions));
        expect(response.statusCode, `${attack.label}: ${response.body.slice(0, 200)}`).not.toBeLessThan(400);
        const body = response.json<{ error?: { code: string }; code?: string }>();
        expect(body.error?.code ?? body.code, attack.label).toBe(attack.code);
        expect(response.statusCode, attack.label).toBe(attack.status);
      }
      expect(await listingOf(B)).toEqual(before);
    });
  }

  it('the list above holds every non-public route that acts on a session (a new one fails here until it is attacked too)', () => {
    // Storefront routes: operator routes act on any session by design, and POST /v1/auth/token mints the token
    // (signed by the shop, tested in http.security.test.ts), so neither takes a storefront token to attack with.
    const sessionRoutes = app.routeTable().filter((r) => r.security.session && r.security.access === 'storefront' && !r.websocket && r.url !== '/v1/auth/token')
      .map((r) => `${r.method} ${r.url.replace(':sessionId', ':id')}`);
    expect(sessionRoutes.length).toBeGreaterThan(5);
    expect(new Set(sessionRoutes)).toEqual(new Set(ROUTES.map((route) => route.name)));
  });

  it('a route acts on the session its token names when nothing else names one (control)', async () => {
    const listed = await app.inject({ method: 'GET', url: `/v1/sessions/${A}/images`, headers: { ...bearer(tokenA), 'x-session-id': A } });
    expect([200, 404]).toContain(listed.statusCode);
    const stored = await app.inject({ method: 'POST', url: '/store-image', headers: bearer(tokenA), payload: form([{ data: image, field: 'file' }]) });
    expect(stored.statusCode, stored.body).toBe(200);
    expect(stored.json()).toMatchObject({ session_id: A });
  });

  it('an operator key acts on any session, but still one at a time', async () => {
    const listed = await app.inject({ method: 'GET', url: `/v1/sessions/${B}/images`, headers: OPERATOR });
    expect(listed.statusCode).toBe(200);
    expectError(await app.inject({ method: 'GET', url: `/v1/sessions/${B}/images`, headers: { ...OPERATOR, 'x-session-id': A } }), 400, 'PETCUT_E_SESSION_CONFLICT');
  });

  it('public session routes (capability URLs) refuse two sessions as well', async () => {
    const fetched = await app.inject({ method: 'GET', url: `/v1/sessions/${B}/images/${imageOfB}` });
    expect(fetched.statusCode).toBe(200);
    expectError(await app.inject({ method: 'GET', url: `/v1/sessions/${B}/images/${imageOfB}`, headers: { 'x-session-id': A } }), 400, 'PETCUT_E_SESSION_CONFLICT');
    expectError(await app.inject({ method: 'GET', url: `/v1/sessions/${B}/images/${imageOfB}?session_id=${A}` }), 400, /PETCUT_E_SESSION_CONFLICT|PETCUT_E_UNKNOWN_FIELD/);
  });

  it('a malformed session id in any place is a 400 of its own, whatever the others say', async () => {
    const junk = 'x'.repeat(8000);
    for (const options of [
      { method: 'GET', url: `/v1/sessions/${A}/images`, headers: { ...bearer(tokenA), 'x-session-id': junk } },
      { method: 'GET', url: `/v1/sessions/${A}/images?session_id=../../etc`, headers: bearer(tokenA) },
      { method: 'POST', url: '/v1/cutouts', headers: { ...bearer(tokenA), 'x-session-id': `${A}, ${A}` }, payload: form([{ data: image }]) },
    ] as const) {
      expectError(await app.inject(options as InjectOptions), 400, 'PETCUT_E_INVALID_SESSION_ID');
    }
  });
});

describe('the legacy progress socket hears only requests allowed to act for its session (item 6)', () => {
  it('an unauthenticated or other-session request sends nothing to B\'s socket; B\'s own request does', async () => {
    const base = await baseUrl();
    const socket = new Probe(`${base.replace(/^http/, 'ws')}/ws/progress/${B}`);
    await socket.next((m) => m.type === 'connected');
    const refused: LightMyRequestResponse[] = [];
    refused.push(await app.inject({ method: 'POST', url: `/api/v2/process-with-effects?session_id=${B}`, payload: form([{ data: image, field: 'file' }]) }));
    refused.push(await app.inject({ method: 'POST', url: `/api/v2/process-with-effects?session_id=${B}`, headers: bearer(tokenA), payload: form([{ data: image, field: 'file' }]) }));
    refused.push(await app.inject({ method: 'POST', url: '/api/v2/process-with-effects', headers: bearer(tokenA), payload: form([{ data: image, field: 'file' }], { session_id: B }) }));
    expect(refused.map((r) => r.statusCode)).toEqual([401, 403, 403]);
    // B's own request with a bad file: its error reaches the socket (the first event B hears).
    const own = await app.inject({ method: 'POST', url: `/api/v2/process-with-effects?session_id=${B}`, headers: bearer(tokenB), payload: form([{ data: Buffer.from('not an image'), field: 'file', type: 'image/jpeg' }]) });
    expect(own.statusCode).toBe(415);
    const first = await socket.next((m) => m.type !== 'connected');
    expect(first).toMatchObject({ type: 'error', code: 'PETCUT_E_UNSUPPORTED_FORMAT' });
    expect(socket.messages.filter((m) => m.type === 'error')).toHaveLength(1);
    socket.close();
  });
});

describe('every registered route, with auth configured (a walk of the route table)', () => {
  /** Routes anyone may call: probes, documents, capability URLs, sockets. Pinned by name: a new public route must be added here on purpose. */
  const PUBLIC = new Set([
    'GET /healthz', 'GET /readyz', 'GET /health', 'GET /openapi.json', 'POST /warmup', 'GET /v1/effects', 'GET /v1/effects/:name/preview.png',
    'GET /api/v2/effects', 'GET /v1/results/:key', 'GET /v1/sessions/:sessionId/images/:imageId', 'GET /v1/jobs/:jobId', 'GET /v1/jobs/:jobId/events',
    'GET /ws/progress/:sessionId',
    // The pages and their files (#19): the demo, the API docs, the widget's files (any origin), the favicon.
    'GET /', 'GET /demo/*', 'GET /docs', 'GET /docs/*', 'GET /widget/*', 'GET /favicon.ico',
    // The widget's start-up settings and its usage beacons (#19: navigator.sendBeacon carries no credentials).
    'GET /v1/widget/config', 'POST /v1/events',
    // The operator dashboard's page and files (#19): public, its numbers (GET /v1/admin/kpis) need the operator key.
    'GET /dashboard', 'GET /dashboard/*',
  ]);

  const concrete = (url: string, session: string): string => url.replace(':sessionId', session).replace(':jobId', '00000000-0000-4000-8000-000000000000')
    .replace(':imageId', 'lz0000000-AAAAAAAAAAA').replace(':key', '0'.repeat(64)).replace(':name', 'color').replace(/:\w+/g, 'x');

  it('lists the routes it walks, and the public ones are exactly the pinned list', () => {
    const routes = app.routeTable();
    expect(routes.length).toBeGreaterThan(25);
    const open = routes.filter((r) => r.security.access === 'public').map((r) => `${r.method} ${r.url}`);
    expect(new Set(open)).toEqual(PUBLIC);
  });

  it('anonymous: storefront, operator and scraper routes 401/403 (nothing runs); webhooks need their HMAC', async () => {
    for (const route of app.routeTable()) {
      if (route.security.access === 'public' || route.websocket) continue;
      const response = await app.inject({ method: route.method as 'GET', url: concrete(route.url, B), remoteAddress: '198.51.100.7' });
      const label = `${route.method} ${route.url} (${route.security.access})`;
      const body = response.json<{ error?: { code: string }; code?: string }>();
      if (route.security.access === 'webhook') expect([401, 501], label).toContain(response.statusCode);
      else if (route.security.access === 'storefront') expect([response.statusCode, body.error?.code ?? body.code], label).toEqual([401, 'PETCUT_E_UNAUTHORIZED']);
      else expect([401, 403], label).toContain(response.statusCode);
    }
  });

  it('another session\'s token: every session route 403; operator routes 403', async () => {
    for (const route of app.routeTable()) {
      if (route.websocket || !['storefront', 'operator'].includes(route.security.access)) continue;
      if (!route.security.session && route.security.access === 'storefront') continue;
      const response = await app.inject({ method: route.method as 'GET', url: concrete(route.url, B), headers: { ...bearer(tokenA), ...(route.url.includes(':sessionId') ? {} : { 'x-session-id': B }) } });
      expect(response.statusCode, `${route.method} ${route.url}: ${response.body.slice(0, 120)}`).toBe(403);
    }
  });

  it('WebSocket routes are public capability URLs: they open without credentials (an unknown job is a plain 404)', async () => {
    const base = (await baseUrl()).replace(/^http/, 'ws');
    const sockets = app.routeTable().filter((r) => r.websocket);
    expect(sockets.map((r) => r.url).sort()).toEqual(['/v1/jobs/:jobId/events', '/ws/progress/:sessionId']);
    expect(await refusedUpgrade(`${base}${concrete('/v1/jobs/:jobId/events', B)}`)).toBe(404);
    const progress = new Probe(`${base}/ws/progress/${B}`);
    await progress.opened;
    progress.close();
  });
});
