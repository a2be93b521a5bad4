import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { PetcutError } from '../errors.js';
import { addDays, formatDate, formatMinute, formatWall, instantOf, isTimeZone, wallTime, type LocalDate, type WallTime } from './zone.js';

/**
 * The time-based scaling schedule (deploy/scaling/schedule.yml, docs/scaling.md):
 * a week of local wall-clock windows, season overlays by calendar date, and
 * named overrides by local date-time. Overrides beat seasons beat the base week.
 * Everything is evaluated on the zone's wall clock; the instant a boundary
 * happens follows src/scaling/zone.ts's two DST rules.
 */

/** The schedule file shipped with petcut, beside src/ and dist/. */
export const DEFAULT_SCHEDULE_FILE = fileURLToPath(new URL('../../deploy/scaling/schedule.yml', import.meta.url));

export interface Scaling { readonly min: number; readonly max: number }
export interface ScalingAt extends Scaling {
  /** The window's name from the file: 'peak' | 'business' | 'off-hours'. */
  readonly window: string;
  /** The window is marked `peak: true` (the cost report's peak vs off-peak). */
  readonly peak: boolean;
  /** The window is marked `prewarm: true`: the shop's business day, warm-ups allowed. */
  readonly prewarm: boolean;
  /** The season overlay that applies (e.g. 'holiday'), if any. */
  readonly season?: string;
  /** The named override that applies (e.g. 'black-friday'), if any. */
  readonly override?: string;
  /** Start of the segment with exactly these values. */
  readonly from: Date;
  /** End of that segment (exclusive). */
  readonly until: Date;
}

export interface Window extends Scaling { readonly name: string; readonly from: number; readonly until: number; readonly peak: boolean; readonly prewarm: boolean }
export interface Season { readonly name: string; readonly from: string; readonly until: string; readonly windows: Readonly<Record<string, Scaling>> }
export interface Override extends Scaling { readonly name: string; readonly from: string; readonly until: string }
export interface Schedule {
  readonly timeZone: string;
  readonly source: string;
  /** Minutes of the local day (0-1439); a window whose until <= from crosses midnight. */
  readonly windows: readonly Window[];
  /** from/until are 'MM-DD', both days included. */
  readonly seasons: readonly Season[];
  /** from/until are local 'YYYY-MM-DD HH:MM', until excluded. */
  readonly overrides: readonly Override[];
}

const name = z.string({ error: 'must be a name' }).regex(/^[a-z][a-z0-9-]{0,39}$/, 'must be a lower-case name like off-hours (a-z, 0-9, -)');
const time = z.string({ error: 'must be a local time "HH:MM" (quote it)' })
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a local time "HH:MM", 00:00-23:59')
  .transform((text) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3)));
const monthDay = z.string({ error: 'must be a date "MM-DD" (quote it)' })
  .regex(/^\d\d-\d\d$/, 'must be a date "MM-DD" (like 11-15)')
  .refine((text) => validDate(2024, Number(text.slice(0, 2)), Number(text.slice(3))), 'must be a real day of the year "MM-DD"');
const localDateTime = z.union([z.string(), z.date()], { error: 'must be a local date-time "YYYY-MM-DD HH:MM" or a date "YYYY-MM-DD" (quote it)' })
  .transform((value) => (value instanceof Date ? value.toISOString().slice(0, 10) : value.trim()))
  .pipe(z.string().regex(/^\d{4}-\d\d-\d\d([ T]([01]\d|2[0-3]):[0-5]\d)?$/, 'must be a local date-time "YYYY-MM-DD HH:MM" or a date "YYYY-MM-DD"'))
  .refine((text) => validDate(Number(text.slice(0, 4)), Number(text.slice(5, 7)), Number(text.slice(8, 10))), 'must be a real calendar date')
  .transform((text) => (text.length === 10 ? `${text} 00:00` : text.replace('T', ' ')));
const min = z.number({ error: 'must be a whole number of instances, 0-1000' }).int('must be a whole number of instances, 0-1000').min(0, 'must be 0-1000').max(1000, 'must be 0-1000');
const max = z.number({ error: 'must be a whole number of instances, 1-1000' }).int('must be a whole number of instances, 1-1000').min(1, 'must be 1-1000 (0 would stop the service)').max(1000, 'must be 1-1000');
const minNotAboveMax = (value: Scaling): boolean => value.min <= value.max;
const MIN_ABOVE_MAX = { message: 'must not be more than max', path: ['min'] };
const Bounds = z.strictObject({ min, max }).refine(minNotAboveMax, MIN_ABOVE_MAX);

