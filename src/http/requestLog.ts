import type { FastifyInstance } from 'fastify';
import { securityOf } from '../security/routePolicy.js';
import { EXPECTED_REFUSALS } from './errors.js';
import { errorCodes } from './metrics.js';

/**
 * One log line per request, in Cloud Logging's `httpRequest` shape, and the
 * correlation id echoed as X-Request-ID (error bodies carry it as requestId).
 */
export function installRequestLog(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-ID', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const status = reply.statusCode;
    const httpRequest = {
      requestMethod: request.method, requestUrl: request.url.split('?')[0], status, latency: `${(reply.elapsedTime / 1000).toFixed(3)}s`,
      remoteIp: request.ip, userAgent: request.headers['user-agent'], responseSize: String(reply.getHeader('content-length') ?? ''),
    };
    const code = errorCodes.get(request);
    const line = { httpRequest, ...(code ? { code } : {}) };
    const expected = code !== undefined && EXPECTED_REFUSALS.has(code);
    // Platform probes come every few seconds: their answers (a 503 while the model loads included) are debug lines.
    const probe = securityOf(request.routeOptions.config).rate === 'none' && (status < 500 || expected);
    if (probe) request.log.debug(line, 'request');
    else if (status >= 500) request.log[expected ? 'warn' : 'error'](line, expected ? 'request refused' : 'request failed');
    else request.log.info(line, 'request');
  });
}
