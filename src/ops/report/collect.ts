import type { CostReport } from '../../cost/report.js';
import type { BusinessSnapshot } from '../../observability/business.js';
import type { KpiSnapshot } from '../../observability/kpiTypes.js';
import type { PrometheusClient } from '../prometheus/client.js';
import { parseMetricsText, sumBy, total } from './metricsText.js';
import type { TextSample } from './metricsText.js';
import { AUTH_CODES, TARGETS } from './types.js';
import type { AlertsSection, CostSection, PerformanceSection, SecuritySection, SourceNote, WeeklyReportData } from './types.js';

/**
 * Gathers the weekly review from what is there: the service (its
 * /v1/admin/kpis and /metrics, with an operator key), Prometheus (the week
 * across instances), the cost ledgers (built into a CostReport by the
 * caller). The service is required; an unreachable or refusing one throws
 * ReportSourceError naming it and what to check (the CLI's exit 2).
 */
export class ReportSourceError extends Error {
  override readonly name = 'ReportSourceError';
}

export interface ServiceSource {
  /** How the report names it: its URL, or "this instance". */
  readonly label: string;
  /** GET a path of the service with the operator's credentials; throws when it cannot be reached. */
  get(path: string): Promise<{ status: number; text: string }>;
}

export interface CollectOptions {
  readonly service: ServiceSource;
  readonly prometheus?: PrometheusClient;
  /** The ledgers' report over the window, and where it came from. */
  readonly ledger?: { readonly report: CostReport; readonly source: string };
  /** When the ledgers were asked for and could not be read. */
  readonly ledgerError?: string;
  readonly now?: Date;
  readonly days?: number;
  /** This process's own business snapshot (the in-service route), else the one in /v1/admin/kpis. */
  readonly business?: BusinessSnapshot;
}

const DAY_MS = 86_400_000;

export async function collectWeekly(options: CollectOptions): Promise<WeeklyReportData> {
  const now = options.now ?? new Date();
  const days = options.days ?? 7;
  const sources: SourceNote[] = [];
  const { kpis, metrics } = await readService(options.service, sources);
  const fromPrometheus = options.prometheus ? await readPrometheus(options.prometheus, days, now, sources) : undefined;
  if (!options.prometheus) sources.push({ name: 'prometheus', status: 'absent', detail: 'no --prometheus: the week across instances is not in this report, only the service instance that answered' });
  if (options.ledger) sources.push({ name: `ledger ${options.ledger.source}`, status: 'ok' });
  else sources.push({ name: 'ledger', status: options.ledgerError ? 'failed' : 'absent', detail: options.ledgerError ?? 'no --ledger: cost from the instance\'s own meter' });
  const business = options.business ?? (kpis?.business as BusinessSnapshot | undefined) ?? null;
  return {
    title: 'petcut weekly review',
    generatedAt: now.toISOString(),
    window: { from: new Date(now.getTime() - days * DAY_MS).toISOString(), to: now.toISOString() },
    sources,
    performance: fromPrometheus?.performance ?? performanceOf(kpis, metrics),
    cost: costOf(options.ledger, kpis),
    feedback: business,
    security: fromPrometheus?.security ?? securityOf(metrics, options.service.label),
    alerts: alertsOf(kpis),
  };
}

async function readService(service: ServiceSource, sources: SourceNote[]): Promise<{ kpis?: KpiSnapshot; metrics?: TextSample[] }> {
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    try {
      return await service.get(path);
    } catch (error) {
      const why = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
      throw new ReportSourceError(`cannot reach the service at ${service.label} (${why}): check --url and that the service is running`);
    }
  };
  let kpisAnswer = await get('/v1/admin/kpis?minutes=1440');
  if (kpisAnswer.status === 400) kpisAnswer = await get('/v1/admin/kpis');
  if (kpisAnswer.status === 401 || kpisAnswer.status === 403) {
    throw new ReportSourceError(`the service at ${service.label} refused the operator key (HTTP ${kpisAnswer.status}): check --key or PETCUT_OPERATOR_KEY (one of the service's PETCUT_OPERATOR_KEYS)`);
  }
  let kpis: KpiSnapshot | undefined;
  if (kpisAnswer.status === 200) {
    kpis = JSON.parse(kpisAnswer.text) as KpiSnapshot;
    sources.push({ name: `service ${service.label} /v1/admin/kpis`, status: 'ok', detail: `last ${kpis.minutes} minutes of instance ${kpis.instance.id}` });
  } else {
    sources.push({ name: `service ${service.label} /v1/admin/kpis`, status: 'failed', detail: `HTTP ${kpisAnswer.status}` });
  }
  const metricsAnswer = await get('/metrics');
  if (metricsAnswer.status === 200) {
    sources.push({ name: `service ${service.label} /metrics`, status: 'ok', detail: 'counters since the instance started' });
    return { kpis, metrics: parseMetricsText(metricsAnswer.text) };
  }
  sources.push({ name: `service ${service.label} /metrics`, status: 'failed', detail: `HTTP ${metricsAnswer.status}` });
  return { kpis };
}

