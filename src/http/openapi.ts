import type { FastifyInstance, RouteOptions } from 'fastify';
import { securityOf } from '../security/routePolicy.js';

/**
 * The OpenAPI 3.1 document, built from the routes' own schemas as they are
 * registered: a route cannot exist without appearing here, and what is
 * documented is what Fastify validates. Documentation-only keys on a route's
 * schema: summary, description, tags, `x-request-body` (for multipart or raw
 * image bodies, which are not JSON-validated) and `x-responses` (non-JSON
 * responses such as images).
 */
type Json = Record<string, unknown>;

export interface OpenApiCollector {
  document(): Json;
  /** Every registered route (hidden ones too), with its access declaration: what the route-walk tests iterate. */
  routes(): readonly RegisteredRoute[];
}

export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
  readonly websocket: boolean;
  readonly security: ReturnType<typeof securityOf>;
}

interface RouteSchema {
  summary?: string;
  description?: string;
  tags?: string[];
  querystring?: Json;
  params?: Json;
  headers?: Json;
  body?: Json;
  response?: Record<string, Json>;
  'x-request-body'?: Json;
  'x-responses'?: Record<string, Json>;
  hide?: boolean;
}

export function collectOpenApi(app: FastifyInstance): OpenApiCollector {
  const paths: Record<string, Record<string, Json>> = {};
  const registered: RegisteredRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = (route.schema ?? {}) as RouteSchema;
    const websocket = (route as { websocket?: boolean }).websocket === true;
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      if (method !== 'HEAD') registered.push({ method, url: route.url, websocket, security: securityOf(route.config as Parameters<typeof securityOf>[0]) });
    }
    // @fastify/websocket marks its routes hidden (for swagger); the socket routes are part of our API.
    if (schema.hide && !websocket) return;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toLowerCase()).filter((m) => m !== 'head');
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    for (const method of methods) (paths[path] ??= {})[method] = operation(schema, route);
  });
  return {
    document: () => ({
      openapi: '3.1.0',
      info: { title: 'petcut', version: '1.0.0', description: 'Pet photo background removal for print-on-demand shops.' },
      components: { schemas: {}, securitySchemes: SECURITY_SCHEMES },
      paths,
    }),
    routes: () => registered,
  };
}

/** How callers prove who they are (SECURITY.md). */
const SECURITY_SCHEMES = {
  storefrontToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Our storefront token from POST /v1/auth/token (1 hour, one shop and session), or a Shopify App Bridge session token.' },
  operatorKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'Operator API key (also accepted as Authorization: Bearer pk_...).' },
  appProxySignature: { type: 'apiKey', in: 'query', name: 'signature', description: 'Shopify App Proxy signature over the query (shop, timestamp, ...), added by Shopify.' },
  shopifyWebhookHmac: { type: 'apiKey', in: 'header', name: 'X-Shopify-Hmac-Sha256', description: 'Base64 HMAC-SHA256 of the raw body with the app secret.' },
};

/**
 * Storefront routes list their credentials with an empty alternative: they
 * are open until the service is configured to check credentials.
 */
function securityFor(route: RouteOptions): Json[] {
  const { access } = securityOf(route.config as Parameters<typeof securityOf>[0]);
  if (access === 'operator') return [{ operatorKey: [] }];
  // Allow-listed scrapers (PETCUT_METRICS_ALLOWED_IPS) need nothing; anyone else an operator key.
  if (access === 'scraper') return [{ operatorKey: [] }, {}];
  if (access === 'webhook') return [{ shopifyWebhookHmac: [] }];
  if (access === 'storefront') return [{ storefrontToken: [] }, { appProxySignature: [] }, { operatorKey: [] }, {}];
  return [];
}

function operation(schema: RouteSchema, route: RouteOptions): Json {
  const parameters = [
    ...toParameters(schema.params, 'path'),
    ...toParameters(schema.querystring, 'query'),
    ...toParameters(schema.headers, 'header'),
  ];
  const responses: Record<string, Json> = {};
  for (const [code, body] of Object.entries(schema.response ?? {})) {
    responses[code] = { description: (body.description as string | undefined) ?? `HTTP ${code}`, content: { 'application/json': { schema: body } } };
  }
  Object.assign(responses, schema['x-responses'] ?? {});
  const requestBody = schema['x-request-body'] ?? (schema.body ? { required: true, content: { 'application/json': { schema: schema.body } } } : undefined);
  return {
    operationId: `${String(route.method).toLowerCase()}${route.url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    ...(schema.summary ? { summary: schema.summary } : {}),
    ...(schema.description ? { description: schema.description } : {}),
    ...(schema.tags ? { tags: schema.tags } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    security: securityFor(route),
    responses,
  };
}

function toParameters(schema: Json | undefined, where: 'path' | 'query' | 'header'): Json[] {
  const properties = (schema?.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema?.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name, in: where, required: where === 'path' || required.has(name),
    ...(property.description ? { description: property.description } : {}),
    schema: Object.fromEntries(Object.entries(property).filter(([key]) => key !== 'description')),
  }));
}
