import type { BusinessSnapshot } from '../../observability/business.js';
import type { FiringAlert } from '../../observability/kpiTypes.js';

/**
 * The weekly review's data (the plan's "Weekly Review Cycle": performance,
 * cost opportunities, customer feedback, security posture), gathered by
 * collect.ts and turned into text by render.ts. A section is null when no
 * source for it answered; `sources` says what was read and what was not.
 */
export interface SourceNote {
  /** e.g. "service http://localhost:8080", "prometheus http://prometheus:9090", "ledger data/cost". */
  readonly name: string;
  readonly status: 'ok' | 'absent' | 'failed';
  readonly detail?: string;
}

export interface PerformanceSection {
  /** Where the numbers come from and over what window (e.g. "Prometheus, 7 days"). */
  readonly source: string;
  readonly requests: number | null;
  /** 5xx / requests (the SLO's failed share). */
  readonly errorRate: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
  readonly images: number | null;
  readonly successRate: number | null;
  readonly coldStarts: number | null;
  readonly coldStartS: number | null;
  readonly cacheHitRate: number | null;
  /** Error code -> requests. */
  readonly errorsByCode: Readonly<Record<string, number>>;
}

export interface CostSection {
  readonly source: string;
  readonly usd: number;
  readonly images: number | null;
  readonly usdPer1000Images: number | null;
  readonly idleUsd: number | null;
  readonly idleShare: number | null;
  /** Budget use: period, spend, budget, share. */
  readonly budgets: ReadonlyArray<{ readonly period: string; readonly usd: number; readonly budgetUsd: number; readonly share: number }>;
  readonly opportunities: readonly string[];
}

export interface SecuritySection {
  readonly source: string;
  /** Rate-limit refusals by rule (ip, session, warmup, ...). */
  readonly rateLimitRefusals: Readonly<Record<string, number>>;
  /** Refused credentials by error code (PETCUT_E_UNAUTHORIZED, PETCUT_E_FORBIDDEN, ...). */
  readonly authFailures: Readonly<Record<string, number>>;
  /** PETCUT_E_ORIGIN_NOT_ALLOWED answers (CORS). */
  readonly originRefusals: number;
  /** Alert-driven mitigations applied, by action. */
  readonly mitigationsApplied: Readonly<Record<string, number>>;
}

export interface AlertsSection {
  readonly source: string;
  readonly firing: readonly FiringAlert[];
  readonly error?: string;
}

export interface WeeklyReportData {
  readonly title: string;
  readonly generatedAt: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly sources: readonly SourceNote[];
  readonly performance: PerformanceSection | null;
  readonly cost: CostSection | null;
  readonly feedback: BusinessSnapshot | null;
  readonly security: SecuritySection | null;
  readonly alerts: AlertsSection | null;
}

/** The plan's targets the report compares against (deploy-monitoring plan, section 6). */
export const TARGETS = Object.freeze({ errorRate: 0.02, warmP95Ms: 5000, warmP99Ms: 8000, usdPer1000Images: 65, satisfaction: 0.99, coldStartsPerHour: 10 });

export const AUTH_CODES = ['PETCUT_E_UNAUTHORIZED', 'PETCUT_E_FORBIDDEN', 'PETCUT_E_INVALID_TOKEN', 'PETCUT_E_TOKEN_EXPIRED', 'PETCUT_E_INVALID_SIGNATURE', 'PETCUT_E_STALE_REQUEST', 'PETCUT_E_OPERATOR_ONLY'] as const;
