import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../app.js';
import { PetcutError } from '../../errors.js';
import { FORMATS } from '../../image/formats.js';
import type { JobResult } from '../../service/jobs.js';
import type { ProcessedOutput } from '../../service/processing.js';
import type { SessionImage } from '../../service/sessions.js';

/** Aborts work still queued for a client that hung up (work already in a worker finishes and is cached). */
export function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** The shopper's session: the X-Session-ID header (or `session_id` in the query), else a new one when asked. */
export function sessionFrom(request: FastifyRequest, ctx: AppContext, create: boolean): string | undefined {
  const header = request.headers['x-session-id'];
  const query = (request.query as Record<string, string | undefined> | undefined)?.session_id;
  // A storefront token carries its session; the access hook has already refused any other.
  const given = (Array.isArray(header) ? header[0] : header) ?? query ?? request.principal?.sessionId;
  if (given) return ctx.sessions.checkSessionId(given);
  return create ? ctx.sessions.newSessionId() : undefined;
}

/**
 * A session named in a form field (the first version's routes) is checked
 * here: the access hook only sees headers, query and path.
 */
export function ownSession(request: FastifyRequest, ctx: AppContext, sessionId: string): string {
  const principal = request.principal;
  if (principal?.kind === 'storefront-token' && principal.sessionId !== sessionId) throw new PetcutError('PETCUT_E_FORBIDDEN', 'This token is for another session.');
  return ctx.sessions.checkSessionId(sessionId);
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
