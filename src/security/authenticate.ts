import { PetcutError } from '../errors.js';
import { KEY_PREFIX, matchOperatorKey } from './apiKeys.js';
import type { SecurityConfig } from './config.js';
import { APP_PROXY_PARAMS, looksLikeSessionToken, verifyAppProxy, verifySessionToken } from './shopify.js';
import { verifyStorefrontToken } from './tokens.js';

/**
 * Who is calling, from the credentials the request carries. A credential
 * that is presented but wrong is an error (401), never a silent fall-back to
 * anonymous; no credential at all gives `undefined` and the route's access
 * rule decides.
 */
export type PrincipalKind = 'operator' | 'app-proxy' | 'shopify-session' | 'storefront-token' | 'allowed-ip';

export interface Principal {
  readonly kind: PrincipalKind;
  readonly shop?: string;
  /** Storefront tokens are scoped to one shopper session. */
  readonly sessionId?: string;
  readonly user?: string;
  /** Operator key name (for logs; never the key). */
  readonly name?: string;
}

export interface AuthInput {
  readonly headers: Record<string, string | string[] | undefined>;
  /** Parsed query; App Proxy parameters are removed from it once checked, so route schemas never see them. */
  readonly query: Record<string, string | string[] | undefined>;
  readonly ip: string;
}

export interface Authenticator {
  identify(input: AuthInput): Promise<Principal | undefined>;
  /** Removes App Proxy parameters without checking them (public routes need no credentials). */
  stripProxyParams(query: AuthInput['query']): void;
}

export function createAuthenticator(config: SecurityConfig, clock: () => Date = () => new Date()): Authenticator {
  const { shopify, jwt } = config;
  const tolerance = config.clockToleranceS;

  const bearer = async (token: string): Promise<Principal> => {
    if (looksLikeSessionToken(token)) {
      if (!shopify.apiKey || !shopify.apiSecret) throw new PetcutError('PETCUT_E_INVALID_TOKEN', 'Shopify session tokens are not accepted here (no app key configured).');
      const context = await verifySessionToken(token, { apiKey: shopify.apiKey, secret: shopify.apiSecret, shops: shopify.shops, toleranceS: tolerance, now: clock() });
      return { kind: 'shopify-session', ...context };
    }
    if (!jwt.secret) throw new PetcutError('PETCUT_E_INVALID_TOKEN', 'Storefront tokens are not accepted here (no PETCUT_JWT_SECRET configured).');
    const claims = await verifyStorefrontToken(token, { secret: jwt.secret, toleranceS: tolerance, now: clock() });
    return { kind: 'storefront-token', shop: claims.shop, sessionId: claims.sessionId, user: claims.user };
  };

  const operator = (key: string): Principal => {
    const name = matchOperatorKey(key, config.operatorKeys);
    if (!name) throw new PetcutError('PETCUT_E_INVALID_TOKEN', 'Unknown API key.');
    return { kind: 'operator', name };
  };

  const stripProxyParams = (query: AuthInput['query']): void => {
    for (const name of APP_PROXY_PARAMS) delete query[name];
  };

  return {
    stripProxyParams,
    async identify({ headers, query, ip }) {
      const apiKey = header(headers, 'x-api-key');
      if (apiKey) return operator(apiKey);
      const authorization = header(headers, 'authorization');
      if (authorization) {
        const match = /^Bearer\s+(\S+)$/i.exec(authorization);
        if (!match) throw new PetcutError('PETCUT_E_INVALID_TOKEN', 'Send credentials as "Authorization: Bearer <token>".');
        return match[1]!.startsWith(KEY_PREFIX) ? operator(match[1]!) : bearer(match[1]!);
      }
      if (query.signature !== undefined && shopify.apiSecret) {
        const context = verifyAppProxy(query, { secret: shopify.apiSecret, maxAgeS: shopify.proxyMaxAgeS, shops: shopify.shops, nowS: Math.floor(clock().getTime() / 1000) });
        stripProxyParams(query);
        return { kind: 'app-proxy', ...context };
      }
      stripProxyParams(query);
      const address = ip.replace(/^::ffff:(?=\d+\.)/, '');
      if (config.allowedIps?.check(address, address.includes(':') ? 'ipv6' : 'ipv4')) return { kind: 'allowed-ip', user: `ip:${address}` };
      return undefined;
    },
  };
}

function header(headers: AuthInput['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
