import type { PrometheusClient } from '../prometheus/client.js';
import { fillQuery, formatDuration } from './config.js';
import type { AnalysisMetric, RolloutConfig } from './config.js';

/**
 * The analysis of a watch, as Argo Rollouts' AnalysisTemplate and Flagger's
 * canary analysis do it: each metric measured every interval for the
 * candidate (and the baseline, for comparison and for `baseline_margin`), a
 * measurement passing, failing or without data, a metric failing only once
 * its failing measurements have lasted `for`; and at the end of the watch a
 * minimum sample, below which the watch is inconclusive.
 */
export interface Measurement {
  readonly metric: string;
  readonly candidate?: number;
  readonly baseline?: number;
  readonly verdict: 'pass' | 'fail' | 'no-data';
}

export interface AnalysisVerdict {
  readonly measurements: readonly Measurement[];
  /** The metrics whose failures lasted `for`: a rollback, with the reason in words. */
  readonly failed: ReadonlyArray<{ readonly metric: AnalysisMetric; readonly value: number; readonly sinceMs: number }>;
  /** Queries that could not run (the measurement counts as no data). */
  readonly errors: readonly string[];
}

export interface Analysis {
  measure(candidate: string, baseline: string): Promise<AnalysisVerdict>;
  /** Candidate requests seen over the watch so far; undefined when the query failed. */
  requests(candidate: string, watchMs: number): Promise<number | undefined>;
  /** Every query it would make, placeholders filled (for --dry-run). */
  queries(candidate: string, baseline: string): string[];
  /** Metrics whose failing measurements have begun and not yet lasted `for`: a watch cannot pass on them. */
  failing(): string[];
}

const valueOf = (samples: ReadonlyArray<{ value: number }>): number | undefined => {
  const value = samples[0]?.value;
  return value === undefined || Number.isNaN(value) ? undefined : value;
};

export function createAnalysis(prometheus: PrometheusClient, config: RolloutConfig['analysis'], now: () => number = Date.now): Analysis {
  const failingSince = new Map<string, number>();
  const range = config.range;
  const read = async (query: string, errors: string[]): Promise<number | undefined> => {
    try {
      return valueOf(await prometheus.query(query));
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
      return undefined;
    }
  };
  return {
    async measure(candidate, baseline) {
      const errors: string[] = [];
      const at = now();
      const measurements = await Promise.all(config.metrics.map(async (metric): Promise<Measurement> => {
        const [c, b] = await Promise.all([
          read(fillQuery(metric.query, { revision: candidate, range }), errors),
          read(fillQuery(metric.query, { revision: baseline, range }), errors),
        ]);
        if (c === undefined) return { metric: metric.name, baseline: b, verdict: 'no-data' };
        const over = c > metric.max;
        const worse = metric.baseline_margin === undefined || c - (b ?? 0) > metric.baseline_margin;
        return { metric: metric.name, candidate: c, baseline: b, verdict: over && worse ? 'fail' : 'pass' };
      }));
      const failed: Array<AnalysisVerdict['failed'][number]> = [];
      config.metrics.forEach((metric, i) => {
        const m = measurements[i]!;
        // No data neither clears a streak nor adds to it; a passing measurement clears it.
        if (m.verdict === 'pass') failingSince.delete(metric.name);
        if (m.verdict !== 'fail') return;
        const since = failingSince.get(metric.name) ?? at;
        failingSince.set(metric.name, since);
        if (at - since >= metric.for) failed.push({ metric, value: m.candidate!, sinceMs: at - since });
      });
      return { measurements, failed, errors };
    },
    async requests(candidate, watchMs) {
      const errors: string[] = [];
      const value = await read(fillQuery(config.inconclusive.requests_query, { revision: candidate, range, watchMs }), errors);
      // No series at all is no request yet; a query that failed is unknown.
      return errors.length > 0 ? undefined : value ?? 0;
    },
    failing: () => [...failingSince.keys()],
    queries(candidate, baseline) {
      return [
        ...config.metrics.flatMap((m) => [fillQuery(m.query, { revision: candidate, range }), fillQuery(m.query, { revision: baseline, range })]),
        fillQuery(config.inconclusive.requests_query, { revision: candidate, range, watchMs: 0 }).replace(/\[1s\]/, '[<watch>]'),
      ];
    },
  };
}

/** One line per measurement: "error-rate 0.12 (baseline 0.00, max 0.05) FAIL". */
export function describeMeasurements(verdict: AnalysisVerdict, config: RolloutConfig['analysis']): string {
  const fmt = (v: number | undefined): string => (v === undefined ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3).replace(/\.?0+$/, '') || '0');
  return verdict.measurements.map((m) => {
    const metric = config.metrics.find((x) => x.name === m.metric)!;
    return `${m.metric} ${fmt(m.candidate)} (baseline ${fmt(m.baseline)}, max ${metric.max}${metric.for ? ` for ${formatDuration(metric.for)}` : ''})${m.verdict === 'pass' ? '' : ` ${m.verdict.toUpperCase()}`}`;
  }).join('; ');
}
