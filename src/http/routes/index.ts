import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { registerMetricsRoute } from '../metrics.js';
import type { OpenApiCollector } from '../openapi.js';
import { registerAdminRoutes } from './admin.js';
import { registerAlertRoutes } from './alerts.js';
import { registerAuthRoutes } from './auth.js';
import { registerCompatRoutes } from './compat.js';
import { registerCutoutRoutes } from './cutouts.js';
import { registerDashboardRoutes } from './dashboard.js';
import { registerHealthRoutes } from './health.js';
import { registerJobRoutes } from './jobs.js';
import { registerResultRoutes } from './results.js';
import { registerSessionRoutes } from './sessions.js';
import { registerStorefrontRoutes } from './storefront.js';
import { registerWebRoutes } from './web.js';
import { registerWebhookRoutes } from './webhooks.js';

export function registerRoutes(app: FastifyInstance, ctx: AppContext, openapi: OpenApiCollector): void {
  registerHealthRoutes(app, ctx, openapi);
  registerMetricsRoute(app, ctx.metrics);
  registerCutoutRoutes(app, ctx);
  registerJobRoutes(app, ctx);
  registerSessionRoutes(app, ctx);
  registerResultRoutes(app, ctx);
  registerCompatRoutes(app, ctx);
  registerAuthRoutes(app, ctx);
  registerWebhookRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerAlertRoutes(app, ctx);
  registerWebRoutes(app, ctx);
  registerDashboardRoutes(app, ctx);
  registerStorefrontRoutes(app, ctx);
}
