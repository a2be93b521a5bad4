import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { PetcutError } from '../../errors.js';
import { KPI_MINUTES } from '../../observability/kpis.js';
import type { KpiCost, KpiInstance, KpiSnapshot } from '../../observability/kpis.js';
import { operatorRoute, publicRoute } from '../../security/routePolicy.js';
import { errors } from '../schemas.js';
import { listWebFiles, MODULES_ROOT, sendAsset, WEB_ROOT, webAssets } from '../webFiles.js';

/**
 * The operator dashboard (docs/dashboard.md): the page at /dashboard and its
 * files (web/dashboard/, uPlot from node_modules: no CDN) are public, the
 * numbers are not: GET /v1/admin/kpis wants the operator key, which the page
 * keeps in sessionStorage and sends as X-API-Key.
 */

/**
 * The page's policy: only its own files and its own API. uPlot sets its
 * element styles through the CSSOM (el.style.width = ...), which style-src
 * does not govern, so no 'unsafe-inline' is needed (the browser test checks
 * there is no CSP violation).
 */
export const DASHBOARD_CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** The plan's target for cost per 1000 images (section 6, Technical KPIs). */
const USD_PER_1000_TARGET = 65;

export function registerDashboardRoutes(app: FastifyInstance, ctx: AppContext): void {
  const files = listWebFiles(join(WEB_ROOT, 'dashboard'), '/dashboard/');
  const vendor = join(MODULES_ROOT, 'uplot', 'dist');
  files.set('/dashboard/vendor/uPlot.iife.min.js', join(vendor, 'uPlot.iife.min.js'));
  files.set('/dashboard/vendor/uPlot.min.css', join(vendor, 'uPlot.min.css'));
  const asset = webAssets(files);
  const send = (request: FastifyRequest, reply: FastifyReply, url: string): FastifyReply => {
    const found = asset(url);
    if (!found) throw new PetcutError('PETCUT_E_NOT_FOUND');
    return sendAsset(request, reply, found, { csp: DASHBOARD_CSP });
  };
  const page = { 200: { description: 'The page or file.', content: { 'text/html': { schema: { type: 'string' } } } } };

  // Page files are not charged to the address rate, like the other pages (routes/web.ts); the kpis polls are.
  app.get('/dashboard', {
    config: publicRoute('none'),
    schema: { summary: 'The operator dashboard (the page is public; its numbers need the operator key)', tags: ['admin'], 'x-responses': page } as Record<string, unknown>,
  }, async (request, reply) => send(request, reply, '/dashboard/index.html'));

  app.get('/dashboard/*', {
    config: publicRoute('none'),
    schema: { summary: 'The dashboard\'s scripts, styles and uPlot (only the files that ship)', tags: ['admin'], 'x-responses': page } as Record<string, unknown>,
  }, async (request, reply) => {
    const path = request.url.split('?')[0]!;
    return send(request, reply, path === '/dashboard/' ? '/dashboard/index.html' : path);
  });

  app.get('/v1/admin/kpis', {
    config: operatorRoute(),
    schema: {
      summary: 'The dashboard\'s numbers: per-minute series from this instance\'s ring buffer (24 h), totals, cost and budget burn, mitigations, warm-ups, firing alerts, business KPIs',
      tags: ['admin'],
      querystring: { type: 'object', additionalProperties: false, properties: { minutes: { type: 'integer', minimum: 1, maximum: KPI_MINUTES, default: 60, description: 'The window, in minutes (1-1440).' } } },
      response: {
        200: {
          type: 'object', additionalProperties: true,
          properties: {
            now: { type: 'string' }, minutes: { type: 'integer' }, bucketSeconds: { type: 'integer' },
            instance: { type: 'object', additionalProperties: true }, series: { type: 'object', additionalProperties: true },
            totals: { type: 'object', additionalProperties: true }, cost: { type: 'object', additionalProperties: true },
            mitigations: { type: 'object', additionalProperties: true }, warmups: { type: 'object', additionalProperties: true },
            alerts: { type: 'object', additionalProperties: true }, business: { type: 'object', additionalProperties: true },
          },
        },
        ...errors(400, 401, 403),
      },
    },
  }, async (request, reply) => {
    const { minutes } = request.query as { minutes: number };
    reply.header('Cache-Control', 'no-store');
    return kpiSnapshot(ctx, minutes);
  });
}

