import type { FastifyReply, FastifyRequest } from 'fastify';
import { formatOfContentType } from '../image/formats.js';
import { formatBox } from '../service/cache.js';
import type { StoredOutput } from '../service/cutouts.js';
import type { Job } from '../service/jobs.js';
import type { ProcessedOutput, ProcessOutcome } from '../service/processing.js';
import type { FoundSubject, SubjectFacts } from '../engine/index.js';
import type { SessionImage } from '../service/sessions.js';
import type { AppContext } from './context.js';

/**
 * How the service's results look on the wire, shared by the routes that
 * show them: response headers of a cut-out, result and image views with
 * their URLs, a job's view. URLs are made here, from ids the service returns.
 */

/** Headers the storefront reads; CORS exposes them (#5). */
export const RESULT_HEADERS = ['X-Processing-Time-Ms', 'X-Cache', 'X-Image-Width', 'X-Image-Height', 'X-Source-Width', 'X-Source-Height',
  'X-Foreground-Box', 'X-Mask-Confidence', 'X-Model', 'X-Device', 'X-Session-ID', 'X-Effect', 'Server-Timing',
  // "storage": answered from this instance's memory cache while storage is down (nothing was stored).
  'X-Petcut-Degraded',
  // What pet finding found (#18): see FINDING_HEADERS_DOC.
  'X-Petcut-Pet-Found', 'X-Petcut-Subjects'];

/** The two pet-finding headers, as the OpenAPI document shows them. */
export const FINDING_HEADERS_DOC = {
  'X-Petcut-Pet-Found': {
    description: '"false": no animal was found and the saliency cut-out was returned (ask the shopper to check or tap the pet). Absent for subjects=all-salient.',
    schema: { type: 'string', enum: ['true', 'false'] },
  },
  'X-Petcut-Subjects': {
    description: 'What was found, "; "-separated, at most 8, animals first: `<label> <score> <x>,<y>,<w>,<h> kept|dropped`, e.g. "cat 0.91 12,40,300,280 kept; person 0.88 0,0,500,700 dropped". Labels are COCO names with spaces as "-" (potted-plant); boxes in the oriented photo\'s pixels; "none" when nothing was found. Absent before pet finding ran.',
    schema: { type: 'string', maxLength: 1024 },
  },
} as const;

/**
 * The X-Petcut-Subjects value: one `label score x,y,w,h kept|dropped` per
 * subject. Labels keep only [a-z0-9-] (header-safe, and a space would break
 * the fields apart); facts hold at most 8 subjects, so it stays under 1 KB.
 */
export function formatSubjectsHeader(subjects: readonly FoundSubject[]): string {
  if (subjects.length === 0) return 'none';
  return subjects.map((s) => {
    const label = s.label.toLowerCase().replace(/\s+/g, '-').replace(/[^a-z0-9-]/g, '') || 'unknown';
    return `${label} ${s.score.toFixed(2)} ${formatBox(s.box)} ${s.kept ? 'kept' : 'dropped'}`;
  }).join('; ').slice(0, 1024);
}

/** `petFound` and `subjects` for JSON answers, where the engine reported them. */
export function findingsOf(facts: SubjectFacts): { petFound?: boolean; subjects?: readonly FoundSubject[] } {
  return { ...(facts.petFound !== undefined ? { petFound: facts.petFound } : {}), ...(facts.subjects ? { subjects: facts.subjects } : {}) };
}

