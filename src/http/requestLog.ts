import type { FastifyInstance } from 'fastify';
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
    if (status >= 500) request.log.error(line, 'request failed');
    else request.log.info(line, 'request');
  });
}