export async function kpiSnapshot(ctx: AppContext, minutes: number): Promise<KpiSnapshot> {
  const { series, totals } = ctx.kpis.recorder.window(minutes);
  const alerts = await ctx.kpis.alerts.read();
  return {
    now: ctx.clock().toISOString(), minutes: series.t.length, bucketSeconds: 60,
    instance: instanceView(ctx), series, totals,
    cost: costView(ctx, totals.images, totals.costUsd),
    mitigations: ctx.mitigations.view(), warmups: { ...ctx.warmup.view() }, alerts,
    business: ctx.business.snapshot(),
  };
}

function instanceView(ctx: AppContext): KpiInstance {
  const engine = ctx.engine.current();
  const status = ctx.capacity.status();
  const memory = status.memory;
  const first = ctx.kpis.recorder.firstRequest();
  const ready = ctx.kpis.recorder.readiness();
  return {
    id: ctx.cost?.meter.instance ?? 'local', version: ctx.config.build.version, revision: ctx.config.build.revision,
    startedAt: new Date(ctx.startedAt).toISOString(), uptimeS: Math.round((Date.now() - ctx.startedAt) / 1000),
    ...(engine ? { model: { name: engine.model.name, device: engine.runtime.device, loadMs: Math.round(engine.readyMs) } } : {}),
    coldStartS: ready?.coldStartS ?? null,
    readyAt: ready ? new Date(ready.at).toISOString() : null,
    firstRequest: first ? { at: new Date(first.at).toISOString(), ms: first.ms, cold: first.cold } : null,
    warm: ctx.warmup.isWarm(),
    queue: { queued: status.queued, inFlight: status.inFlight, concurrency: status.concurrency, queueMax: status.queueMax },
    memory: memory ? { usedBytes: memory.usedBytes, limitBytes: memory.limitBytes, share: memory.usedBytes / memory.limitBytes, source: memory.source, pressure: status.underPressure } : null,
    gpu: { state: ctx.gpu.state(), devices: ctx.gpu.readings().map((g) => ({ ...g })) },
  };
}

function costView(ctx: AppContext, images: number, windowUsd: number): KpiCost {
  const empty = { usd: 0, budgetUsd: 0, share: 0, projectedUsd: null };
  const { budgets } = ctx.config.cost.prices;
  if (!ctx.cost || !ctx.kpis.burn) {
    return {
      metering: false, sinceStartUsd: 0, usdPer1000Images: null, usdPer1000ImagesTarget: USD_PER_1000_TARGET, source: 'none',
      burn: { daily: { ...empty, period: 'daily', from: '', budgetUsd: budgets.daily }, weekly: { ...empty, period: 'weekly', from: '', budgetUsd: budgets.weekly }, monthly: { ...empty, period: 'monthly', from: '', budgetUsd: budgets.monthly } },
    };
  }
  const { usd } = ctx.cost.meter.totals();
  const { source, burn } = ctx.kpis.burn.burn();
  const today = ctx.kpis.spendToday?.();
  return {
    metering: true, sinceStartUsd: usd.vcpu + usd.memory + usd.gpu + usd.requests,
    usdPer1000Images: images > 0 ? (windowUsd / images) * 1000 : null, usdPer1000ImagesTarget: USD_PER_1000_TARGET,
    source, burn,
    ...(today ? { todayAllInstances: { usd: today.usd, instances: today.instances, ...(today.ledgersReadAt ? { ledgersReadAt: today.ledgersReadAt.toISOString() } : {}) } } : {}),
  };
}
