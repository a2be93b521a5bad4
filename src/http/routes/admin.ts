import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { operatorRoute, SESSION } from '../../security/routePolicy.js';
import { TIER_NAMES } from '../../service/tiers.js';
import type { Tier } from '../../service/tiers.js';
import { errors, SESSION_PARAMS } from '../schemas.js';

/** Operator routes: never open, whatever else is configured (lesson 7 of the first version). */
export function registerAdminRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/admin/whoami', {
    config: operatorRoute(),
    schema: {
      summary: 'The operator key\'s name (checks that a key works)',
      tags: ['admin'],
      response: { 200: { type: 'object', properties: { kind: { type: 'string' }, name: { type: 'string' } } }, ...errors(401, 403) },
    },
  }, async (request) => ({ kind: request.principal!.kind, name: request.principal!.name }));

  app.post('/v1/admin/sweep', {
    config: operatorRoute(),
    schema: {
      summary: 'Delete expired session images and cache entries now (the sweep also runs on a timer on local disk)',
      tags: ['admin'],
      response: { 200: { type: 'object', properties: { deleted: { type: 'integer' } } }, ...errors(401, 403, 503) },
    },
  }, async (request) => {
    const result = await ctx.sessions.sweep();
    request.log.info({ operator: request.principal?.name, ...result }, 'expiry sweep run by an operator');
    return result;
  });

  app.post('/v1/admin/sessions/:sessionId/tier', {
    config: operatorRoute('read', SESSION),
    schema: {
      summary: 'Move a session\'s images to a longer-lived tier (never to a shorter one)',
      tags: ['admin'],
      params: SESSION_PARAMS,
      body: { type: 'object', required: ['tier'], additionalProperties: false, properties: { tier: { type: 'string', enum: TIER_NAMES } } },
      response: { 200: { type: 'object', properties: { sessionId: { type: 'string' }, tier: { type: 'string' }, moved: { type: 'integer' } } }, ...errors(400, 401, 403, 404, 503) },
    },
  }, async (request) => {
    const sessionId = request.actingSession!;
    const { tier } = request.body as { tier: Tier };
    const { moved } = await ctx.sessions.moveTo(sessionId, tier);
    request.log.info({ operator: request.principal?.name, sessionId, tier, moved }, 'session tier moved by an operator');
    return { sessionId, tier, moved };
  });
}
