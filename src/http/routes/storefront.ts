import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { PetcutError } from '../../errors.js';
import { operatorRoute, publicRoute, SESSION, storefront } from '../../security/routePolicy.js';
import { WIDGET_EVENTS } from '../../service/business.js';
import type { Rating, WidgetEvent } from '../../service/business.js';
import { storeRating } from '../../service/feedback.js';
import { collectWeekly, renderReport } from '../../ops/report/index.js';
import { errors, SESSION_PARAMS } from '../schemas.js';
import { resolveSession } from '../session.js';

/**
 * The widget's own routes (#19; docs/kpis.md): its configuration and A/B
 * variant, usage events (JSON, or text/plain JSON from navigator.sendBeacon,
 * which sends no credentials and needs no preflight), satisfaction ratings;
 * and the weekly review for the dashboard (operators).
 */
// An event is a few fields: 4 KB bounds the parse whatever a caller sends.
export const EVENT_BODY_LIMIT = 4096;
const SHORT = { type: 'string', maxLength: 64 } as const;
const IMAGE_ID = { type: 'string', pattern: '^[a-z0-9]{9}-[A-Za-z0-9_-]{11}$' } as const;
const SESSION_ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$' } as const;

const EVENT_BODY = {
  type: 'object', required: ['event'], additionalProperties: false,
  properties: {
    event: { type: 'string', enum: WIDGET_EVENTS },
    sessionId: SESSION_ID,
    variant: SHORT,
    effect: SHORT,
    ms: { type: 'number', minimum: 0, maximum: 3_600_000 },
    // Context the widget adds to some events (accepted, never a label: the ratings route counts ratings).
    rating: { type: 'string', enum: ['good', 'bad'] },
    code: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
  },
} as const;

const FEEDBACK_BODY = {
  type: 'object', required: ['rating'], additionalProperties: false,
  properties: { rating: { type: 'string', enum: ['good', 'bad'] }, imageId: IMAGE_ID, variant: SHORT },
} as const;

const WIDGET_CONFIG = {
  type: 'object', required: ['experiment', 'defaults', 'warm'],
  properties: {
    experiment: { type: ['object', 'null'], properties: { name: { type: 'string' }, variant: { type: 'string' } } },
    defaults: { type: 'object', properties: { effect: { type: 'string' }, subjects: { type: 'string' } } },
    warm: { type: 'boolean', description: 'The model has run on this instance (the widget may skip its warm-up).' },
  },
} as const;

export function registerStorefrontRoutes(app: FastifyInstance, ctx: AppContext): void {
  void app.register((scope, _opts, done) => {
    // sendBeacon posts text/plain (a simple request: no preflight); its text must be the same JSON.
    scope.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, parsed) => {
      try {
        parsed(null, JSON.parse(body as string));
      } catch {
        parsed(new PetcutError('PETCUT_E_BAD_REQUEST', 'The body is not JSON: send the event as JSON (application/json, or text/plain from sendBeacon).'), undefined);
      }
    });
    scope.addContentTypeParser('*', (_request, _payload, parsed) => parsed(new PetcutError('PETCUT_E_UNSUPPORTED_MEDIA_TYPE', 'Send JSON: application/json, or text/plain holding JSON (navigator.sendBeacon).'), undefined));
    registerWidgetRoutes(scope, ctx);
    registerReportRoute(scope, ctx);
    done();
  });
}

function registerWidgetRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/widget/config', {
    config: publicRoute('read', SESSION),
    schema: {
      summary: 'The widget\'s start-up settings: the session\'s A/B variant, the default style and subjects, whether this instance is warm',
      description: 'The session comes from X-Session-ID or ?session_id= (optional); its variant is a hash of the experiment and the session id, the same on every instance. Without PETCUT_EXPERIMENT (or without a session) `experiment` is null.',
      tags: ['widget'],
      querystring: { type: 'object', additionalProperties: false, properties: { session_id: SESSION_ID } },
      response: { 200: WIDGET_CONFIG, ...errors(400, 403) },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', 'no-store');
    return { ...ctx.business.widgetConfig(request.actingSession), warm: ctx.warmup.isWarm() };
  });

  app.post('/v1/events', {
    bodyLimit: EVENT_BODY_LIMIT,
    config: publicRoute('read', SESSION),
    schema: {
      summary: 'Count a widget usage event (feature usage, the A/B funnel)',
      description: `JSON or text/plain JSON (navigator.sendBeacon), at most ${EVENT_BODY_LIMIT} bytes. Counted in petcut_widget_events_total{event,variant}: the variant is the session's own when a session is named, else the one sent if the experiment has it, else "none"; style_selected also counts its effect (petcut_widget_styles_total, "other" for unknown names). Public (a beacon carries no credentials), rate-limited per address.`,
      tags: ['widget'],
      body: EVENT_BODY,
      response: { 204: { type: 'null', description: 'Counted.' }, ...errors(400, 403, 413, 415, 429) },
    },
  }, async (request, reply) => {
    const body = request.body as { event: WidgetEvent; sessionId?: string; variant?: string; effect?: string };
    const sessionId = resolveSession(request, body.sessionId);
    ctx.business.recordEvent({ event: body.event, sessionId, variant: body.variant, effect: body.effect });
    return reply.status(204).send();
  });

  app.post('/v1/sessions/:sessionId/feedback', {
    bodyLimit: EVENT_BODY_LIMIT,
    config: storefront('read', SESSION),
    schema: {
      summary: 'Rate the cut-out (one tap: good or bad); stored with the session and counted',
      description: 'Stored as one small JSON object beside the session\'s images (same tier, same expiry; not listed as an image) and counted in petcut_satisfaction_ratings_total{rating,variant}.',
      tags: ['widget'],
      params: SESSION_PARAMS,
      body: FEEDBACK_BODY,
      response: {
        201: { type: 'object', required: ['stored'], properties: { stored: { type: 'boolean' }, id: { type: 'string' }, variant: { type: 'string' }, tier: { type: 'string' } } },
        ...errors(400, 401, 403, 413, 415, 429, 503),
      },
    },
  }, async (request, reply) => {
    const sessionId = request.actingSession!;
    const body = request.body as { rating: Rating; imageId?: string; variant?: string };
    const variant = ctx.business.variantOf(sessionId) ?? (body.variant !== undefined && ctx.business.experiment?.variants.includes(body.variant) ? body.variant : 'none');
    const stored = await storeRating(ctx.store, ctx.sessions, { sessionId, rating: body.rating, imageId: body.imageId, variant, now: ctx.clock() });
    ctx.business.recordRating(body.rating, sessionId, body.variant);
    return reply.status(201).send({ stored: true, id: stored.id, variant, tier: stored.tier });
  });
}

/** The operator's credential, passed on to the service's own admin routes the report reads. */
function credentials(request: FastifyRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['x-api-key', 'authorization'] as const) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

function registerReportRoute(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/admin/report', {
    config: operatorRoute(),
    schema: {
      summary: 'The weekly review (performance, cost, feedback, security posture) from this instance\'s own numbers, as Markdown or HTML',
      description: 'The same report as `petcut report weekly`, from this instance\'s /v1/admin/kpis and /metrics (the CLI adds Prometheus and the ledgers). The dashboard shows it.',
      tags: ['admin'],
      querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: ['md', 'html'], default: 'html' } } },
      'x-responses': { 200: { description: 'The report.', content: { 'text/html': { schema: { type: 'string' } }, 'text/markdown': { schema: { type: 'string' } } } } },
      response: errors(400, 401, 403),
    },
  }, async (request, reply) => {
    const { format } = request.query as { format: 'md' | 'html' };
    const forwarded = credentials(request);
    const data = await collectWeekly({
      business: ctx.business.snapshot(),
      service: {
        label: 'this instance',
        get: async (path) => {
          const answer = await request.server.inject({ method: 'GET', url: path, headers: forwarded });
          return { status: answer.statusCode, text: answer.body };
        },
      },
    });
    // No script in it at all; its one inline <style> is allowed; the dashboard (same origin) may frame it.
    reply.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'");
    return reply.type(format === 'md' ? 'text/markdown; charset=utf-8' : 'text/html; charset=utf-8').header('Cache-Control', 'no-store').send(renderReport(data, format));
  });
}
