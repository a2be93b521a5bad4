import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { PetcutError } from '../../errors.js';
import { parseCutoutOptions } from '../options.js';
import { CUTOUT_QUERY, errors, IMAGE_UPLOAD_BODY, PET_FOUND, RESULT, SESSION_IMAGE, SESSION_PARAMS, SUBJECTS } from '../schemas.js';
import { abortOnClose, reserveUpload, withUpload } from '../uploadRoom.js';
import { describeOutcome, FINDING_HEADERS_DOC, findingsOf, imageUrl, imageView, storedResultOf } from '../views.js';
import { workOrigin } from '../workOrigin.js';
import { publicRoute, SESSION, storefront } from '../../security/routePolicy.js';

const ORDER_STATES = { pending: 'order_pending', completed: 'order_completed', archived: 'archived' } as const;

const IMAGE_PARAMS = { type: 'object', required: ['sessionId', 'imageId'], properties: { ...SESSION_PARAMS.properties, imageId: { type: 'string', maxLength: 64 } } } as const;

/** A re-render's answer: the cut-out JSON answer's shape, results stored in the session. */
const RENDERS = {
  type: 'object',
  required: ['cache', 'sessionId', 'sourceId', 'results'],
  properties: {
    cache: { type: 'string', enum: ['hit', 'cutout', 'miss'], description: 'hit: every output from the cache; cutout: rendered from the cached cut-out (no model run); miss: the model ran on the stored photo.' },
    sessionId: { type: 'string' },
    sourceId: { type: 'string', description: 'The stored original the outputs were rendered from (the image id given, or its source when that was a cut-out).' },
    petFound: PET_FOUND,
    subjects: SUBJECTS,
    results: { type: 'array', items: RESULT },
  },
} as const;

