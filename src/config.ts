import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadEngineConfig } from './engine/index.js';
import type { EngineConfig } from './engine/index.js';
import { parseEnv, PetcutError } from './errors.js';
import { loadCostConfig } from './cost/config.js';
import { containerMemoryLimit } from './observability/memory.js';
import type { CostConfig } from './cost/config.js';
import { loadSecurityConfig } from './security/config.js';
import type { SecurityConfig } from './security/config.js';
import type { StorageConfig } from './storage/index.js';
import { STORAGE_KINDS } from './storage/store.js';
import type { StorageKind } from './storage/store.js';
import { SERVICE_NAME, serviceRefOf } from './mitigation/config.js';
import type { MitigationConfig } from './mitigation/config.js';
import type { BusinessConfig } from './service/business.js';
import { parseExperiment } from './service/experiment.js';

/**
 * The HTTP service's configuration: env ?? default, validated once at
 * start-up and frozen. Every variable is documented in .env.example (a test
 * keeps the two in step) and in docs/configuration.md (a test keeps that in step too).
 */
const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const cloudRunName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, { error: 'must be a Cloud Run name (lowercase letters, digits and hyphens, at most 63)' });

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PETCUT_HOST: z.string().min(1).default('0.0.0.0'),
  PETCUT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PETCUT_PUBLIC_URL: z.url().optional(),
  // The plan's request size limit.
  PETCUT_BODY_LIMIT_MB: z.coerce.number().min(1).max(200).default(30),
  PETCUT_FILES_PER_JOB: z.coerce.number().int().min(1).max(100).optional(),
  PETCUT_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  // Each waiting image holds its upload (<= 30 MB) in memory: the bound keeps
  // a burst from turning into an out-of-memory crash. It also bounds the wait:
  // on two CPU cores (~0.4 images/s) 8 queued images already mean ~25 s, so a
  // longer queue would only turn 503s (retried elsewhere) into timeouts.
  PETCUT_QUEUE_MAX: z.coerce.number().int().min(0).max(1000).default(8),
  PETCUT_MEMORY_LIMIT_MB: z.coerce.number().int().min(64).optional(),
  PETCUT_MEMORY_PRESSURE: z.coerce.number().min(0.1).max(1).default(0.9),
  PETCUT_RETRY_AFTER_S: z.coerce.number().int().min(1).max(600).default(5),
  // Bodies of all uploads in flight together, buffered in memory until processed. Unset: a tenth of the
  // memory limit, 64-512 MB (60 stalled 29 MB uploads once held 1.6 GB).
  PETCUT_UPLOAD_BUFFER_MB: z.coerce.number().int().min(1).max(65_536).optional(),
  // An upload slower than this on average, once its grace is over, is cut off (408): a stalled body must
  // not hold its reserved room until the 120 s request timeout. 32 KB/s is slower than a 2G phone.
  PETCUT_UPLOAD_MIN_KBPS: z.coerce.number().min(0).max(100_000).default(32),
  PETCUT_UPLOAD_GRACE_S: z.coerce.number().min(1).max(600).default(5),
  // Uploads one client address may have in flight at once (429 past it; 0: no bound): stalled bodies from
  // one address must not hold all the room a body is read into.
  PETCUT_UPLOADS_PER_ADDRESS: z.coerce.number().int().min(0).max(10_000).default(4),
  // A new photo is admitted only if, at the measured pace, it would be done within this many seconds
  // (the plan's warm P95 < 5 s); 0 turns the deadline off (only the queue bound remains).
  PETCUT_ADMISSION_DEADLINE_S: z.coerce.number().min(0).max(600).default(5),
  // Cloud Run sends SIGKILL 10 s after SIGTERM: work still running 3 s before this is refused (503)
  // so that answers, the ledger and the engine can close in time.
  PETCUT_SHUTDOWN_TIMEOUT_S: z.coerce.number().min(0).max(3600).default(9),
  PETCUT_JOB_TTL_S: z.coerce.number().int().min(10).default(3600),
  PETCUT_JOBS_MAX: z.coerce.number().int().min(10).default(1000),
  PETCUT_WS_PING_S: z.coerce.number().min(1).max(600).default(30),
  PETCUT_STORAGE: z.enum(STORAGE_KINDS).default('fs'),
  PETCUT_DATA_DIR: z.string().min(1).default('./data'),
  PETCUT_BUCKET: z.string().min(1).optional(),
  PETCUT_S3_REGION: z.string().min(1).default('us-east-1'),
  PETCUT_S3_ENDPOINT: z.url().optional(),
  PETCUT_S3_FORCE_PATH_STYLE: flag.default(false),
  PETCUT_GCS_PROJECT: z.string().min(1).optional(),
  PETCUT_GCS_ENDPOINT: z.url().optional(),
  PETCUT_STORAGE_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  PETCUT_SIGNED_URLS: flag.default(false),
  PETCUT_SIGNED_URL_TTL_S: z.coerce.number().int().min(60).max(7 * 86400).default(3600),
  PETCUT_LIFECYCLE: z.enum(['apply', 'off']).default('apply'),
  PETCUT_CACHE_DAYS: z.coerce.number().int().min(1).max(365).default(7),
  PETCUT_CACHE_MEMORY_MB: z.coerce.number().int().min(0).max(16_384).default(256),
  PETCUT_SWEEP_INTERVAL_S: z.coerce.number().int().min(0).default(3600),
  // The time-based scaling schedule (docs/scaling.md): its windows decide when warm-ups run, what the
  // mitigations return to, and what the cost report calls peak.
  PETCUT_SCALING_SCHEDULE: z.string().min(1).optional(),
  // POST /warmup's conditions (docs/prewarming.md): only in the schedule's pre-warm windows (or always),
  // not when a cut-out was processed in the last N seconds (0: off), not once today's spend reaches the
  // budget (unset: the price file's daily budget; 0: off); the other instances' ledger copies are read this often.
  PETCUT_WARMUP_HOURS: z.enum(['schedule', 'always']).default('schedule'),
  PETCUT_WARMUP_RECENT_S: z.coerce.number().int().min(0).max(86_400).default(600),
  PETCUT_WARMUP_BUDGET_USD: z.coerce.number().min(0).optional(),
  PETCUT_WARMUP_SPEND_REFRESH_S: z.coerce.number().int().min(10).max(86_400).default(300),
  // Alert-driven mitigations (docs/mitigations.md): Alertmanager's bearer token for POST /v1/admin/alerts
  // (unset: the receiver is closed), the service whose scaling they set (unset: cloud actions are skipped).
  PETCUT_ALERT_WEBHOOK_TOKEN: z.string().min(32, { error: 'must be at least 32 characters' }).optional(),
  PETCUT_MITIGATION_SERVICE: z.string().regex(SERVICE_NAME, { error: 'must be projects/PROJECT/locations/REGION/services/SERVICE' }).optional(),
  PETCUT_CLOUD_RUN_API: z.url().optional(),
  PETCUT_CLOUD_RUN_TOKEN: z.string().min(1).optional(),
  PETCUT_MITIGATION_EXPIRY_S: z.coerce.number().int().min(10).max(86_400).default(3600),
  PETCUT_MITIGATION_MIN_INSTANCES: z.coerce.number().int().min(1).max(100).default(2),
  PETCUT_MITIGATION_MAX_INSTANCES: z.coerce.number().int().min(1).max(100).default(1),
  PETCUT_MITIGATION_UPLOADS_PER_MIN: z.coerce.number().int().min(1).max(100_000).default(30),
  PETCUT_MITIGATION_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  PETCUT_MITIGATION_REFRESH_S: z.coerce.number().min(0.5).max(300).default(5),
  PETCUT_MITIGATION_REASSERT_S: z.coerce.number().min(1).max(3600).default(60),
  // The operator dashboard's firing alerts (docs/dashboard.md): Alertmanager's base URL, asked for
  // GET /api/v2/alerts at most every 15 s with a 2 s timeout; unset: the dashboard shows no alerts panel.
  PETCUT_ALERTMANAGER_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, like http://alertmanager:9093' }).optional(),
  // The business KPIs (docs/kpis.md): the widget's A/B experiment (<name>:<variant>,<variant>; checked by
  // parseExperiment), the value of an order and the orders a day expected, for the revenue impact of downtime.
  PETCUT_EXPERIMENT: z.string().optional(),
  PETCUT_ORDER_VALUE_USD: z.coerce.number().min(0).max(1_000_000).optional(),
  PETCUT_ORDERS_PER_DAY: z.coerce.number().min(0).max(10_000_000).optional(),
  // Set by Cloud Run in every container (never by hand): the revision labels every metric series, so a
  // rollout can compare the candidate revision with the current one. Both are DNS labels there.
  K_SERVICE: cloudRunName.optional(),
  K_REVISION: cloudRunName.optional(),
});

