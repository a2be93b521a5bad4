import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { PetcutError } from '../../errors.js';
import { parseAlertPayload } from '../../mitigation/index.js';
import { webhookRoute } from '../../security/routePolicy.js';
import { errors } from '../schemas.js';

/**
 * Alertmanager's webhook (deploy/alertmanager/alertmanager.yml, receiver
 * petcut-mitigations): the alerts that switch automatic mitigations on and
 * off (docs/mitigations.md). Its credential is its own bearer token
 * (PETCUT_ALERT_WEBHOOK_TOKEN), not an operator key: Alertmanager holds it
 * in a file and can do nothing else with it. Checked before the body is read.
 */
// A group of a few alerts is a few KB; 500 alerts with long annotations stay well under this.
const ALERTS_BODY_LIMIT = 256 * 1024;

export function registerAlertRoutes(app: FastifyInstance, ctx: AppContext): void {
  const expected = ctx.config.mitigation.webhookToken;
  app.post('/v1/admin/alerts', {
    bodyLimit: ALERTS_BODY_LIMIT,
    config: webhookRoute(),
    onRequest: async (request, reply) => checkToken(request, reply, expected),
    schema: {
      summary: 'Alertmanager webhook: alerts that switch automatic mitigations on (firing) and off (resolved)',
      description: 'Authorization: Bearer PETCUT_ALERT_WEBHOOK_TOKEN. Body: Alertmanager webhook payload version 4. Alerts without a mitigation are accepted and ignored (counted). See docs/mitigations.md.',
      tags: ['admin'],
      response: {
        200: {
          type: 'object',
          properties: {
            applied: { type: 'array', items: { type: 'string' } }, undone: { type: 'array', items: { type: 'string' } },
            ignored: { type: 'integer' }, cloud: { type: 'string' },
          },
        },
        ...errors(400, 401, 413, 415, 501),
      },
    },
  }, async (request) => {
    const payload = parseAlertPayload(request.body);
    const summary = await ctx.mitigations.receive(payload);
    request.log.info({ receiver: payload.receiver, status: payload.status, alerts: payload.alerts.length, ...summary }, 'alert notification');
    return summary;
  });
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

function checkToken(request: FastifyRequest, reply: FastifyReply, expected: string | undefined): void {
  if (!expected) throw new PetcutError('PETCUT_E_NOT_CONFIGURED', 'The alert receiver is not configured on this service (PETCUT_ALERT_WEBHOOK_TOKEN).');
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  // Digests of equal length: the comparison takes the same time whatever the token's length or content.
  if (!match || !timingSafeEqual(digest(match[1]!), digest(expected))) {
    reply.header('WWW-Authenticate', 'Bearer realm="petcut-alerts"');
    throw new PetcutError('PETCUT_E_INVALID_TOKEN', 'The alert receiver needs "Authorization: Bearer <PETCUT_ALERT_WEBHOOK_TOKEN>".');
  }
}
