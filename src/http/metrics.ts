import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CostMeter } from '../cost/meter.js';
import type { KpiRecorder } from '../observability/kpis.js';
import type { Metrics } from '../observability/metrics.js';
import { scraperRoute, securityOf } from '../security/routePolicy.js';

/** The error code a request ended with, set by the error handlers (for the metrics' `code` label). */
export const errorCodes = new WeakMap<FastifyRequest, string>();

/** Routes the dashboard's traffic counts leave out: its own page, files and data. */
const NOT_TRAFFIC = /^\/(dashboard|v1\/admin\/(kpis|report))(\/|$)/;

/**
 * Request counts and durations by route template (never the raw URL: ids
 * would make unbounded label values). The scrape only serialises what is
 * already in memory: it never waits on the engine or storage.
 */
export function installMetrics(app: FastifyInstance, metrics: Metrics, meter?: CostMeter, kpis?: KpiRecorder): void {
  app.addHook('onResponse', async (request, reply) => {
    // Request-based billing's fee per request, charged to whoever sent it. The session is the
    // checked one (never raw header text), and only for an answered request on a limited route:
    // probes, scrapes and refusals are booked to the shop alone (the meter bounds the rows).
    const answered = reply.statusCode < 400 && securityOf(request.routeOptions.config).rate !== 'none';
    meter?.request({ shop: request.principal?.shop, session: answered ? request.actingSession : undefined });
    const route = request.routeOptions.url ?? 'unmatched';
    const method = request.method;
    metrics.httpRequests.inc({ route, method, status: String(reply.statusCode), code: errorCodes.get(request) ?? '' });
    metrics.httpDuration.observe({ route, method }, reply.elapsedTime / 1000);
    // The dashboard's requests per minute: traffic only (not probes, scrapes, or the dashboard's own files and polls).
    if (kpis && !NOT_TRAFFIC.test(route) && securityOf(request.routeOptions.config).rate !== 'none') kpis.request(reply.statusCode, errorCodes.get(request));
  });
}

/** GET /metrics (registered with the routes, so the OpenAPI document lists it). */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', {
    config: scraperRoute(),
    schema: { summary: 'Prometheus metrics (text format); names in deploy/prometheus/METRICS.md. Open to PETCUT_METRICS_ALLOWED_IPS (loopback by default) or an operator key.', tags: ['health'], 'x-responses': { 200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } } } } as Record<string, unknown>,
  }, async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
}