const MB = 1024 * 1024;
/** The schedule shipped with petcut (beside src/ and dist/ alike). */
const DEFAULT_SCHEDULE_FILE = fileURLToPath(new URL('../deploy/scaling/schedule.yml', import.meta.url));

/** A tenth of the memory the instance may use, 64 to 512 MB: room for ~100 phone photos without crowding out the engine. */
function defaultUploadBuffer(configuredMb: number | undefined): number {
  const limit = configuredMb !== undefined ? configuredMb * MB : containerMemoryLimit() ?? totalmem();
  return Math.round(Math.min(512 * MB, Math.max(64 * MB, limit * 0.1)));
}

export interface ServiceConfig {
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  readonly publicUrl?: string;
  readonly bodyLimitBytes: number;
  readonly filesPerJob: number;
  /** Images processed at once (pipeline workers); default from the cores. */
  readonly concurrency: number;
  readonly queueMax: number;
  readonly memoryLimitBytes?: number;
  readonly memoryPressure: number;
  readonly retryAfterS: number;
  /** Bytes all uploads in flight may buffer together. */
  readonly uploadBufferBytes: number;
  /** Slowest average upload rate allowed once `uploadGraceMs` has passed (0: no floor). */
  readonly uploadMinBytesPerS: number;
  readonly uploadGraceMs: number;
  /** Uploads one client address may have in flight at once (0: no bound). */
  readonly uploadsPerAddress: number;
  /** Seconds an admitted photo may take, wait included, at the measured pace (0: no deadline). */
  readonly admissionDeadlineS: number;
  /** From SIGTERM to exit. */
  readonly shutdownTimeoutMs: number;
  readonly jobTtlMs: number;
  readonly jobsMax: number;
  readonly wsPingMs: number;
  readonly storage: StorageConfig;
  readonly signedUrlTtlS: number;
  readonly lifecycle: 'apply' | 'off';
  readonly cacheDays: number;
  readonly cacheMemoryBytes: number;
  readonly sweepIntervalMs: number;
  /** Path of the scaling schedule (deploy/scaling/schedule.yml unless PETCUT_SCALING_SCHEDULE). */
  readonly scalingSchedule: string;
  /** POST /warmup's conditions (src/service/warmup.ts). */
  readonly warmup: WarmupConfig;
  /** Alert-driven mitigations (src/mitigation/). */
  readonly mitigation: MitigationConfig;
  /** Alertmanager's base URL for the dashboard's firing alerts (PETCUT_ALERTMANAGER_URL). */
  readonly alertmanagerUrl?: string;
  /** The business KPIs' experiment and order figures (src/service/business.ts). */
  readonly business: BusinessConfig;
  readonly engine: EngineConfig;
  readonly security: SecurityConfig;
  /** Prices, billing mode and instance shape for the cost meter. */
  readonly cost: CostConfig;
  /** Google Cloud project for log trace links (GOOGLE_CLOUD_PROJECT, else PETCUT_GCS_PROJECT). */
  readonly gcpProject?: string;
  /** Where this process runs on Cloud Run (K_SERVICE, K_REVISION; both unset elsewhere) and the package version. */
  readonly build: BuildIdentity;
}

