import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPrices } from '../src/cost/prices.js';
import { loadValues } from '../src/ops/deploy/values.js';
import { exportScheduler } from '../src/ops/scaling/export.js';
import type { SchedulerJob } from '../src/ops/scaling/export.js';
import { planScaling } from '../src/ops/scaling/plan.js';
import { loadSchedule, parseSchedule, scalingAt, segments } from '../src/scaling/schedule.js';
import type { Schedule } from '../src/scaling/schedule.js';

/**
 * The scaling schedule's calendar (src/scaling/): the shipped file's windows on
 * both sides of each DST change in 2026 and 2027, midnight, the holiday season,
 * the overrides, bad files, and the Cloud Scheduler export replayed by a cron
 * evaluator of its own (Intl in America/New_York, not src/scaling/zone.ts)
 * against scalingAt() over whole years.
 */
const schedule = loadSchedule();
const at = (iso: string): ScalingAtLite => lite(scalingAt(schedule, new Date(iso)));
type ScalingAtLite = { window: string; min: number; max: number; season?: string; override?: string; from: string; until: string };
const lite = (s: ReturnType<typeof scalingAt>): ScalingAtLite => ({
  window: s.window, min: s.min, max: s.max, ...(s.season ? { season: s.season } : {}), ...(s.override ? { override: s.override } : {}),
  from: s.from.toISOString(), until: s.until.toISOString(),
});
const HOUR = 3_600_000;

const BASE = `timeZone: America/New_York
windows:
  - { name: business, from: "09:00", until: "18:00", min: 0, max: 3, prewarm: true }
  - { name: peak, from: "18:00", until: "22:00", min: 1, max: 5, peak: true, prewarm: true }
  - { name: off-hours, from: "22:00", until: "09:00", min: 0, max: 2 }
`;
const parse = (text: string): Schedule => parseSchedule(text, 'test.yml');

