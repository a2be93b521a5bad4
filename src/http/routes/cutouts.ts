import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Reservation } from '../../service/capacity.js';
import type { AppContext } from '../context.js';
import { parseCutoutOptions } from '../options.js';
import { CUTOUT_QUERY, errors, IMAGE_UPLOAD_BODY, PET_FOUND, RESULT, SESSION_HEADER, SUBJECTS } from '../schemas.js';
import { imageContentTypes } from '../../image/formats.js';
import { readUpload } from '../upload.js';
import { abortOnClose, reserveUpload, sessionFrom } from '../uploadRoom.js';
import { describeOutcome, FINDING_HEADERS_DOC, findingsOf, resultOf, storedResultOf } from '../views.js';
import { SESSION, storefront } from '../../security/routePolicy.js';
import { workOrigin } from '../workOrigin.js';

const IMAGE_RESPONSE = {
  200: {
    description: 'The cut-out (one output), with X-* headers describing it. JSON with URLs when several outputs are asked or Accept prefers application/json.',
    headers: FINDING_HEADERS_DOC,
    content: {
      ...imageContentTypes({ schema: { type: 'string', format: 'binary' } }),
      'application/json': { schema: { type: 'object', properties: { petFound: PET_FOUND, subjects: SUBJECTS, results: { type: 'array', items: RESULT } } } },
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
  const { selection, outputs } = parseCutoutOptions({ ...(request.query as Record<string, string>), ...upload.fields });
  const session = sessionFrom(request, ctx, false);
  const wantsJson = outputs.length > 1 || preferJson(request);
  const { outcome, stored } = await ctx.cutouts.cutOut({
    input: upload.files[0]!.data, outputs, selection, session, origin: workOrigin(request, session), signal: abortOnClose(reply), reservation: reservation.takeImage(),
    // Without a session, JSON answers link to the result cache: those renders must be there first.
    keepRenders: wantsJson && !session,
    // Storage down: a cut-out already in the memory cache is still answered (flagged, without its session copy).
    serveUnstored: true,
  });
  describeOutcome(reply, ctx, outcome, outputs.length === 1 ? outcome.outputs[0]! : undefined);
  if (session) reply.header('X-Session-ID', session);
  if (!wantsJson) {
    const output = outcome.outputs[0]!;
    return reply.type(output.contentType).header('Content-Length', output.data.length).send(output.data);
  }
  return reply.type('application/json').send({
    cache: outcome.cache,
    sessionId: session,
    ...(outcome.degraded ? { degraded: outcome.degraded } : {}),
    ...findingsOf(outcome.facts),
    results: stored ? stored.outputs.map((kept) => storedResultOf(ctx, request, kept)) : outcome.outputs.map((o) => resultOf(ctx, request, o)),
  });
}

function preferJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return /application\/json/.test(accept) && !/image\//.test(accept);
}
