import type { FastifyReply, FastifyRequest } from 'fastify';
import { PetcutError } from '../errors.js';
import type { Reservation } from '../service/capacity.js';
import type { AppContext } from './context.js';
import { readUpload } from './upload.js';
import type { Upload, UploadOptions } from './upload.js';
import { leavingBodyUnread } from './uploadPace.js';

/**
 * What upload routes share: room reserved before the body is read, the body
 * read against it, the client's hang-up as an abort signal, the session.
 */

/** Multipart framing around the files: boundaries, part headers and up to 30 option fields of 64 KB. */
const FORM_OVERHEAD = 2 * 1024 * 1024;

/**
 * Room for an upload, reserved before one byte of its body is read: a slot
 * per image (`images`, 0 for an upload that is only stored) and the body's
 * bytes (its Content-Length; a chunked body holds more as it arrives,
 * readUpload). A body declared larger than it may be is refused at once. No
 * model yet, or no room: a 503 now rather than after buffering 30 MB that
 * would then be refused. Give it back with `release()` when done.
 */
export function reserveUpload(ctx: AppContext, request: FastifyRequest, images: number, maxFiles = 1): { reservation: Reservation } {
  if (images > 0) ctx.engine.require();
  const header = request.headers['content-length'];
  const declared = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
  const limit = ctx.config.bodyLimitBytes * maxFiles + FORM_OVERHEAD;
  if (declared !== undefined && declared > limit) {
    throw leavingBodyUnread(new PetcutError('PETCUT_E_PAYLOAD_TOO_LARGE', `The request body is ${(declared / 1048576).toFixed(1)} MB; the limit is ${(limit / 1048576).toFixed(1)} MB (${Math.round(ctx.config.bodyLimitBytes / 1048576)} MB a photo).`));
  }
  return { reservation: ctx.capacity.reserve({ images, bytes: declared ?? 0, owner: request.limitedAddress ?? request.ip }) };
}

/**
 * An upload of one photo from reservation to release: room is reserved
 * before the body is read (reserveUpload), the body is read against it, and
 * whatever is still held is given back when `use` is done, however it ends.
 */
export async function withUpload<T>(ctx: AppContext, request: FastifyRequest, images: number, read: Pick<UploadOptions, 'allowedFields'>,
  use: (upload: Upload, reservation: Reservation) => Promise<T>): Promise<T> {
  const { reservation } = reserveUpload(ctx, request, images);
  try {
    const upload = await readUpload(request, { maxFiles: 1, policy: ctx.uploadPolicy, reservation, pace: ctx.uploadPace, ...read });
    return await use(upload, reservation);
  } finally {
    reservation.release();
  }
}

/** Aborts work still queued for a client that hung up (work already in a worker finishes and is cached). */
export function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * The shopper's session, as the access hook resolved and checked it
 * (src/http/session.ts; readUpload checks a `session_id` form field the
 * same way), or a new one when asked. A JSON body that names a session
 * calls resolveSession(request, value) itself.
 */
export function sessionFrom(request: FastifyRequest, ctx: AppContext, create: boolean): string | undefined {
  if (request.actingSession) return request.actingSession;
  if (!create) return undefined;
  request.actingSession = ctx.sessions.newSessionId();
  return request.actingSession;
}
