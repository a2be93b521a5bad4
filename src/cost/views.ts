import type { ScalingAt } from '../scaling/schedule.js';
import type { CostEntry, CostParts } from './meter.js';

/**
 * The plan's cost attribution views (section 5) over ledger entries: peak vs
 * off-peak by the scaling schedule's windows, and per feature (route, print
 * style, output format, output size, cache answer), so the automatic limits
 * can be judged by what they saved. Same counting rules as the report: work
 * and request-fee entries count where they ended, idle entries are prorated
 * by overlap; each view's rows add up to the report's total spend.
 */
export type Span = { readonly from: number; readonly to: number };

/** A stretch of the schedule: the window in force from `from` until `until` (ScalingAt's fields the views need). */
export type ScheduleSegment = Pick<ScalingAt, 'window' | 'peak' | 'from' | 'until'>;

export interface WindowCost {
  readonly window: string;
  readonly peak: boolean;
  /** Wall-clock hours of the report's span that fell in this window. */
  readonly hours: number;
  readonly spendUsd: number;
  readonly idleUsd: number;
  readonly images: number;
}

export interface PeakSplit {
  readonly windows: readonly WindowCost[];
  /** Windows marked `peak: true`, and all the others. */
  readonly peak: Omit<WindowCost, 'window' | 'peak'>;
  readonly offPeak: Omit<WindowCost, 'window' | 'peak'>;
}

export const FEATURE_DIMENSIONS = ['route', 'effect', 'format', 'size', 'cache'] as const;
export type FeatureDimension = typeof FEATURE_DIMENSIONS[number];

export interface FeatureCost {
  readonly name: string;
  /** Photos (route, cache) or outputs (effect, format, size: one photo can have several). */
  readonly count: number;
  readonly busyUsd: number;
  /** Idle cost shared out in proportion to busy cost, as for customers. */
  readonly idleUsd: number;
  readonly totalUsd: number;
}

/** Entries from ledgers older than the per-feature views, and work that failed (no outputs). */
export const UNKNOWN = '(unknown)';
export const FAILED = '(failed)';
export const REQUEST_FEES = '(request fees)';
export const IDLE_ONLY = '(idle, no work)';

const MP = 1024 * 1024;
/** Output size buckets: a preview's long side is 1024 px (about 1 MP at most); 12 MP is a phone photo at full size. */
const SIZE_BUCKETS: ReadonlyArray<readonly [number, string]> = [[MP, 'up to 1 MP'], [4 * MP, '1-4 MP'], [12 * MP, '4-12 MP'], [Infinity, 'over 12 MP']];

export const usdOf = (parts: Readonly<CostParts>): number => parts.vcpu + parts.memory + parts.gpu + parts.requests;
/** Spans are (from, to]: an entry that ends on a boundary belongs to the span it ends. */
export const within = (t: number, span: Span): boolean => t > span.from && t <= span.to;

/** The share of an idle entry inside a span (an instant entry: 1 when it ends inside). */
export function overlap(entry: Pick<CostEntry, 'startedAt' | 'endedAt'>, span: Span): number {
  const length = entry.endedAt - entry.startedAt;
  if (length <= 0) return within(entry.endedAt, span) ? 1 : 0;
  const covered = Math.min(entry.endedAt, span.to) - Math.max(entry.startedAt, span.from);
  return Math.max(0, covered) / length;
}

export function sizeBucket(pixels: number): string {
  return SIZE_BUCKETS.find(([limit]) => pixels <= limit)![1];
}

