import { DAYS } from './config.js';
import type { Day, DeployWindow } from './config.js';

/** Day of the week and minutes since midnight at `at` in `timeZone` (DST-correct: Intl does the zone). */
const formatters = new Map<string, Intl.DateTimeFormat>();

export function localTime(at: Date, timeZone: string): { day: Day; minutes: number; text: string } {
  let format = formatters.get(timeZone);
  if (!format) formatters.set(timeZone, (format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })));
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  const day = String(parts.weekday).slice(0, 3).toLowerCase() as Day;
  const hour = Number(parts.hour);
  const minute = Number(parts.minute);
  return { day, minutes: hour * 60 + minute, text: `${parts.weekday} ${parts.hour}:${parts.minute}` };
}

const minutesOf = (clock: string): number => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/**
 * Whether `at` falls inside the window. A window may cross midnight (22:00-
 * 02:00): its day is the day it opens, so "sat 22:00-02:00" includes Sunday 01:00.
 */
export function inWindow(window: DeployWindow, at: Date): boolean {
  const { day, minutes } = localTime(at, window.time_zone);
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  if (start < end) return window.days.includes(day) && minutes >= start && minutes < end;
  if (minutes >= start) return window.days.includes(day);
  const yesterday = DAYS[(DAYS.indexOf(day) + 6) % 7]!;
  return minutes < end && window.days.includes(yesterday);
}

/** The next moment the window opens after `at` (minute resolution, at most 8 days ahead). */
export function nextOpening(window: DeployWindow, at: Date): Date | undefined {
  const minute = 60_000;
  let t = Math.ceil(at.getTime() / minute) * minute;
  const was = inWindow(window, new Date(t));
  for (let i = 0; i < 8 * 24 * 60; i++, t += minute) {
    const open = inWindow(window, new Date(t));
    if (open && (!was || i > 0) && !inWindow(window, new Date(t - minute))) return new Date(t);
  }
  return undefined;
}

export function describeWindow(window: DeployWindow): string {
  const days = window.days.length === 7 ? 'every day' : window.days.join(', ');
  return `${window.start}-${window.end} ${window.time_zone}, ${days}`;
}
