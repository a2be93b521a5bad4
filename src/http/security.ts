import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { BlockList, Socket } from 'node:net';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, PetcutError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Authenticator, Principal } from '../security/authenticate.js';
import type { SecurityConfig } from '../security/config.js';
import { securityOf } from '../security/routePolicy.js';
import { verifyAppProxy } from '../security/shopify.js';
import { resolveSession } from './session.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Public static files any origin may read (GET/HEAD): not refused by the CORS allow-list (the route sends ACAO: *). */
    anyOrigin?: boolean;
  }
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
  const listed = originMatcher(config.cors.origins);
  // The embedded defaults (no PETCUT_CORS_ORIGINS): a developer's local page may call the API as well.
  const allowed = config.cors.loopback ? (origin: string): boolean => listed(origin) || isLoopbackOrigin(origin) : listed;
  await app.register(fastifyCors, {
    delegator: (request: FastifyRequest, callback: (error: Error | null, options?: Record<string, unknown>) => void) => {
      const origin = request.headers.origin;
      // Public static files any page may load (the widget's module scripts, fetched in CORS mode from the shop's
      // page): no refusal and no CORS headers from here; the route sends Access-Control-Allow-Origin: * itself.
      // Only for reads of routes that declare it (config.anyOrigin), never for the API.
      if (origin !== undefined && (request.method === 'GET' || request.method === 'HEAD') && anyOriginRoute(request)) {
        callback(null, { origin: false });
        return;
      }
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

/** http(s)://localhost, 127.x.x.x or [::1], any port: a page on the developer's own machine. */
export function isLoopbackOrigin(origin: string): boolean {
  return /^https?:\/\/(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?$/i.test(origin);
}

function anyOriginRoute(request: FastifyRequest): boolean {
  return request.routeOptions.config?.anyOrigin === true;
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
 * operator routes always need an operator key. Routes that act on a session
 * get it resolved and checked here (src/http/session.ts): a storefront token
 * only reaches its own session, and every place naming a session must agree.
 */
export function installAccessControl(app: FastifyInstance, config: SecurityConfig, authenticator: Authenticator): void {
  app.decorateRequest('principal', undefined);
  app.decorateRequest('actingSession', undefined);
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') return;
    const { access, session } = securityOf(request.routeOptions.config);
    const query = request.query as Record<string, string | string[] | undefined>;
    if (access === 'public' || access === 'webhook') {
      authenticator.stripProxyParams(query);
      if (session) resolveSession(request);
      return;
    }
    if (access === 'scraper' && addressIn(config.metricsAllowed, request.ip)) return;
    if ((access === 'operator' || access === 'scraper') && config.operatorKeys.length === 0) throw operatorRoutesClosed(access);
    const principal = await authenticator.identify({ headers: request.headers, query, ip: request.ip }).catch((error: unknown) => {
      challenge(reply);
      throw error;
    });
    request.principal = principal;
    if (access === 'operator' || access === 'scraper') requireOperator(reply, config, principal);
    else if (!principal && config.authRequired) {
      challenge(reply);
      throw new PetcutError('PETCUT_E_UNAUTHORIZED');
    }
    if (session) resolveSession(request);
  });
}

function requireOperator(reply: FastifyReply, config: SecurityConfig, principal: Principal | undefined): void {
  if (config.operatorKeys.length === 0) throw operatorRoutesClosed('operator');
  if (!principal) {
    challenge(reply);
    throw new PetcutError('PETCUT_E_UNAUTHORIZED', 'This route needs an operator API key (X-API-Key or Authorization: Bearer pk_...).');
  }
  if (principal.kind !== 'operator') throw new PetcutError('PETCUT_E_OPERATOR_ONLY');
}

function operatorRoutesClosed(access: string): PetcutError {
  if (access === 'scraper') return new PetcutError('PETCUT_E_OPERATOR_ONLY', 'Metrics are open to the addresses in PETCUT_METRICS_ALLOWED_IPS (loopback by default) or to an operator key; neither applies.');
  return new PetcutError('PETCUT_E_OPERATOR_ONLY', 'Operator routes are closed: no operator key is configured (PETCUT_OPERATOR_KEYS).');
}

/**
 * What a signed App Proxy request says about its shopper. Through Shopify's
 * App Proxy every shopper arrives from Shopify's servers, so request.ip (the
 * address at our trusted boundary: Cloud Run's front end appends it) is
 * Shopify's, and the shopper's address is the X-Forwarded-For entry Shopify
 * added, just left of it. That entry is only Shopify's word when the request
 * really came from Shopify: a signed query can be replayed by anyone who
 * captured it, with any X-Forwarded-For, so the rate-limit hook charges the
 * signature as well as the shopper (src/http/rateLimits.ts). An unsigned or
 * badly signed request gets no claim at all.
 */
export interface AppProxyClaim {
  readonly signature: string;
  /** The entry left of request.ip in X-Forwarded-For, when it is an IP address. */
  readonly shopper?: string;
}

export function appProxyClaim(request: FastifyRequest, config: SecurityConfig, clock: () => Date = () => new Date()): AppProxyClaim | undefined {
  const query = request.query as Record<string, string | string[] | undefined> | undefined;
  const secret = config.shopify.apiSecret;
  if (!secret || typeof query?.signature !== 'string') return undefined;
  try {
    verifyAppProxy(query, { secret, maxAgeS: config.shopify.proxyMaxAgeS, shops: config.shopify.shops, nowS: Math.floor(clock().getTime() / 1000) });
  } catch {
    return undefined;
  }
  const forwarded = request.headers['x-forwarded-for'];
  const entries = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',').map((entry) => entry.trim());
  // request.ips is [peer, ...trusted hops, request.ip]: the entries right of request.ip were added by our own proxies.
  const shopper = entries[entries.length - (request.ips?.length ?? 1)];
  return { signature: query.signature.toLowerCase(), shopper: shopper && isIP(shopper) ? shopper : undefined };
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

/** An address as a BlockList checks it (IPv4-mapped IPv6 as plain IPv4). */
export function addressIn(list: BlockList, address: string): boolean {
  const plain = address.replace(/^::ffff:(?=\d+\.)/, '');
  return isIP(plain) !== 0 && list.check(plain, plain.includes(':') ? 'ipv6' : 'ipv4');
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

/**
 * The origin absolute URLs are built from when PETCUT_PUBLIC_URL is unset.
 * The Host header is the client's own text: a cache in front would keep URLs
 * pointing at a host of an attacker's choosing. It is believed only when one
 * of our proxies delivered the request (a proxy routes by host; Fastify then
 * reads X-Forwarded-Host/-Proto from it) or when it names this machine (a
 * developer's localhost). Otherwise URLs are bare paths, relative to
 * wherever the client called.
 */
export function trustedOrigin(request: FastifyRequest, config: SecurityConfig): string {
  const viaProxy = config.trustedProxies ? addressIn(config.trustedProxies, request.socket.remoteAddress ?? '') : (config.trustProxy as number) > 0;
  if (viaProxy || LOOPBACK_HOST.test(request.headers.host ?? '')) return `${request.protocol}://${request.host}`;
  return '';
}
