import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { parseEnv } from '../errors.js';
import { PetcutError } from '../errors.js';

/**
 * Security configuration: upload policy, rate limits, authentication, CORS
 * and server timeouts. Secrets come from the environment or, with the
 * `_FILE` suffix, from a file (a mounted Secret Manager volume); they are
 * never logged and never part of an error message.
 */
const list = z.string().transform((text) => text.split(',').map((part) => part.trim()).filter(Boolean));
const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const EnvSchema = z.object({
  // The plan's upload limits: 4096 x 4096 pixels. Each side is checked from the header.
  PETCUT_MAX_DIMENSION: z.coerce.number().int().min(16).max(16_384).default(4096),
  PETCUT_ANIMATED: z.enum(['first-frame', 'reject']).default('first-frame'),
  PETCUT_TRAILING_DATA: z.enum(['strip', 'reject']).default('strip'),
  // Hops of X-Forwarded-For to trust (Cloud Run's front end: 1; behind Google's external load balancer: 2),
  // or a list of proxy addresses/CIDRs. 0 trusts none: the socket's peer is the client.
  PETCUT_TRUSTED_PROXIES: z.string().default('0'),
  PETCUT_RATE_LIMIT_IP_PER_MIN: z.coerce.number().int().min(0).default(100),
  PETCUT_RATE_LIMIT_SESSION_PER_MIN: z.coerce.number().int().min(0).default(20),
  PETCUT_RATE_LIMIT_BURST: z.coerce.number().int().min(0).default(10),
  PETCUT_RATE_LIMIT_WARMUP_PER_HOUR: z.coerce.number().int().min(0).default(20),
  // Keys in memory when Redis is not configured (each is a few dozen bytes).
  PETCUT_RATE_LIMIT_MAX_KEYS: z.coerce.number().int().min(100).default(100_000),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  PETCUT_REDIS_TIMEOUT_MS: z.coerce.number().int().min(10).max(10_000).default(250),
  PETCUT_SHOPIFY_API_KEY: z.string().min(1).optional(),
  PETCUT_SHOPIFY_API_SECRET: z.string().min(1).optional(),
  PETCUT_SHOPIFY_SHOPS: list.optional(),
  PETCUT_APP_PROXY_MAX_AGE_S: z.coerce.number().int().min(10).max(3600).default(300),
  // Requests one App Proxy signature may carry in its lifetime. The signature covers the query, not
  // the path, so every shopper's proxied call with the same query in the same second shares one
  // (at the plan's 50 RPS burst: about 50); a captured query replayed later must not buy more.
  PETCUT_APP_PROXY_MAX_USES: z.coerce.number().int().min(1).max(100_000).default(300),
  PETCUT_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  PETCUT_JWT_TTL_S: z.coerce.number().int().min(60).max(86_400).default(3600),
  PETCUT_AUTH_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(300).default(10),
  PETCUT_OPERATOR_KEYS: list.optional(),
  PETCUT_ALLOWED_IPS: list.optional(),
  // Scrapers that may read /metrics without an operator key: the Prometheus or Cloud Managed Prometheus
  // sidecar on the same instance scrapes over loopback. 0.0.0.0/0,::/0 opens it to everyone.
  PETCUT_METRICS_ALLOWED_IPS: list.default(['127.0.0.0/8', '::1']),
  PETCUT_CORS_ORIGINS: list.default(['https://*.myshopify.com', 'https://*.shopifypreview.com']),
  PETCUT_CORS_CREDENTIALS: flag.default(false),
  PETCUT_CORS_MAX_AGE_S: z.coerce.number().int().min(0).max(86_400).default(7200),
  // A slow upload (slow-loris) is cut off after this long; 30 MB at 4 Mbit/s takes 60 s.
  PETCUT_REQUEST_TIMEOUT_S: z.coerce.number().min(1).max(3600).default(120),
  PETCUT_HEADERS_TIMEOUT_S: z.coerce.number().min(1).max(300).default(10),
  PETCUT_MAX_HEADER_KB: z.coerce.number().int().min(4).max(64).default(16),
});

const SECRETS = ['PETCUT_SHOPIFY_API_SECRET', 'PETCUT_JWT_SECRET', 'PETCUT_OPERATOR_KEYS'] as const;

