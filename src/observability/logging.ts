import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';

/**
 * JSON logs Google Cloud Logging reads natively: `severity` (its level
 * names), `message`, `httpRequest` on the one line per request, and
 * `logging.googleapis.com/trace` so a request's lines group under its trace.
 * Credentials never reach the logs (redacted whatever a line includes).
 */
const SEVERITY: Readonly<Record<string, string>> = { trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };

export const REDACTED = ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', 'headers.authorization', 'headers["x-api-key"]'];

export function loggerOptions(level: string): Record<string, unknown> {
  return {
    level,
    // Written as they are logged: an asynchronous stream loses its last lines (why the process ends) to the
    // SIGKILL that ends a shutdown past its deadline, and its writes wait behind libvips on the libuv pool.
    // One line per request is cheap to write at once.
    stream: pino.destination({ dest: 1, sync: true }),
    messageKey: 'message',
    formatters: { level: (label: string, number: number) => ({ severity: SEVERITY[label] ?? 'DEFAULT', level: number }) },
    redact: { paths: REDACTED, censor: '[redacted]' },
  };
}

/** W3C traceparent: version-traceid-spanid-flags. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
/** A caller's X-Request-ID is kept only when it is a plain token (no log forging, bounded size). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function traceOf(request: IncomingMessage): { traceId: string; spanId: string } | undefined {
  const header = request.headers.traceparent;
  const match = typeof header === 'string' ? TRACEPARENT.exec(header.trim()) : null;
  if (!match || /^0+$/.test(match[1]!)) return undefined;
  return { traceId: match[1]!, spanId: match[2]! };
}

/** The correlation id: the caller's X-Request-ID, else the trace id, else a new one. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  if (typeof given === 'string' && REQUEST_ID.test(given)) return given;
  return traceOf(request)?.traceId ?? randomUUID();
}

/** Fields every line of a request carries: its trace, in Cloud Logging's names. */
export function traceFields(request: IncomingMessage, project: string | undefined): Record<string, string> {
  const trace = traceOf(request);
  if (!trace) return {};
  return {
    'logging.googleapis.com/trace': project ? `projects/${project}/traces/${trace.traceId}` : trace.traceId,
    'logging.googleapis.com/spanId': trace.spanId,
  };
}
