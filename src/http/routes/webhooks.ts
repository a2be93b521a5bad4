import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { isPetcutError, PetcutError } from '../../errors.js';
import { webhookRoute } from '../../security/routePolicy.js';
import { verifyWebhook } from '../../security/shopify.js';
import type { Tier } from '../../service/tiers.js';
import { errors } from '../schemas.js';

/**
 * Shopify order webhooks drive the images' retention: an order keeps its
 * session's images for 30 days, a fulfilled order for 180. The storefront
 * puts the session id on the order (cart attribute or line-item property
 * `_petcut_session`). Replays are harmless: images only ever move to a
 * longer-lived tier, and a delivery id already handled is answered at once.
 */
const TOPICS: Readonly<Record<string, Tier>> = { 'orders/create': 'order_pending', 'orders/paid': 'order_pending', 'orders/fulfilled': 'order_completed' };
const SESSION_KEYS = new Set(['_petcut_session', 'petcut_session', '_petcut_session_id', 'petcut_session_id']);
const WEBHOOK_BODY_LIMIT = 1024 * 1024;
/** Delivery ids remembered for replays (Shopify retries for 48 h; a restart forgets, which only costs a no-op move). */
const REMEMBERED = 10_000;

interface NamedValue { name?: unknown; value?: unknown }
interface Order { id?: unknown; note_attributes?: NamedValue[]; line_items?: Array<{ properties?: NamedValue[] }> }

export function registerWebhookRoutes(app: FastifyInstance, ctx: AppContext): void {
  const handled = new Set<string>();
  void app.register((scope, _opts, done) => {
    // The HMAC covers the exact bytes Shopify sent: keep the body raw.
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, parsed) => parsed(null, body));
    scope.post('/v1/webhooks/shopify', {
      // An order is a few KB; the limit is the route's own, so a 413 names it.
      bodyLimit: WEBHOOK_BODY_LIMIT,
      config: webhookRoute(),
      schema: {
        summary: 'Shopify webhooks (orders/create, orders/paid, orders/fulfilled): move the order\'s session images to an order tier',
        description: 'Verified by X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256 of the raw body with the app secret). Sessions are read from the order\'s note attribute or line-item property "_petcut_session".',
        tags: ['webhooks'],
        response: {
          200: { type: 'object', properties: { topic: { type: 'string' }, duplicate: { type: 'boolean' }, ignored: { type: 'boolean' }, tier: { type: 'string' }, sessions: { type: 'array', items: { type: 'object', properties: { sessionId: { type: 'string' }, moved: { type: 'integer' }, found: { type: 'boolean' } } } } } },
          ...errors(400, 401, 501, 503),
        },
      },
    }, async (request) => {
      const secret = ctx.config.security.shopify.apiSecret;
      if (!secret) throw new PetcutError('PETCUT_E_NOT_CONFIGURED', 'Shopify webhooks are not configured on this service (PETCUT_SHOPIFY_API_SECRET).');
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (!verifyWebhook(raw, headerOf(request, 'x-shopify-hmac-sha256'), secret)) throw new PetcutError('PETCUT_E_INVALID_SIGNATURE', 'The webhook HMAC does not match.');
      const topic = headerOf(request, 'x-shopify-topic') ?? '';
      const delivery = headerOf(request, 'x-shopify-webhook-id') ?? headerOf(request, 'x-shopify-event-id');
      if (delivery && handled.has(delivery)) return { topic, duplicate: true };
      const tier = TOPICS[topic];
      if (!tier) return { topic, ignored: true };
      const sessions = sessionsOf(parseOrder(raw));
      const results = [];
      for (const sessionId of sessions) results.push(await moveSession(ctx, sessionId, tier));
      if (delivery) remember(handled, delivery);
      request.log.info({ topic, shop: headerOf(request, 'x-shopify-shop-domain'), delivery, sessions: results }, 'order webhook handled');
      return { topic, duplicate: false, tier, sessions: results };
    });
    done();
  });
}

async function moveSession(ctx: AppContext, sessionId: string, tier: Tier): Promise<{ sessionId: string; moved: number; found: boolean }> {
  try {
    const { moved } = await ctx.sessions.moveTo(sessionId, tier);
    return { sessionId, moved, found: true };
  } catch (error) {
    // An expired or unknown session is not worth Shopify's retries; a storage outage is (503).
    if (isPetcutError(error) && (error.code === 'PETCUT_E_SESSION_NOT_FOUND' || error.code === 'PETCUT_E_INVALID_SESSION_ID')) return { sessionId, moved: 0, found: false };
    throw error;
  }
}

function parseOrder(raw: Buffer): Order {
  try {
    const order = JSON.parse(raw.toString('utf8')) as unknown;
    if (order && typeof order === 'object') return order as Order;
  } catch {
    // fall through
  }
  throw new PetcutError('PETCUT_E_BAD_REQUEST', 'The webhook body is not a JSON order.');
}

function sessionsOf(order: Order): string[] {
  const pairs = [...(Array.isArray(order.note_attributes) ? order.note_attributes : []),
    ...(Array.isArray(order.line_items) ? order.line_items.flatMap((item) => (Array.isArray(item?.properties) ? item.properties : [])) : [])];
  const ids = pairs.filter((p) => typeof p?.name === 'string' && SESSION_KEYS.has(p.name) && typeof p.value === 'string').map((p) => p.value as string);
  return [...new Set(ids)].slice(0, 50);
}

function remember(handled: Set<string>, delivery: string): void {
  handled.add(delivery);
  if (handled.size > REMEMBERED) handled.delete(handled.values().next().value!);
}

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
