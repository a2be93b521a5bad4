import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { DEFAULT_EFFECT, EFFECTS, parseEffectList, resolveParams } from '../../effects/registry.js';
import { FORMAT_SPELLINGS, imageContentTypes } from '../../image/formats.js';
import { PetcutError } from '../../errors.js';
import type { ProgressBus } from '../../service/sharedState.js';
import { createProgressTracker } from '../../service/progress.js';
import { errorHeaders, logServerSide, toPetcutError } from '../errors.js';
import { parseOutputOptions } from '../options.js';
import { superviseSocket } from '../socket.js';
import { errorCodes } from '../metrics.js';
import { abortOnClose, sessionFrom, withUpload } from '../uploadRoom.js';
import { describeOutcome, imageView } from '../views.js';
import { publicRoute, SESSION, storefront } from '../../security/routePolicy.js';
import { workOrigin } from '../workOrigin.js';

/**
 * The shop's current storefront routes (SPEC.md "Compatibility"), kept so the
 * theme works unchanged while it moves to /v1. Same engine, cache and
 * sessions; the response shapes are the first version's: errors are
 * `{ success: false, error, code, requestId }`, times are in seconds.
 */
const COMPAT = ['compat'];
const SESSION_QUERY = { session_id: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$' } } as const;
const FAILURE = { type: 'object', properties: { success: { type: 'boolean', const: false }, error: { type: 'string' }, code: { type: 'string' }, requestId: { type: 'string' } } } as const;
const failures = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), FAILURE]));

export function registerCompatRoutes(app: FastifyInstance, ctx: AppContext): void {
  // Through Redis when REDIS_URL is set: the socket may be open on another instance than the POST.
  const progress = ctx.sessionProgress;
  void app.register((scope, _opts, done) => {
    scope.setErrorHandler((error, request, reply) => {
      const coded = toPetcutError(error, request.routeOptions.bodyLimit) ?? new PetcutError('PETCUT_E_INTERNAL');
      if (coded.code === 'PETCUT_E_INTERNAL') request.log.error({ err: error }, 'unhandled error');
      else logServerSide(request, coded, error);
      // Only a request that was allowed to act for the session may reach its socket (never a refused one).
      const session = request.actingSession;
      if (session) progress.publish(session, { type: 'error', code: coded.code, message: coded.message });
      errorCodes.set(request, coded.code);
      if (reply.raw.destroyed) return;
      errorHeaders(reply, coded, ctx.config.retryAfterS);
      return reply.status(coded.status).send({ success: false, error: coded.message, code: coded.code, requestId: request.id });
    });
    registerProcessing(scope, ctx, progress);
    registerStorage(scope, ctx);
    registerProgressSocket(scope, ctx, progress);
    done();
  });
}

function registerProcessing(app: FastifyInstance, ctx: AppContext, progress: ProgressBus): void {
  app.post('/api/v2/process-with-effects', {
    config: storefront('upload', SESSION),
    schema: {
      summary: 'Compat: cut out and apply print styles; every style as a base64 PNG',
      tags: COMPAT,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { effects: { type: 'string', description: 'Comma-separated effect names.' }, return_all_effects: { type: 'string', enum: ['true', 'false', '1', '0'] }, ...SESSION_QUERY },
      },
      'x-request-body': { required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } } } } },
      response: {
        200: {
          type: 'object',
          properties: {
            success: { type: 'boolean' },
            effects: { type: 'object', additionalProperties: { type: 'string' } },
            processing_time: { type: 'object', properties: { total: { type: 'number' }, background_removal: { type: 'number' }, effects_processing: { type: 'number' } } },
            session_id: { type: 'string' },
            cache: { type: 'string' },
          },
        },
        ...failures(400, 413, 415, 422, 503),
      },
    },
  }, async (request, reply) => {
    const query = request.query as { effects?: string; return_all_effects?: string };
    const names = query.return_all_effects === 'true' || query.return_all_effects === '1' ? Object.keys(EFFECTS) : parseEffectList(query.effects);
    let sessionId: string | undefined;
    const { outcome } = await withUpload(ctx, request, 1, { allowedFields: new Set() }, async (upload, reservation) => {
      sessionId = request.actingSession;
      const tracker = createProgressTracker(() => ctx.config.concurrency).start(sessionId ?? '', 0, 1, names.length);
      return ctx.cutouts.cutOut({
        input: upload.files[0]!.data,
        outputs: names.map((effect) => ({ effect, effectParams: resolveParams(effect), format: 'png' as const })),
        signal: abortOnClose(reply),
        origin: workOrigin(request, sessionId),
        reservation: reservation.takeImage(),
        onStage: (stage) => {
          if (!sessionId) return;
          const event = tracker.stage(stage);
          if (event.type === 'stage') progress.publish(sessionId, { type: 'stage_progress', stage: event.stage, progress: event.percent, message: event.message, eta_seconds: event.etaSeconds });
        },
      });
    });
    const t = outcome.times;
    const seconds = (ms: number | undefined): number => Math.round((ms ?? 0)) / 1000;
    const processingTime = { total: seconds(t.total), background_removal: seconds((t.decode ?? 0) + (t.inference ?? 0) + (t.refine ?? 0)), effects_processing: seconds(t.encode) };
    if (sessionId) progress.publish(sessionId, { type: 'completion_summary', session_id: sessionId, effects: names, processing_time: processingTime, cache: outcome.cache });
    describeOutcome(reply, ctx, outcome);
    return {
      success: true,
      effects: Object.fromEntries(outcome.outputs.map((o) => [o.effect, o.data.toString('base64')])),
      processing_time: processingTime,
      session_id: sessionId,
      cache: outcome.cache,
    };
  });

  app.post('/remove-background', {
    config: storefront('upload', SESSION),
    schema: {
      summary: 'Compat: the cut-out as an image (output_format and quality are honoured)',
      tags: COMPAT,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { output_format: { type: 'string', enum: FORMAT_SPELLINGS }, quality: { type: 'integer', minimum: 1, maximum: 100 }, ...SESSION_QUERY },
      },
      'x-request-body': { required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } } } } },
      'x-responses': { 200: { description: 'The cut-out; Content-Type matches the bytes.', content: imageContentTypes({}) } },
      response: failures(400, 413, 415, 422, 503),
    },
  }, async (request, reply) => {
    const query = request.query as { output_format?: string; quality?: number };
    const { outcome } = await withUpload(ctx, request, 1, { allowedFields: new Set(['output_format', 'quality']) }, async (upload, reservation) => {
      const outputs = parseOutputOptions({ format: query.output_format ?? upload.fields.output_format, quality: (query.quality ?? upload.fields.quality)?.toString() });
      return ctx.cutouts.cutOut({ input: upload.files[0]!.data, outputs, signal: abortOnClose(reply), origin: workOrigin(request), reservation: reservation.takeImage() });
    });
    const output = outcome.outputs[0]!;
    describeOutcome(reply, ctx, outcome, output);
    return reply.type(output.contentType).send(output.data);
  });

  app.get('/api/v2/effects', {
    config: publicRoute(),
    schema: { summary: 'Compat: effect names and their parameters', tags: COMPAT, response: { 200: { type: 'object', additionalProperties: true } } },
  }, async () => ({
    success: true,
    effects: Object.keys(EFFECTS),
    default: DEFAULT_EFFECT,
    details: Object.fromEntries(Object.values(EFFECTS).map((e) => [e.name, { label: e.label, description: e.description, parameters: e.parameters }])),
  }));
}

