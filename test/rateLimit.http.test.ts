import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyRequest, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installErrorHandling } from '../src/http/errors.js';
import { chargeWarmup, installRateLimits } from '../src/http/rateLimits.js';
import { installHeaders } from '../src/http/security.js';
import { loadSecurityConfig } from '../src/security/config.js';
import { createRateLimiter } from '../src/security/rateLimit/limiter.js';
import type { RateLimitConfig, RateLimiter } from '../src/security/rateLimit/limiter.js';
import { publicRoute, storefront } from '../src/security/routePolicy.js';
import { sharedRedis } from './support/redis.js';

const silentLog = { info: () => undefined, warn: () => undefined };
/**
 * PETCUT_TRUSTED_PROXIES=<n> as app.ts passes it to Fastify: the peer and the next n-1
 * hops are proxies (Fastify's plain number form does not read X-Forwarded-For here).
 */
const hops = (count: number) => (_address: string, hop: number): boolean => hop < count;
let nextPeer = 0;
/** A new client address per call, so the IP budget never gets in the way of the rule under test. */
const newPeer = (): string => `192.0.2.${(nextPeer++ % 250) + 1}`;
const BASE: RateLimitConfig = { ipPerMin: 60, sessionPerMin: 60, burst: 2, warmupPerHour: 3, maxKeys: 1000, redisTimeoutMs: 1000 };

/** A small app shaped like petcut's: error handler, rate limits on the root, routes in a plugin registered after. */
async function buildApp(trustProxy: boolean | string[] | ((address: string, hop: number) => boolean), config: Partial<RateLimitConfig> = {}, withHeaders = false): Promise<{ app: FastifyInstance; limiter: RateLimiter }> {
  const app = Fastify({ trustProxy, logger: false });
  installErrorHandling(app, 5);
  if (withHeaders) await installHeaders(app, loadSecurityConfig({}), []);
  const limiter = createRateLimiter({ ...BASE, ...config }, { log: silentLog });
  // No access hook in this small app: the session is read where petcut's access hook reads it (its checks have their own tests).
  const sessionOf = (request: FastifyRequest): string | undefined => {
    const named = request.headers['x-session-id'] ?? (request.query as { session_id?: string }).session_id ?? (request.params as { sessionId?: string }).sessionId;
    return typeof named === 'string' ? named : undefined;
  };
  installRateLimits(app, { limiter, sessionOf });
  await app.register(async (scope) => {
    scope.get('/read', { config: storefront('read') }, async () => ({ ok: true }));
    scope.post('/upload', { config: storefront('upload') }, async () => ({ ok: true }));
    scope.get('/sessions/:sessionId/upload', { config: storefront('upload') }, async () => ({ ok: true }));
    scope.get('/healthz', { config: publicRoute('none') }, async () => ({ ok: true }));
    scope.post('/warmup', { config: publicRoute('warmup') }, async (request, reply) => {
      await chargeWarmup(request, reply);
      return { warming: true };
    });
  });
  app.addHook('onClose', () => limiter.close());
  return { app, limiter };
}

async function statuses(app: FastifyInstance, options: InjectOptions, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await app.inject(options)).statusCode);
  return out;
}

const headersOf = (response: LightMyRequestResponse): Record<string, unknown> => ({
  limit: response.headers['ratelimit-limit'], remaining: response.headers['ratelimit-remaining'],
  reset: response.headers['ratelimit-reset'], policy: response.headers['ratelimit-policy'], retryAfter: response.headers['retry-after'],
});

