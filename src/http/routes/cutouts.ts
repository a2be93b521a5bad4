import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../app.js';
import { formatBox } from '../../service/cache.js';
import type { Reservation } from '../../service/capacity.js';
import type { ProcessedOutput, ProcessOutcome } from '../../service/processing.js';
import { parseOutputOptions } from '../options.js';
import { CUTOUT_QUERY, errors, IMAGE_UPLOAD_BODY, RESULT, SESSION_HEADER } from '../schemas.js';
import { readUpload } from '../upload.js';
import { abandonOriginal, abortOnClose, publishOutputs, reserveUpload, sessionFrom, startOriginal } from './shared.js';
import { SESSION, storefront } from '../../security/routePolicy.js';
import { workOrigin } from '../workOrigin.js';

/** Headers the storefront reads; CORS exposes them (#5). */
export const RESULT_HEADERS = ['X-Processing-Time-Ms', 'X-Cache', 'X-Image-Width', 'X-Image-Height', 'X-Source-Width', 'X-Source-Height',
  'X-Foreground-Box', 'X-Mask-Confidence', 'X-Model', 'X-Device', 'X-Session-ID', 'X-Effect', 'Server-Timing'];

const IMAGE_RESPONSE = {
  200: {
    description: 'The cut-out (one output), with X-* headers describing it. JSON with URLs when several outputs are asked or Accept prefers application/json.',
    content: {
      'image/png': { schema: { type: 'string', format: 'binary' } },
      'image/webp': { schema: { type: 'string', format: 'binary' } },
      'image/jpeg': { schema: { type: 'string', format: 'binary' } },
      'application/json': { schema: { type: 'object', properties: { results: { type: 'array', items: RESULT } } } },
    },
  },
};

export function registerCutoutRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/v1/cutouts', {
    config: storefront('upload', SESSION),
    schema: {
      summary: 'Cut out the pet in one photo (synchronous)',
      tags: ['cutouts'],
      querystring: CUTOUT_QUERY,
      headers: SESSION_HEADER,
      'x-request-body': IMAGE_UPLOAD_BODY,
      'x-responses': IMAGE_RESPONSE,
      response: errors(400, 404, 413, 415, 422, 503),
    },
  }, async (request, reply) => {
    const { reservation } = reserveUpload(ctx, request, 1);
    try {
      return await cutOutUpload(ctx, request, reply, reservation);
    } finally {
      reservation.release();
    }
  });
}

async function cutOutUpload(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, reservation: Reservation): Promise<FastifyReply> {
  const upload = await readUpload(request, { maxFiles: 1, policy: ctx.uploadPolicy, reservation, pace: ctx.uploadPace });
  const outputs = parseOutputOptions({ ...(request.query as Record<string, string>), ...upload.fields });
  const sessionId = sessionFrom(request, ctx, false);
  const input = upload.files[0]!.data;
  const wantsJson = outputs.length > 1 || preferJson(request);
  const original = sessionId ? startOriginal(ctx, sessionId, input) : undefined;
  let outcome: ProcessOutcome;
  try {
    outcome = await ctx.processing.process({ input, outputs, signal: abortOnClose(reply), storeRenders: wantsJson && !sessionId, origin: workOrigin(request, sessionId), reservation: reservation.takeImage() });
  } catch (error) {
    if (original) await abandonOriginal(ctx, original);
    throw error;
  }
  const published = sessionId && original ? await publishOutputs(ctx, request, sessionId, original, outcome.outputs) : undefined;
  describeOutcome(reply, ctx, outcome, outputs.length === 1 ? outcome.outputs[0]! : undefined);
  if (sessionId) reply.header('X-Session-ID', sessionId);
  if (!wantsJson) {
    const output = outcome.outputs[0]!;
    return reply.type(output.contentType).header('Content-Length', output.data.length).send(output.data);
  }
  return reply.type('application/json').send({
    cache: outcome.cache,
    sessionId,
    results: published?.results ?? outcome.outputs.map((o) => resultOf(ctx, request, o)),
  });
}

function preferJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return /application\/json/.test(accept) && !/image\//.test(accept);
}

export function resultOf(ctx: AppContext, request: FastifyRequest, output: ProcessedOutput) {
  return {
    effect: output.effect, format: output.contentType.split('/')[1]!, contentType: output.contentType,
    width: output.width, height: output.height, bytes: output.data.length, box: output.box,
    url: ctx.url(request, `/v1/results/${output.key}`),
  };
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
  if (output) {
    reply.header('X-Image-Width', output.width).header('X-Image-Height', output.height);
    reply.header('X-Foreground-Box', formatBox(output.box)).header('X-Effect', output.effect);
  }
}