function performanceOf(kpis: KpiSnapshot | undefined, metrics: TextSample[] | undefined): PerformanceSection | null {
  if (!kpis && !metrics) return null;
  const coldStarts = metrics ? total(sumBy(metrics, 'petcut_cold_starts_total', 'revision')) : null;
  const coldStartS = metrics?.find((s) => s.name === 'petcut_cold_start_seconds')?.value ?? kpis?.instance.coldStartS ?? null;
  if (!kpis) {
    const requests = total(sumBy(metrics!, 'petcut_http_requests_total', 'route', (l) => !/^\/(healthz|readyz)$/.test(l.route ?? '')));
    const failed = total(sumBy(metrics!, 'petcut_http_requests_total', 'route', (l) => (l.status ?? '').startsWith('5') && !/^\/(healthz|readyz)$/.test(l.route ?? '')));
    return { source: 'the service\'s /metrics (since it started)', requests, errorRate: requests > 0 ? failed / requests : null, p50Ms: null, p95Ms: null, p99Ms: null, images: null, successRate: null, coldStarts, coldStartS, cacheHitRate: null, errorsByCode: {} };
  }
  const t = kpis.totals;
  return {
    source: `the service's /v1/admin/kpis (instance ${kpis.instance.id}, last ${t.minutes} minutes)`,
    requests: t.requests, errorRate: t.errorRate, p50Ms: t.latencyMs.p50, p95Ms: t.latencyMs.p95, p99Ms: t.latencyMs.p99,
    images: t.images, successRate: t.successRate, coldStarts, coldStartS, cacheHitRate: t.cache.hitRate, errorsByCode: t.errorsByCode,
  };
}

function securityOf(metrics: TextSample[] | undefined, label: string): SecuritySection | null {
  if (!metrics) return null;
  const codes = sumBy(metrics, 'petcut_http_requests_total', 'code');
  return {
    source: `${label} /metrics (since the instance started)`,
    rateLimitRefusals: sumBy(metrics, 'petcut_rate_limit_rejections_total', 'rule'),
    authFailures: Object.fromEntries(AUTH_CODES.filter((code) => codes[code]).map((code) => [code, codes[code]!])),
    originRefusals: codes.PETCUT_E_ORIGIN_NOT_ALLOWED ?? 0,
    mitigationsApplied: sumBy(metrics, 'petcut_mitigations_total', 'action', (l) => l.result === 'applied'),
  };
}

function costOf(ledger: CollectOptions['ledger'], kpis: KpiSnapshot | undefined): CostSection | null {
  if (ledger) {
    const r = ledger.report;
    const opportunities: string[] = [];
    if (r.idleShare > 0.3) opportunities.push(`Idle instance time is ${(r.idleShare * 100).toFixed(0)} % of spend ($${r.idleUsd.toFixed(2)}): lower the minimum instances off-peak (deploy/scaling/schedule.yml; \`petcut scale plan\` prices each floor).`);
    if (r.costPer1000Images !== undefined && r.costPer1000Images > TARGETS.usdPer1000Images) opportunities.push(`Cost per 1000 images $${r.costPer1000Images.toFixed(2)} is over the plan's $${TARGETS.usdPer1000Images}: more photos per instance (concurrency) or fewer idle floors.`);
    if (r.budget && r.budget.used > 0.9) opportunities.push(`${(r.budget.used * 100).toFixed(0)} % of the budget for the window is spent.`);
    const missRow = r.features.cache.find((row) => row.name === 'miss');
    // Only on a real week's traffic: a handful of first-time photos are all misses by nature.
    if (missRow && r.images >= 100 && r.spend.total > 0 && missRow.totalUsd / r.spend.total > 0.8) opportunities.push('Most spend is cache misses: check the cache size (PETCUT_CACHE_MEMORY_MB) and days (PETCUT_CACHE_DAYS).');
    return {
      source: `ledgers (${ledger.source}, ${r.instances} instance${r.instances === 1 ? '' : 's'})`, usd: r.spend.total, images: r.images, usdPer1000Images: r.costPer1000Images ?? null,
      idleUsd: r.idleUsd, idleShare: r.idleShare, budgets: r.budget ? [{ period: `${r.budget.days.toFixed(1)} days`, usd: r.spend.total, budgetUsd: r.budget.budgetUsd, share: r.budget.used }] : [], opportunities,
    };
  }
  if (!kpis || !kpis.cost.metering) return null;
  const c = kpis.cost;
  const opportunities: string[] = [];
  if (c.usdPer1000Images !== null && c.usdPer1000Images > c.usdPer1000ImagesTarget) opportunities.push(`Cost per 1000 images $${c.usdPer1000Images.toFixed(2)} is over the plan's $${c.usdPer1000ImagesTarget}.`);
  for (const burn of Object.values(c.burn)) {
    if (burn.projectedUsd !== null && burn.projectedUsd > burn.budgetUsd) opportunities.push(`At this pace the ${burn.period} spend reaches $${burn.projectedUsd.toFixed(2)}, over its $${burn.budgetUsd.toFixed(2)} budget.`);
  }
  return {
    source: `the instance's own meter (${c.source}; give --ledger for every instance)`, usd: c.sinceStartUsd, images: kpis.totals.images, usdPer1000Images: c.usdPer1000Images,
    idleUsd: null, idleShare: null, budgets: Object.values(c.burn).map((b) => ({ period: b.period, usd: b.usd, budgetUsd: b.budgetUsd, share: b.share })), opportunities,
  };
}