export interface OperatorKey {
  readonly name: string;
  /** sha256 of the key, hex: keys are stored hashed, never in clear. */
  readonly sha256: Buffer;
}

export interface SecurityConfig {
  readonly upload: { readonly maxDimension: number; readonly animated: 'first-frame' | 'reject'; readonly trailingData: 'strip' | 'reject' };
  /** Fastify's trustProxy: a hop count or a list of addresses/CIDRs. */
  readonly trustProxy: number | string[];
  /** The same list as a BlockList (undefined for a hop count): is a peer one of our proxies? */
  readonly trustedProxies?: BlockList;
  /** Who may read /metrics without an operator key (PETCUT_METRICS_ALLOWED_IPS; loopback by default). */
  readonly metricsAllowed: BlockList;
  readonly rateLimit: {
    readonly ipPerMin: number;
    readonly sessionPerMin: number;
    readonly burst: number;
    readonly warmupPerHour: number;
    readonly maxKeys: number;
    readonly redisUrl?: string;
    readonly redisTimeoutMs: number;
    /** Requests one App Proxy signature may carry within `signatureWindowS` (its lifetime). */
    readonly signatureUses?: number;
    readonly signatureWindowS?: number;
  };
  readonly shopify: { readonly apiKey?: string; readonly apiSecret?: string; readonly shops?: readonly string[]; readonly proxyMaxAgeS: number };
  readonly jwt: { readonly secret?: string; readonly ttlS: number };
  readonly clockToleranceS: number;
  readonly operatorKeys: readonly OperatorKey[];
  readonly allowedIps?: BlockList;
  readonly allowedIpList: readonly string[];
  /** Storefront routes need credentials once any way to check them is configured. */
  readonly authRequired: boolean;
  /**
   * `loopback`: PETCUT_CORS_ORIGINS was left at its default, so a developer's local page
   * (http(s)://localhost, 127.0.0.1 or [::1] on any port) may call the API too; an explicit list is the whole list.
   */
  readonly cors: { readonly origins: readonly string[]; readonly credentials: boolean; readonly maxAgeS: number; readonly loopback: boolean };
  readonly timeouts: { readonly requestMs: number; readonly headersMs: number; readonly maxHeaderBytes: number };
}

export function loadSecurityConfig(env: NodeJS.ProcessEnv): SecurityConfig {
  const e = parseEnv(EnvSchema, withSecretFiles(env));
  const allowedIps = e.PETCUT_ALLOWED_IPS ? blockListOf('PETCUT_ALLOWED_IPS', e.PETCUT_ALLOWED_IPS) : undefined;
  const authRequired = Boolean(e.PETCUT_SHOPIFY_API_SECRET ?? e.PETCUT_JWT_SECRET ?? allowedIps);
  return Object.freeze({
    upload: Object.freeze({ maxDimension: e.PETCUT_MAX_DIMENSION, animated: e.PETCUT_ANIMATED, trailingData: e.PETCUT_TRAILING_DATA }),
    trustProxy: trustProxyOf(e.PETCUT_TRUSTED_PROXIES),
    trustedProxies: /^\d+$/.test(e.PETCUT_TRUSTED_PROXIES.trim()) ? undefined : blockListOf('PETCUT_TRUSTED_PROXIES', trustProxyOf(e.PETCUT_TRUSTED_PROXIES) as string[]),
    metricsAllowed: blockListOf('PETCUT_METRICS_ALLOWED_IPS', e.PETCUT_METRICS_ALLOWED_IPS),
    rateLimit: Object.freeze({
      ipPerMin: e.PETCUT_RATE_LIMIT_IP_PER_MIN, sessionPerMin: e.PETCUT_RATE_LIMIT_SESSION_PER_MIN, burst: e.PETCUT_RATE_LIMIT_BURST,
      warmupPerHour: e.PETCUT_RATE_LIMIT_WARMUP_PER_HOUR, maxKeys: e.PETCUT_RATE_LIMIT_MAX_KEYS, redisUrl: e.REDIS_URL, redisTimeoutMs: e.PETCUT_REDIS_TIMEOUT_MS,
      // A signature is valid max-age either side of its timestamp: the window covers its whole life.
      signatureUses: e.PETCUT_APP_PROXY_MAX_USES, signatureWindowS: 2 * e.PETCUT_APP_PROXY_MAX_AGE_S,
    }),
    shopify: Object.freeze({
      apiKey: e.PETCUT_SHOPIFY_API_KEY, apiSecret: e.PETCUT_SHOPIFY_API_SECRET,
      shops: e.PETCUT_SHOPIFY_SHOPS?.map(shopDomainOf), proxyMaxAgeS: e.PETCUT_APP_PROXY_MAX_AGE_S,
    }),
    jwt: Object.freeze({ secret: e.PETCUT_JWT_SECRET, ttlS: e.PETCUT_JWT_TTL_S }),
    clockToleranceS: e.PETCUT_AUTH_CLOCK_TOLERANCE_S,
    operatorKeys: Object.freeze((e.PETCUT_OPERATOR_KEYS ?? []).map(operatorKeyOf)),
    allowedIps,
    allowedIpList: e.PETCUT_ALLOWED_IPS ?? [],
    authRequired,
    cors: Object.freeze({ origins: e.PETCUT_CORS_ORIGINS.map(originPatternOf), credentials: e.PETCUT_CORS_CREDENTIALS, maxAgeS: e.PETCUT_CORS_MAX_AGE_S,
      loopback: env.PETCUT_CORS_ORIGINS === undefined }),
    timeouts: Object.freeze({ requestMs: e.PETCUT_REQUEST_TIMEOUT_S * 1000, headersMs: e.PETCUT_HEADERS_TIMEOUT_S * 1000, maxHeaderBytes: e.PETCUT_MAX_HEADER_KB * 1024 }),
  });
}