export function describeOutcome(reply: FastifyReply, ctx: AppContext, outcome: ProcessOutcome, output?: ProcessedOutput): void {
  const engine = ctx.engine.current();
  const t = outcome.times;
  reply.header('X-Processing-Time-Ms', (t.total ?? 0).toFixed(1));
  reply.header('X-Cache', outcome.cache === 'hit' ? 'HIT' : outcome.cache === 'cutout' ? 'HIT-CUTOUT' : 'MISS');
  reply.header('X-Source-Width', outcome.facts.sourceWidth);
  reply.header('X-Source-Height', outcome.facts.sourceHeight);
  reply.header('X-Mask-Confidence', outcome.facts.confidence.toFixed(3));
  if (engine) reply.header('X-Model', engine.model.name).header('X-Device', engine.runtime.device);
  reply.header('Server-Timing', Object.entries(t).map(([stage, ms]) => `${stage};dur=${ms.toFixed(1)}`).join(', '));
  if (outcome.facts.petFound !== undefined) reply.header('X-Petcut-Pet-Found', String(outcome.facts.petFound));
  if (outcome.facts.subjects) reply.header('X-Petcut-Subjects', formatSubjectsHeader(outcome.facts.subjects));
  if (outcome.degraded) flagDegraded(reply, ctx, outcome);
  if (output) {
    reply.header('X-Image-Width', output.width).header('X-Image-Height', output.height);
    reply.header('X-Foreground-Box', formatBox(output.box)).header('X-Effect', output.effect);
  }
}

/** An answer given while storage is down: the header, one log line, and petcut_degraded_responses_total{route}. */
function flagDegraded(reply: FastifyReply, ctx: AppContext, outcome: ProcessOutcome): void {
  const route = reply.request.routeOptions.url ?? 'unknown';
  reply.header('X-Petcut-Degraded', 'storage');
  ctx.metrics.degradedResponses.inc({ route });
  reply.request.log.warn({ degraded: 'storage', cache: outcome.cache, route }, 'answered while storage is down: from the memory cache, nothing stored');
}

/** A render kept in the result cache: its content link. */
export function resultOf(ctx: AppContext, request: FastifyRequest, output: ProcessedOutput) {
  return {
    effect: output.effect, format: formatOfContentType(output.contentType)?.extension ?? 'bin', contentType: output.contentType,
    width: output.width, height: output.height, bytes: output.data.length, box: output.box,
    url: ctx.url(request, `/v1/results/${output.key}`),
  };
}

/** A render stored in the session: its stable session link. */
export function storedResultOf(ctx: AppContext, request: FastifyRequest, { image, output }: StoredOutput) {
  return { ...resultOf(ctx, request, output), url: imageUrl(ctx, request, image), imageId: image.id };
}

export function imageUrl(ctx: AppContext, request: FastifyRequest, image: Pick<SessionImage, 'sessionId' | 'id'>): string {
  return ctx.url(request, `/v1/sessions/${image.sessionId}/images/${image.id}`);
}

export async function imageView(ctx: AppContext, request: FastifyRequest, image: SessionImage) {
  const signedUrl = ctx.config.storage.signedUrls && ctx.store.signedUrl ? await ctx.store.signedUrl(image.key, ctx.config.signedUrlTtlS) : undefined;
  return {
    id: image.id, kind: image.kind, effect: image.effect, source: image.source, contentType: image.contentType, size: image.size, tier: image.tier,
    createdAt: image.createdAt.toISOString(), expiresAt: image.expiresAt.toISOString(), url: imageUrl(ctx, request, image), signedUrl,
  };
}

export function jobView(ctx: AppContext, request: FastifyRequest, job: Job) {
  const ofSession = (id: string): string => imageUrl(ctx, request, { sessionId: job.sessionId, id });
  return {
    id: job.id, status: job.status, sessionId: job.sessionId,
    createdAt: job.createdAt.toISOString(), updatedAt: job.updatedAt.toISOString(),
    statusUrl: ctx.url(request, `/v1/jobs/${job.id}`),
    eventsUrl: ctx.url(request, `/v1/jobs/${job.id}/events`).replace(/^http/, 'ws'),
    progress: job.last,
    files: job.files.map(({ originalId, results, ...file }) => ({
      ...file,
      ...(originalId ? { originalUrl: ofSession(originalId) } : {}),
      ...(results ? { results: results.map((result) => ({ ...result, url: ofSession(result.imageId) })) } : {}),
    })),
  };
}
