/**
 * Wall-clock arithmetic in an IANA time zone with nothing but Intl: what a
 * clock in the zone reads at an instant, and which instant a wall time is.
 * The two DST cases have one answer each (docs/scaling.md, "DST rules"):
 * - a wall time that does not exist (spring forward, 02:30 on the second
 *   Sunday of March in New York) is the instant the clock jumps (03:00 EDT);
 * - a wall time that exists twice (fall back, 01:30 on the first Sunday of
 *   November) is its first occurrence (01:30 EDT, not 01:30 EST).
 */

/** A calendar date in the zone. month is 1-12. */
export interface LocalDate { readonly year: number; readonly month: number; readonly day: number }
/** What a clock in the zone reads: a date and the minute of that day (0-1439). */
export interface WallTime extends LocalDate { readonly minute: number }

const MINUTE = 60_000;
const DAY = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** True when Intl knows the zone (an IANA name like America/New_York). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's wall clock at an instant, as if that reading were UTC (ms). */
function wallMs(timeZone: string, at: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(at)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) + (at - Math.floor(at / 1000) * 1000);
}

/** The zone's offset from UTC at an instant, in ms (New York: -5 h in winter, -4 h in summer). */
export function offsetMs(timeZone: string, at: number): number {
  return wallMs(timeZone, at) - at;
}

export function wallTime(timeZone: string, at: Date | number): WallTime {
  const wall = new Date(wallMs(timeZone, +at));
  return { year: wall.getUTCFullYear(), month: wall.getUTCMonth() + 1, day: wall.getUTCDate(), minute: wall.getUTCHours() * 60 + wall.getUTCMinutes() };
}

/** The instant a wall time happens in the zone: the jump for a time that does not exist, the first of two. */
export function instantOf(timeZone: string, wall: WallTime): number {
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day) + wall.minute * MINUTE;
  // Offsets a day either side: a zone changes offset at most once within two days.
  const before = offsetMs(timeZone, asUtc - DAY);
  const after = offsetMs(timeZone, asUtc + DAY);
  const candidates = [asUtc - before, asUtc - after].filter((at) => offsetMs(timeZone, at) === asUtc - at);
  if (candidates.length > 0) return Math.min(...candidates);
  // In the gap: the first instant that already has the new offset (transitions fall on whole minutes).
  let low = Math.floor(Math.min(asUtc - before, asUtc - after) / MINUTE);
  let high = Math.ceil(Math.max(asUtc - before, asUtc - after) / MINUTE);
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (offsetMs(timeZone, middle * MINUTE) === after) high = middle;
    else low = middle + 1;
  }
  return low * MINUTE;
}

export function addDays(date: LocalDate, days: number): LocalDate {
  const next = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() };
}

/** Days from a to b (b - a), by the calendar. */
export function daysBetween(a: LocalDate, b: LocalDate): number {
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY);
}

const pad = (value: number): string => String(value).padStart(2, '0');
export const formatDate = (date: LocalDate): string => `${date.year}-${pad(date.month)}-${pad(date.day)}`;
export const formatMinute = (minute: number): string => `${pad(Math.floor(minute / 60))}:${pad(minute % 60)}`;
/** 'YYYY-MM-DD HH:MM': sorts like the wall times it names. */
export const formatWall = (wall: WallTime): string => `${formatDate(wall)} ${formatMinute(wall.minute)}`;
