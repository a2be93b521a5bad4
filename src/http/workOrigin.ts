import type { FastifyRequest } from 'fastify';
import type { WorkOrigin } from '../service/processing.js';

/** Each request's trace context, set by the tracing hooks when tracing is on (read into the work's origin). */
export const traceContexts = new WeakMap<FastifyRequest, unknown>();

/**
 * Who a request's work is for: the shop its credential names, the shopper
 * session it acts on (checked by the access hook: never raw request text),
 * its correlation id and trace. The cost meter charges the work to this shop
 * and session.
 */
export function workOrigin(request: FastifyRequest, sessionId?: string): WorkOrigin {
  return {
    shop: request.principal?.shop,
    session: sessionId ?? request.actingSession,
    requestId: request.id,
    route: request.routeOptions.url,
    trace: traceContexts.get(request),
  };
}
