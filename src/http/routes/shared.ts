import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../app.js';
import { PetcutError } from '../../errors.js';
import type { Reservation } from '../../service/capacity.js';
import { readUpload } from '../upload.js';
import type { Upload, UploadOptions } from '../upload.js';
import { leavingBodyUnread } from '../uploadPace.js';
import { FORMATS } from '../../image/formats.js';
import type { JobResult } from '../../service/jobs.js';
import type { ProcessedOutput } from '../../service/processing.js';
import type { SessionImage } from '../../service/sessions.js';

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
 * (src/http/session.ts), or a new one when asked. A route that reads a
 * `session_id` form field calls resolveSession(request, field) first.
 */
export function sessionFrom(request: FastifyRequest, ctx: AppContext, create: boolean): string | undefined {
  if (request.actingSession) return request.actingSession;
  if (!create) return undefined;
  request.actingSession = ctx.sessions.newSessionId();
  return request.actingSession;
}

export function imageUrl(ctx: AppContext, request: FastifyRequest, image: SessionImage): string {
  return ctx.url(request, `/v1/sessions/${image.sessionId}/images/${image.id}`);
}

/**
 * Starts storing the original (re-encoded without metadata) while the
 * cut-out is made: the re-encode runs on libuv threads beside the model.
 */
export function startOriginal(ctx: AppContext, sessionId: string, input: Buffer): Promise<SessionImage> {
  const storing = ctx.sessions.storeOriginal(sessionId, input);
  storing.catch(() => undefined);
  return storing;
}

/** Removes an original whose cut-out failed, so the session never shows half a result. */
export async function abandonOriginal(ctx: AppContext, original: Promise<SessionImage>): Promise<void> {
  const image = await original.catch(() => undefined);
  if (image) await ctx.store.delete(image.key).catch(() => undefined);
}

/**
 * Stores each output in the session beside its original; returns their
 * stable URLs. All or nothing: when a write fails, what was already stored
 * (the original included) is removed.
 */
export async function publishOutputs(ctx: AppContext, request: FastifyRequest, sessionId: string, originalStoring: Promise<SessionImage>, outputs: readonly ProcessedOutput[]): Promise<{ results: JobResult[]; originalUrl: string }> {
  const original = await originalStoring;
  const settled = await Promise.allSettled(outputs.map((output) => ctx.sessions.store(sessionId, {
    data: output.data, contentType: output.contentType, extension: extensionOf(output.contentType),
    kind: 'cutout', effect: output.effect, source: original.id,
  })));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    const written = [original, ...settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))];
    await Promise.allSettled(written.map((image) => ctx.store.delete(image.key)));
    throw failed.reason;
  }
  const stored = settled.map((s) => (s as PromiseFulfilledResult<SessionImage>).value);
  const results = outputs.map((output, i) => ({
    effect: output.effect, format: extensionOf(output.contentType), contentType: output.contentType,
    width: output.width, height: output.height, bytes: output.data.length, box: output.box,
    url: imageUrl(ctx, request, stored[i]!), imageId: stored[i]!.id,
  }));
  return { results, originalUrl: imageUrl(ctx, request, original) };
}

function extensionOf(contentType: string): string {
  return Object.values(FORMATS).find((f) => f.contentType === contentType)?.extension ?? 'bin';
}