/** `NAME_FILE=/path` reads the secret from a file (Secret Manager volumes); setting both is an error. */
function withSecretFiles(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of SECRETS) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) invalid(`${name} and ${name}_FILE are both set: keep one`);
    try {
      out[name] = readFileSync(file, 'utf8').trim();
    } catch {
      invalid(`${name}_FILE: cannot read the file it names`);
    }
  }
  return out;
}

function invalid(detail: string): never {
  throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid configuration: ${detail}`);
}

function trustProxyOf(value: string): number | string[] {
  if (/^\d+$/.test(value.trim())) return Number(value);
  const entries = value.split(',').map((part) => part.trim()).filter(Boolean);
  blockListOf('PETCUT_TRUSTED_PROXIES', entries);
  return entries;
}

function blockListOf(name: string, entries: readonly string[]): BlockList {
  const blocks = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const family = isIP(address ?? '');
    if (!family) invalid(`${name}: "${entry}" is not an IP address or CIDR block`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) {
      blocks.addAddress(address!, type);
      continue;
    }
    const prefix = Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) invalid(`${name}: "${entry}" has a bad prefix length`);
    blocks.addSubnet(address!, prefix, type);
  }
  return blocks;
}

/** `name:sha256hex` (from `petcut auth hash-key`); the name appears in logs, never the key. */
function operatorKeyOf(entry: string): OperatorKey {
  const match = /^([\w.-]{1,64}):([0-9a-f]{64})$/i.exec(entry);
  if (!match) invalid('PETCUT_OPERATOR_KEYS: each entry must be name:sha256hex (make one with `petcut auth hash-key`)');
  return Object.freeze({ name: match[1]!, sha256: Buffer.from(match[2]!, 'hex') });
}

function shopDomainOf(shop: string): string {
  const domain = shop.toLowerCase().replace(/^https?:\/\//, '').replace(/\/$/, '');
  if (!/^[a-z0-9][a-z0-9-]*\.myshopify\.com$/.test(domain)) invalid(`PETCUT_SHOPIFY_SHOPS: "${shop}" is not a *.myshopify.com domain`);
  return domain;
}

/** `https://shop.example`, or `https://*.myshopify.com` for any subdomain. */
function originPatternOf(origin: string): string {
  if (!/^https?:\/\/(\*\.)?[a-z0-9.-]+(:\d+)?$/i.test(origin)) invalid(`PETCUT_CORS_ORIGINS: "${origin}" must be an origin such as https://shop.example or https://*.myshopify.com`);
  return origin.toLowerCase();
}
