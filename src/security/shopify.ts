import { createHmac, timingSafeEqual } from 'node:crypto';
import { decodeJwt, jwtVerify } from 'jose';
import { PetcutError } from '../errors.js';

/**
 * Shopify's three ways of vouching for a caller, checked with the app's
 * shared secret: App Proxy query signatures, App Bridge session tokens and
 * webhook body HMACs. Every comparison is constant-time.
 */

/** The query parameters Shopify's App Proxy adds; they are removed from the query once checked. */
export const APP_PROXY_PARAMS = ['shop', 'logged_in_customer_id', 'path_prefix', 'timestamp', 'signature'] as const;

export interface ShopifyContext {
  readonly shop: string;
  /** The storefront customer (App Proxy) or staff user (session token), when known. */
  readonly user?: string;
}

type Query = Record<string, string | string[] | undefined>;

/**
 * Shopify's App Proxy signature: hex HMAC-SHA256 of every other query
 * parameter as `key=value` (repeated keys joined by ","), sorted by key and
 * concatenated without separators.
 */
export function appProxySignature(query: Query, secret: string): string {
  const message = Object.keys(query)
    .filter((key) => key !== 'signature' && query[key] !== undefined)
    .sort()
    .map((key) => `${key}=${([] as string[]).concat(query[key]!).join(',')}`)
    .join('');
  return createHmac('sha256', secret).update(message).digest('hex');
}

export interface AppProxyOptions {
  readonly secret: string;
  readonly maxAgeS: number;
  readonly shops?: readonly string[];
  readonly nowS: number;
}

export function verifyAppProxy(query: Query, options: AppProxyOptions): ShopifyContext {
  const given = single(query.signature);
  if (!given || !/^[0-9a-f]{64}$/i.test(given) || !equalHex(given, appProxySignature(query, options.secret))) {
    throw new PetcutError('PETCUT_E_INVALID_SIGNATURE', 'The App Proxy signature does not match.');
  }
  const timestamp = Number(single(query.timestamp));
  if (!Number.isFinite(timestamp) || Math.abs(options.nowS - timestamp) > options.maxAgeS) {
    throw new PetcutError('PETCUT_E_STALE_REQUEST', `The App Proxy request is older than ${options.maxAgeS} s (or the clocks disagree).`);
  }
  const shop = checkShop(single(query.shop), options.shops);
  const customer = single(query.logged_in_customer_id);
  return { shop, user: customer ? `customer:${customer}` : undefined };
}

export interface SessionTokenOptions {
  readonly apiKey: string;
  readonly secret: string;
  readonly shops?: readonly string[];
  readonly toleranceS: number;
  readonly now: Date;
}

/**
 * An App Bridge session token: HS256, signed with the app secret, `aud` the
 * app's API key, `dest` the shop and `iss` that shop's admin, valid one minute.
 */
export async function verifySessionToken(token: string, options: SessionTokenOptions): Promise<ShopifyContext> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, new TextEncoder().encode(options.secret), {
      algorithms: ['HS256'], audience: options.apiKey, clockTolerance: options.toleranceS, currentDate: options.now, requiredClaims: ['exp', 'nbf', 'dest', 'iss'],
    }));
  } catch (error) {
    throw jwtError(error, 'Shopify session token');
  }
  const dest = hostOf(payload.dest);
  const issuer = typeof payload.iss === 'string' ? payload.iss : '';
  if (!dest || issuer !== `https://${dest}/admin`) {
    throw new PetcutError('PETCUT_E_INVALID_TOKEN', 'The Shopify session token\'s iss and dest name different shops.');
  }
  return { shop: checkShop(dest, options.shops), user: typeof payload.sub === 'string' ? `staff:${payload.sub}` : undefined };
}

/** True when the JWT claims to come from a shop's admin (a Shopify session token) rather than from us. */
export function looksLikeSessionToken(token: string): boolean {
  try {
    const { iss } = decodeJwt(token);
    return typeof iss === 'string' && /^https:\/\/[^/]+\/admin$/.test(iss);
  } catch {
    return false;
  }
}

/** Webhooks: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body. */
export function verifyWebhook(rawBody: Buffer, header: string | undefined, secret: string): boolean {
  if (!header) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(header, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Maps jose's failures onto our codes without echoing token contents. */
export function jwtError(error: unknown, what: string): PetcutError {
  const code = (error as { code?: string }).code;
  if (code === 'ERR_JWT_EXPIRED') return new PetcutError('PETCUT_E_TOKEN_EXPIRED', `The ${what} has expired: get a new one.`);
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    const claim = (error as { claim?: string }).claim ?? 'a claim';
    return new PetcutError('PETCUT_E_INVALID_TOKEN', `The ${what} failed its "${claim}" check.`);
  }
  return new PetcutError('PETCUT_E_INVALID_TOKEN', `The ${what} is not valid.`);
}

function checkShop(shop: string | undefined, allowed: readonly string[] | undefined): string {
  const domain = shop?.toLowerCase();
  if (!domain || !/^[a-z0-9][a-z0-9-]*\.myshopify\.com$/.test(domain)) throw new PetcutError('PETCUT_E_FORBIDDEN', 'The request names no valid *.myshopify.com shop.');
  if (allowed && !allowed.includes(domain)) throw new PetcutError('PETCUT_E_FORBIDDEN', 'This shop is not allowed to use the service.');
  return domain;
}

function hostOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return new URL(value).host.toLowerCase();
  } catch {
    return undefined;
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function equalHex(a: string, b: string): boolean {
  const left = Buffer.from(a.toLowerCase(), 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
