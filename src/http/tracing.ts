import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { traceOf } from '../observability/logging.js';
import type { RequestSpan, Tracing } from '../observability/tracing.js';
import { errorCodes } from './metrics.js';
import { traceContexts } from './workOrigin.js';

/**
 * One SERVER span per request (when tracing is on): started as the request
 * arrives, its context handed to the work it starts (workOrigin), ended with
 * the status and error code as the response finishes, or when the connection
 * closes first. Only types come from the tracing module: without tracing,
 * nothing of OpenTelemetry is loaded.
 */
export function installTracing(app: FastifyInstance, tracing: Tracing | undefined, gcpProject?: string): void {
  if (!tracing) return;
  const spans = new WeakMap<FastifyRequest, RequestSpan>();
  app.addHook('onRequest', async (request, reply) => {
    const span = tracing.startRequest({ method: request.method, route: request.routeOptions.url, path: request.url.split('?')[0]!, headers: request.headers });
    spans.set(request, span);
    traceContexts.set(request, span.context);
    if (!traceOf(request.raw)) linkLogs(request, reply, span, gcpProject);
    // No onResponse when the client leaves, the request times out or a WebSocket takes the connection over: the close ends those.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) spans.get(request)?.end({ status: upgraded(reply) ? 101 : undefined, errorCode: errorCodes.get(request) });
    });
  });
  app.addHook('onResponse', async (request, reply) => {
    spans.get(request)?.end({ status: reply.statusCode, errorCode: errorCodes.get(request) });
  });
}

/**
 * A request without a traceparent starts a new trace: its log lines name it
 * (the childLoggerFactory names the caller's when there is one), in the same
 * fields as traceFields in observability/logging.ts.
 */
function linkLogs(request: FastifyRequest, reply: FastifyReply, span: RequestSpan, gcpProject: string | undefined): void {
  request.log = request.log.child({
    'logging.googleapis.com/trace': gcpProject ? `projects/${gcpProject}/traces/${span.traceId}` : span.traceId,
    'logging.googleapis.com/spanId': span.spanId,
  });
  reply.log = request.log;
}

/** A hijacked reply whose connection was upgraded (WebSocket): its span lasts as long as the socket. */
function upgraded(reply: FastifyReply): boolean {
  return reply.sent && reply.request.headers.upgrade?.toLowerCase() === 'websocket';
}