function alertsOf(kpis: KpiSnapshot | undefined): AlertsSection | null {
  if (!kpis?.alerts.configured) return null;
  return { source: kpis.alerts.source ?? 'Alertmanager', firing: kpis.alerts.firing, ...(kpis.alerts.error ? { error: kpis.alerts.error } : {}) };
}

/** The week across instances, from Prometheus; a failing query throws ReportSourceError naming the server. */
async function readPrometheus(client: PrometheusClient, days: number, now: Date, sources: SourceNote[]): Promise<{ performance: PerformanceSection; security: SecuritySection }> {
  const range = `${days}d`;
  const scalar = async (expr: string): Promise<number | null> => {
    const samples = await ask(client, () => client.query(expr, now));
    const value = samples[0]?.value;
    return value === undefined || !Number.isFinite(value) ? null : value;
  };
  const by = async (expr: string, label: string): Promise<Record<string, number>> =>
    Object.fromEntries((await ask(client, () => client.query(expr, now))).filter((s) => Number.isFinite(s.value) && s.value > 0).map((s) => [s.labels[label] ?? '', Math.round(s.value)]));
  const counted = 'route!~"/healthz|/readyz"';
  const requests = await scalar(`sum(increase(petcut_http_requests_total{${counted}}[${range}]))`);
  const failed = await scalar(`sum(increase(petcut_http_requests_total{${counted},status=~"5.."}[${range}]))`);
  const quantile = async (q: number): Promise<number | null> => {
    const seconds = await scalar(`histogram_quantile(${q}, sum by (le) (rate(petcut_processing_duration_seconds_bucket[${range}])))`);
    return seconds === null ? null : Math.round(seconds * 1000);
  };
  const outcomes = await by(`sum by (outcome) (increase(petcut_images_total[${range}]))`, 'outcome');
  const images = (outcomes.success ?? 0) + (outcomes.failure ?? 0);
  const cache = await by(`sum by (result) (increase(petcut_cache_requests_total[${range}]))`, 'result');
  const cacheAll = total(cache);
  const codes = await by(`sum by (code) (increase(petcut_http_requests_total{code!=""}[${range}]))`, 'code');
  sources.push({ name: `prometheus ${client.base}`, status: 'ok', detail: `the last ${days} days, all instances` });
  return {
    performance: {
      source: `Prometheus ${client.base} (last ${days} days, all instances)`,
      requests: requests === null ? null : Math.round(requests), errorRate: requests ? (failed ?? 0) / requests : null,
      p50Ms: await quantile(0.5), p95Ms: await quantile(0.95), p99Ms: await quantile(0.99),
      images, successRate: images > 0 ? (outcomes.success ?? 0) / images : null,
      coldStarts: await scalar(`count(count_over_time(petcut_process_start_time_seconds[${range}]))`),
      coldStartS: await scalar('max(petcut_cold_start_seconds)'),
      cacheHitRate: cacheAll > 0 ? ((cache.hit ?? 0) + (cache.cutout ?? 0)) / cacheAll : null,
      errorsByCode: codes,
    },
    security: {
      source: `Prometheus ${client.base} (last ${days} days)`,
      rateLimitRefusals: await by(`sum by (rule) (increase(petcut_rate_limit_rejections_total[${range}]))`, 'rule'),
      authFailures: Object.fromEntries(AUTH_CODES.filter((code) => codes[code]).map((code) => [code, codes[code]!])),
      originRefusals: codes.PETCUT_E_ORIGIN_NOT_ALLOWED ?? 0,
      mitigationsApplied: await by(`sum by (action) (increase(petcut_mitigations_total{result="applied"}[${range}]))`, 'action'),
    },
  };
}

async function ask<T>(client: PrometheusClient, query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (error) {
    throw new ReportSourceError(`Prometheus at ${client.base}: ${(error as Error).message}`);
  }
}
