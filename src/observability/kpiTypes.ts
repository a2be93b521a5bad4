import type { BusinessSnapshot } from './business.js';

/**
 * What GET /v1/admin/kpis answers (the operator dashboard, the weekly report):
 * this instance's per-minute aggregates (src/observability/kpis.ts), its
 * start, cost and budget burn, what is active, and the firing alerts.
 * Times are ISO strings, except `series.t` (ms since the epoch, for charts).
 */

/** One value per minute of the window, oldest first; null where the minute had nothing to measure. */
export interface KpiSeries {
  /** Start of each minute (ms since the epoch, UTC). */
  readonly t: readonly number[];
  /** HTTP requests answered (probes, scrapes, the dashboard's own files and polls not counted). */
  readonly requests: readonly number[];
  /** Of those, answered with an error code (4xx and 5xx). */
  readonly errors: readonly number[];
  /** Of those, 5xx (what the SLO counts as failed). */
  readonly serverErrors: readonly number[];
  /** Photos processed (cut-outs, jobs' files) and processing failures (refusals such as 503 overload not counted). */
  readonly images: readonly number[];
  readonly failures: readonly number[];
  /** Processing time (admission to result), ms; from a fixed histogram: within 5 % of the true value. */
  readonly p50: ReadonlyArray<number | null>;
  readonly p95: ReadonlyArray<number | null>;
  readonly p99: ReadonlyArray<number | null>;
  /** (HIT + HIT-CUTOUT) / all cut-out requests that minute. */
  readonly cacheHitRate: ReadonlyArray<number | null>;
  /** Highest queue depth sampled in the minute (every 5 s) and images in flight. */
  readonly queueDepth: ReadonlyArray<number | null>;
  readonly inFlight: ReadonlyArray<number | null>;
  /** Highest memory in use sampled (cgroup, as the limit counts it) and the limit, bytes. */
  readonly memoryUsedBytes: ReadonlyArray<number | null>;
  readonly memoryLimitBytes: ReadonlyArray<number | null>;
  /** Highest GPU busy share (0-1) and GPU memory in use sampled; null without a GPU. */
  readonly gpuUtilization: ReadonlyArray<number | null>;
  readonly gpuMemoryUsedBytes: ReadonlyArray<number | null>;
  /** Highest GPU temperature sampled (nvidia-smi temperature.gpu), °C; null without a GPU or where it is not reported. */
  readonly gpuTemperatureC: ReadonlyArray<number | null>;
  /** Spend accrued in the minute (the cost meter), USD. */
  readonly costUsd: readonly number[];
  /** Cut-outs served before the instance's first inference finished. */
  readonly coldServed: readonly number[];
  /** Error code -> requests per minute, only the codes seen in the window (PETCUT_E_* from src/errors.ts, else "other"). */
  readonly errorsByCode: Readonly<Record<string, readonly number[]>>;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** The window's sums. */
export interface KpiTotals {
  readonly minutes: number;
  readonly requests: number;
  readonly requestsPerMinute: number;
  readonly errors: number;
  readonly serverErrors: number;
  /** serverErrors / requests; null without requests. */
  readonly errorRate: number | null;
  readonly images: number;
  readonly failures: number;
  /** images / (images + failures); null without either. */
  readonly successRate: number | null;
  /** Processing time, ms. */
  readonly latencyMs: LatencySummary;
  readonly cache: { readonly hit: number; readonly cutout: number; readonly miss: number; readonly hitRate: number | null };
  readonly errorsByCode: Readonly<Record<string, number>>;
  readonly coldServed: number;
  readonly costUsd: number;
}

export interface KpiInstance {
  /** The cost meter's instance id (host-start-random), or the host name without metering. */
  readonly id: string;
  readonly version?: string;
  readonly revision?: string;
  readonly startedAt: string;
  readonly uptimeS: number;
  /** The model and device; absent while it loads. */
  readonly model?: { readonly name: string; readonly device: string; readonly loadMs: number };
  /** Process start to model ready, seconds (the cold start; null while loading). */
  readonly coldStartS: number | null;
  readonly readyAt: string | null;
  /** The instance's first processed photo: when, its processing time, whether it was cold. */
  readonly firstRequest: { readonly at: string; readonly ms: number; readonly cold: boolean } | null;
  /** The model has run here (a cut-out or a warm-up). */
  readonly warm: boolean;
  readonly queue: { readonly queued: number; readonly inFlight: number; readonly concurrency: number; readonly queueMax: number };
  readonly memory: { readonly usedBytes: number; readonly limitBytes: number; readonly share: number; readonly source: string; readonly pressure: boolean } | null;
  /** nvidia-smi's last reading per GPU (src/observability/gpu.ts): null where the GPU reports no value. */
  readonly gpu: { readonly state: string; readonly devices: ReadonlyArray<{ readonly index: string; readonly name: string; readonly utilization: number | null; readonly memoryUsedBytes: number | null; readonly memoryTotalBytes: number | null; readonly temperatureC?: number | null; readonly powerW?: number | null }> };
}

export type BurnPeriod = 'daily' | 'weekly' | 'monthly';

/** Spend in the current UTC day / ISO week (from Monday) / month against the price file's budget. */
export interface BudgetBurn {
  readonly period: BurnPeriod;
  readonly from: string;
  readonly usd: number;
  readonly budgetUsd: number;
  /** usd / budgetUsd. */
  readonly share: number;
  /** At the pace so far, the period's end: usd / elapsed share of the period (null in its first minute). */
  readonly projectedUsd: number | null;
}

export interface KpiCost {
  /** false: instrumentation off, no meter (the other fields are then zero). */
  readonly metering: boolean;
  /** What the meter counted since the instance started, USD. */
  readonly sinceStartUsd: number;
  /** Spend per 1000 photos processed in the window (null without photos). */
  readonly usdPer1000Images: number | null;
  /** The plan's target (< $65 / 1000 images). */
  readonly usdPer1000ImagesTarget: number;
  /** ledger: this instance's ledger file; meter: its running totals (no ledger). Either way this instance only. */
  readonly source: 'ledger' | 'meter' | 'none';
  readonly burn: Readonly<Record<BurnPeriod, BudgetBurn>>;
  /** Today across instances as the warm-up budget counts it (this meter plus the bucket's ledger copies). */
  readonly todayAllInstances?: { readonly usd: number; readonly instances: number; readonly ledgersReadAt?: string };
}

export interface FiringAlert {
  readonly name: string;
  readonly severity?: string;
  readonly summary?: string;
  readonly startsAt: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface KpiAlerts {
  /** PETCUT_ALERTMANAGER_URL is set. */
  readonly configured: boolean;
  /** The Alertmanager asked (its origin and path; never credentials). */
  readonly source?: string;
  readonly firing: readonly FiringAlert[];
  /** Why no list came (unreachable, timeout, a bad answer); the last good list is kept in `firing` with its time. */
  readonly error?: string;
  readonly fetchedAt?: string;
}

export interface KpiSnapshot {
  readonly now: string;
  /** The window asked for (minutes) and the buckets' width (seconds). */
  readonly minutes: number;
  readonly bucketSeconds: number;
  readonly instance: KpiInstance;
  readonly series: KpiSeries;
  readonly totals: KpiTotals;
  readonly cost: KpiCost;
  /** ctx.mitigations.view() (docs/mitigations.md) and ctx.warmup.view() (docs/prewarming.md), as /health shows them. */
  readonly mitigations: Readonly<Record<string, unknown>>;
  readonly warmups: Readonly<Record<string, unknown>>;
  readonly alerts: KpiAlerts;
  /** ctx.business.snapshot() (src/service/business.ts) when the business KPIs are built in. */
  readonly business?: BusinessSnapshot;
}