/** Spend and images by schedule window; `segments` cover the span (schedule.ts `segments`). */
export function splitBySchedule(entries: readonly CostEntry[], span: Span, segments: readonly ScheduleSegment[]): PeakSplit {
  const rows = new Map<string, { window: string; peak: boolean; hours: number; spendUsd: number; idleUsd: number; images: number }>();
  const row = (segment: ScheduleSegment) => {
    const found = rows.get(segment.window) ?? { window: segment.window, peak: segment.peak, hours: 0, spendUsd: 0, idleUsd: 0, images: 0 };
    rows.set(segment.window, found);
    return found;
  };
  for (const segment of segments) row(segment).hours += (+segment.until - +segment.from) / 3_600_000;
  const ends = segments.map((segment) => +segment.until);
  for (const entry of entries) {
    if (entry.kind === 'idle') {
      for (const segment of segments) {
        const share = overlap(entry, { from: Math.max(span.from, +segment.from), to: Math.min(span.to, +segment.until) });
        if (share <= 0) continue;
        row(segment).spendUsd += usdOf(entry.usd) * share;
        row(segment).idleUsd += usdOf(entry.usd) * share;
      }
      continue;
    }
    if (!within(entry.endedAt, span)) continue;
    // Work ends in (from, until] of its segment: the last one whose end is not before it.
    const segment = segments[firstAtOrAfter(ends, entry.endedAt)];
    if (!segment) continue;
    row(segment).spendUsd += usdOf(entry.usd);
    row(segment).images += entry.images;
  }
  const windows = [...rows.values()].sort((a, b) => Number(b.peak) - Number(a.peak) || b.spendUsd - a.spendUsd || a.window.localeCompare(b.window));
  const total = (peak: boolean) => windows.filter((w) => w.peak === peak).reduce((sum, w) => ({
    hours: sum.hours + w.hours, spendUsd: sum.spendUsd + w.spendUsd, idleUsd: sum.idleUsd + w.idleUsd, images: sum.images + w.images,
  }), { hours: 0, spendUsd: 0, idleUsd: 0, images: 0 });
  return { windows, peak: total(true), offPeak: total(false) };
}

/** Index of the first value >= t in an ascending list (its length when none). */
function firstAtOrAfter(sorted: readonly number[], t: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What each feature cost: work entries in the span, their busy cost split evenly over their outputs, idle shared out. */
export function featureViews(entries: readonly CostEntry[], span: Span, idleUsd: number): Record<FeatureDimension, FeatureCost[]> {
  const tallies = Object.fromEntries(FEATURE_DIMENSIONS.map((d) => [d, new Map<string, { count: number; busyUsd: number }>()])) as Record<FeatureDimension, Map<string, { count: number; busyUsd: number }>>;
  const add = (dimension: FeatureDimension, name: string, count: number, usd: number): void => {
    const tally = tallies[dimension].get(name) ?? { count: 0, busyUsd: 0 };
    tally.count += count;
    tally.busyUsd += usd;
    tallies[dimension].set(name, tally);
  };
  let busyUsd = 0;
  for (const entry of entries) {
    if (entry.kind === 'idle' || !within(entry.endedAt, span)) continue;
    const usd = usdOf(entry.usd);
    busyUsd += usd;
    if (entry.kind === 'requests') {
      for (const dimension of FEATURE_DIMENSIONS) add(dimension, REQUEST_FEES, 0, usd);
      continue;
    }
    const missing = entry.images === 0 ? FAILED : UNKNOWN;
    add('route', entry.route ?? UNKNOWN, 1, usd);
    add('cache', entry.cache ?? missing, 1, usd);
    const outputs = entry.outputs?.length ? entry.outputs : undefined;
    for (const dimension of ['effect', 'format', 'size'] as const) {
      if (!outputs) add(dimension, missing, 0, usd);
      else for (const o of outputs) add(dimension, dimension === 'effect' ? o.effect : dimension === 'format' ? o.format : sizeBucket(o.pixels), 1, usd / outputs.length);
    }
  }
  // Nothing worked in the span: the idle cost still shows, so every view adds up to the spend.
  if (busyUsd <= 0 && idleUsd > 0) for (const dimension of FEATURE_DIMENSIONS) tallies[dimension].set(IDLE_ONLY, { count: 0, busyUsd: 0 });
  const rows = (dimension: FeatureDimension): FeatureCost[] => [...tallies[dimension]].map(([name, t]) => {
    if (name === IDLE_ONLY) return { name, count: 0, busyUsd: 0, idleUsd, totalUsd: idleUsd };
    const idle = busyUsd > 0 ? idleUsd * (t.busyUsd / busyUsd) : 0;
    return { name, count: t.count, busyUsd: t.busyUsd, idleUsd: idle, totalUsd: t.busyUsd + idle };
  }).sort((a, b) => b.totalUsd - a.totalUsd || a.name.localeCompare(b.name));
  return Object.fromEntries(FEATURE_DIMENSIONS.map((d) => [d, rows(d)])) as Record<FeatureDimension, FeatureCost[]>;
}
