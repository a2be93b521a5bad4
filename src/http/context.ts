import type { IntervalHistogram } from 'node:perf_hooks';
import type { FastifyRequest } from 'fastify';
import type { ServiceConfig } from '../config.js';
import type { CostTracking } from '../cost/index.js';
import type { BurnSource } from '../cost/burn.js';
import type { SpendToday } from '../cost/spend.js';
import type { AlertSource } from '../observability/alertmanager.js';
import type { GpuProbe } from '../observability/gpu.js';
import type { KpiRecorder } from '../observability/kpis.js';
import type { Mitigations } from '../mitigation/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { UploadPolicy } from '../security/imageCheck.js';
import type { Business } from '../service/business.js';
import type { Services } from '../service/index.js';
import type { UploadPace } from './uploadPace.js';

/**
 * What a route works with, declared where routes and the app can both import
 * it (no route imports app.ts): the service layer (src/service/index.ts),
 * what the service is watched by, and the HTTP layer's own settings.
 */
export interface Telemetry {
  readonly metrics: Metrics;
  readonly gpu: GpuProbe;
  /** The cost meter and its ledger (absent when instrumentation is off). */
  readonly cost?: CostTracking;
  /** Event-loop delay since start (ns): the service's own responsiveness. */
  readonly eventLoop: IntervalHistogram;
  readonly startedAt: number;
  /** Alert-driven mitigations (src/mitigation/): what is active, the receiver's actions. */
  readonly mitigations: Mitigations;
  /** The operator dashboard's sources (GET /v1/admin/kpis): per-minute aggregates, firing alerts, budget burn. */
  readonly kpis: KpiSources;
  /** The business KPIs (src/service/business.ts): widget events, ratings, the A/B experiment, downtime's revenue impact. */
  readonly business: Business;
}

/** What GET /v1/admin/kpis reads (docs/dashboard.md). */
export interface KpiSources {
  readonly recorder: KpiRecorder;
  /** Alertmanager's firing alerts (PETCUT_ALERTMANAGER_URL; none configured: an empty, unconfigured answer). */
  readonly alerts: AlertSource;
  /** This instance's spend against the budgets (absent when metering is off). */
  readonly burn?: BurnSource;
  /** Today's spend across instances as the warm-up's budget rule counts it (absent when metering is off). */
  readonly spendToday?: () => SpendToday;
}

export interface WebSettings {
  readonly config: ServiceConfig;
  /** What an upload may be (checked before any decoding). */
  readonly uploadPolicy: UploadPolicy;
  /** The slowest an upload may arrive, and the signal that stops every read when the instance drains. */
  readonly uploadPace: UploadPace;
  /** Wall clock (tests move it): token times, session expiry. */
  clock(): Date;
  /** URL for a path: under PETCUT_PUBLIC_URL, else the host a trusted proxy (or a loopback client) gave, else the bare path. */
  url(request: FastifyRequest, path: string): string;
  isShuttingDown(): boolean;
}

export type AppContext = Services & Telemetry & WebSettings;
