import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isPetcutError, PetcutError } from '../errors.js';
import { errorCodes } from './metrics.js';
import { translateFrameworkError } from './frameworkErrors.js';
import { closesConnection } from './uploadPace.js';

/**
 * One error shape for every route: `{ error: { code, message }, requestId }`.
 * User errors carry their code; anything unexpected is a bare 500 whose
 * details go to the log under the same request id.
 */
export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error', 'requestId'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
    requestId: { type: 'string' },
  },
} as const;

/** `bodyLimit`: the route's own body limit (named in a 413's message). */
export function toPetcutError(error: unknown, bodyLimit?: number): PetcutError | undefined {
  if (isPetcutError(error)) return error;
  if (error && typeof error === 'object' && 'message' in error) return translateFrameworkError(error as FastifyError, bodyLimit);
  return undefined;
}

/** Headers every error answer carries: Retry-After for 503s, and Connection: close when the body was left unread. */
export function errorHeaders(reply: FastifyReply, error: PetcutError, retryAfterS: number): void {
  if (error.retryAfterS !== undefined || error.status === 503) reply.header('Retry-After', String(error.retryAfterS ?? retryAfterS));
  if (closesConnection(error)) reply.header('Connection', 'close');
}

export function sendError(reply: FastifyReply, error: PetcutError, retryAfterS: number): FastifyReply {
  errorCodes.set(reply.request, error.code);
  errorHeaders(reply, error, retryAfterS);
  return reply.status(error.status).type('application/json').send({ error: { code: error.code, message: error.message }, requestId: reply.request.id });
}

export function installErrorHandling(app: FastifyInstance, retryAfterS: number): void {
  app.setErrorHandler((error, request, reply) => {
    const coded = toPetcutError(error, request.routeOptions.bodyLimit);
    if (coded) {
      logServerSide(request, coded, error);
      if (reply.raw.destroyed) return;
      return sendError(reply, coded, retryAfterS);
    }
    request.log.error({ err: error }, 'unhandled error');
    if (reply.raw.destroyed) return;
    return sendError(reply, new PetcutError('PETCUT_E_INTERNAL'), retryAfterS);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new PetcutError('PETCUT_E_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]!.slice(0, 100)}.`), retryAfterS));
}

/**
 * 503s the service gives on purpose (loading, draining, full, short of
 * memory) are part of normal operation: the request's own log line says so,
 * with its code. Other server-side failures (storage down...) are logged with
 * their cause, which never reaches the client.
 */
export const EXPECTED_REFUSALS: ReadonlySet<string> = new Set(['PETCUT_E_NOT_READY', 'PETCUT_E_SHUTTING_DOWN', 'PETCUT_E_OVERLOADED', 'PETCUT_E_MEMORY_PRESSURE']);

export function logServerSide(request: FastifyRequest, coded: PetcutError, error: unknown): void {
  if (coded.status < 500 || EXPECTED_REFUSALS.has(coded.code)) return;
  request.log.warn({ code: coded.code, err: error }, coded.message);
}
