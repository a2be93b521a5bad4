import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { isPetcutError, PetcutError } from '../errors.js';
import { errorCodes } from './metrics.js';
import { translateFrameworkError } from './upload.js';

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

export function toPetcutError(error: unknown): PetcutError | undefined {
  if (isPetcutError(error)) return error;
  if (error && typeof error === 'object' && 'message' in error) return translateFrameworkError(error as FastifyError);
  return undefined;
}

export function sendError(reply: FastifyReply, error: PetcutError, retryAfterS: number): FastifyReply {
  errorCodes.set(reply.request, error.code);
  if (error.retryAfterS !== undefined || error.status === 503) reply.header('Retry-After', String(error.retryAfterS ?? retryAfterS));
  return reply.status(error.status).type('application/json').send({ error: { code: error.code, message: error.message }, requestId: reply.request.id });
}

export function installErrorHandling(app: FastifyInstance, retryAfterS: number): void {
  app.setErrorHandler((error, request, reply) => {
    const coded = toPetcutError(error);
    if (coded) {
      if (coded.status >= 500) request.log.warn({ code: coded.code, err: error }, coded.message);
      if (reply.raw.destroyed) return;
      return sendError(reply, coded, retryAfterS);
    }
    request.log.error({ err: error }, 'unhandled error');
    if (reply.raw.destroyed) return;
    return sendError(reply, new PetcutError('PETCUT_E_INTERNAL'), retryAfterS);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new PetcutError('PETCUT_E_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`), retryAfterS));
}
