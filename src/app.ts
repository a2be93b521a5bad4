import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import type { ServiceConfig } from './config.js';
import { createCostTracking, LEDGER_PREFIX } from './cost/index.js';
import { createDailySpend } from './cost/spend.js';
import type { Engine } from './engine/index.js';
import type { AppContext, KpiSources } from './http/context.js';
import { collectOpenApi } from './http/openapi.js';
import type { RegisteredRoute } from './http/openapi.js';
import { registerRoutes } from './http/routes/index.js';
import { trustedOrigin } from './http/security.js';
import { createServer } from './http/server.js';
import { createShutdown } from './http/shutdown.js';
import { createBurnSource } from './cost/burn.js';
import { createAlertSource } from './observability/alertmanager.js';
import { createGpuProbe } from './observability/gpu.js';
import { createKpiRecorder } from './observability/kpis.js';
import type { KpiSample } from './observability/kpis.js';
import type { GpuProbe } from './observability/gpu.js';
import type { MemoryProbe } from './observability/memory.js';
import { createMetrics } from './observability/metrics.js';
import { combineObservers, processObserver } from './observability/processObserver.js';
import type { Tracing } from './observability/tracing.js';
import { createRateLimiter } from './security/rateLimit/index.js';
import { createMitigationsFromConfig } from './mitigation/index.js';
import { throttleUploads } from './http/rateLimits.js';
import { businessCounters, createBusiness } from './service/business.js';
import { createServices } from './service/index.js';
import { createRedisSharedState } from './service/redisSharedState.js';
import { countingStore } from './storage/counting.js';
import type { LifecycleOutcome, ObjectStore } from './storage/store.js';

export type { AppContext } from './http/context.js';

/**
 * `createApp(config, deps)` builds the service from a configuration and its
 * adapters: the service layer (src/service/index.ts), what watches it
 * (metrics, cost, traces, GPU), the HTTP server with its hooks
 * (src/http/server.ts) and routes, the periodic sweep and the shutdown.
 * main.ts reads config and listens; tests build apps with test adapters.
 */
