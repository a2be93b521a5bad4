import type { IncomingMessage, ServerOptions } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import fastifyMultipart from '@fastify/multipart';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Engine } from './engine/index.js';
import { installErrorHandling, sendError } from './http/errors.js';
import { translateFrameworkError } from './http/frameworkErrors.js';
import { PetcutError } from './errors.js';
import { RESULT_HEADERS } from './http/routes/cutouts.js';
import { installMetrics } from './http/metrics.js';
import { countingStore } from './storage/counting.js';
import { installRequestLog } from './http/requestLog.js';
import { installTracing } from './http/tracing.js';
import { installRateLimits } from './http/rateLimits.js';
import { createShutdown } from './http/shutdown.js';
import type { UploadPace } from './http/uploadPace.js';
import { createGpuProbe } from './observability/gpu.js';
import type { GpuProbe } from './observability/gpu.js';
import type { Tracing } from './observability/tracing.js';
import { loggerOptions, requestIdOf, traceFields } from './observability/logging.js';
import { createMetrics } from './observability/metrics.js';
import type { Metrics } from './observability/metrics.js';
import { combineObservers, processObserver } from './observability/processObserver.js';
import { createCostTracking } from './cost/index.js';
import type { CostTracking } from './cost/index.js';
import { appProxyClaim, clientErrorHandler, installAccessControl, installHeaders, trustedOrigin } from './http/security.js';
import { collectOpenApi } from './http/openapi.js';
import type { RegisteredRoute } from './http/openapi.js';
import { registerRoutes } from './http/routes/index.js';
import { createResultCache } from './service/cache.js';
import type { ResultCache } from './service/cache.js';
import { createCapacity, OverloadError } from './service/capacity.js';
import type { Capacity } from './service/capacity.js';
import { createEffectPreviews } from './service/effectPreviews.js';
import type { EffectPreviews } from './service/effectPreviews.js';
import { createEngineHandle } from './service/engineHandle.js';
import type { EngineHandle } from './service/engineHandle.js';
import { createJobs } from './service/jobs.js';
import type { Jobs } from './service/jobs.js';
import { createMemoryProbe } from './observability/memory.js';
import type { MemoryProbe } from './observability/memory.js';
import { createProcessing } from './service/processing.js';
import type { Processing } from './service/processing.js';
import { createSessions } from './service/sessions.js';
import type { Sessions } from './service/sessions.js';
import { createWarmup } from './service/warmup.js';
import type { Warmup } from './service/warmup.js';
import type { ServiceConfig } from './config.js';
import { createAuthenticator } from './security/authenticate.js';
import type { UploadPolicy } from './security/imageCheck.js';
import { createRateLimiter } from './security/rateLimit/index.js';
import type { ObjectStore } from './storage/store.js';
import { describeModel } from './engine/index.js';

export interface AppDeps {
  /** The engine, or its loading promise: the app answers /healthz while the model loads. */
  readonly engine: Engine | Promise<Engine>;
  readonly store: ObjectStore;
  readonly memoryProbe?: MemoryProbe;
  /** The sessions' clock (tests move it to check expiry). */
  readonly clock?: () => Date;
  /** GPU readings (default: nvidia-smi every 15 s; none without a GPU). */
  readonly gpuProbe?: GpuProbe;
  /** pino options, or false for silence (tests). */
  readonly logger?: boolean | Record<string, unknown>;
  /**
   * false: no request metrics, request log lines or cost metering (the
   * overhead benchmark's baseline; /metrics still answers). Default on.
   */
  readonly instrumentation?: boolean;
  /** OpenTelemetry traces (main.ts loads them only when OTEL_EXPORTER_OTLP_ENDPOINT is set); none: no hooks, no cost. */
  readonly tracing?: Tracing;
}

/** Everything a route needs, built once per app. */
export interface AppContext {
  readonly config: ServiceConfig;
  readonly engine: EngineHandle;
  readonly store: ObjectStore;
  readonly metrics: Metrics;
  readonly gpu: GpuProbe;
  /** The cost meter and its ledger (absent when instrumentation is off). */
  readonly cost?: CostTracking;
  readonly cache: ResultCache;
  readonly capacity: Capacity;
  readonly processing: Processing;
  readonly jobs: Jobs;
  readonly sessions: Sessions;
  readonly warmup: Warmup;
  readonly effectPreviews: EffectPreviews;
  /** What an upload may be (checked before any decoding). */
  readonly uploadPolicy: UploadPolicy;
  /** The slowest an upload may arrive, and the signal that stops every read when the instance drains. */
  readonly uploadPace: UploadPace;
  readonly startedAt: number;
  /** Wall clock (tests move it): token times, session expiry. */
  clock(): Date;
  /** Event-loop delay since start (ns): the service's own responsiveness. */
  readonly eventLoop: IntervalHistogram;
  /** URL for a path: under PETCUT_PUBLIC_URL, else the host a trusted proxy (or a loopback client) gave, else the bare path. */
  url(request: FastifyRequest, path: string): string;
  isShuttingDown(): boolean;
}