describe('the shipped schedule on the wall clock of New York', () => {
  it('has the plan\'s windows, flags and floors', () => {
    expect(schedule.timeZone).toBe('America/New_York');
    expect(schedule.windows.map((w) => [w.name, w.min, w.max, w.peak, w.prewarm])).toEqual([
      ['business', 0, 3, false, true], ['peak', 1, 5, true, true], ['off-hours', 0, 2, false, false],
    ]);
    const july = scalingAt(schedule, new Date('2026-07-01T23:00:00Z'));
    expect([july.window, july.peak, july.prewarm, july.season, july.override]).toEqual(['peak', true, true, undefined, undefined]);
  });

  // [date, UTC instant of 09:00, 18:00 and 22:00 local] on each side of the four changes.
  const days: Array<[string, string, string, string]> = [
    ['2026-03-07 (EST)', '2026-03-07T14:00:00Z', '2026-03-07T23:00:00Z', '2026-03-08T03:00:00Z'],
    ['2026-03-08 (EDT from 02:00)', '2026-03-08T13:00:00Z', '2026-03-08T22:00:00Z', '2026-03-09T02:00:00Z'],
    ['2026-10-31 (EDT)', '2026-10-31T13:00:00Z', '2026-10-31T22:00:00Z', '2026-11-01T02:00:00Z'],
    ['2026-11-01 (EST from 02:00)', '2026-11-01T14:00:00Z', '2026-11-01T23:00:00Z', '2026-11-02T03:00:00Z'],
    ['2027-03-13 (EST)', '2027-03-13T14:00:00Z', '2027-03-13T23:00:00Z', '2027-03-14T03:00:00Z'],
    ['2027-03-14 (EDT from 02:00)', '2027-03-14T13:00:00Z', '2027-03-14T22:00:00Z', '2027-03-15T02:00:00Z'],
    ['2027-11-06 (EDT)', '2027-11-06T13:00:00Z', '2027-11-06T22:00:00Z', '2027-11-07T02:00:00Z'],
    ['2027-11-07 (EST from 02:00)', '2027-11-07T14:00:00Z', '2027-11-07T23:00:00Z', '2027-11-08T03:00:00Z'],
  ];
  it.each(days)('%s: each window starts at its local time, on the right UTC instant', (_day, business, peak, offHours) => {
    for (const [instant, window] of [[business, 'business'], [peak, 'peak'], [offHours, 'off-hours']] as const) {
      expect(scalingAt(schedule, new Date(+new Date(instant) - 1)).window).not.toBe(window);
      const segment = scalingAt(schedule, new Date(instant));
      expect([segment.window, segment.from.toISOString()]).toEqual([window, new Date(instant).toISOString()]);
    }
  });

  it('the nights of the changes are an hour shorter (March) and longer (November)', () => {
    expect(at('2026-03-08T06:59:00Z')).toMatchObject({ window: 'off-hours', from: '2026-03-08T03:00:00.000Z', until: '2026-03-08T13:00:00.000Z' }); // 10 h
    expect(at('2026-11-01T05:30:00Z')).toMatchObject({ window: 'off-hours', from: '2026-11-01T02:00:00.000Z', until: '2026-11-01T14:00:00.000Z' }); // 12 h
    expect(at('2027-11-07T06:30:00Z')).toMatchObject({ window: 'off-hours', from: '2027-11-07T02:00:00.000Z', until: '2027-11-07T14:00:00.000Z' });
  });

  it('off-hours crosses midnight as one segment (22:00 - 09:00 local)', () => {
    expect(at('2026-07-01T03:59:00Z')).toEqual({ window: 'off-hours', min: 0, max: 2, from: '2026-07-01T02:00:00.000Z', until: '2026-07-01T13:00:00.000Z' });
    expect(at('2026-07-01T04:00:00Z').from).toBe('2026-07-01T02:00:00.000Z'); // local midnight changes nothing
  });

  it('the holiday season (Nov 15 - Dec 31, local days) raises the floors, and ends at local midnight on Jan 1', () => {
    expect(at('2026-11-15T04:59:00Z')).toMatchObject({ window: 'off-hours', min: 0, max: 2, until: '2026-11-15T05:00:00.000Z' });
    expect(at('2026-11-15T05:00:00Z')).toEqual({ window: 'off-hours', min: 0, max: 3, season: 'holiday', from: '2026-11-15T05:00:00.000Z', until: '2026-11-15T14:00:00.000Z' });
    expect(at('2026-12-10T15:00:00Z')).toMatchObject({ window: 'business', min: 1, max: 4, season: 'holiday' });
    expect(at('2026-12-10T23:00:00Z')).toMatchObject({ window: 'peak', min: 2, max: 5, season: 'holiday' });
    expect(at('2027-01-01T04:59:00Z')).toMatchObject({ window: 'off-hours', max: 3, season: 'holiday', until: '2027-01-01T05:00:00.000Z' });
    expect(at('2027-01-01T05:00:00Z')).toEqual({ window: 'off-hours', min: 0, max: 2, from: '2027-01-01T05:00:00.000Z', until: '2027-01-01T14:00:00.000Z' });
  });

  it('an override beats the season, and the season beats the base week', () => {
    // Black Friday 2026 (Nov 27, the day after the fourth Thursday): 06:00 - 24:00 local, min 3.
    expect(at('2026-11-27T10:59:00Z')).toMatchObject({ window: 'off-hours', min: 0, max: 3, season: 'holiday' });
    expect(at('2026-11-27T11:00:00Z')).toMatchObject({ window: 'off-hours', min: 3, max: 5, season: 'holiday', override: 'black-friday', until: '2026-11-27T14:00:00.000Z' });
    expect(at('2026-11-27T19:00:00Z')).toMatchObject({ window: 'business', min: 3, max: 5, season: 'holiday', override: 'black-friday' });
    expect(at('2026-11-28T04:59:00Z')).toMatchObject({ window: 'off-hours', min: 3, override: 'black-friday', until: '2026-11-28T05:00:00.000Z' });
    expect(at('2026-11-28T05:00:00Z')).toEqual({ window: 'off-hours', min: 0, max: 3, season: 'holiday', from: '2026-11-28T05:00:00.000Z', until: '2026-11-28T14:00:00.000Z' });
    expect(at('2027-11-26T12:00:00Z')).toMatchObject({ override: 'black-friday', min: 3 });
    // The sale day (outside any season) covers business and peak, then hands back to the base week at 22:00.
    expect(at('2027-04-11T13:00:00Z')).toMatchObject({ window: 'business', min: 2, max: 5, override: 'sale-day', from: '2027-04-11T13:00:00.000Z' });
    expect(at('2027-04-12T01:59:00Z')).toMatchObject({ window: 'peak', min: 2, override: 'sale-day' });
    expect(at('2027-04-12T02:00:00Z')).toEqual({ window: 'off-hours', min: 0, max: 2, from: '2027-04-12T02:00:00.000Z', until: '2027-04-12T13:00:00.000Z' });
  });

  it('segments() covers a week exactly: consecutive, no two alike in a row, and each agrees with scalingAt()', () => {
    for (const [from, to, hours] of [['2026-03-02T05:00:00Z', '2026-03-09T04:00:00Z', 167], ['2026-10-26T04:00:00Z', '2026-11-02T05:00:00Z', 169], ['2026-11-23T05:00:00Z', '2026-11-30T05:00:00Z', 168]] as const) {
      const list = segments(schedule, new Date(from), new Date(to));
      expect(list[0]!.from.toISOString()).toBe(new Date(from).toISOString());
      expect(list.at(-1)!.until.toISOString()).toBe(new Date(to).toISOString());
      expect(list.reduce((sum, s) => sum + (+s.until - +s.from), 0)).toBe(hours * HOUR);
      list.slice(1).forEach((s, index) => {
        const before = list[index]!;
        expect(+s.from).toBe(+before.until);
        expect([s.window, s.min, s.max, s.override]).not.toEqual([before.window, before.min, before.max, before.override]);
      });
      for (const s of list) {
        const mid = new Date((+s.from + +s.until) / 2);
        expect(lite(scalingAt(schedule, mid))).toMatchObject({ window: s.window, min: s.min, max: s.max });
      }
    }
    expect(segments(schedule, new Date('2026-03-02T05:00:00Z'), new Date('2026-03-02T05:00:00Z'))).toEqual([]);
  });
});

