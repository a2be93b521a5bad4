import { DAYS, atWeekIndex } from './buckets.js';
import type { Bucket, Day, HourOfWeek } from './buckets.js';

/** A run of whole hours of the week; `end` is exclusive (Mon 02:00 to Mon 06:00 is four hours). */
export interface QuietWindow {
  readonly start: HourOfWeek;
  readonly end: HourOfWeek;
  readonly meanRps: number;
  /** meanRps over the busiest hour of the week's mean (0 to 1). */
  readonly shareOfPeak: number;
}

export interface DailyWindow {
  readonly day: Day;
  readonly start: HourOfWeek;
  readonly end: HourOfWeek;
  readonly meanRps: number;
}

/** The rollout window: the same clock hours on each listed day (deploy/rollout.yml's `window`). */
export interface WindowSuggestion {
  readonly timeZone: string;
  /** 'HH:00' on the zone's clock. */
  readonly start: string;
  readonly end: string;
  /** Lower-case, as rollout.yml spells them: mon ... sun. */
  readonly days: string[];
  /** The mean over those hours on every day measured; null for the plan's default. */
  readonly meanRps: number | null;
  /** `measured` from the samples, or the plan's default (too little data). */
  readonly source: 'measured' | 'plan default';
}

/** The plan's "lowest traffic windows (typically 2-6 AM EST)", used when there is too little data. */
export const PLAN_DEFAULT_WINDOW: WindowSuggestion = Object.freeze({
  timeZone: 'America/New_York', start: '02:00', end: '06:00', days: DAYS.map((day) => day.toLowerCase()), meanRps: null, source: 'plan default',
});

const clock = (hour: number): string => `${String(hour % 24).padStart(2, '0')}:00`;

/** Mean of the hourly means from `start` for `hours` hours (wrapping Sunday into Monday); null if any hour has no sample. */
function windowMean(buckets: readonly Bucket[], start: number, hours: number): number | null {
  let sum = 0;
  for (let i = 0; i < hours; i++) {
    const mean = buckets[(start + i) % 168]?.meanRps;
    if (mean === null || mean === undefined) return null;
    sum += mean;
  }
  return sum / hours;
}

function peakOf(buckets: readonly Bucket[]): number {
  return Math.max(0, ...buckets.map((bucket) => bucket.meanRps ?? 0));
}

const span = (start: number, hours: number) => ({ start: atWeekIndex(start), end: atWeekIndex(start + hours) });

/**
 * The quietest windows of `hours` hours, best first, none overlapping another
 * (the runners-up of one quiet night are the same night an hour off).
 */
export function quietestWindows(buckets: readonly Bucket[], hours: number, top = 5): QuietWindow[] {
  const peak = peakOf(buckets);
  const candidates = Array.from({ length: 168 }, (_, start) => ({ start, mean: windowMean(buckets, start, hours) }))
    .filter((c): c is { start: number; mean: number } => c.mean !== null)
    .sort((a, b) => a.mean - b.mean || a.start - b.start);
  const picked: Array<{ start: number; mean: number }> = [];
  const apart = (a: number, b: number): boolean => {
    const distance = Math.abs(a - b);
    return Math.min(distance, 168 - distance) >= hours;
  };
  for (const candidate of candidates) {
    if (picked.length >= top) break;
    if (picked.every((p) => apart(p.start, candidate.start))) picked.push(candidate);
  }
  return picked.map(({ start, mean }) => ({ ...span(start, hours), meanRps: mean, shareOfPeak: peak > 0 ? mean / peak : 0 }));
}

/** For each day with data, its quietest window starting that day (it may run past midnight). */
export function dailyQuietest(buckets: readonly Bucket[], hours: number): DailyWindow[] {
  return DAYS.flatMap((day, d) => {
    let best: { start: number; mean: number } | undefined;
    for (let hour = 0; hour < 24; hour++) {
      const mean = windowMean(buckets, d * 24 + hour, hours);
      if (mean !== null && (!best || mean < best.mean)) best = { start: d * 24 + hour, mean };
    }
    return best ? [{ day, ...span(best.start, hours), meanRps: best.mean }] : [];
  });
}

/**
 * The clock window (the same hours every day) with the lowest mean over the
 * days measured. A day is listed when that window is quieter there than the
 * week's average rate: a window that is busy on some day is no window that day.
 */
export function suggestWindow(buckets: readonly Bucket[], hours: number, timeZone: string): WindowSuggestion {
  const measured = buckets.filter((bucket) => bucket.meanRps !== null);
  if (measured.length === 0) return PLAN_DEFAULT_WINDOW;
  const weekMean = measured.reduce((sum, bucket) => sum + bucket.meanRps!, 0) / measured.length;
  let best: { hour: number; mean: number; byDay: Array<number | null> } | undefined;
  for (let hour = 0; hour < 24; hour++) {
    const byDay = DAYS.map((_, d) => windowMean(buckets, d * 24 + hour, hours));
    const known = byDay.filter((mean): mean is number => mean !== null);
    if (known.length === 0) continue;
    const mean = known.reduce((a, b) => a + b, 0) / known.length;
    if (!best || mean < best.mean) best = { hour, mean, byDay };
  }
  if (!best) return PLAN_DEFAULT_WINDOW;
  const { byDay } = best;
  const days = DAYS.filter((_, d) => byDay[d] !== null && byDay[d]! <= weekMean).map((day) => day.toLowerCase());
  return { timeZone, start: clock(best.hour), end: clock(best.hour + hours), days, meanRps: best.mean, source: 'measured' };
}
