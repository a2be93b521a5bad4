/**
 * Hour-of-the-week buckets in a time zone. The clock is the zone's own, read
 * through Intl (so daylight saving is the zone's rules, not a fixed offset):
 * 06:30 UTC is 2 AM in New York in July (EDT) and 1 AM in January (EST).
 */

export const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
export type Day = (typeof DAYS)[number];

export interface HourOfWeek {
  readonly day: Day;
  /** 0-23 on the zone's clock. */
  readonly hour: number;
}

export interface Bucket extends HourOfWeek {
  /** Mean request rate of the samples in this hour of the week; null without a sample. */
  readonly meanRps: number | null;
  readonly samples: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    // Throws a RangeError for a zone Intl does not know: callers check the zone with this once.
    format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: 'numeric', hourCycle: 'h23' });
    formatters.set(timeZone, format);
  }
  return format;
}

/** True when Intl knows the IANA zone name (e.g. America/New_York): the scaling schedule's check. */
export { isTimeZone } from '../../scaling/zone.js';

/** The day of the week and the hour an instant has on the zone's clock. */
export function hourOfWeek(at: Date, timeZone: string): HourOfWeek {
  const parts = formatter(timeZone).formatToParts(at);
  const day = parts.find((part) => part.type === 'weekday')?.value as Day | undefined;
  const hour = Number(parts.find((part) => part.type === 'hour')?.value);
  if (!day || !DAYS.includes(day) || !(hour >= 0 && hour < 24)) throw new Error(`cannot read the day and hour of ${at.toISOString()} in ${timeZone}`);
  return { day, hour };
}

/** 0 (Monday 00:00) to 167 (Sunday 23:00). */
export const weekIndex = ({ day, hour }: HourOfWeek): number => DAYS.indexOf(day) * 24 + hour;
export const atWeekIndex = (index: number): HourOfWeek => {
  const wrapped = ((index % 168) + 168) % 168;
  return { day: DAYS[Math.floor(wrapped / 24)]!, hour: wrapped % 24 };
};

/**
 * The 168 buckets, Monday 00:00 first: each sample counts in the hour of the
 * week its instant falls in. Where daylight saving ends an hour happens twice
 * (two samples that day), where it starts an hour is skipped (none).
 */
export function bucketSamples(samples: Iterable<{ at: Date; rps: number }>, timeZone: string): Bucket[] {
  const sums = new Array<number>(168).fill(0);
  const counts = new Array<number>(168).fill(0);
  for (const { at, rps } of samples) {
    const index = weekIndex(hourOfWeek(at, timeZone));
    sums[index]! += rps;
    counts[index]! += 1;
  }
  return sums.map((sum, index) => {
    const samples = counts[index]!;
    return { ...atWeekIndex(index), meanRps: samples ? sum / samples : null, samples };
  });
}
