import { createHmac } from 'node:crypto';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { isPetcutError } from '../src/errors.js';
import { generateOperatorKey, hashOperatorKey, matchOperatorKey } from '../src/security/apiKeys.js';
import { createAuthenticator } from '../src/security/authenticate.js';
import { loadSecurityConfig } from '../src/security/config.js';
import { appProxySignature, verifyAppProxy, verifySessionToken, verifyWebhook } from '../src/security/shopify.js';
import { issueStorefrontToken, verifyStorefrontToken } from '../src/security/tokens.js';

/** The error code a call fails with (sync or async). */
async function codeOf(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    return isPetcutError(error) ? error.code : `not coded: ${String(error)}`;
  }
  return 'no error';
}

describe('Shopify App Proxy signature (Shopify\'s published examples, secret "hush")', () => {
  const base = { extra: ['1', '2'], shop: 'shop-name.myshopify.com', path_prefix: '/apps/awesome_reviews', timestamp: '1317327555' };

  it('reproduces both published signatures', () => {
    expect(appProxySignature(base, 'hush')).toBe('a9718877bea71c2484f91608a7eaea1532bdf71f5c56825065fa4ccabe549ef3');
    expect(appProxySignature({ ...base, logged_in_customer_id: '1' }, 'hush')).toBe('4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb');
  });

  it('accepts the published request at its own time and names the shop and customer', () => {
    const query = { ...base, logged_in_customer_id: '1', signature: '4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb' };
    expect(verifyAppProxy(query, { secret: 'hush', maxAgeS: 300, nowS: 1317327555 + 30 })).toEqual({ shop: 'shop-name.myshopify.com', user: 'customer:1' });
  });

  it('rejects a changed parameter, another secret, a stale or future timestamp, and a shop outside the allow-list', async () => {
    const signature = 'a9718877bea71c2484f91608a7eaea1532bdf71f5c56825065fa4ccabe549ef3';
    const ok = { secret: 'hush', maxAgeS: 300, nowS: 1317327555 };
    expect(await codeOf(() => verifyAppProxy({ ...base, extra: ['1', '3'], signature }, ok))).toBe('PETCUT_E_INVALID_SIGNATURE');
    expect(await codeOf(() => verifyAppProxy({ ...base, signature }, { ...ok, secret: 'hush2' }))).toBe('PETCUT_E_INVALID_SIGNATURE');
    expect(await codeOf(() => verifyAppProxy({ ...base, signature: signature.slice(0, 63) }, ok))).toBe('PETCUT_E_INVALID_SIGNATURE');
    expect(await codeOf(() => verifyAppProxy({ ...base }, ok))).toBe('PETCUT_E_INVALID_SIGNATURE');
    expect(await codeOf(() => verifyAppProxy({ ...base, signature }, { ...ok, nowS: 1317327555 + 301 }))).toBe('PETCUT_E_STALE_REQUEST');
    expect(await codeOf(() => verifyAppProxy({ ...base, signature }, { ...ok, nowS: 1317327555 - 301 }))).toBe('PETCUT_E_STALE_REQUEST');
    expect(await codeOf(() => verifyAppProxy({ ...base, signature }, { ...ok, shops: ['other.myshopify.com'] }))).toBe('PETCUT_E_FORBIDDEN');
    expect(verifyAppProxy({ ...base, signature: signature.toUpperCase() }, ok).shop).toBe('shop-name.myshopify.com');
  });
});

describe('Shopify webhook HMAC', () => {
  it('accepts the base64 HMAC of the exact body and nothing else', () => {
    const body = Buffer.from('{"id":820982911946154500,"note_attributes":[]}');
    const header = createHmac('sha256', 'hush').update(body).digest('base64');
    expect(verifyWebhook(body, header, 'hush')).toBe(true);
    expect(verifyWebhook(Buffer.concat([body, Buffer.from(' ')]), header, 'hush')).toBe(false);
    expect(verifyWebhook(body, header, 'other')).toBe(false);
    expect(verifyWebhook(body, undefined, 'hush')).toBe(false);
    expect(verifyWebhook(body, 'AAAA', 'hush')).toBe(false);
  });
});