export function registerSessionRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/v1/sessions/:sessionId/images', {
    config: storefront('upload', SESSION),
    schema: {
      summary: 'Store a customer photo in the session',
      description: 'Re-encoded in its own format with EXIF orientation applied and all metadata (GPS included) removed; kept 7 days unless an order moves it.',
      tags: ['sessions'],
      params: SESSION_PARAMS,
      'x-request-body': { ...IMAGE_UPLOAD_BODY, description: 'The photo as multipart field "image" or the raw body.' },
      response: { 201: SESSION_IMAGE, ...errors(400, 413, 415, 422, 503) },
    },
  }, async (request, reply) => {
    const sessionId = request.actingSession!;
    const image = await withUpload(ctx, request, 0, { allowedFields: new Set() }, (upload) => ctx.sessions.storeOriginal(sessionId, upload.files[0]!.data));
    return reply.status(201).header('Location', imageUrl(ctx, request, image)).send(await imageView(ctx, request, image));
  });

  app.get('/v1/sessions/:sessionId/images', {
    config: storefront('read', SESSION),
    schema: {
      summary: 'List a session\'s images (originals and cut-outs) with their tier and expiry',
      tags: ['sessions'],
      params: SESSION_PARAMS,
      response: {
        200: { type: 'object', required: ['sessionId', 'images'], properties: { sessionId: { type: 'string' }, images: { type: 'array', items: SESSION_IMAGE } } },
        ...errors(400, 404, 503),
      },
    },
  }, async (request) => {
    const sessionId = request.actingSession!;
    const images = await ctx.sessions.list(sessionId);
    if (images.length === 0) throw new PetcutError('PETCUT_E_SESSION_NOT_FOUND');
    return { sessionId, images: await Promise.all(images.map((image) => imageView(ctx, request, image))) };
  });

  app.get('/v1/sessions/:sessionId/images/:imageId', {
    config: publicRoute('read', SESSION),
    schema: {
      summary: 'One session image (stable URL: it survives tier moves)',
      tags: ['sessions'],
      params: { type: 'object', required: ['sessionId', 'imageId'], properties: { ...SESSION_PARAMS.properties, imageId: { type: 'string', maxLength: 64 } } },
      'x-responses': { 200: { description: 'The image bytes; Content-Type from the stored object.', content: { 'image/*': { schema: { type: 'string', format: 'binary' } } } } },
      response: errors(400, 404, 503),
    },
  }, async (request, reply) => {
    const { imageId } = request.params as { imageId: string };
    const { image, object } = await ctx.sessions.read(request.actingSession!, imageId);
    return reply.type(object.contentType).header('Cache-Control', 'private, max-age=3600').header('X-Tier', image.tier).header('Expires', image.expiresAt.toUTCString()).send(object.data);
  });

  app.post('/v1/sessions/:sessionId/images/:imageId/renders', {
    config: storefront('upload', SESSION),
    schema: {
      summary: 'Render a stored photo again (another print style, format or size; or another selection): no new upload',
      description: 'imageId: a stored original (a job\'s files[].originalUrl ends with it) or a stored cut-out (its source original is used). '
        + 'Takes the cut-out options as query. Another style, format or size renders from the cached cut-out (X-Cache HIT-CUTOUT: no model run); '
        + '`subjects`, `point` or `people` change the cut-out itself and run the model on the stored photo (MISS), as does an expired cache entry. '
        + 'The outputs are stored in the session beside the original (their url and imageId); the headers are a cut-out\'s.',
      tags: ['sessions'],
      params: IMAGE_PARAMS,
      querystring: CUTOUT_QUERY,
      'x-responses': { 200: { description: 'The stored outputs, with the cut-out headers (X-Cache, X-Petcut-Pet-Found, ...).', headers: FINDING_HEADERS_DOC, content: { 'application/json': { schema: RENDERS } } } },
      response: { 200: RENDERS, ...errors(400, 401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    const sessionId = request.actingSession!;
    const { imageId } = request.params as { imageId: string };
    // Options first (a 400 names the field), then the photo (404), then room for the work (503 + Retry-After).
    const { selection, outputs } = parseCutoutOptions(request.query as Record<string, string>);
    // The outputs are kept in the session: while storage is down, refuse before anything runs.
    ctx.storageHealth.require();
    const named = await ctx.sessions.read(sessionId, imageId);
    const source = named.image.kind === 'cutout' && named.image.source ? await ctx.sessions.read(sessionId, named.image.source) : named;
    if (source.image.kind !== 'original') throw new PetcutError('PETCUT_E_IMAGE_NOT_FOUND', 'The image is a cut-out whose original is gone.');
    const { reservation } = reserveUpload(ctx, request, 1);
    try {
      const { outcome, stored } = await ctx.cutouts.cutOut({
        input: source.object.data, outputs, selection, session: sessionId, original: source.image, origin: workOrigin(request, sessionId),
        signal: abortOnClose(reply), reservation: reservation.takeImage(),
      });
      describeOutcome(reply, ctx, outcome, outputs.length === 1 ? outcome.outputs[0]! : undefined);
      return reply.header('X-Session-ID', sessionId).send({
        cache: outcome.cache, sessionId, sourceId: source.image.id, ...findingsOf(outcome.facts),
        results: (stored?.outputs ?? []).map((kept) => storedResultOf(ctx, request, kept)),
      });
    } finally {
      reservation.release();
    }
  });

  app.post('/v1/sessions/:sessionId/order', {
    config: storefront('read', SESSION),
    schema: {
      summary: 'Move a session\'s images to an order tier so cart URLs outlive fulfilment',
      description: 'status "completed" (default): order_completed, 180 days; "pending": order_pending, 30 days; "archived": 730 days. Images never move to a shorter-lived tier. "pending" is open to the session\'s own storefront caller; "completed" and "archived" need an operator key (Shopify\'s order webhooks do the same at /v1/webhooks/shopify).',
      tags: ['sessions'],
      params: SESSION_PARAMS,
      body: { type: ['object', 'null'], additionalProperties: false, properties: { status: { type: 'string', enum: Object.keys(ORDER_STATES), default: 'completed' }, orderId: { type: 'string', maxLength: 128 } } },
      response: {
        200: { type: 'object', required: ['sessionId', 'tier', 'moved', 'images'], properties: { sessionId: { type: 'string' }, tier: { type: 'string' }, moved: { type: 'integer' }, images: { type: 'array', items: SESSION_IMAGE } } },
        ...errors(400, 401, 403, 404, 503),
      },
    },
  }, async (request) => {
    const sessionId = request.actingSession!;
    const status = ((request.body ?? {}) as { status?: keyof typeof ORDER_STATES }).status ?? 'completed';
    const tier = ORDER_STATES[status];
    // Completing an order keeps images 180 days (storage paid by the shop): never an anonymous decision.
    if (status !== 'pending' && request.principal?.kind !== 'operator') {
      throw new PetcutError('PETCUT_E_OPERATOR_ONLY', `Marking an order ${status} needs an operator key (or Shopify's order webhook).`);
    }
    const { moved, images } = await ctx.sessions.moveTo(sessionId, tier);
    request.log.info({ sessionId, tier, moved }, 'session moved to order tier');
    return { sessionId, tier, moved, images: await Promise.all(images.map((image) => imageView(ctx, request, image))) };
  });
}