export interface PetcutApp extends FastifyInstance {
  readonly petcut: AppContext;
  /**
   * Stops taking work, drains within PETCUT_SHUTDOWN_TIMEOUT_S (src/http/shutdown.ts), closes the server and the
   * engine. `clean` is false when the engine was still inside native code at the end (see Engine.close).
   */
  shutdown(): Promise<{ clean: boolean }>;
  /** Every route the app registered, with its access declaration. */
  routeTable(): readonly RegisteredRoute[];
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

const JSON_BODY_LIMIT = 64 * 1024;

export async function createApp(config: ServiceConfig, deps: AppDeps): Promise<PetcutApp> {
  const security = config.security;
  const app = Fastify({
    logger: deps.logger === false ? false : { ...loggerOptions(config.logLevel), ...(typeof deps.logger === 'object' ? deps.logger : {}) },
    // One line per request, in Cloud Logging's httpRequest shape (installRequestLog), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger, bindings, options, raw) => logger.child({ ...bindings, ...traceFields(raw as IncomingMessage, config.gcpProject) }, options),
    // JSON bodies (token, order, tier requests) are a few hundred bytes: Fastify buffers them before any
    // reservation, so they get a small bound. Photos never go through Fastify's reader (readUpload reads them
    // against their reservation and PETCUT_BODY_LIMIT_MB), and the webhook route sets its own 1 MB.
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
  const metrics = createMetrics();
  const gpu = deps.gpuProbe ?? createGpuProbe();
  const store = countingStore(deps.store, (operation) => metrics.storageErrors.inc({ operation }));
  const engine = createEngineHandle(deps.engine, config.retryAfterS);
  const model = describeModel(config.engine);
  const memoryProbe = deps.memoryProbe ?? createMemoryProbe(config.memoryLimitBytes);
  const concurrency = config.concurrency;
  const capacity = createCapacity({
    concurrency, queueMax: config.queueMax, memoryPressure: config.memoryPressure, retryAfterS: config.retryAfterS, probe: memoryProbe,
    uploadBytesMax: config.uploadBufferBytes, deadlineS: config.admissionDeadlineS, perOwnerMax: config.uploadsPerAddress > 0 ? config.uploadsPerAddress : undefined,
  });
  const cache = createResultCache(store, model, { days: config.cacheDays, memoryBytes: config.cacheMemoryBytes });
  const log = (msg: string, err?: unknown): void => app.log.error({ err }, msg);
  const instrumented = deps.instrumentation !== false;
  // The ledger's copies go to the bucket with cloud storage (a Cloud Run instance's disk goes with it).
  const cost = instrumented ? createCostTracking(config.cost, { log, store: deps.store.name === 'fs' ? undefined : store }) : undefined;
  const observer = combineObservers(instrumented ? processObserver(metrics, () => warmup.isWarm()) : undefined, cost?.observer, deps.tracing?.observer);
  const processing = createProcessing({ engine, cache, capacity, log, observer });
  // The rest of the ledger is written when the server closes (after the drain, on shutdown); its
  // upload to the bucket gets a second, so the exit still fits Cloud Run's 10 s.
  app.addHook('onClose', async () => {
    if (cost) await Promise.race([cost.close(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  });
  const jobs = createJobs({ processing, ttlMs: config.jobTtlMs, maxJobs: config.jobsMax, concurrency: () => engine.current()?.concurrency ?? concurrency, log, clock: deps.clock });
  const sessions = createSessions(store, { maxPixels: config.engine.maxPixels, cacheDays: config.cacheDays, clock: deps.clock });
  const warmup = createWarmup(engine);
  let shuttingDown = false;
  const draining = new AbortController();
  const inFlight = new Set<FastifyRequest>();
  const eventLoop = monitorEventLoopDelay({ resolution: 10 });
  eventLoop.enable();

  const context: AppContext = {
    config, engine, store, cache, metrics, gpu, cost, capacity, processing, jobs, sessions, warmup, effectPreviews: createEffectPreviews(engine),
    uploadPolicy: Object.freeze({ maxBytes: config.bodyLimitBytes, maxPixels: config.engine.maxPixels, ...config.security.upload }),
    uploadPace: Object.freeze({ minBytesPerS: config.uploadMinBytesPerS, graceMs: config.uploadGraceMs, signal: draining.signal }),
    clock: deps.clock ?? (() => new Date()),
    startedAt: Date.now(), eventLoop,
    url: (request, path) => `${config.publicUrl ?? trustedOrigin(request, security)}${path}`,
    isShuttingDown: () => shuttingDown,
  };

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
  if (instrumented) {
    // Request fees exist only under request-based billing: otherwise no per-request cost work at all.
    installMetrics(app, metrics, config.cost.requestFee > 0 ? cost?.meter : undefined);
    installRequestLog(app);
  }
  await installHeaders(app, security, RESULT_HEADERS);
  // After the CORS headers (a 429 the browser cannot read is useless), before credentials are checked.
  const limiter = createRateLimiter(security.rateLimit, { log: app.log });
  installRateLimits(app, { limiter, appProxyClaim: (request) => appProxyClaim(request, security, deps.clock) });
  installAccessControl(app, security, createAuthenticator(security, deps.clock));
  if (!security.authRequired) {
    app.log.warn('No authentication configured (PETCUT_SHOPIFY_API_SECRET, PETCUT_JWT_SECRET or PETCUT_ALLOWED_IPS): cut-out, job and session routes are open to anyone, limited only by the rate limits.');
  }
  // While draining, new work goes to another instance; reads (status, images, health) still answer.
  app.addHook('onRequest', async (request) => {
    if (shuttingDown && request.method !== 'GET' && request.method !== 'HEAD') {
      throw new OverloadError('PETCUT_E_SHUTTING_DOWN', 1);
    }
  });
  // Requests being answered: the shutdown lets their answers go out before closing the connections.
  app.addHook('onRequest', async (request) => void inFlight.add(request));
  app.addHook('onResponse', async (request) => void inFlight.delete(request));
  app.addHook('onRequestAbort', async (request) => void inFlight.delete(request));
  metrics.bind({
    queue: () => capacity.status(),
    jobsActive: () => jobs.active(),
    memory: () => capacity.status().memory,
    model: () => { const info = engine.current()?.runtime; return info ? { model: info.model, device: info.device } : undefined; },
    gpus: () => gpu.readings(),
    cost: () => cost?.meter.totals(),
    rateLimits: () => { const stats = limiter.stats(); return { rejected: stats.rejected, backend: limiter.kind !== 'memory' && stats.backend === 'memory' ? 'memory-fallback' : stats.backend }; },
  });
  void engine.ready.then(() => {
    metrics.coldStartSeconds.set(process.uptime());
    metrics.coldStarts.inc();
  }, () => undefined);
  const openapi = collectOpenApi(app);
  await app.register((scope, _opts, done) => {
    registerRoutes(scope, context, openapi);
    done();
  });

  const sweepTimer = config.storage.kind === 'fs' && config.sweepIntervalMs > 0
    ? setInterval(() => void sessions.sweep().catch((error: unknown) => log('expiry sweep failed', error)), config.sweepIntervalMs)
    : undefined;
  sweepTimer?.unref();

  let exitBy = Infinity;
  const shutdown = createShutdown({
    app, processing, jobs, timeoutMs: config.shutdownTimeoutMs,
    refuseNewWork: () => {
      shuttingDown = true;
      exitBy = Date.now() + config.shutdownTimeoutMs;
      draining.abort();
    },
    inFlight: () => inFlight.size,
    async closeRest() {
      if (sweepTimer) clearInterval(sweepTimer);
      jobs.close();
      capacity.close();
      eventLoop.disable();
      await limiter.close();
      gpu.close();
      // A model still loading is waited for (within the same deadline) and closed:
      // exiting while ONNX Runtime loads in its threads aborts the process.
      const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), Math.max(0, exitBy - Date.now())).unref());
      const loaded = engine.current() ?? await Promise.race([engine.ready.catch(() => undefined), timeout]);
      // Work abandoned at the deadline may still be in a worker: it stops at its next stage before the engine closes.
      return loaded ? loaded.close(Math.max(0, exitBy - Date.now())) : true;
    },
  });

  return Object.assign(app, { petcut: context, shutdown, routeTable: () => openapi.routes() }) as PetcutApp;
}
