import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { isPetcutError, PetcutError } from '../../errors.js';
import type { GpuReading } from '../../observability/gpu.js';
import type { OpenApiCollector } from '../openapi.js';
import { errors } from '../schemas.js';
import { chargeWarmup } from '../rateLimits.js';
import { publicRoute } from '../../security/routePolicy.js';

const MB = 1024 * 1024;

const nullableNumber = { type: ['number', 'null'] } as const;
/** /health's body: the device and GPU parts spelled out (docs/gpu.md), the rest open. */
const HEALTH_BODY = {
  type: 'object',
  additionalProperties: true,
  properties: {
    device: {
      type: 'object',
      description: 'Absent while the model loads.',
      properties: {
        kind: { type: 'string', enum: ['cpu', 'cuda'], description: 'The device the model runs on.' },
        reason: { type: 'string', description: 'Why: "requested", or why CUDA was not used.' },
        requested: { type: 'string', enum: ['auto', 'cpu', 'cuda'], description: 'PETCUT_DEVICE.' },
        fallback: {
          type: ['object', 'null'],
          description: 'Set when PETCUT_DEVICE=auto wanted the GPU and the model runs on the CPU; also counted in petcut_device_fallbacks_total.',
          properties: {
            from: { type: 'string', enum: ['cuda'] }, to: { type: 'string', enum: ['cpu'] },
            reason: { type: 'string', enum: ['unavailable', 'failed'], description: 'unavailable: no CUDA provider library or no NVIDIA device; failed: the CUDA session could not be created.' },
            detail: { type: 'string' },
          },
        },
      },
    },
    gpu: {
      type: 'object',
      properties: {
        state: { type: 'string', description: '"ok", "no GPU (...)", or the last nvidia-smi error.' },
        devices: {
          type: 'array',
          items: {
            type: 'object',
            description: 'nvidia-smi\'s last reading (every 15 s); null where the GPU reports no value.',
            properties: {
              index: { type: 'string' }, name: { type: 'string' }, utilization: { ...nullableNumber, description: '0-1.' },
              memoryUsedMb: nullableNumber, memoryTotalMb: nullableNumber, temperatureC: nullableNumber, powerW: nullableNumber,
            },
          },
        },
      },
    },
  },
} as const;