describe('Shopify session tokens (App Bridge, HS256)', () => {
  const secret = 'shopify-app-secret';
  const apiKey = 'app-client-id';
  const now = new Date('2026-11-28T12:00:00Z');
  const t = Math.floor(now.getTime() / 1000);
  const claims = { iss: 'https://shop-1.myshopify.com/admin', dest: 'https://shop-1.myshopify.com', aud: apiKey, sub: '42', exp: t + 60, nbf: t - 5, iat: t - 5, jti: 'j', sid: 's' };
  const sign = (payload: Record<string, unknown>, key = secret, alg = 'HS256') =>
    new SignJWT(payload).setProtectedHeader({ alg }).sign(new TextEncoder().encode(key));
  const verify = async (token: string, options: Partial<Parameters<typeof verifySessionToken>[1]> = {}) =>
    verifySessionToken(token, { apiKey, secret, toleranceS: 10, now, ...options });

  it('accepts a valid token and names the shop and staff user', async () => {
    expect(await verify(await sign(claims))).toEqual({ shop: 'shop-1.myshopify.com', user: 'staff:42' });
  });

  it('refuses every claim failure with a coded 401', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['expired', { ...claims, exp: t - 11 }, 'PETCUT_E_TOKEN_EXPIRED'],
      ['not yet valid', { ...claims, nbf: t + 11 }, 'PETCUT_E_INVALID_TOKEN'],
      ['another app', { ...claims, aud: 'other-app' }, 'PETCUT_E_INVALID_TOKEN'],
      ['iss and dest disagree', { ...claims, iss: 'https://shop-2.myshopify.com/admin' }, 'PETCUT_E_INVALID_TOKEN'],
      ['no dest', { ...claims, dest: undefined }, 'PETCUT_E_INVALID_TOKEN'],
      ['no exp', { ...claims, exp: undefined }, 'PETCUT_E_INVALID_TOKEN'],
      ['dest not a shop', { ...claims, dest: 'https://evil.example', iss: 'https://evil.example/admin' }, 'PETCUT_E_FORBIDDEN'],
    ];
    for (const [name, payload, code] of cases) expect(await codeOf(async () => verify(await sign(payload))), name).toBe(code);
    expect(await codeOf(async () => verify(await sign(claims, 'wrong-secret')))).toBe('PETCUT_E_INVALID_TOKEN');
    expect(await codeOf(async () => verify(await sign(claims, secret, 'HS512')))).toBe('PETCUT_E_INVALID_TOKEN');
    expect(await codeOf(async () => verify(await sign(claims), { shops: ['shop-2.myshopify.com'] }))).toBe('PETCUT_E_FORBIDDEN');
    expect(await codeOf(() => verify('not.a.token'))).toBe('PETCUT_E_INVALID_TOKEN');
  });

  it('allows clock skew within the tolerance only', async () => {
    expect((await verify(await sign({ ...claims, exp: t - 9 }))).shop).toBe('shop-1.myshopify.com');
    expect((await verify(await sign({ ...claims, nbf: t + 9 }))).shop).toBe('shop-1.myshopify.com');
  });

  it('an unsigned token (alg none) is refused', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    expect(await codeOf(() => verify(`${header}.${body}.`))).toBe('PETCUT_E_INVALID_TOKEN');
  });
});