describe('rate-limit hooks', () => {
  it('sends RateLimit-* headers, then a 429 JSON error with Retry-After', async () => {
    const { app, limiter } = await buildApp(false);
    const responses: LightMyRequestResponse[] = [];
    for (let i = 0; i < 4; i++) responses.push(await app.inject({ method: 'GET', url: '/read' }));
    expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200, 429]);
    expect(headersOf(responses[0]!)).toEqual({ limit: '60', remaining: '2', reset: '1', policy: '60;w=60;burst=2', retryAfter: undefined });
    expect(headersOf(responses[2]!)).toMatchObject({ remaining: '0', reset: '3' });
    const refused = responses[3]!;
    expect(headersOf(refused)).toEqual({ limit: '60', remaining: '0', reset: '3', policy: '60;w=60;burst=2', retryAfter: '1' });
    expect(refused.headers['content-type']).toMatch(/application\/json/);
    const body = refused.json<{ error: { code: string; message: string }; requestId: string }>();
    expect(body.error.code).toBe('PETCUT_E_RATE_LIMITED');
    expect(body.error.message).toMatch(/from this address: 60 per minute \(bursts of 3\)\. Retry in 1 s/);
    expect(body.requestId).toBeTruthy();
    expect(limiter.stats().rejected).toEqual({ ip: 1 });
    await app.close();
  });

  it('limits unknown routes (404s) by IP, never the \'none\' routes, and never CORS preflights', async () => {
    const { app } = await buildApp(false);
    expect(await statuses(app, { method: 'GET', url: '/healthz' }, 20)).toEqual(Array(20).fill(200));
    expect((await app.inject({ method: 'GET', url: '/healthz' })).headers['ratelimit-limit']).toBeUndefined();
    await statuses(app, { method: 'OPTIONS', url: '/read' }, 10);
    expect(await statuses(app, { method: 'GET', url: '/nowhere' }, 4)).toEqual([404, 404, 404, 429]);
    await app.close();
  });

  it('with one trusted hop, keys on the address the proxy saw: spoofed entries on the left change nothing', async () => {
    const { app } = await buildApp(hops(1));
    const from = (xff: string): InjectOptions => ({ method: 'GET', url: '/read', headers: { 'x-forwarded-for': xff } });
    expect(await statuses(app, from('9.9.9.9, 203.0.113.7'), 2)).toEqual([200, 200]);
    expect(await statuses(app, from('8.8.8.8, 203.0.113.7'), 2)).toEqual([200, 429]);
    expect(await statuses(app, from('203.0.113.7'), 1)).toEqual([429]);
    expect(await statuses(app, from('203.0.113.8'), 3)).toEqual([200, 200, 200]);
    await app.close();
  });

  it('with no trusted proxy, ignores X-Forwarded-For', async () => {
    const { app } = await buildApp(false);
    const results: number[] = [];
    for (let i = 0; i < 4; i++) results.push(...await statuses(app, { method: 'GET', url: '/read', headers: { 'x-forwarded-for': `198.51.100.${i}` } }, 1));
    expect(results).toEqual([200, 200, 200, 429]);
    await app.close();
  });

  it('with a CIDR list, skips the listed proxies only', async () => {
    const { app } = await buildApp(['127.0.0.1/32', '10.0.0.0/8']);
    const from = (xff: string, remoteAddress = '127.0.0.1'): InjectOptions => ({ method: 'GET', url: '/read', remoteAddress, headers: { 'x-forwarded-for': xff } });
    expect(await statuses(app, from('1.1.1.1, 198.51.100.9, 10.1.2.3'), 2)).toEqual([200, 200]);
    expect(await statuses(app, from('2.2.2.2, 198.51.100.9, 10.9.9.9'), 2)).toEqual([200, 429]);
    expect(await statuses(app, from('198.51.100.10, 10.1.2.3'), 1)).toEqual([200]);
    // An untrusted peer's header is ignored: it is keyed on the peer itself.
    expect(await statuses(app, from('198.51.100.11', '192.0.2.1'), 3)).toEqual([200, 200, 200]);
    expect(await statuses(app, from('198.51.100.12', '192.0.2.1'), 1)).toEqual([429]);
    await app.close();
  });

  it('charges uploads to their session too, reporting the tighter budget', async () => {
    const { app, limiter } = await buildApp(false, { ipPerMin: 600, sessionPerMin: 60 });
    const upload = (session: string): InjectOptions => ({ method: 'POST', url: '/upload', remoteAddress: newPeer(), headers: { 'x-session-id': session } });
    // IP and session both have 2 left: the session's takes longer to come back (1 s vs 0.1 s).
    const first = await app.inject(upload('s1'));
    expect(headersOf(first)).toMatchObject({ limit: '60', remaining: '2', policy: '60;w=60;burst=2' });
    const second = await app.inject({ ...upload('s9'), remoteAddress: '192.0.2.254' });
    await app.inject({ ...upload('s10'), remoteAddress: '192.0.2.254' });
    // Here the IP has 0 left and the session 1: the IP's budget is reported.
    const third = await app.inject({ ...upload('s9'), remoteAddress: '192.0.2.254' });
    expect(headersOf(second)).toMatchObject({ limit: '60', remaining: '2' });
    expect(headersOf(third)).toMatchObject({ limit: '600', remaining: '0', policy: '600;w=60;burst=2' });
    expect(await statuses(app, upload('s1'), 3)).toEqual([200, 200, 429]);
    const refused = await app.inject(upload('s1'));
    expect(refused.json<{ error: { message: string } }>().error.message).toMatch(/in this session/);
    expect(refused.headers['retry-after']).toBe('1');
    expect(await statuses(app, upload('s2'), 1)).toEqual([200]);
    const viaQuery: number[] = [];
    const viaParams: number[] = [];
    const reads: number[] = [];
    const anonymous: number[] = [];
    for (let i = 0; i < 4; i++) {
      viaQuery.push((await app.inject({ method: 'POST', url: '/upload?session_id=s3', remoteAddress: newPeer() })).statusCode);
      viaParams.push((await app.inject({ method: 'GET', url: '/sessions/s4/upload', remoteAddress: newPeer() })).statusCode);
      // Reads are not charged to the session; uploads without a session are charged to their address under the session rule.
      reads.push((await app.inject({ method: 'GET', url: '/read', remoteAddress: newPeer(), headers: { 'x-session-id': 's1' } })).statusCode);
      anonymous.push((await app.inject({ method: 'POST', url: '/upload', remoteAddress: newPeer() })).statusCode);
    }
    expect(viaQuery).toEqual([200, 200, 200, 429]);
    expect(viaParams).toEqual([200, 200, 200, 429]);
    expect(reads).toEqual([200, 200, 200, 200]);
    expect(anonymous).toEqual([200, 200, 200, 200]);
    expect(limiter.stats().rejected).toEqual({ session: 4 });
    await app.close();
  });

  it('gives warm-ups one small service-wide budget', async () => {
    const { app, limiter } = await buildApp(hops(1));
    const warmup = (ip: string): InjectOptions => ({ method: 'POST', url: '/warmup', headers: { 'x-forwarded-for': ip } });
    // A budget of 3 an hour: 2 at once (from any address), the third an hour later.
    expect(await statuses(app, warmup('203.0.113.1'), 1)).toEqual([200]);
    expect(await statuses(app, warmup('203.0.113.2'), 1)).toEqual([200]);
    const refused = await app.inject(warmup('203.0.113.3'));
    expect(refused.statusCode).toBe(429);
    expect(headersOf(refused)).toMatchObject({ limit: '1', remaining: '0', policy: '1;w=3600;burst=1', retryAfter: '3600' });
    expect(refused.json<{ error: { message: string } }>().error.message).toMatch(/warm-ups of the service: at most 3 per hour/);
    expect(limiter.stats().rejected).toEqual({ warmup: 1 });
    await app.close();
  });


  it('keeps the CORS headers on a 429 when installed after installHeaders, as app.ts does', async () => {
    const { app } = await buildApp(false, {}, true);
    const origin = 'https://pets.myshopify.com';
    expect(await statuses(app, { method: 'OPTIONS', url: '/read', headers: { origin, 'access-control-request-method': 'GET' } }, 5)).toEqual(Array(5).fill(204));
    const responses: LightMyRequestResponse[] = [];
    for (let i = 0; i < 4; i++) responses.push(await app.inject({ method: 'GET', url: '/read', headers: { origin } }));
    const refused = responses[3]!;
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['access-control-allow-origin']).toBe(origin);
    expect(String(refused.headers['access-control-expose-headers'])).toMatch(/Retry-After.*RateLimit-Remaining/);
    await app.close();
  });
});

describe('two app instances on one Redis', () => {
  // Undefined in afterAll when beforeAll failed (no redis-server): that failure is the one to report.
  let redis: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    redis = await sharedRedis();
  });
  afterAll(() => (redis as typeof redis | undefined)?.close());

  it('share one budget per client IP', async () => {
    const ip = `2001:db8::${randomUUID().slice(0, 4)}:${randomUUID().slice(0, 4)}`;
    const [a, b] = await Promise.all([buildApp(hops(1), { redisUrl: redis.url }), buildApp(hops(1), { redisUrl: redis.url })]);
    expect(a.limiter.kind).toBe('redis+memory');
    const results: number[] = [];
    for (let i = 0; i < 6; i++) results.push(...await statuses((i % 2 === 0 ? a : b).app, { method: 'GET', url: '/read', headers: { 'x-forwarded-for': ip } }, 1));
    expect(results).toEqual([200, 200, 200, 429, 429, 429]);
    expect(a.limiter.stats()).toMatchObject({ backend: 'redis', fallbackDecisions: 0 });
    await Promise.all([a.app.close(), b.app.close()]);
  });
});
