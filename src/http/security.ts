import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, PetcutError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Authenticator, Principal } from '../security/authenticate.js';
import type { SecurityConfig } from '../security/config.js';
import { securityOf } from '../security/routePolicy.js';
import { verifyAppProxy } from '../security/shopify.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, once the auth hook has run (undefined: anonymous). */
    principal?: Principal;
  }
}

/** Headers the storefront reads from our responses; CORS must expose them or the browser hides them. */
export const EXPOSED_HEADERS = ['X-Request-ID', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy', 'X-Tier', 'Location'];

const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Accept', 'X-API-Key', 'X-Session-ID', 'X-Request-ID', 'traceparent', 'tracestate'];

/** Security headers on every response, CORS from the allow-list. */
export async function installHeaders(app: FastifyInstance, config: SecurityConfig, resultHeaders: readonly string[]): Promise<void> {
  await app.register(fastifyHelmet, {
    // An API: nothing to render, nothing to frame. Pages served later set their own policy.
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] } },
    // Cut-outs are shown in <img> tags on the shop's pages, another origin.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  });
  const allowed = originMatcher(config.cors.origins);
  await app.register(fastifyCors, {
    delegator: (request: FastifyRequest, callback: (error: Error | null, options?: Record<string, unknown>) => void) => {
      const origin = request.headers.origin;
      // No Origin: not a browser's cross-origin call (curl, server-to-server, <img>). Same host: our own pages.
      if (origin === undefined || allowed(origin) || sameHost(origin, request.host)) {
        callback(null, {
          origin: origin !== undefined, credentials: config.cors.credentials, maxAge: config.cors.maxAgeS,
          methods: ['GET', 'HEAD', 'POST', 'OPTIONS'], allowedHeaders: ALLOWED_HEADERS, exposedHeaders: [...new Set([...resultHeaders, ...EXPOSED_HEADERS])],
        });
        return;
      }
      // Refused outright (not just left without CORS headers): a cross-site form post would otherwise still run.
      callback(new PetcutError('PETCUT_E_ORIGIN_NOT_ALLOWED', `Origin ${origin.slice(0, 100)} is not allowed to call the API.`));
    },
  });
}

/** `https://*.myshopify.com` matches any subdomain (not the bare domain); other entries match exactly. */
export function originMatcher(patterns: readonly string[]): (origin: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes('*')));
  const wildcards = patterns.filter((p) => p.includes('*')).map((p) => {
    const [scheme, host] = p.split('://*.') as [string, string];
    return { prefix: `${scheme}://`, suffix: `.${host}` };
  });
  return (origin) => {
    const lower = origin.toLowerCase();
    if (exact.has(lower)) return true;
    return wildcards.some(({ prefix, suffix }) => lower.startsWith(prefix) && lower.endsWith(suffix)
      && /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(lower.slice(prefix.length, -suffix.length)));
  };
}

function sameHost(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * The access rule of each route (src/security/routePolicy.ts): public routes
 * skip credentials, storefront routes need them once auth is configured,
 * operator routes always need an operator key, and a storefront token only
 * reaches its own session.
 */
export function installAccessControl(app: FastifyInstance, config: SecurityConfig, authenticator: Authenticator): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') return;
    const { access } = securityOf(request.routeOptions.config);
    const query = request.query as Record<string, string | string[] | undefined>;
    if (access === 'public' || access === 'webhook') {
      authenticator.stripProxyParams(query);
      return;
    }
    if (access === 'operator' && config.operatorKeys.length === 0) throw operatorRoutesClosed();
    const principal = await authenticator.identify({ headers: request.headers, query, ip: request.ip }).catch((error: unknown) => {
      challenge(reply);
      throw error;
    });
    request.principal = principal;
    if (access === 'operator') return requireOperator(reply, config, principal);
    if (!principal && config.authRequired) {
      challenge(reply);
      throw new PetcutError('PETCUT_E_UNAUTHORIZED');
    }
    checkSessionScope(request, principal);
  });
}

function requireOperator(reply: FastifyReply, config: SecurityConfig, principal: Principal | undefined): void {
  if (config.operatorKeys.length === 0) throw operatorRoutesClosed();
  if (!principal) {
    challenge(reply);
    throw new PetcutError('PETCUT_E_UNAUTHORIZED', 'This route needs an operator API key (X-API-Key or Authorization: Bearer pk_...).');
  }
  if (principal.kind !== 'operator') throw new PetcutError('PETCUT_E_OPERATOR_ONLY');
}

function operatorRoutesClosed(): PetcutError {
  return new PetcutError('PETCUT_E_OPERATOR_ONLY', 'Operator routes are closed: no operator key is configured (PETCUT_OPERATOR_KEYS).');
}

/** A storefront token is bound to one session: it cannot read or write another. */
function checkSessionScope(request: FastifyRequest, principal: Principal | undefined): void {
  if (principal?.kind !== 'storefront-token') return;
  const named = sessionNamed(request);
  if (named !== undefined && named !== principal.sessionId) throw new PetcutError('PETCUT_E_FORBIDDEN', 'This token is for another session.');
}

export function sessionNamed(request: FastifyRequest): string | undefined {
  const header = request.headers['x-session-id'];
  const query = (request.query as Record<string, unknown> | undefined)?.session_id;
  const param = (request.params as Record<string, unknown> | undefined)?.sessionId;
  const value = (Array.isArray(header) ? header[0] : header) ?? query ?? param;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The client address to rate-limit. Through Shopify's App Proxy every shopper
 * arrives from Shopify's servers, so request.ip (one trusted hop: Cloud Run)
 * is Shopify's: for a request whose App Proxy signature verifies, the next
 * X-Forwarded-For entry (the shopper's address, as Shopify reports it) is
 * used. An unsigned request never gets that extra hop, so it cannot choose
 * its own address.
 */
export function clientAddress(request: FastifyRequest, config: SecurityConfig, clock: () => Date = () => new Date()): string {
  const query = request.query as Record<string, string | string[] | undefined> | undefined;
  const secret = config.shopify.apiSecret;
  if (!secret || query?.signature === undefined) return request.ip;
  try {
    verifyAppProxy(query, { secret, maxAgeS: config.shopify.proxyMaxAgeS, shops: config.shopify.shops, nowS: Math.floor(clock().getTime() / 1000) });
  } catch {
    return request.ip;
  }
  const forwarded = request.headers['x-forwarded-for'];
  const entries = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',').map((entry) => entry.trim());
  // request.ips is [peer, ...trusted hops, request.ip]; the shopper is the entry left of request.ip.
  const shopper = entries[entries.length - (request.ips?.length ?? 1)];
  return shopper && isIP(shopper) ? shopper : request.ip;
}

function challenge(reply: FastifyReply): void {
  reply.header('WWW-Authenticate', 'Bearer realm="petcut"');
}

/**
 * Errors Node raises before a request reaches Fastify (slow headers or body,
 * oversized headers, malformed HTTP), answered in our JSON shape.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'PETCUT_E_REQUEST_TIMEOUT'
    : error.code === 'HPE_HEADER_OVERFLOW' ? 'PETCUT_E_HEADERS_TOO_LARGE' : 'PETCUT_E_BAD_REQUEST';
  const { status, message } = ERRORS[code];
  const body = JSON.stringify({ error: { code, message }, requestId: randomUUID() });
  this.log.debug({ code: error.code }, 'client error before routing');
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