export function registerHealthRoutes(app: FastifyInstance, ctx: AppContext, openapi: OpenApiCollector): void {
  app.get('/healthz', {
    config: publicRoute('none'),
    schema: { summary: 'Liveness: the process answers (also during inference and model loading)', tags: ['health'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    config: publicRoute('none'),
    schema: {
      summary: 'Readiness: the model is loaded and the instance is not shutting down',
      tags: ['health'],
      response: { 200: { type: 'object', properties: { status: { type: 'string' }, model: { type: 'string' }, device: { type: 'string' } } }, ...errors(503) },
    },
  }, async () => {
    if (ctx.isShuttingDown()) throw new PetcutError('PETCUT_E_SHUTTING_DOWN');
    const engine = ctx.engine.require();
    return { status: 'ready', model: engine.model.name, device: engine.runtime.device };
  });

  app.get('/health', {
    config: publicRoute(),
    schema: { summary: 'Detail: model, device (requested, in use, CPU fallback), load time, GPU (utilisation, memory, temperature, power), memory, queue, cache, storage reachability', tags: ['health'], response: { 200: HEALTH_BODY, 503: { ...HEALTH_BODY, description: 'Same body: not ready, storage unreachable or shutting down.' } } },
  }, async (request, reply) => {
    const engine = ctx.engine.current();
    const memory = await ctx.capacity.refresh();
    const status = ctx.capacity.status();
    const storage = await probeStorage(ctx);
    const failure = ctx.engine.failure();
    const healthy = engine !== undefined && storage.reachable && !ctx.isShuttingDown();
    if (!healthy) reply.status(503);
    request.log.debug({ healthy }, 'health');
    return {
      status: healthy ? 'ok' : ctx.isShuttingDown() ? 'shutting_down' : engine ? 'degraded' : failure ? 'failed' : 'loading',
      uptimeS: Math.round((Date.now() - ctx.startedAt) / 1000),
      model: engine ? { name: engine.model.name, loaded: true, loadMs: Math.round(engine.readyMs), inputSize: engine.model.inputSize, license: engine.model.license } : { loaded: false, error: failure?.message },
      // What PETCUT_DEVICE asked for, what runs, and the fallback when auto wanted the GPU and got the CPU (docs/gpu.md).
      device: engine ? { kind: engine.runtime.device, reason: engine.runtime.deviceReason, requested: engine.runtime.requestedDevice, fallback: engine.runtime.fallback ?? null } : undefined,
      warm: ctx.warmup.isWarm(),
      warmup: warmupView(ctx, request),
      gpu: { state: ctx.gpu.state(), devices: ctx.gpu.readings().map(gpuView) },
      memory: {
        rssMb: Math.round(memory.rssBytes / MB), usedMb: Math.round(memory.usedBytes / MB), limitMb: Math.round(memory.limitBytes / MB),
        source: memory.source, pressure: status.underPressure, threshold: ctx.config.memoryPressure,
      },
      cost: costView(ctx),
      queue: {
        inFlight: status.inFlight, concurrency: status.concurrency, queued: status.queued, queueMax: status.queueMax, activeJobs: ctx.jobs.active(),
        // Images admitted at once while a memory mitigation caps it (docs/mitigations.md); absent otherwise.
        admissionCap: status.cap,
        // Admission's view: images in the engine's hands, uploads being read, their buffered bytes, the measured pace.
        working: status.working, uploading: status.inFlight - status.working, uploadMb: Math.round(status.uploadBytes / MB), uploadMbMax: status.uploadBytesMax === undefined ? undefined : Math.round(status.uploadBytesMax / MB),
        secondsPerImage: Math.round(status.serviceS * 100) / 100, deadlineS: ctx.config.admissionDeadlineS,
        // The engine's own: images in a pipeline worker, and waiting for one.
        running: engine ? engine.inFlight() - engine.queued() : 0, waiting: engine?.queued() ?? 0,
      },
      cache: ctx.cache.stats(),
      // Where jobs are answered (docs/scale-out.md): 'shared' through Redis, 'local' without REDIS_URL, 'local-fallback' while Redis is lost.
      jobs: { state: ctx.shared ? (ctx.shared.up() ? 'shared' : 'local-fallback') : 'local' },
      // Alert-driven mitigations in force (docs/mitigations.md): what, why, until when, and the Cloud Run side.
      mitigations: ctx.mitigations.view(),
      eventLoop: { p50Ms: ctx.eventLoop.percentile(50) / 1e6, p99Ms: ctx.eventLoop.percentile(99) / 1e6, maxMs: ctx.eventLoop.max / 1e6 },
      storage,
    };
  });

  app.post('/warmup', {
    config: publicRoute('warmup'),
    schema: {
      summary: 'Pre-warm this instance: one tiny real inference when the model has not run yet and the pre-warming rules allow it',
      tags: ['health'],
      description: [
        'The storefront widget sends it as `fetch(url + "/warmup", { method: "POST", mode: "no-cors", keepalive: true })`: no body, no',
        'credentials, from the shop\'s origin (no Content-Type, or text/plain). Answers at once (200, `skipped` says why) when a cut-out',
        'was processed here in the last PETCUT_WARMUP_RECENT_S seconds, outside the scaling schedule\'s pre-warm windows',
        '(PETCUT_WARMUP_HOURS), or once today\'s spend has reached PETCUT_WARMUP_BUDGET_USD; when the model already ran here',
        '(`alreadyWarm`), or while another call\'s run is in progress (`joined`, waits for it). Only a real run is charged to the',
        'service-wide budget of PETCUT_RATE_LIMIT_WARMUP_PER_HOUR (429 past it). The rules and their state are in GET /health (`warmup`).',
      ].join(' '),
      response: {
        200: {
          type: 'object',
          properties: {
            result: { type: 'string', enum: ['ran', 'joined', 'already_warm', 'recent_request', 'outside_hours', 'budget_spent'] },
            warm: { type: 'boolean', description: 'The model has run on this instance.' },
            alreadyWarm: { type: 'boolean' },
            ran: { type: 'boolean', description: 'This call ran the model.' },
            skipped: { type: 'string', enum: ['recent_request', 'outside_hours', 'budget_spent'] },
            ms: { type: 'number' },
          },
        },
        ...errors(429, 503),
      },
    },
  }, async (request, reply) => {
    try {
      const result = await ctx.warmup.run(() => chargeWarmup(request, reply));
      ctx.metrics.warmups.inc({ result: result.result });
      return result;
    } catch (error) {
      const refused = isPetcutError(error) && error.code === 'PETCUT_E_RATE_LIMITED';
      ctx.metrics.warmups.inc({ result: refused ? 'refused' : 'failed' });
      throw error instanceof PetcutError ? error : new PetcutError('PETCUT_E_MODEL_UNAVAILABLE', undefined, { cause: error });
    }
  });

  app.get('/openapi.json', { config: publicRoute(), schema: { hide: true } as Record<string, unknown> }, async () => openapi.document());
}

/** One GPU as /health shows it: null where nvidia-smi reports no value ("[N/A]", "[Not Supported]"). */
function gpuView(g: GpuReading): Record<string, unknown> {
  const mb = (bytes: number | null): number | null => (bytes === null ? null : Math.round(bytes / MB));
  return {
    index: g.index, name: g.name, utilization: g.utilization, memoryUsedMb: mb(g.memoryUsedBytes), memoryTotalMb: mb(g.memoryTotalBytes),
    temperatureC: g.temperatureC ?? null, powerW: g.powerW ?? null,
  };
}

/**
 * The store's reachability, by a ping: a failed one opens the store's circuit, a good one closes it.
 * `degraded` (with `downSince`, `probes`): the circuit is open, only memory-cache hits are answered,
 * new work gets 503 PETCUT_E_STORAGE_UNAVAILABLE.
 */
async function probeStorage(ctx: AppContext): Promise<{ kind: string; reachable: boolean; error?: string; latencyMs: number; degraded?: boolean; downSince?: string; probes?: number }> {
  const started = performance.now();
  try {
    await ctx.store.ping();
    return { kind: ctx.store.name, reachable: true, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    // Public: the coded message only (the adapters keep paths and library text in the cause, for the log).
    return { kind: ctx.store.name, reachable: false, error: isPetcutError(error) ? error.message : 'Storage is not reachable.', latencyMs: Math.round(performance.now() - started), ...circuitView(ctx) };
  }
}

/** POST /warmup's rules, their current values, the calls by result and the last one (docs/prewarming.md). */
function warmupView(ctx: AppContext, request: FastifyRequest): Record<string, unknown> {
  const view = ctx.warmup.view();
  const limiter = request.server.rateLimiter;
  const perHour = ctx.config.security.rateLimit.warmupPerHour;
  // The budget is the whole service's when the limiter's store is Redis; in memory it is this instance's.
  const hourly = { perHour, scope: perHour === 0 ? 'off' : limiter && limiter.kind !== 'memory' ? 'service' : 'instance', store: limiter?.kind ?? 'none' };
  return { ...view, conditions: { ...view.conditions, hourly } };
}

function circuitView(ctx: AppContext): { degraded: boolean; downSince?: string; probes?: number } {
  const circuit = ctx.storageHealth.state();
  return circuit.up ? { degraded: false } : { degraded: true, downSince: circuit.since.toISOString(), probes: circuit.probes };
}

/** What the instance costs by the price list (not what it has spent: that is in /metrics and the ledger). */
function costView(ctx: AppContext): Record<string, unknown> {
  const { billing, vcpus, memoryGiB, gpus, gpuType, rates, requestFee } = ctx.config.cost;
  return {
    metering: ctx.cost !== undefined, ledger: ctx.cost?.ledgerPath !== undefined, billing, vcpus, memoryGiB: Math.round(memoryGiB * 100) / 100, gpus, ...(gpus > 0 ? { gpuType } : {}),
    usdPerHour: Math.round((rates.vcpu + rates.memory + rates.gpu) * 3600 * 1e4) / 1e4, usdPerMillionRequests: requestFee * 1e6,
  };
}