describe('storefront tokens (ours)', () => {
  const secret = 'x'.repeat(40);
  const now = new Date('2026-11-28T12:00:00Z');

  it('round-trips shop and session and expires after the TTL', async () => {
    const { token, expiresAt } = await issueStorefrontToken({ shop: 'shop-1.myshopify.com', sessionId: 'session-0001' }, { secret, ttlS: 3600, now });
    expect(expiresAt.toISOString()).toBe('2026-11-28T13:00:00.000Z');
    expect(await verifyStorefrontToken(token, { secret, toleranceS: 10, now: new Date(now.getTime() + 3599_000) })).toMatchObject({ shop: 'shop-1.myshopify.com', sessionId: 'session-0001' });
    expect(await codeOf(() => verifyStorefrontToken(token, { secret, toleranceS: 10, now: new Date(now.getTime() + 3611_000) }))).toBe('PETCUT_E_TOKEN_EXPIRED');
    expect(await codeOf(() => verifyStorefrontToken(token, { secret: 'y'.repeat(40), toleranceS: 10, now }))).toBe('PETCUT_E_INVALID_TOKEN');
  });

  it('a Shopify-signed or foreign-audience token is not a storefront token', async () => {
    const foreign = await new SignJWT({ sid: 'session-0001' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('petcut').setAudience('someone-else')
      .setExpirationTime('1h').sign(new TextEncoder().encode(secret));
    expect(await codeOf(() => verifyStorefrontToken(foreign, { secret, toleranceS: 10, now: new Date() }))).toBe('PETCUT_E_INVALID_TOKEN');
  });
});

describe('operator API keys', () => {
  it('are matched by hash only, by name', () => {
    const key = generateOperatorKey();
    expect(key).toMatch(/^pk_[A-Za-z0-9_-]{43}$/);
    const keys = [{ name: 'alice', sha256: Buffer.from(hashOperatorKey(key), 'hex') }, { name: 'bob', sha256: Buffer.from(hashOperatorKey('pk_other'), 'hex') }];
    expect(matchOperatorKey(key, keys)).toBe('alice');
    expect(matchOperatorKey('pk_other', keys)).toBe('bob');
    expect(matchOperatorKey(`${key}x`, keys)).toBeUndefined();
  });
});

describe('security config', () => {
  it('defaults: open storefront (no secrets), 100/20/10 limits, no trusted proxy, Shopify origins', () => {
    const config = loadSecurityConfig({});
    expect(config.authRequired).toBe(false);
    expect(config.rateLimit).toMatchObject({ ipPerMin: 100, sessionPerMin: 20, burst: 10, warmupPerHour: 20 });
    expect(config.trustProxy).toBe(0);
    expect(config.cors.origins).toEqual(['https://*.myshopify.com', 'https://*.shopifypreview.com']);
    expect(config.upload).toEqual({ maxDimension: 4096, animated: 'first-frame', trailingData: 'strip' });
  });

  it('any way of checking credentials makes the storefront routes require them', () => {
    expect(loadSecurityConfig({ PETCUT_SHOPIFY_API_SECRET: 'hush' }).authRequired).toBe(true);
    expect(loadSecurityConfig({ PETCUT_JWT_SECRET: 'k'.repeat(32) }).authRequired).toBe(true);
    expect(loadSecurityConfig({ PETCUT_ALLOWED_IPS: '10.0.0.0/8' }).authRequired).toBe(true);
    expect(loadSecurityConfig({ PETCUT_OPERATOR_KEYS: `ops:${'a'.repeat(64)}` }).authRequired).toBe(false);
  });

  it('bad values name the variable and never echo a secret', async () => {
    const message = async (env: Record<string, string>) => {
      try {
        loadSecurityConfig(env);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(await message({ PETCUT_JWT_SECRET: 'short-secret-value' })).toMatch(/PETCUT_JWT_SECRET: .*at least 32/);
    expect(await message({ PETCUT_JWT_SECRET: 'short-secret-value' })).not.toContain('short-secret-value');
    expect(await message({ PETCUT_OPERATOR_KEYS: 'alice:notahash' })).toMatch(/PETCUT_OPERATOR_KEYS/);
    expect(await message({ PETCUT_OPERATOR_KEYS: 'alice:notahash' })).not.toContain('notahash');
    expect(await message({ PETCUT_ALLOWED_IPS: '10.0.0.0/33' })).toMatch(/PETCUT_ALLOWED_IPS/);
    expect(await message({ PETCUT_TRUSTED_PROXIES: 'proxy.example' })).toMatch(/PETCUT_TRUSTED_PROXIES/);
    expect(await message({ PETCUT_CORS_ORIGINS: 'https://*.myshopify.com/path' })).toMatch(/PETCUT_CORS_ORIGINS/);
    expect(await message({ PETCUT_SHOPIFY_SHOPS: 'evil.example' })).toMatch(/PETCUT_SHOPIFY_SHOPS/);
    expect(await message({ REDIS_URL: 'http://127.0.0.1:6379' })).toMatch(/REDIS_URL/);
  });

  it('reads secrets from _FILE variables and refuses both forms at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petcut-secret-'));
    const file = join(dir, 'jwt');
    await writeFile(file, `${'s'.repeat(40)}\n`);
    expect(loadSecurityConfig({ PETCUT_JWT_SECRET_FILE: file }).jwt.secret).toBe('s'.repeat(40));
    expect(() => loadSecurityConfig({ PETCUT_JWT_SECRET_FILE: file, PETCUT_JWT_SECRET: 't'.repeat(40) })).toThrow(/both set/);
    expect(() => loadSecurityConfig({ PETCUT_JWT_SECRET_FILE: join(dir, 'missing') })).toThrow(/cannot read/);
  });
});

describe('authenticator', () => {
  const jwtSecret = 'j'.repeat(40);
  const config = loadSecurityConfig({ PETCUT_JWT_SECRET: jwtSecret, PETCUT_SHOPIFY_API_SECRET: 'hush', PETCUT_ALLOWED_IPS: '10.1.0.0/16,2001:db8::/32' });

  it('presented-but-wrong credentials are errors, not anonymous', async () => {
    const auth = createAuthenticator(config);
    const input = (headers: Record<string, string>, query: Record<string, string> = {}) => ({ headers, query, ip: '192.0.2.1' });
    expect(await codeOf(() => auth.identify(input({ authorization: 'Basic abc' })))).toBe('PETCUT_E_INVALID_TOKEN');
    expect(await codeOf(() => auth.identify(input({ authorization: 'Bearer pk_unknown' })))).toBe('PETCUT_E_INVALID_TOKEN');
    expect(await codeOf(() => auth.identify(input({ 'x-api-key': 'pk_unknown' })))).toBe('PETCUT_E_INVALID_TOKEN');
    expect(await codeOf(() => auth.identify(input({ authorization: 'Bearer abc.def.ghi' })))).toBe('PETCUT_E_INVALID_TOKEN');
    expect(await codeOf(() => auth.identify(input({}, { shop: 'a.myshopify.com', timestamp: '1', signature: 'ab' })))).toBe('PETCUT_E_INVALID_SIGNATURE');
    expect(await auth.identify(input({}))).toBeUndefined();
  });

  it('names the caller: storefront token (with its session), App Proxy (params removed), allow-listed address', async () => {
    const now = new Date();
    const auth = createAuthenticator(config, () => now);
    const { token } = await issueStorefrontToken({ shop: 'shop-1.myshopify.com', sessionId: 'session-0001' }, { secret: jwtSecret, ttlS: 3600, now });
    expect(await auth.identify({ headers: { authorization: `Bearer ${token}` }, query: {}, ip: '192.0.2.1' })).toMatchObject({ kind: 'storefront-token', sessionId: 'session-0001' });
    const query: Record<string, string> = { shop: 'shop-1.myshopify.com', timestamp: String(Math.floor(now.getTime() / 1000)), path_prefix: '/apps/petcut', logged_in_customer_id: '', format: 'png' };
    query.signature = appProxySignature(query, 'hush');
    expect(await auth.identify({ headers: {}, query, ip: '192.0.2.1' })).toMatchObject({ kind: 'app-proxy', shop: 'shop-1.myshopify.com' });
    expect(query).toEqual({ format: 'png' });
    expect(await auth.identify({ headers: {}, query: {}, ip: '10.1.200.3' })).toMatchObject({ kind: 'allowed-ip' });
    expect(await auth.identify({ headers: {}, query: {}, ip: '::ffff:10.1.0.9' })).toMatchObject({ kind: 'allowed-ip' });
    expect(await auth.identify({ headers: {}, query: {}, ip: '2001:db8::5' })).toMatchObject({ kind: 'allowed-ip' });
    expect(await auth.identify({ headers: {}, query: {}, ip: '10.2.0.1' })).toBeUndefined();
  });
});
