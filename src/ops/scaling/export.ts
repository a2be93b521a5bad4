import { scheduleChanges } from '../../scaling/schedule.js';
import type { Scaling, Schedule, ScheduleChange } from '../../scaling/schedule.js';
import { formatMinute } from '../../scaling/zone.js';
import type { ServiceRef } from '../cloudrun/types.js';

/**
 * `petcut scale export --scheduler`: the schedule as Cloud Scheduler jobs
 * that PATCH the service's scaling through the Admin API at the right wall
 * times, in the schedule's time zone, with nothing of petcut running.
 *
 * One job per (wall time of day, values): the base week's window starts, each
 * season's and each override's. A job's cron names the days it fires on
 * (`0 18 15-30 11 *`), so on any day exactly one job fires at a given minute:
 * jobs at the same minute never race. Cron has no year, so the days are those
 * of one calendar year (an override's date and the days it takes from the
 * base jobs): export again for the next year (docs/scaling.md).
 */
export interface SchedulerJob {
  readonly name: string;
  readonly description: string;
  /** Unix cron in timeZone: minute hour day-of-month month day-of-week. */
  readonly schedule: string;
  readonly timeZone: string;
  readonly httpMethod: 'PATCH';
  /** The Admin API's services.patch with updateMask=scaling (only scaling changes: no revision, no traffic). */
  readonly uri: string;
  readonly body: { readonly scaling: { readonly minInstanceCount: number; readonly maxInstanceCount: number } };
  readonly scaling: Scaling;
  readonly window: string;
  readonly season?: string;
  readonly override?: string;
}

export interface SchedulerExport {
  readonly generatedBy: string;
  readonly schedule: string;
  readonly year: number;
  readonly timeZone: string;
  readonly service: ServiceRef;
  readonly jobs: readonly SchedulerJob[];
}

const MONTHS = Array.from({ length: 12 }, (_, index) => index + 1);
const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

export const scalingUri = (ref: ServiceRef): string =>
  `https://run.googleapis.com/v2/projects/${ref.project}/locations/${ref.region}/services/${ref.service}?updateMask=scaling`;

export function exportScheduler(schedule: Schedule, ref: ServiceRef, year: number, source = schedule.source): SchedulerExport {
  // From the last days of the year before: the year's first local day starts with a change only if its values differ.
  const changes = scheduleChanges(schedule, { year: year - 1, month: 12, day: 30 }, { year, month: 12, day: 31 }).filter((change) => change.wall.year === year);
  const groups = new Map<string, { minute: number; values: ScheduleChange['values']; days: Map<number, number[]> }>();
  for (const change of changes) {
    const v = change.values;
    const key = `${change.wall.minute}|${v.window}|${v.season ?? ''}|${v.override ?? ''}|${v.min}|${v.max}`;
    const group = groups.get(key) ?? { minute: change.wall.minute, values: v, days: new Map() };
    group.days.set(change.wall.month, [...(group.days.get(change.wall.month) ?? []), change.wall.day]);
    groups.set(key, group);
  }
  const jobs: SchedulerJob[] = [];
  const names = new Map<string, number>();
  for (const group of [...groups.values()].sort((a, b) => a.minute - b.minute)) {
    for (const cron of crons(year, group.minute, group.days)) {
      const v = group.values;
      const base = `petcut-scale-${ref.service}-${v.override ?? (v.season ? `${v.season}-${v.window}` : v.window)}-${formatMinute(group.minute).replace(':', '')}`;
      const count = (names.get(base) ?? 0) + 1;
      names.set(base, count);
      jobs.push({
        name: count === 1 ? base : `${base}-${count}`,
        description: `petcut scale: ${v.window}${v.season ? ` (${v.season})` : ''}${v.override ? ` override ${v.override}` : ''} from ${formatMinute(group.minute)} ${schedule.timeZone}: min ${v.min}, max ${v.max}`,
        schedule: cron, timeZone: schedule.timeZone, httpMethod: 'PATCH', uri: scalingUri(ref),
        body: { scaling: { minInstanceCount: v.min, maxInstanceCount: v.max } }, scaling: { min: v.min, max: v.max },
        window: v.window, ...(v.season ? { season: v.season } : {}), ...(v.override ? { override: v.override } : {}),
      });
    }
  }
  return { generatedBy: 'petcut scale export --scheduler', schedule: source, year, timeZone: schedule.timeZone, service: ref, jobs };
}

/** Cron lines for a wall time on some days of a year: months with the same days share a line. */
function crons(year: number, minute: number, days: Map<number, number[]>): string[] {
  const byDays = new Map<string, number[]>();
  for (const month of MONTHS) {
    const list = days.get(month);
    if (!list) continue;
    const field = list.length === daysIn(year, month) ? '*' : ranges(list);
    byDays.set(field, [...(byDays.get(field) ?? []), month]);
  }
  return [...byDays].map(([dayField, months]) => `${minute % 60} ${Math.floor(minute / 60)} ${dayField} ${months.length === 12 ? '*' : ranges(months)} *`);
}

/** 1,2,3,5 -> "1-3,5". */
function ranges(values: readonly number[]): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let index = 0; index < sorted.length;) {
    let end = index;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end]! + 1) end++;
    parts.push(end === index ? String(sorted[index]) : end === index + 1 ? `${sorted[index]},${sorted[end]}` : `${sorted[index]}-${sorted[end]}`);
    index = end + 1;
  }
  return parts.join(',');
}
