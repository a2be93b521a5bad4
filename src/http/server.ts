import type { IncomingMessage, ServerOptions } from 'node:http';
import fastifyMultipart from '@fastify/multipart';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServiceConfig } from '../config.js';
import { PetcutError } from '../errors.js';
import type { CostMeter } from '../cost/index.js';
import { loggerOptions, requestIdOf, traceFields } from '../observability/logging.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import { createAuthenticator } from '../security/authenticate.js';
import type { RateLimiter } from '../security/rateLimit/index.js';
import { OverloadError } from '../service/capacity.js';
import { installErrorHandling, sendError } from './errors.js';
import { translateFrameworkError } from './frameworkErrors.js';
import { installMetrics } from './metrics.js';
import type { KpiRecorder } from '../observability/kpis.js';
import { installRateLimits } from './rateLimits.js';
import { installRequestLog } from './requestLog.js';
import { appProxyClaim, clientErrorHandler, installAccessControl, installHeaders } from './security.js';
import { installTracing } from './tracing.js';
import { RESULT_HEADERS } from './views.js';

/**
 * The Fastify server and what every request goes through before a route:
 * body parsers, error handling, traces, metrics and request log lines,
 * security headers and CORS, rate limits, credentials, the drain refusal,
 * and the count of requests being answered (for the shutdown).
 */
export interface ServerDeps {
  /** pino options, or false for silence (tests). */
  readonly logger?: boolean | Record<string, unknown>;
  readonly metrics: Metrics;
  /** Metrics, request log lines and request fees; off for the overhead benchmark's baseline. */
  readonly instrumented: boolean;
  /** The cost meter, when request fees are billed (request-based billing). */
  readonly requestFees?: CostMeter;
  /** The dashboard's per-minute counts (src/observability/kpis.ts), fed by the metrics hook. */
  readonly kpis?: KpiRecorder;
  readonly tracing?: Tracing;
  readonly limiter: (app: FastifyInstance) => RateLimiter;
  readonly clock?: () => Date;
  readonly isShuttingDown: () => boolean;
}

export interface Server {
  readonly app: FastifyInstance;
  readonly limiter: RateLimiter;
  /** Requests being answered now. */
  inFlight(): number;
}

// JSON bodies (token, order, tier requests) are a few hundred bytes: Fastify buffers them before any
// reservation, so they get a small bound. Photos never go through Fastify's reader (readUpload reads them
// against their reservation and PETCUT_BODY_LIMIT_MB), and the webhook route sets its own 1 MB.
const JSON_BODY_LIMIT = 64 * 1024;

export async function createServer(config: ServiceConfig, deps: ServerDeps): Promise<Server> {
  const security = config.security;
  const app = Fastify({
    logger: deps.logger === false ? false : { ...loggerOptions(config.logLevel), ...(typeof deps.logger === 'object' ? deps.logger : {}) },
    // One line per request, in Cloud Logging's httpRequest shape (installRequestLog), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger, bindings, options, raw) => logger.child({ ...bindings, ...traceFields(raw as IncomingMessage, config.gcpProject) }, options),
    bodyLimit: JSON_BODY_LIMIT,
    // X-Forwarded-For/Proto are believed only through the configured proxies (Cloud Run's front end: 1 hop).
    trustProxy: trustProxyOf(security.trustProxy),
    // Slow-loris uploads are cut off; Node checks its timers every second instead of every 30 s.
    requestTimeout: security.timeouts.requestMs,
    http: { headersTimeout: security.timeouts.headersMs, maxHeaderSize: security.timeouts.maxHeaderBytes, connectionsCheckingInterval: 1000 } as ServerOptions,
    clientErrorHandler,
    // A malformed URL or an over-long path segment: our coded error, not Fastify's echo of the URL.
    frameworkErrors: (error, _request, reply) => void sendError(reply, translateFrameworkError(error) ?? new PetcutError('PETCUT_E_BAD_REQUEST'), config.retryAfterS),
    requestIdHeader: false,
    genReqId: (raw) => requestIdOf(raw),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  });
  await app.register(fastifyMultipart, {
    // One file more than a job may have, so readUpload reports the limit in its own words.
    limits: { fileSize: config.bodyLimitBytes, files: config.filesPerJob + 1, fields: 30, parts: config.filesPerJob + 31, fieldSize: 64 * 1024 },
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  // Raw uploads: the body is the image (any declared image type; the bytes decide). Handed over unread:
  // the route reserves room for it first, then readUpload reads it (with its limit and pace).
  app.addContentTypeParser(/^(image\/.+|application\/octet-stream)$/, (_request, payload, done) => done(null, payload));
  installErrorHandling(app, config.retryAfterS);
  // Before the service's own onRequest hooks: refused requests get spans too, and every log line of a request its trace.
  installTracing(app, deps.tracing, config.gcpProject);
  if (deps.instrumented) {
    installMetrics(app, deps.metrics, deps.requestFees, deps.kpis);
    installRequestLog(app);
  }
  await installHeaders(app, security, RESULT_HEADERS);
  // After the CORS headers (a 429 the browser cannot read is useless), before credentials are checked.
  const limiter = deps.limiter(app);
  installRateLimits(app, { limiter, appProxyClaim: (request) => appProxyClaim(request, security, deps.clock) });
  installAccessControl(app, security, createAuthenticator(security, deps.clock));
  if (!security.authRequired) {
    app.log.warn('No authentication configured (PETCUT_SHOPIFY_API_SECRET, PETCUT_JWT_SECRET or PETCUT_ALLOWED_IPS): cut-out, job and session routes are open to anyone, limited only by the rate limits.');
  }
  if (security.cors.loopback) {
    app.log.info('CORS: PETCUT_CORS_ORIGINS is not set: the default shop origins and pages on this machine (http(s)://localhost, 127.0.0.1, [::1], any port) may call the API; set PETCUT_CORS_ORIGINS to allow only its list.');
  }
  // While draining, new work goes to another instance; reads (status, images, health) still answer.
  app.addHook('onRequest', async (request) => {
    if (deps.isShuttingDown() && request.method !== 'GET' && request.method !== 'HEAD') throw new OverloadError('PETCUT_E_SHUTTING_DOWN', 1);
  });
  // Requests being answered: the shutdown lets their answers go out before closing the connections.
  const answering = new Set<FastifyRequest>();
  app.addHook('onRequest', async (request) => void answering.add(request));
  app.addHook('onResponse', async (request) => void answering.delete(request));
  app.addHook('onRequestAbort', async (request) => void answering.delete(request));
  return { app, limiter, inFlight: () => answering.size };
}

/**
 * Fastify's own hop count trusts nothing (it cannot check the peer), so the
 * count is a function: the socket's peer and the next hops-1 addresses are
 * proxies. On Cloud Run the peer is always Google's front end.
 */
function trustProxyOf(trust: number | string[]): ((address: string, hop: number) => boolean) | string[] | false {
  if (typeof trust !== 'number') return trust;
  return trust > 0 ? (_address, hop) => hop < trust : false;
}
