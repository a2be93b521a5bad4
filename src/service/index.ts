import { randomUUID } from 'node:crypto';
import type { Engine } from '../engine/index.js';
import type { ServiceConfig } from '../config.js';
import type { MemoryProbe } from '../observability/memory.js';
import { createMemoryProbe } from '../observability/memory.js';
import type { ProcessObserver } from '../observability/work.js';
import { circuitStore } from '../storage/circuit.js';
import type { StorageHealth } from '../storage/circuit.js';
import type { ObjectStore } from '../storage/store.js';
import { createResultCache } from './cache.js';
import type { ResultCache } from './cache.js';
import { createCapacity } from './capacity.js';
import type { Capacity } from './capacity.js';
import { createCutouts } from './cutouts.js';
import type { Cutouts } from './cutouts.js';
import { createEffectPreviews } from './effectPreviews.js';
import type { EffectPreviews } from './effectPreviews.js';
import { createEngineHandle } from './engineHandle.js';
import type { EngineHandle } from './engineHandle.js';
import { createJobs } from './jobs.js';
import type { Jobs } from './jobs.js';
import { createProcessing } from './processing.js';
import type { Processing } from './processing.js';
import { createSessions } from './sessions.js';
import { createProgressBus, SHARED_PREFIX } from './sharedState.js';
import type { ProgressBus, SharedState } from './sharedState.js';
import type { Sessions } from './sessions.js';
import { combineObservers } from '../observability/processObserver.js';
import { loadSchedule } from '../scaling/schedule.js';
import { createWarmup } from './warmup.js';
import type { SpendSource, Warmup } from './warmup.js';

/**
 * The service layer, built once from the configuration and its adapters:
 * the engine as the service sees it, admission, the result cache, the
 * processing and cut-out use cases, jobs, sessions, warm-up and the style
 * previews. The HTTP layer calls these; nothing here knows about HTTP.
 */
export interface Services {
  readonly engine: EngineHandle;
  /** The object store, as the service uses it (the app counts its failures), behind its circuit (storageHealth). */
  readonly store: ObjectStore;
  /** Whether storage is up (src/storage/circuit.ts): while it is down, only memory-cache hits are answered. */
  readonly storageHealth: StorageHealth;
  readonly capacity: Capacity;
  readonly cache: ResultCache;
  readonly processing: Processing;
  readonly cutouts: Cutouts;
  readonly jobs: Jobs;
  readonly sessions: Sessions;
  readonly warmup: Warmup;
  readonly effectPreviews: EffectPreviews;
  /** The legacy progress socket's messages per session (through Redis when shared). */
  readonly sessionProgress: ProgressBus;
  /** Job records and events shared with the other instances (REDIS_URL); undefined: this instance only. */
  readonly shared?: SharedState;
}

export interface ServiceDeps {
  /** The engine, or its loading promise: the service answers while the model loads. */
  readonly engine: Engine | Promise<Engine>;
  readonly store: ObjectStore;
  readonly memoryProbe?: MemoryProbe;
  /** The wall clock: session and job expiry (tests move it). */
  readonly clock?: () => Date;
  /** Who watches each piece of work (metrics, cost, traces); told whether the model has run once yet. */
  readonly observer?: (warmedUp: () => boolean) => ProcessObserver | undefined;
  readonly log: (message: string, error?: unknown) => void;
  /** Shared job state (Redis): any instance answers for any job (docs/scale-out.md). */
  readonly shared?: SharedState;
  /** Today's spend, for the warm-up's budget rule (undefined: metering is off). */
  readonly spend?: SpendSource;
}

export function createServices(config: ServiceConfig, deps: ServiceDeps): Services {
  const { log } = deps;
  const { store, health: storageHealth } = circuitStore(deps.store, {
    retryAfterS: config.retryAfterS,
    onChange: (up, cause) => log(up ? 'storage is reachable again: new work is accepted' : 'storage is down: answering memory-cache hits only, refusing new work', cause),
  });
  const engine = createEngineHandle(deps.engine, config.retryAfterS);
  const capacity = createCapacity({
    concurrency: config.concurrency, queueMax: config.queueMax, memoryPressure: config.memoryPressure, retryAfterS: config.retryAfterS,
    probe: deps.memoryProbe ?? createMemoryProbe(config.memoryLimitBytes),
    uploadBytesMax: config.uploadBufferBytes, deadlineS: config.admissionDeadlineS, perOwnerMax: config.uploadsPerAddress > 0 ? config.uploadsPerAddress : undefined,
  });
  // Keys are made only for work that got the engine (processing requires it first), so the identity is known.
  // With the class models (pet finding) the same selection cuts out otherwise: an instance with
  // PETCUT_PET_FINDING=false must not share cut-outs with one that finds pets on the same bucket.
  const cacheIdentity = (): string => {
    const loaded = engine.require();
    return loaded.runtime.classModels.length ? `${loaded.modelIdentity}+${[...loaded.runtime.classModels].sort().join('+')}` : loaded.modelIdentity;
  };
  const cache = createResultCache(store, cacheIdentity, { days: config.cacheDays, memoryBytes: config.cacheMemoryBytes });
  const warmup = createWarmup({
    engine, settings: config.warmup, clock: deps.clock ?? (() => new Date()), spend: deps.spend,
    schedule: config.warmup.hours === 'schedule' ? loadSchedule(config.scalingSchedule) : undefined,
  });
  // The warm-up's note of each cut-out comes last: the metrics still see the first inference as cold.
  const observer = combineObservers(deps.observer?.(() => warmup.isWarm()), warmup.observer);
  const processing = createProcessing({ engine, cache, capacity, log, observer, storage: storageHealth });
  const sessions = createSessions(store, { maxPixels: config.engine.maxPixels, cacheDays: config.cacheDays, clock: deps.clock });
  const cutouts = createCutouts({ processing, sessions, store, storage: storageHealth, cache });
  const jobs = createJobs({
    cutouts, ttlMs: config.jobTtlMs, maxJobs: config.jobsMax, log, clock: deps.clock, shared: deps.shared,
    concurrency: () => engine.current()?.concurrency ?? config.concurrency,
  });
  const sessionProgress = createProgressBus(deps.shared, randomUUID(), `${SHARED_PREFIX}session:`);
  return { engine, store, storageHealth, capacity, cache, processing, cutouts, jobs, sessions, warmup, effectPreviews: createEffectPreviews(engine), sessionProgress, shared: deps.shared };
}