export interface WarmupConfig {
  readonly hours: 'schedule' | 'always';
  readonly recentS: number;
  /** USD; 0: no budget rule. */
  readonly budgetUsd: number;
  readonly spendRefreshMs: number;
}

export interface BuildIdentity {
  readonly version: string;
  readonly service?: string;
  readonly revision?: string;
}

/** package.json's version (beside src/ and dist/ alike): read once, at the first config load. */
let packageVersion: string | undefined;
function readPackageVersion(): string {
  packageVersion ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return packageVersion;
}

/**
 * Reads `.env` from the working directory into process.env when there is one
 * (Node's own parser; variables already in the environment win). The service
 * (`npm start`, `petcut serve`) and the CLI call it first, so a copy of
 * `.env.example` is all a developer needs. Returns the file it read.
 */
export function loadDotEnv(path = resolve('.env')): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    process.loadEnvFile(path);
  } catch (error) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid configuration: ${path} could not be read (${(error as Error).message})`);
  }
  return path;
}

/** What each backend needs from env (a new kind fails to compile until it is here). */
const STORAGE_NEEDS: Readonly<Record<StorageKind, { bucket: boolean }>> = { fs: { bucket: false }, gcs: { bucket: true }, s3: { bucket: true } };

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  const e = parseEnv(EnvSchema, env);
  if (STORAGE_NEEDS[e.PETCUT_STORAGE].bucket && !e.PETCUT_BUCKET) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid configuration: PETCUT_BUCKET is required when PETCUT_STORAGE=${e.PETCUT_STORAGE}`);
  }
  // Two pipelines keep the one model session busy (one image decodes or encodes while the other
  // is in the model); more than four only hold more full-resolution buffers.
  const concurrency = e.PETCUT_CONCURRENCY ?? Math.max(2, Math.min(4, availableParallelism()));
  // A job reserves room for all its files before its 202: a bigger job could never be admitted.
  const filesPerJob = e.PETCUT_FILES_PER_JOB ?? Math.min(10, concurrency + e.PETCUT_QUEUE_MAX);
  if (filesPerJob > concurrency + e.PETCUT_QUEUE_MAX) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG',
      `Invalid configuration: PETCUT_FILES_PER_JOB (${e.PETCUT_FILES_PER_JOB}) must not exceed PETCUT_CONCURRENCY + PETCUT_QUEUE_MAX (${concurrency + e.PETCUT_QUEUE_MAX})`);
  }
  const cost = loadCostConfig(env, resolve(e.PETCUT_DATA_DIR));
  const storage: StorageConfig = {
    kind: e.PETCUT_STORAGE,
    root: resolve(e.PETCUT_DATA_DIR),
    bucket: e.PETCUT_BUCKET,
    region: e.PETCUT_S3_REGION,
    endpoint: ({ fs: undefined, gcs: e.PETCUT_GCS_ENDPOINT, s3: e.PETCUT_S3_ENDPOINT } satisfies Record<StorageKind, string | undefined>)[e.PETCUT_STORAGE],
    forcePathStyle: e.PETCUT_S3_FORCE_PATH_STYLE,
    projectId: e.PETCUT_GCS_PROJECT,
    signedUrls: e.PETCUT_SIGNED_URLS,
    timeoutMs: e.PETCUT_STORAGE_TIMEOUT_MS,
  };
  return Object.freeze({
    port: e.PORT,
    host: e.PETCUT_HOST,
    logLevel: e.PETCUT_LOG_LEVEL,
    publicUrl: e.PETCUT_PUBLIC_URL?.replace(/\/$/, ''),
    bodyLimitBytes: Math.round(e.PETCUT_BODY_LIMIT_MB * 1024 * 1024),
    filesPerJob,
    concurrency,
    queueMax: e.PETCUT_QUEUE_MAX,
    memoryLimitBytes: e.PETCUT_MEMORY_LIMIT_MB === undefined ? undefined : e.PETCUT_MEMORY_LIMIT_MB * 1024 * 1024,
    memoryPressure: e.PETCUT_MEMORY_PRESSURE,
    retryAfterS: e.PETCUT_RETRY_AFTER_S,
    uploadBufferBytes: e.PETCUT_UPLOAD_BUFFER_MB !== undefined ? e.PETCUT_UPLOAD_BUFFER_MB * MB : defaultUploadBuffer(e.PETCUT_MEMORY_LIMIT_MB),
    uploadMinBytesPerS: e.PETCUT_UPLOAD_MIN_KBPS * 1024,
    uploadGraceMs: e.PETCUT_UPLOAD_GRACE_S * 1000,
    uploadsPerAddress: e.PETCUT_UPLOADS_PER_ADDRESS,
    admissionDeadlineS: e.PETCUT_ADMISSION_DEADLINE_S,
    shutdownTimeoutMs: e.PETCUT_SHUTDOWN_TIMEOUT_S * 1000,
    jobTtlMs: e.PETCUT_JOB_TTL_S * 1000,
    jobsMax: e.PETCUT_JOBS_MAX,
    wsPingMs: e.PETCUT_WS_PING_S * 1000,
    storage: Object.freeze(storage),
    signedUrlTtlS: e.PETCUT_SIGNED_URL_TTL_S,
    lifecycle: e.PETCUT_LIFECYCLE,
    cacheDays: e.PETCUT_CACHE_DAYS,
    cacheMemoryBytes: e.PETCUT_CACHE_MEMORY_MB * 1024 * 1024,
    sweepIntervalMs: e.PETCUT_SWEEP_INTERVAL_S * 1000,
    scalingSchedule: e.PETCUT_SCALING_SCHEDULE ? resolve(e.PETCUT_SCALING_SCHEDULE) : DEFAULT_SCHEDULE_FILE,
    mitigation: Object.freeze({
      webhookToken: e.PETCUT_ALERT_WEBHOOK_TOKEN, service: serviceRefOf(e.PETCUT_MITIGATION_SERVICE), cloudRunApi: e.PETCUT_CLOUD_RUN_API, cloudRunToken: e.PETCUT_CLOUD_RUN_TOKEN,
      policy: Object.freeze({ expiryMs: e.PETCUT_MITIGATION_EXPIRY_S * 1000, minInstances: e.PETCUT_MITIGATION_MIN_INSTANCES, maxInstances: e.PETCUT_MITIGATION_MAX_INSTANCES, uploadsPerMin: e.PETCUT_MITIGATION_UPLOADS_PER_MIN, concurrency: e.PETCUT_MITIGATION_CONCURRENCY }),
      refreshMs: e.PETCUT_MITIGATION_REFRESH_S * 1000, reassertMs: e.PETCUT_MITIGATION_REASSERT_S * 1000,
    }),
    alertmanagerUrl: e.PETCUT_ALERTMANAGER_URL,
    warmup: Object.freeze({ hours: e.PETCUT_WARMUP_HOURS, recentS: e.PETCUT_WARMUP_RECENT_S, budgetUsd: e.PETCUT_WARMUP_BUDGET_USD ?? cost.prices.budgets.daily, spendRefreshMs: e.PETCUT_WARMUP_SPEND_REFRESH_S * 1000 }),
    business: Object.freeze({ experiment: parseExperiment(e.PETCUT_EXPERIMENT), orderValueUsd: e.PETCUT_ORDER_VALUE_USD, ordersPerDay: e.PETCUT_ORDERS_PER_DAY }),
    engine: loadEngineConfig(env),
    security: loadSecurityConfig(env),
    cost,
    gcpProject: env.GOOGLE_CLOUD_PROJECT || e.PETCUT_GCS_PROJECT,
    build: Object.freeze({ version: readPackageVersion(), service: e.K_SERVICE, revision: e.K_REVISION }),
    ...overrides,
  });
}