describe('DST rules for a boundary in the missing or the repeated hour', () => {
  const edgy = parse(`timeZone: America/New_York
windows:
  - { name: early, from: "01:30", until: "02:30", min: 1, max: 2 }
  - { name: late, from: "02:30", until: "01:30", min: 0, max: 2 }
`);
  it('spring forward: 02:30 does not exist on 2026-03-08; the window starts at the jump (03:00 EDT = 07:00Z)', () => {
    expect(scalingAt(edgy, new Date('2026-03-08T06:59:59Z')).window).toBe('early'); // 01:59:59 EST
    const late = scalingAt(edgy, new Date('2026-03-08T07:00:00Z'));
    expect([late.window, late.from.toISOString()]).toEqual(['late', '2026-03-08T07:00:00.000Z']);
    // 01:30 EST that night happened as usual; the "early" window was 30 minutes long.
    expect(scalingAt(edgy, new Date('2026-03-08T06:40:00Z')).from.toISOString()).toBe('2026-03-08T06:30:00.000Z');
  });
  it('fall back: 01:30 exists twice on 2026-11-01; the boundary is its first occurrence (EDT), and the repeat changes nothing', () => {
    const early = scalingAt(edgy, new Date('2026-11-01T05:30:00Z')); // 01:30 EDT
    expect([early.window, early.from.toISOString()]).toEqual(['early', '2026-11-01T05:30:00.000Z']);
    // 01:00-01:29 EST (06:00-06:29Z) is the second pass: still "early", which ends at 02:30 EST (07:30Z).
    expect(scalingAt(edgy, new Date('2026-11-01T06:15:00Z')).window).toBe('early');
    expect(early.until.toISOString()).toBe('2026-11-01T07:30:00.000Z');
  });
});

