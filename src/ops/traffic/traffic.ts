import type { PrometheusClient } from '../prometheus/client.js';
import { bucketSamples, isTimeZone } from './buckets.js';
import type { Bucket } from './buckets.js';
import { PLAN_DEFAULT_WINDOW, dailyQuietest, quietestWindows, suggestWindow } from './windows.js';
import type { DailyWindow, QuietWindow, WindowSuggestion } from './windows.js';

/**
 * `petcut traffic`: the plan's pre-deployment traffic analysis ("review last
 * 30 days ... identify lowest traffic windows, typically 2-6 AM EST"), read
 * from a Prometheus-compatible query API and bucketed by hour of the week on
 * the zone's clock. docs/traffic.md.
 */

/** Probes and scrapes are no users: a deploy during them disturbs nobody. */
const NOT_USERS = 'route!~"/healthz|/readyz|/health|/metrics"';

/** Requests per second over each step (the range matches the step, so each sample is the step before it). */
export function defaultTrafficQuery(stepS = 3600): string {
  const range = stepS % 3600 === 0 ? `${stepS / 3600}h` : stepS % 60 === 0 ? `${stepS / 60}m` : `${stepS}s`;
  return `sum(rate(petcut_http_requests_total{${NOT_USERS}}[${range}]))`;
}

export const DEFAULT_TRAFFIC_QUERY = defaultTrafficQuery();
export const DEFAULT_TIME_ZONE = 'America/New_York';
/** Less than a week of samples leaves hours of the week unmeasured. */
export const MIN_DAYS = 7;
/** Prometheus refuses a range query of more than 11,000 points per series. */
export const MAX_POINTS_PER_QUERY = 11_000;

export interface TrafficOptions {
  readonly days: number;
  readonly now?: Date;
  readonly query?: string;
  readonly timeZone?: string;
  readonly windowHours?: number;
  /** Seconds between samples; divides an hour (default 3600). */
  readonly stepS?: number;
}

export interface TrafficReport {
  readonly from: string;
  readonly to: string;
  readonly timeZone: string;
  readonly query: string;
  readonly stepS: number;
  readonly windowHours: number;
  /** Series the query returned (their rates are added up). */
  readonly series: number;
  readonly samples: number;
  /** Hours in [from, to] without a sample. */
  readonly missingHours: number;
  readonly buckets: Bucket[];
  readonly quietest: QuietWindow[];
  readonly daily: DailyWindow[];
  readonly suggestion: WindowSuggestion;
  /** Set when there is too little data: the suggestion is then the plan's default. */
  readonly warning?: string;
}

/** The query found no samples at all: nothing to measure. */
export class TrafficDataError extends Error {
  override readonly name = 'TrafficDataError';
  constructor(message: string, readonly found: { series: number; samples: number }) {
    super(message);
  }
}

const PLAN_DEFAULT_TEXT = `the plan's default window, ${PLAN_DEFAULT_WINDOW.start}-${PLAN_DEFAULT_WINDOW.end} ${PLAN_DEFAULT_WINDOW.timeZone} (2-6 AM Eastern), applies`;

function checkOptions(options: TrafficOptions): Required<Omit<TrafficOptions, 'now' | 'query'>> {
  const { days, timeZone = DEFAULT_TIME_ZONE, windowHours = 4, stepS = 3600 } = options;
  if (!Number.isInteger(days) || days < 1 || days > 400) throw new RangeError(`days: ${days} must be a whole number from 1 to 400`);
  if (!Number.isInteger(windowHours) || windowHours < 1 || windowHours > 24) throw new RangeError(`windowHours: ${windowHours} must be a whole number from 1 to 24`);
  if (!Number.isInteger(stepS) || stepS < 1 || 3600 % stepS !== 0) throw new RangeError(`step: ${stepS} s must divide an hour (60, 300, 900, 3600, ...)`);
  if (!isTimeZone(timeZone)) throw new RangeError(`timeZone: "${timeZone}" is not an IANA time zone (e.g. America/New_York)`);
  return { days, timeZone, windowHours, stepS };
}

/**
 * Every sample from `start` to `end` (both included) at `stepS`, in requests
 * of at most MAX_POINTS_PER_QUERY points, added up across series per instant.
 */
async function readRange(client: PrometheusClient, query: string, start: number, end: number, stepS: number): Promise<{ series: number; rates: Map<number, number> }> {
  const rates = new Map<number, number>();
  const seen = new Set<string>();
  for (let chunkStart = start; chunkStart <= end; chunkStart += MAX_POINTS_PER_QUERY * stepS) {
    const chunkEnd = Math.min(end, chunkStart + (MAX_POINTS_PER_QUERY - 1) * stepS);
    const series = await client.queryRange(query, new Date(chunkStart * 1000), new Date(chunkEnd * 1000), stepS);
    for (const { labels, values } of series) {
      seen.add(JSON.stringify(labels));
      for (const [t, value] of values) {
        if (Number.isFinite(value)) rates.set(t, (rates.get(t) ?? 0) + value);
      }
    }
  }
  return { series: seen.size, rates };
}

export async function readTraffic(client: PrometheusClient, options: TrafficOptions): Promise<TrafficReport> {
  const { days, timeZone, windowHours, stepS } = checkOptions(options);
  const query = options.query ?? defaultTrafficQuery(stepS);
  const now = options.now ?? new Date();
  // Whole steps: each sample at t is the rate over the step before it, so the first is at from + step.
  const to = Math.floor(now.getTime() / 1000 / stepS) * stepS;
  const from = to - days * 86_400;
  const { series, rates } = await readRange(client, query, from + stepS, to, stepS);
  const range = `${new Date(from * 1000).toISOString()} to ${new Date(to * 1000).toISOString()}`;
  if (rates.size === 0) {
    throw new TrafficDataError(`the query ${query} found ${series ? `${series} series but no samples` : 'no series'} from ${range}: check the metric name and labels (and that the Prometheus keeps ${days} days); ${PLAN_DEFAULT_TEXT}`, { series, samples: 0 });
  }
  // A sample counts for the middle of the step it measures (rate[1h] at 03:00 is 02:00-03:00's traffic).
  const buckets = bucketSamples([...rates].map(([t, rps]) => ({ at: new Date((t - stepS / 2) * 1000), rps })), timeZone);
  const expected = (days * 86_400) / stepS;
  const coveredDays = (rates.size * stepS) / 86_400;
  const enough = coveredDays >= MIN_DAYS;
  return {
    from: new Date(from * 1000).toISOString(),
    to: new Date(to * 1000).toISOString(),
    timeZone,
    query,
    stepS,
    windowHours,
    series,
    samples: rates.size,
    missingHours: ((expected - rates.size) * stepS) / 3600,
    buckets,
    quietest: quietestWindows(buckets, windowHours),
    daily: dailyQuietest(buckets, windowHours),
    suggestion: enough ? suggestWindow(buckets, windowHours, timeZone) : PLAN_DEFAULT_WINDOW,
    ...(enough ? {} : { warning: `too little data: ${coveredDays.toFixed(1)} days of samples from ${range} (at least ${MIN_DAYS} are needed to see every hour of the week); ${PLAN_DEFAULT_TEXT}` }),
  };
}