const ScheduleFile = z.strictObject({
  timeZone: z.string({ error: 'must be an IANA time zone like America/New_York' }).refine(isTimeZone, 'must be an IANA time zone like America/New_York'),
  windows: z.array(z.strictObject({
    name, from: time, until: time, min, max,
    peak: z.boolean({ error: 'must be true or false' }).default(false),
    prewarm: z.boolean({ error: 'must be true or false' }).default(false),
  }).refine(minNotAboveMax, MIN_ABOVE_MAX), { error: 'must be a list of windows' }).min(1, 'must name at least one window'),
  seasons: z.array(z.strictObject({ name, from: monthDay, until: monthDay, windows: z.record(z.string(), Bounds) }), { error: 'must be a list of seasons' }).default([]),
  overrides: z.array(z.strictObject({ name, from: localDateTime, until: localDateTime, min, max }).refine(minNotAboveMax, MIN_ABOVE_MAX), { error: 'must be a list of overrides' }).default([]),
});

export function parseSchedule(text: string, source: string): Schedule {
  const fail = (field: string, detail: string): never => {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid scaling schedule ${source}: ${field}: ${detail}`);
  };
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    return fail('(the file)', `not YAML (${(error as Error).message.split('\n')[0]})`);
  }
  const parsed = ScheduleFile.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const unknown = issue.code === 'unrecognized_keys';
    const path = unknown ? [...issue.path, issue.keys[0]!] : issue.path;
    const detail = unknown ? 'unknown field (a typo?)' : issue.input === undefined && issue.code !== 'custom' ? 'is missing' : issue.message;
    return fail(fieldName(raw, path), detail);
  }
  const schedule = { ...parsed.data, source };
  checkWindows(schedule.windows, fail);
  checkSeasons(schedule, fail);
  checkOverrides(schedule.overrides, fail);
  return deepFreeze(schedule);
}

export function loadSchedule(path = DEFAULT_SCHEDULE_FILE): Schedule {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PetcutError('PETCUT_E_INVALID_CONFIG', `Invalid scaling schedule ${path}: (the file): cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseSchedule(text, path);
}

type Fail = (field: string, detail: string) => never;

/** Every minute of the day in exactly one window. */
function checkWindows(windows: readonly Window[], fail: Fail): void {
  const owner = new Array<string | undefined>(1440);
  const names = new Set<string>();
  windows.forEach((window, index) => {
    if (names.has(window.name)) fail(`windows[${index}].name`, `"${window.name}" is used twice (names are unique)`);
    names.add(window.name);
    const length = (window.until - window.from + 1440) % 1440 || 1440;
    for (let step = 0; step < length; step += 1) {
      const minute = (window.from + step) % 1440;
      const other = owner[minute];
      if (other !== undefined) fail(`windows[${window.name}]`, `overlaps window ${other} at ${formatMinute(minute)} (windows must not overlap)`);
      owner[minute] = window.name;
    }
  });
  const first = Array.from(owner).findIndex((value) => value === undefined);
  if (first >= 0) fail('windows', `no window covers ${formatMinute(first)} (the windows must cover the whole day, 00:00-24:00)`);
}

function checkSeasons(schedule: Omit<Schedule, 'source'>, fail: Fail): void {
  const windows = new Set(schedule.windows.map((window) => window.name));
  const owner = new Map<string, string>();
  schedule.seasons.forEach((season, index) => {
    for (const window of Object.keys(season.windows)) {
      if (!windows.has(window)) fail(`seasons[${season.name}].windows.${window}`, `not a window of this schedule (one of ${[...windows].join(', ')})`);
    }
    if (schedule.seasons.findIndex((other) => other.name === season.name) !== index) fail(`seasons[${index}].name`, `"${season.name}" is used twice (names are unique)`);
    for (let day: LocalDate = { year: 2024, month: 1, day: 1 }; day.year === 2024; day = addDays(day, 1)) {
      const key = formatDate(day).slice(5);
      if (!inSeason(season, key)) continue;
      const other = owner.get(key);
      if (other) fail(`seasons[${season.name}]`, `overlaps season ${other} on ${key} (seasons must not overlap)`);
      owner.set(key, season.name);
    }
  });
}

function checkOverrides(overrides: readonly Override[], fail: Fail): void {
  overrides.forEach((override) => {
    if (override.until <= override.from) fail(`overrides[${override.name}].until`, `must be after from (${override.from})`);
  });
  const sorted = [...overrides].sort((a, b) => a.from.localeCompare(b.from));
  sorted.forEach((override, index) => {
    const next = sorted[index + 1];
    if (next && next.from < override.until) fail(`overrides[${next.name}]`, `overlaps override ${override.name} (${override.from} - ${override.until}); overrides must not overlap`);
  });
}

/** 'MM-DD' in a season (both ends included; a season may wrap over New Year). */
function inSeason(season: Season, monthDay: string): boolean {
  return season.from <= season.until ? monthDay >= season.from && monthDay <= season.until : monthDay >= season.from || monthDay <= season.until;
}

/** The values the schedule gives a wall time: the override, else the season, else the base window. */
export function scalingOnWall(schedule: Schedule, wall: WallTime): Omit<ScalingAt, 'from' | 'until'> {
  const window = schedule.windows.find((each) => (each.from < each.until ? wall.minute >= each.from && wall.minute < each.until : wall.minute >= each.from || wall.minute < each.until))!;
  const season = schedule.seasons.find((each) => inSeason(each, formatDate(wall).slice(5)));
  const stamp = formatWall(wall);
  const override = schedule.overrides.find((each) => stamp >= each.from && stamp < each.until);
  const bounds = override ?? season?.windows[window.name] ?? window;
  return {
    min: bounds.min, max: bounds.max, window: window.name, peak: window.peak, prewarm: window.prewarm,
    ...(season ? { season: season.name } : {}), ...(override ? { override: override.name } : {}),
  };
}

/** A change of values: where on the wall clock, the instant it happens, and what holds from then. */
export interface ScheduleChange { readonly wall: WallTime; readonly at: number; readonly values: Omit<ScalingAt, 'from' | 'until'> }

/**
 * Every change of values for local days first..last: at each window start, each
 * local midnight (seasons) and each override's from/until. Wall times that land
 * on the same instant (a DST gap) keep the last; a "change" to the same values is dropped.
 */
export function scheduleChanges(schedule: Schedule, first: LocalDate, last: LocalDate): ScheduleChange[] {
  const changes: ScheduleChange[] = [];
  for (let day = first; formatDate(day) <= formatDate(last); day = addDays(day, 1)) {
    const date = formatDate(day);
    const minutes = new Set<number>([0, ...schedule.windows.map((window) => window.from)]);
    for (const override of schedule.overrides) {
      for (const stamp of [override.from, override.until]) if (stamp.startsWith(date)) minutes.add(Number(stamp.slice(11, 13)) * 60 + Number(stamp.slice(14)));
    }
    for (const minute of [...minutes].sort((a, b) => a - b)) {
      const wall = { ...day, minute };
      const at = instantOf(schedule.timeZone, wall);
      if (changes.length > 0 && changes[changes.length - 1]!.at >= at) changes.pop();
      const values = scalingOnWall(schedule, wall);
      if (changes.length === 0 || !sameValues(changes[changes.length - 1]!.values, values)) changes.push({ wall, at, values });
    }
  }
  return changes;
}

function sameValues(a: ScheduleChange['values'], b: ScheduleChange['values']): boolean {
  return a.min === b.min && a.max === b.max && a.window === b.window && a.peak === b.peak && a.prewarm === b.prewarm && a.season === b.season && a.override === b.override;
}

/** Unclipped segments around [from, to): local days from two before to two after (a window may span midnight). */
function runs(schedule: Schedule, from: number, to: number): ScalingAt[] {
  const changes = scheduleChanges(schedule, addDays(wallTime(schedule.timeZone, from), -2), addDays(wallTime(schedule.timeZone, to), 2));
  return changes.slice(0, -1).map((change, index) => ({ ...change.values, from: new Date(change.at), until: new Date(changes[index + 1]!.at) }));
}

/** What applies at an instant, with the whole segment of equal values around it. */
export function scalingAt(schedule: Schedule, at: Date): ScalingAt {
  const instant = +at;
  return runs(schedule, instant, instant).find((run) => +run.from <= instant && instant < +run.until)!;
}

/** Consecutive segments covering [from, to) exactly: the first starts at from, the last ends at to. */
export function segments(schedule: Schedule, from: Date, to: Date): ScalingAt[] {
  if (+to <= +from) return [];
  return runs(schedule, +from, +to)
    .filter((run) => +run.until > +from && +run.from < +to)
    .map((run) => ({ ...run, from: new Date(Math.max(+run.from, +from)), until: new Date(Math.min(+run.until, +to)) }));
}

function fieldName(raw: unknown, path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(the file)';
  let node: unknown = raw;
  let field = '';
  for (const key of path) {
    const item = (node as Record<PropertyKey, unknown> | undefined)?.[key];
    const itemName = (item as { name?: unknown } | undefined)?.name;
    field += typeof key === 'number' ? `[${typeof itemName === 'string' ? itemName : key}]` : `${field ? '.' : ''}${String(key)}`;
    node = item;
  }
  return field;
}

function validDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}