describe('bad schedule files name the file, the field and what is allowed', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not YAML', 'windows: [', /test\.yml: \(the file\): not YAML/],
    ['no time zone', BASE.replace('timeZone: America/New_York\n', ''), /timeZone: is missing/],
    ['a bad time zone', BASE.replace('America/New_York', 'America/Springfield'), /timeZone: must be an IANA time zone/],
    ['min above max', BASE.replace('min: 1, max: 5', 'min: 6, max: 5'), /windows\[peak\]\.min: must not be more than max/],
    ['max 0', BASE.replace('min: 0, max: 2', 'min: 0, max: 0'), /windows\[off-hours\]\.max: must be 1-1000/],
    ['a fraction', BASE.replace('min: 1, max: 5', 'min: 1.5, max: 5'), /windows\[peak\]\.min: must be a whole number of instances/],
    ['a bad time', BASE.replace('"18:00", until: "22:00"', '"18:00", until: "24:00"'), /windows\[peak\]\.until: must be a local time "HH:MM"/],
    ['an unknown field', BASE.replace('peak: true,', 'peek: true,'), /windows\[peak\]\.peek: unknown field/],
    ['overlapping windows', BASE.replace('from: "18:00", until: "22:00"', 'from: "17:00", until: "22:00"'), /windows\[peak\]: overlaps window business at 17:00/],
    ['a gap', BASE.replace('from: "22:00", until: "09:00"', 'from: "23:00", until: "09:00"'), /windows: no window covers 22:00 \(the windows must cover the whole day/],
    ['a season naming no window', `${BASE}seasons:\n  - { name: holiday, from: "11-15", until: "12-31", windows: { evening: { min: 1, max: 2 } } }\n`, /seasons\[holiday\]\.windows\.evening: not a window of this schedule \(one of business, peak, off-hours\)/],
    ['a season on a day that is not', `${BASE}seasons:\n  - { name: holiday, from: "11-31", until: "12-31", windows: {} }\n`, /seasons\[holiday\]\.from: must be a real day of the year/],
    ['an override ending before it starts', `${BASE}overrides:\n  - { name: sale, from: "2027-04-11 09:00", until: "2027-04-11 08:00", min: 1, max: 2 }\n`, /overrides\[sale\]\.until: must be after from/],
    ['overlapping overrides', `${BASE}overrides:\n  - { name: a, from: "2027-04-11", until: "2027-04-12", min: 1, max: 2 }\n  - { name: b, from: "2027-04-11 20:00", until: "2027-04-13", min: 1, max: 2 }\n`, /overrides\[b\]: overlaps override a/],
    ['an override date that is not', `${BASE}overrides:\n  - { name: a, from: "2027-02-30", until: "2027-03-01", min: 1, max: 2 }\n`, /overrides\[a\]\.from: must be a real calendar date/],
  ];
  it.each(cases)('%s', (_what, text, message) => {
    expect(() => parse(text)).toThrow(message);
    try {
      parse(text);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('PETCUT_E_INVALID_CONFIG');
      expect((error as Error).message).toMatch(/^Invalid scaling schedule test\.yml: /);
    }
  });
  it('a missing file names the path', () => {
    expect(() => loadSchedule('/nonexistent/schedule.yml')).toThrow(/Invalid scaling schedule \/nonexistent\/schedule\.yml: \(the file\): cannot read it \(ENOENT\)/);
  });
  it('a file is frozen once read', () => {
    expect(Object.isFrozen(schedule.windows[0])).toBe(true);
  });
});

describe('what the floors cost (instance-based billing, deploy/cost/prices.yml)', () => {
  const prices = loadPrices();
  const shape = { vcpus: 8, memoryGiB: 32, gpuType: 'nvidia-l4' };
  it('an ordinary week: 28 instance-hours of evening floor', () => {
    const plan = planScaling(schedule, prices, shape, new Date('2026-06-01T04:00:00Z'), new Date('2026-06-08T04:00:00Z'));
    const perHour = (8 * 0.000018 + 32 * 0.000002) * 3600;
    expect(plan.total.instanceHours).toBe(28);
    expect(plan.total.cpuUsd).toBeCloseTo(28 * perHour, 2);
    expect(plan.total.gpuUsd).toBeCloseTo(28 * (perHour + 0.0001867 * 3600), 2);
    expect(plan.floors.find((f) => f.label === 'peak')).toMatchObject({ min: 1, hours: 28, instanceHours: 28 });
    expect(plan.offsetChanges).toEqual([]);
  });
  it('a holiday week (no override) costs 119 instance-hours; the DST week shows its change', () => {
    expect(planScaling(schedule, prices, shape, new Date('2026-12-07T05:00:00Z'), new Date('2026-12-14T05:00:00Z')).total.instanceHours).toBe(7 * (9 * 1 + 4 * 2));
    const dst = planScaling(schedule, prices, { vcpus: 8, memoryGiB: 32 }, new Date('2026-10-26T04:00:00Z'), new Date('2026-11-02T05:00:00Z'));
    expect(dst.offsetChanges.map((c) => [c.at.toISOString(), c.fromMinutes, c.toMinutes])).toEqual([['2026-11-01T06:00:00.000Z', -240, -300]]);
    expect(dst.total.gpuUsd).toBeUndefined();
  });
});