export interface AppDeps {
  /** The engine, or its loading promise: the app answers /healthz while the model loads. */
  readonly engine: Engine | Promise<Engine>;
  readonly store: ObjectStore;
  readonly memoryProbe?: MemoryProbe;
  /** The wall clock: sessions, jobs and tokens (tests move it to check expiry). */
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

export interface PetcutApp extends FastifyInstance {
  readonly petcut: AppContext;
  /**
   * Stops taking work, drains within PETCUT_SHUTDOWN_TIMEOUT_S (src/http/shutdown.ts), closes the server and the
   * engine. `clean` is false when the engine was still inside native code at the end (see Engine.close).
   */
  shutdown(): Promise<{ clean: boolean }>;
  /** Every route the app registered, with its access declaration. */
  routeTable(): readonly RegisteredRoute[];
  /**
   * Makes the bucket's lifecycle rules match the tiers (PETCUT_LIFECYCLE=apply, at start-up). A
   * bucket whose server has no lifecycle rules gets the expiry sweep local disk has, every
   * PETCUT_SWEEP_INTERVAL_S (none when it is 0), and a warning in the log.
   */
  applyLifecycle(): Promise<LifecycleOutcome>;
  /** Whether the service deletes expired images itself (local disk, or a bucket without lifecycle rules). */
  sweeping(): boolean;
}

export async function createApp(config: ServiceConfig, deps: AppDeps): Promise<PetcutApp> {
  const metrics = createMetrics(config.build);
  const gpu = deps.gpuProbe ?? createGpuProbe();
  const instrumented = deps.instrumentation !== false;
  let shuttingDown = false;
  const draining = new AbortController();
  let log = (message: string, error?: unknown): void => console.error(message, error);
  const store = countingStore(deps.store, (operation) => metrics.storageErrors.inc({ operation }));
  // Jobs shared through the rate limiter's Redis (REDIS_URL): any instance answers for any job (docs/scale-out.md).
  let sharedLog: { warn(fields: object, message: string): void; info(fields: object, message: string): void } = { warn: (f, m) => console.error(m, f), info: () => undefined };
  const { redisUrl, redisTimeoutMs } = config.security.rateLimit;
  const shared = redisUrl ? createRedisSharedState({
    url: redisUrl, timeoutMs: redisTimeoutMs, log: { warn: (f, m) => sharedLog.warn(f, m), info: (f, m) => sharedLog.info(f, m) },
    onError: (op) => metrics.sharedStateErrors.inc({ op }),
  }) : undefined;
  // The ledger's copies go to the bucket with cloud storage (a Cloud Run instance's disk goes with it).
  const cost = instrumented ? createCostTracking(config.cost, { log: (m, e) => log(m, e), store: deps.store.name === 'fs' ? undefined : store }) : undefined;
  // The warm-up's budget rule: this instance's meter plus the other instances' ledger copies in the bucket.
  const spend = cost ? createDailySpend({ meter: cost.meter, store, prefix: LEDGER_PREFIX, refreshMs: config.warmup.spendRefreshMs, log: (m, e) => log(m, e) }) : undefined;
  // The dashboard's per-minute aggregates (src/observability/kpis.ts): fed by the metrics hook and the
  // processing observer, sampled every 5 s off the request path (queue, memory, GPU, the meter's total).
  // The context is built after the server (a slow start can outlast the first 5 s tick): no sample until then.
  const sampled: { context?: AppContext } = {};
  const kpiRecorder = createKpiRecorder({ sampler: instrumented ? () => sampled.context && kpiSample(sampled.context) : undefined });
  const services = createServices(config, {
    engine: deps.engine, store, memoryProbe: deps.memoryProbe, clock: deps.clock, log: (m, e) => log(m, e), shared, spend: spend && { now: () => spend.today(), settled: () => spend.settled() },
    observer: (warmedUp) => combineObservers(instrumented ? processObserver(metrics, warmedUp) : undefined, instrumented ? kpiRecorder.observer(warmedUp) : undefined, cost?.observer, deps.tracing?.observer),
  });
  const server = await createServer(config, {
    logger: deps.logger, metrics, instrumented, tracing: deps.tracing, clock: deps.clock, isShuttingDown: () => shuttingDown,
    // Request fees exist only under request-based billing: otherwise no per-request cost work at all.
    requestFees: config.cost.requestFee > 0 ? cost?.meter : undefined,
    kpis: kpiRecorder,
    limiter: (fastify) => createRateLimiter(config.security.rateLimit, { log: fastify.log }),
  });
  const { app, limiter } = server;
  log = (message, error) => app.log.error({ err: error }, message);
  sharedLog = app.log;
  app.addHook('onClose', async () => services.storageHealth.close());
  // The rest of the ledger is written when the server closes (after the drain, on shutdown); its
  // upload to the bucket gets a second, so the exit still fits Cloud Run's 10 s.
  app.addHook('onClose', async () => {
    if (cost) await Promise.race([cost.close(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  });
  const eventLoop = monitorEventLoopDelay({ resolution: 10 });
  eventLoop.enable();
  // Alert-driven mitigations (docs/mitigations.md): shared through Redis with REDIS_URL, applied here to admission and the upload budget.
  const mitigationRedis = config.security.rateLimit.redisUrl;
  const mitigations = createMitigationsFromConfig(config.mitigation, {
    log: app.log, clock: deps.clock, scheduleFile: config.scalingSchedule,
    redis: mitigationRedis ? { url: mitigationRedis, timeoutMs: config.security.rateLimit.redisTimeoutMs } : undefined,
    count: (action, result) => metrics.mitigations.inc({ action, result }),
    received: (status, handled) => metrics.mitigationAlerts.inc({ status, handled: String(handled) }),
    onLocal: (limits) => {
      services.capacity.limitTo(limits.concurrency);
      throttleUploads(app, limits.uploadsPerMin);
    },
  });
  app.addHook('onClose', async () => mitigations.close());
  app.addHook('onClose', async () => kpiRecorder.close());
  void services.engine.ready.then(() => kpiRecorder.ready(), () => undefined);
  const startedAt = Date.now();
  const kpis: KpiSources = {
    recorder: kpiRecorder,
    alerts: createAlertSource({ url: config.alertmanagerUrl }),
    burn: cost && createBurnSource({ meter: cost.meter, ledgerPath: cost.ledgerPath, budgets: config.cost.prices.budgets, startedAt, log: (m, e) => log(m, e) }),
    spendToday: spend && (() => spend.today()),
  };
  // Business KPIs (docs/kpis.md): every answer counts towards the downtime the revenue impact is priced from.
  const business = createBusiness(config.business, { clock: deps.clock, counters: businessCounters(metrics) });
  app.addHook('onResponse', async (request, reply) => business.recordResponse(request.routeOptions.url, reply.statusCode));
  const context: AppContext = {
    ...services, config, metrics, gpu, cost, eventLoop, startedAt, mitigations, kpis, business,
    uploadPolicy: Object.freeze({ maxBytes: config.bodyLimitBytes, maxPixels: config.engine.maxPixels, ...config.security.upload }),
    uploadPace: Object.freeze({ minBytesPerS: config.uploadMinBytesPerS, graceMs: config.uploadGraceMs, signal: draining.signal }),
    clock: deps.clock ?? (() => new Date()),
    url: (request, path) => `${config.publicUrl ?? trustedOrigin(request, config.security)}${path}`,
    isShuttingDown: () => shuttingDown,
  };
  bindMetrics(context, limiter);
  sampled.context = context;
  const openapi = collectOpenApi(app);
  await app.register((scope, _opts, done) => {
    registerRoutes(scope, context, openapi);
    done();
  });

  const { sessions, jobs, capacity, engine, processing } = services;
  // Local disk has no lifecycle rules: the service deletes what expired itself. A bucket whose
  // server has none either (ensureLifecycle answered 'not-supported') turns the sweep on too.
  let sweepTimer: NodeJS.Timeout | undefined;
  const sweepBySelf = (): boolean => {
    if (config.sweepIntervalMs <= 0 || shuttingDown) return false;
    sweepTimer ??= setInterval(() => void sessions.sweep().catch((error: unknown) => log('expiry sweep failed', error)), config.sweepIntervalMs).unref();
    return true;
  };
  if (deps.store.name === 'fs') sweepBySelf();
  const applyLifecycle = async (): Promise<LifecycleOutcome> => {
    const rules = sessions.expiryRules();
    const outcome = await store.ensureLifecycle(rules);
    app.log.info({ outcome, rules }, 'bucket lifecycle');
    if (outcome === 'not-supported' && deps.store.name !== 'fs') {
      app.log.warn({ sweepIntervalS: config.sweepIntervalMs / 1000 }, sweepBySelf()
        ? 'the bucket has no lifecycle rules: the service deletes expired images itself'
        : 'the bucket has no lifecycle rules and PETCUT_SWEEP_INTERVAL_S=0: nothing deletes expired images');
    }
    return outcome;
  };

  let exitBy = Infinity;
  const shutdown = createShutdown({
    app, processing, jobs, timeoutMs: config.shutdownTimeoutMs,
    refuseNewWork: () => {
      shuttingDown = true;
      exitBy = Date.now() + config.shutdownTimeoutMs;
      draining.abort();
    },
    inFlight: server.inFlight,
    async closeRest() {
      if (sweepTimer) clearInterval(sweepTimer);
      jobs.close();
      capacity.close();
      eventLoop.disable();
      await limiter.close();
      await shared?.close();
      gpu.close();
      // A model still loading is waited for (within the same deadline) and closed:
      // exiting while ONNX Runtime loads in its threads aborts the process.
      const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), Math.max(0, exitBy - Date.now())).unref());
      const loaded = engine.current() ?? await Promise.race([engine.ready.catch(() => undefined), timeout]);
      // Work abandoned at the deadline may still be in a worker: it stops at its next stage before the engine closes.
      return loaded ? loaded.close(Math.max(0, exitBy - Date.now())) : true;
    },
  });

  return Object.assign(app, { petcut: context, shutdown, routeTable: () => openapi.routes(), applyLifecycle, sweeping: () => sweepTimer !== undefined }) as PetcutApp;
}

/** The dashboard's 5 s sample: all in memory (the capacity's last memory reading, the GPU probe's last poll). */
function kpiSample(ctx: AppContext): KpiSample {
  const status = ctx.capacity.status();
  const totals = ctx.cost?.meter.totals();
  return {
    queued: status.queued, inFlight: status.inFlight, memory: status.memory, gpus: ctx.gpu.readings(),
    costTotalUsd: totals && totals.usd.vcpu + totals.usd.memory + totals.usd.gpu + totals.usd.requests,
  };
}

/** What /metrics reads at scrape time (never waiting on work in progress). */
function bindMetrics(ctx: AppContext, limiter: Awaited<ReturnType<typeof createServer>>['limiter']): void {
  ctx.metrics.bind({
    queue: () => ctx.capacity.status(),
    jobsActive: () => ctx.jobs.active(),
    memory: () => ctx.capacity.status().memory,
    model: () => { const info = ctx.engine.current()?.runtime; return info ? { model: info.model, device: info.device } : undefined; },
    gpus: () => ctx.gpu.readings(),
    cost: () => ctx.cost?.meter.totals(),
    sharedStateUp: () => ctx.shared?.up(),
    storageUp: () => ctx.storageHealth.up(),
    mitigations: () => ctx.mitigations.counts(),
    rateLimits: () => { const stats = limiter.stats(); return { rejected: stats.rejected, backend: limiter.kind !== 'memory' && stats.backend === 'memory' ? 'memory-fallback' : stats.backend }; },
  });
  void ctx.engine.ready.then((loaded) => {
    ctx.metrics.coldStartSeconds.set(process.uptime());
    ctx.metrics.coldStarts.inc();
    const fallback = loaded.runtime.fallback;
    if (fallback) ctx.metrics.deviceFallbacks.inc({ from: fallback.from, to: fallback.to, reason: fallback.reason });
  }, () => undefined);
}