function registerStorage(app: FastifyInstance, ctx: AppContext): void {
  app.post('/store-image', {
    config: storefront('upload', SESSION),
    schema: {
      summary: 'Compat: store a customer image in a session (metadata stripped, 7-day tier)',
      tags: COMPAT,
      querystring: { type: 'object', additionalProperties: false, properties: SESSION_QUERY },
      'x-request-body': { required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' }, session_id: { type: 'string' } } } } } },
      response: { 200: { type: 'object', additionalProperties: true }, ...failures(400, 413, 415, 422, 503) },
    },
  }, async (request) => {
    const { sessionId, image } = await withUpload(ctx, request, 0, { allowedFields: new Set(['image_type']) }, async (upload) => {
      const session = sessionFrom(request, ctx, true)!;
      return { sessionId: session, image: await ctx.sessions.storeOriginal(session, upload.files[0]!.data) };
    });
    const view = await imageView(ctx, request, image);
    return { success: true, session_id: sessionId, image_id: image.id, url: view.url, signed_url: view.signedUrl, tier: image.tier, expires_at: view.expiresAt, content_type: image.contentType };
  });

  app.get('/session/:sessionId/images', {
    config: storefront('read', SESSION),
    schema: {
      summary: 'Compat: a session\'s images',
      tags: COMPAT,
      params: { type: 'object', required: ['sessionId'], properties: { sessionId: { type: 'string', maxLength: 64 } } },
      response: { 200: { type: 'object', additionalProperties: true }, ...failures(400, 404, 503) },
    },
  }, async (request) => {
    const sessionId = request.actingSession!;
    const images = await ctx.sessions.list(sessionId);
    if (images.length === 0) throw new PetcutError('PETCUT_E_SESSION_NOT_FOUND');
    const views = await Promise.all(images.map((image) => imageView(ctx, request, image)));
    return {
      success: true, session_id: sessionId, count: views.length,
      images: views.map((v) => ({ id: v.id, url: v.url, signed_url: v.signedUrl, kind: v.kind, effect: v.effect, tier: v.tier, content_type: v.contentType, size: v.size, created_at: v.createdAt, expires_at: v.expiresAt })),
    };
  });
}

function registerProgressSocket(app: FastifyInstance, ctx: AppContext, progress: ProgressBus): void {
  app.get('/ws/progress/:sessionId', {
    config: publicRoute('read', SESSION),
    websocket: true,
    schema: {
      summary: 'Compat WebSocket: progress of the session\'s process-with-effects calls',
      description: 'Messages: {"type":"stage_progress", stage, progress, message, eta_seconds}, {"type":"completion_summary", session_id, effects, processing_time}, {"type":"error", code, message}; {"type":"ping"} gets {"type":"pong"}.',
      tags: COMPAT,
      params: { type: 'object', required: ['sessionId'], properties: { sessionId: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$' } } },
      'x-responses': { 101: { description: 'Switching to the WebSocket protocol.' } },
    },
  }, async (socket, request) => {
    const sessionId = request.actingSession!;
    let closed = false;
    let unsubscribe = (): void => undefined;
    const channel = superviseSocket(socket, { pingMs: ctx.config.wsPingMs, onClose: () => { closed = true; unsubscribe(); }, pong: () => ({ type: 'pong', timestamp: Date.now() }) });
    // 'connected' once listening everywhere: a POST sent after it, to any instance, is heard.
    unsubscribe = await progress.subscribe(sessionId, (message) => channel.send(message));
    if (closed) unsubscribe();
    channel.send({ type: 'connected', session_id: sessionId });
  });
}