/** A five-field cron evaluator (numbers, *, lists, ranges): enough for the export, and nothing shared with it. */
function cronMatches(cron: string, wall: { minute: number; hour: number; day: number; month: number; weekday: number }): boolean {
  const fields = cron.split(' ');
  expect(fields).toHaveLength(5);
  const matches = (field: string, value: number): boolean => field === '*' || field.split(',').some((part) => {
    const [low, high] = part.split('-').map(Number) as [number, number?];
    return high === undefined ? value === low : value >= low && value <= high;
  });
  return matches(fields[0]!, wall.minute) && matches(fields[1]!, wall.hour) && matches(fields[2]!, wall.day) && matches(fields[3]!, wall.month) && matches(fields[4]!, wall.weekday);
}

const newYork = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'short' });
function newYorkWall(instant: number): { minute: number; hour: number; day: number; month: number; weekday: number } {
  const parts = Object.fromEntries(newYork.formatToParts(instant).map((p) => [p.type, p.value]));
  return { minute: Number(parts.minute), hour: Number(parts.hour), day: Number(parts.day), month: Number(parts.month), weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday!) };
}

describe('the Cloud Scheduler export, replayed hour by hour against the calendar', () => {
  const ref = { project: 'p', region: 'us-central1', service: 'petcut-production' };
  it.each([2026, 2027])('%i: at every hour of the year, the last job that fired set exactly what scalingAt() says', (year) => {
    const exported = exportScheduler(schedule, ref, year);
    const jobs = exported.jobs;
    expect(new Set(jobs.map((j) => j.name)).size).toBe(jobs.length);
    for (const job of jobs) {
      expect(job).toMatchObject({ timeZone: 'America/New_York', httpMethod: 'PATCH', uri: 'https://run.googleapis.com/v2/projects/p/locations/us-central1/services/petcut-production?updateMask=scaling' });
      expect(job.body).toEqual({ scaling: { minInstanceCount: job.scaling.min, maxInstanceCount: job.scaling.max } });
      expect(job.name).toMatch(/^[a-zA-Z\d_-]{1,500}$/);
    }
    // The base week: one job per window start on the days outside the season (and the overrides).
    expect(new Set(jobs.filter((j) => !j.season && !j.override).map((j) => `${j.window}@${j.schedule.split(' ').slice(0, 2).join(':')}`))).toEqual(new Set(['off-hours@0:0', 'business@0:9', 'peak@0:18', 'off-hours@0:22']));
    // The calendar to compare with, once for the year (scalingAt() agrees with segments(): see above).
    const calendar = segments(schedule, new Date(Date.UTC(year, 0, 1, 5)), new Date(Date.UTC(year + 1, 0, 1, 5)));
    let index = 0;
    let current: SchedulerJob | undefined;
    const start = Date.UTC(year - 1, 11, 1);
    const end = Date.UTC(year + 1, 0, 1, 5);
    let checked = 0;
    for (let instant = start; instant < end; instant += HOUR) {
      const wall = newYorkWall(instant);
      const fired = jobs.filter((job) => cronMatches(job.schedule, wall));
      expect(fired.length, `${new Date(instant).toISOString()}: ${fired.map((j) => j.name).join(', ')}`).toBeLessThanOrEqual(1);
      current = fired[0] ?? current;
      if (instant < Date.UTC(year, 0, 1, 5)) continue; // the year before only sets the start
      while (+calendar[index]!.until <= instant) index++;
      const expected = calendar[index]!;
      expect([new Date(instant).toISOString(), current?.scaling], current?.name).toEqual([new Date(instant).toISOString(), { min: expected.min, max: expected.max }]);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(8760);
  });
  it.each(['staging', 'production'] as const)('the committed %s jobs (deploy/scaling/scheduler.<env>.json, read by Terraform) are a fresh export', (env) => {
    const values = loadValues(env);
    const committed = JSON.parse(readFileSync(new URL(`../deploy/scaling/scheduler.${env}.json`, import.meta.url), 'utf8')) as { year: number };
    const fresh = exportScheduler(schedule, { project: values.project, region: values.region, service: values.service }, committed.year, 'deploy/scaling/schedule.yml');
    expect(committed, `run: petcut scale export --scheduler --env ${env} --year ${committed.year} --out deploy/scaling/scheduler.${env}.json`).toEqual(JSON.parse(JSON.stringify(fresh)));
  });
});
