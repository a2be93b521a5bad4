import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { PetcutError } from '../errors.js';
import { jwtError } from './shopify.js';

/**
 * Our own storefront token: HS256, one hour by default, scoped to one shop
 * and one shopper session. `POST /v1/auth/token` issues it in exchange for a
 * verified Shopify context; the storefront then sends it as a Bearer token.
 */
const ISSUER = 'petcut';
const AUDIENCE = 'petcut-storefront';

export interface StorefrontClaims {
  readonly shop?: string;
  readonly sessionId: string;
  readonly user?: string;
}

export interface IssuedToken {
  readonly token: string;
  readonly expiresAt: Date;
}

export async function issueStorefrontToken(claims: StorefrontClaims, options: { secret: string; ttlS: number; now: Date }): Promise<IssuedToken> {
  const issuedAt = Math.floor(options.now.getTime() / 1000);
  const expiresAt = new Date((issuedAt + options.ttlS) * 1000);
  const token = await new SignJWT({ shop: claims.shop, sid: claims.sessionId, usr: claims.user })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(claims.sessionId).setJti(randomUUID())
    .setIssuedAt(issuedAt).setNotBefore(issuedAt).setExpirationTime(issuedAt + options.ttlS)
    .sign(keyOf(options.secret));
  return { token, expiresAt };
}

export async function verifyStorefrontToken(token: string, options: { secret: string; toleranceS: number; now: Date }): Promise<StorefrontClaims> {
  try {
    const { payload } = await jwtVerify(token, keyOf(options.secret), {
      algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, clockTolerance: options.toleranceS, currentDate: options.now, requiredClaims: ['exp', 'sid'],
    });
    if (typeof payload.sid !== 'string') throw new PetcutError('PETCUT_E_INVALID_TOKEN', 'The storefront token names no session.');
    return { sessionId: payload.sid, shop: typeof payload.shop === 'string' ? payload.shop : undefined, user: typeof payload.usr === 'string' ? payload.usr : undefined };
  } catch (error) {
    throw error instanceof PetcutError ? error : jwtError(error, 'storefront token');
  }
}

function keyOf(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}
