import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { PetcutError } from '../../errors.js';
import { SESSION, storefront } from '../../security/routePolicy.js';
import { resolveSession } from '../session.js';
import { issueStorefrontToken } from '../../security/tokens.js';
import { errors } from '../schemas.js';

/** Kinds of caller that may be given a storefront token: each was verified by Shopify or by us. */
const EXCHANGEABLE = new Set(['app-proxy', 'shopify-session', 'operator', 'allowed-ip']);

export function registerAuthRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/v1/auth/token', {
    config: storefront('read', SESSION),
    schema: {
      summary: 'Exchange a verified Shopify context for a storefront token (JWT, 1 hour)',
      description: 'Call through the Shopify App Proxy (signed query), with an App Bridge session token, an operator key or from an allow-listed address. The token is scoped to the shop and one shopper session: send it as "Authorization: Bearer <token>".',
      tags: ['auth'],
      body: { type: ['object', 'null'], additionalProperties: false, properties: { sessionId: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$' } } },
      response: {
        200: {
          type: 'object', required: ['token', 'tokenType', 'expiresIn', 'expiresAt', 'sessionId'],
          properties: { token: { type: 'string' }, tokenType: { type: 'string' }, expiresIn: { type: 'integer' }, expiresAt: { type: 'string' }, sessionId: { type: 'string' }, shop: { type: 'string' } },
        },
        ...errors(400, 401, 403, 429, 501),
      },
    },
  }, async (request) => {
    const secret = ctx.config.security.jwt.secret;
    if (!secret) throw new PetcutError('PETCUT_E_NOT_CONFIGURED', 'Storefront tokens are not configured on this service (PETCUT_JWT_SECRET).');
    const principal = request.principal;
    if (!principal) throw new PetcutError('PETCUT_E_UNAUTHORIZED', 'A token is issued only to a verified Shopify context: call through the App Proxy or with a Shopify session token.');
    if (!EXCHANGEABLE.has(principal.kind)) throw new PetcutError('PETCUT_E_FORBIDDEN', 'A storefront token cannot be exchanged for another: get a new one through the App Proxy.');
    // The body's sessionId must agree with any header or query naming one.
    const sessionId = resolveSession(request, (request.body as { sessionId?: string } | null)?.sessionId) ?? ctx.sessions.newSessionId();
    const { token, expiresAt } = await issueStorefrontToken({ shop: principal.shop, sessionId, user: principal.user }, { secret, ttlS: ctx.config.security.jwt.ttlS, now: ctx.clock() });
    request.log.info({ shop: principal.shop, sessionId, via: principal.kind }, 'storefront token issued');
    return { token, tokenType: 'Bearer', expiresIn: ctx.config.security.jwt.ttlS, expiresAt: expiresAt.toISOString(), sessionId, shop: principal.shop };
  });
}
