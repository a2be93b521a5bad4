import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createPrometheusClient } from '../src/ops/prometheus/client.js';
import type { PrometheusClient } from '../src/ops/prometheus/client.js';
import { DAYS, MAX_POINTS_PER_QUERY, TrafficDataError, bucketSamples, formatTraffic, hourOfWeek, quietestWindows, readTraffic, suggestWindow, windowYaml } from '../src/ops/traffic/index.js';
import type { Bucket, Day } from '../src/ops/traffic/index.js';
import { startPrometheus } from './support/prometheus.js';
import { freePort } from './support/redis.js';

const run = promisify(execFile);
const NY = 'America/New_York';
const at = (iso: string): Date => new Date(iso);

describe('hour of the week on the New York clock (DST from Intl, not a fixed offset)', () => {
  it('reads 06:30 UTC as 2 AM in July (EDT) and 1 AM in January (EST)', () => {
    expect(hourOfWeek(at('2026-07-15T06:30:00Z'), NY)).toEqual({ day: 'Wed', hour: 2 });
    expect(hourOfWeek(at('2026-01-14T06:30:00Z'), NY)).toEqual({ day: 'Wed', hour: 1 });
  });

  it('skips 2 AM on March 8 2026 (clocks go 1:59 EST -> 3:00 EDT at 07:00 UTC)', () => {
    expect(hourOfWeek(at('2026-03-08T06:30:00Z'), NY)).toEqual({ day: 'Sun', hour: 1 });
    expect(hourOfWeek(at('2026-03-08T07:30:00Z'), NY)).toEqual({ day: 'Sun', hour: 3 });
    const hours = Array.from({ length: 6 }, (_, i) => ({ at: new Date(Date.UTC(2026, 2, 8, 4 + i, 30)), rps: 1 }));
    const buckets = bucketSamples(hours, NY);
    expect(buckets.find((b) => b.day === 'Sun' && b.hour === 2)?.samples).toBe(0);
    expect(buckets.find((b) => b.day === 'Sun' && b.hour === 2)?.meanRps).toBeNull();
    expect(buckets.find((b) => b.day === 'Sun' && b.hour === 3)?.samples).toBe(1);
  });

  it('counts 1 AM twice on November 1 2026 (1:59 EDT -> 1:00 EST at 06:00 UTC)', () => {
    expect(hourOfWeek(at('2026-11-01T05:30:00Z'), NY)).toEqual({ day: 'Sun', hour: 1 });
    expect(hourOfWeek(at('2026-11-01T06:30:00Z'), NY)).toEqual({ day: 'Sun', hour: 1 });
    expect(hourOfWeek(at('2026-11-01T07:30:00Z'), NY)).toEqual({ day: 'Sun', hour: 2 });
    const buckets = bucketSamples([{ at: at('2026-11-01T05:30:00Z'), rps: 2 }, { at: at('2026-11-01T06:30:00Z'), rps: 4 }], NY);
    expect(buckets.find((b) => b.day === 'Sun' && b.hour === 1)).toEqual({ day: 'Sun', hour: 1, meanRps: 3, samples: 2 });
    expect(buckets.filter((b) => b.samples > 0)).toHaveLength(1);
  });

  it('orders the 168 buckets Monday 00:00 first', () => {
    const buckets = bucketSamples([], NY);
    expect(buckets).toHaveLength(168);
    expect(buckets[0]).toMatchObject({ day: 'Mon', hour: 0 });
    expect(buckets[167]).toMatchObject({ day: 'Sun', hour: 23 });
  });
});

/** Buckets from a rate function of (day, hour). */
const shaped = (rate: (day: Day, hour: number) => number): Bucket[] =>
  DAYS.flatMap((day) => Array.from({ length: 24 }, (_, hour) => ({ day, hour, meanRps: rate(day, hour), samples: 4 })));

describe('quiet windows', () => {
  it('finds a window that wraps from Sunday night into Monday', () => {
    const buckets = shaped((day, hour) => ((day === 'Sun' && hour >= 22) || (day === 'Mon' && hour < 2) ? 1 : 10));
    const [best, next] = quietestWindows(buckets, 4);
    expect(best).toEqual({ start: { day: 'Sun', hour: 22 }, end: { day: 'Mon', hour: 2 }, meanRps: 1, shareOfPeak: 0.1 });
    // The runner-up is not the same night an hour off.
    expect(next!.meanRps).toBeGreaterThan(1);
    expect(Math.abs(next!.start.hour - 22) >= 4 || next!.start.day !== 'Sun').toBe(true);
  });

  it('suggests the same clock hours every day and lists the days where they are quiet', () => {
    const buckets = shaped((day, hour) => (hour >= 1 && hour < 5 && day !== 'Sat' ? 1 : 10));
    const suggestion = suggestWindow(buckets, 4, NY);
    expect(suggestion).toMatchObject({ start: '01:00', end: '05:00', source: 'measured', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sun'] });
    expect(windowYaml(suggestion)).toBe('window:\n  time_zone: America/New_York\n  start: "01:00"\n  end: "05:00"\n  days: [mon, tue, wed, thu, fri, sun]');
  });
});

describe('chunked range reads', () => {
  it('asks for at most 11,000 points a request, contiguous and without overlap', async () => {
    const calls: Array<{ start: number; end: number; step: number }> = [];
    const fake: PrometheusClient = {
      base: 'http://fake/',
      query: () => Promise.resolve([]),
      queryRange: (_expr, start, end, step) => {
        calls.push({ start: start.getTime() / 1000, end: end.getTime() / 1000, step });
        const values: Array<[number, number]> = [];
        for (let t = start.getTime() / 1000; t <= end.getTime() / 1000; t += step) values.push([t, 1]);
        return Promise.resolve([{ labels: {}, values }]);
      },
    };
    const report = await readTraffic(fake, { days: 90, stepS: 60, now: at('2026-11-20T12:00:00Z') });
    expect(report.samples).toBe(90 * 1440);
    expect(report.missingHours).toBe(0);
    expect(calls).toHaveLength(Math.ceil((90 * 1440) / MAX_POINTS_PER_QUERY));
    for (const [i, call] of calls.entries()) {
      expect((call.end - call.start) / 60 + 1).toBeLessThanOrEqual(MAX_POINTS_PER_QUERY);
      if (i > 0) expect(call.start).toBe(calls[i - 1]!.end + 60);
    }
    expect(calls.at(-1)!.end).toBe(at('2026-11-20T12:00:00Z').getTime() / 1000);
  });
});

// ---- A real Prometheus holding 30 days of backfilled history ----

/** 30 days ending here: October 21 to November 20 2026, across the end of DST on November 1. */
const NOW = '2026-11-20T12:00:00Z';
const NOW_MS = Date.parse(NOW);
const DST_ENDS = Date.UTC(2026, 10, 1, 6);

/** New York's clock, worked out by hand (not with Intl, which the code under test uses). */
function newYork(ms: number): { day: Day; hour: number } {
  const local = new Date(ms + (ms < DST_ENDS ? -4 : -5) * 3_600_000);
  return { day: DAYS[(local.getUTCDay() + 6) % 7]!, hour: local.getUTCHours() };
}

/**
 * Weekdays: quiet 02:00-06:00 (1/s), peak 19:00-22:00 (20/s). Sundays are quieter
 * and later: their quietest hours are 04:00-08:00 (0.5/s).
 */
const WEEKDAY = [6, 4, 1, 1, 1, 1, 4, 8, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 20, 20, 20, 14, 9];
const SUNDAY = [5, 4, 3, 2.5, 0.5, 0.5, 0.5, 0.5, 4, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 12, 12, 12, 9, 7];
const rateAt = ({ day, hour }: { day: Day; hour: number }): number => (day === 'Sun' ? SUNDAY : WEEKDAY)[hour]!;

/** One counter series every 5 minutes from `startMs` to NOW; each 5 minutes adds the rate of their hour on the New York clock. */
function counterLines(series: string, startMs: number, scale: number): string[] {
  const lines: string[] = [];
  let value = 0;
  for (let ms = startMs; ms <= NOW_MS; ms += 300_000) {
    lines.push(`${series} ${value.toFixed(3)} ${ms / 1000}`);
    value += rateAt(newYork(ms)) * scale * 300;
  }
  return lines;
}

let stopPrometheus: (() => void) | undefined;
let dir: string;
let api: string;

const CUTOUTS = 'route="/v1/cutouts",method="POST",status="200"';
// A second metric with only the last 3 days: too little to measure a week.
const SHORT_QUERY = 'sum(rate(petcut_images_total[1h]))';
// Probes every hour of the day at a flat rate: the default query must leave them out.
const HEALTH = 'route="/healthz",method="GET",status="200"';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-traffic-'));
  const start = NOW_MS - 30 * 86_400_000 - 2 * 3_600_000;
  const health: string[] = [];
  for (let ms = start, value = 0; ms <= NOW_MS; ms += 300_000, value += 50 * 300) health.push(`petcut_http_requests_total{${HEALTH}} ${value} ${ms / 1000}`);
  const text = [
    '# TYPE petcut_http_requests counter',
    ...counterLines(`petcut_http_requests_total{${CUTOUTS}}`, start, 1),
    ...health,
    '# TYPE petcut_images counter',
    ...counterLines('petcut_images_total{outcome="success"}', NOW_MS - 3 * 86_400_000, 0.1),
    '# EOF',
    '',
  ].join('\n');
  await writeFile(join(dir, 'history.om.txt'), text);
  // Backfilled before Prometheus starts: it loads the blocks as its own. The hidden
  // --max-block-duration makes a few long blocks instead of 360 two-hour ones (40 s to write each series).
  await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', '--max-block-duration=720h', join(dir, 'history.om.txt'), join(dir, 'data')]);
  const server = await startPrometheus(dir, join(dir, 'data'), 'global: { scrape_interval: 1m }\n', ['--storage.tsdb.retention.time=60d']);
  api = server.url;
  stopPrometheus = server.stop;
}, 120_000);

afterAll(async () => {
  stopPrometheus?.();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('readTraffic against a real Prometheus with 30 days of history', () => {
  it('puts every hour in its New York bucket on both sides of the DST change', async () => {
    const report = await readTraffic(createPrometheusClient(api), { days: 30, now: new Date(NOW) });
    expect(report).toMatchObject({ from: '2026-10-21T12:00:00.000Z', to: NOW.replace('Z', '.000Z'), timeZone: NY, series: 1, samples: 720, missingHours: 0 });
    expect(report.warning).toBeUndefined();
    // A fixed UTC-4 or UTC-5 clock would mix two hours in the buckets next to the quiet ones.
    const wrong = report.buckets.filter((b) => Math.abs(b.meanRps! - rateAt(b)) > 0.01 * rateAt(b)).map((b) => `${b.day} ${b.hour}: ${b.meanRps} not ${rateAt(b)}`);
    expect(wrong).toEqual([]);
    // Sunday 1 AM happened twice on November 1; every other hour of the week 4 or 5 times in 30 days.
    expect(report.buckets.find((b) => b.day === 'Sun' && b.hour === 1)!.samples).toBe(5);
    expect(report.buckets.reduce((sum, b) => sum + b.samples, 0)).toBe(720);
  });

  it('finds the shaped quiet hours: Sunday 04:00-08:00 first, weekdays 02:00-06:00, and suggests 02:00-06:00', async () => {
    const report = await readTraffic(createPrometheusClient(api), { days: 30, now: new Date(NOW) });
    expect(report.quietest[0]).toEqual({ start: { day: 'Sun', hour: 4 }, end: { day: 'Sun', hour: 8 }, meanRps: expect.closeTo(0.5, 2), shareOfPeak: expect.closeTo(0.5 / 20, 3) });
    expect(report.quietest.slice(1).map((w) => `${w.start.day} ${w.start.hour}-${w.end.hour}`)).toEqual(['Mon 2-6', 'Tue 2-6', 'Wed 2-6', 'Thu 2-6']);
    expect(report.daily.find((d) => d.day === 'Sun')).toMatchObject({ start: { day: 'Sun', hour: 4 }, end: { day: 'Sun', hour: 8 } });
    expect(report.daily.find((d) => d.day === 'Sat')).toMatchObject({ start: { day: 'Sat', hour: 2 }, end: { day: 'Sat', hour: 6 } });
    expect(report.suggestion).toMatchObject({ timeZone: NY, start: '02:00', end: '06:00', source: 'measured', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] });
  });

  it('warns with under 7 days of samples and falls back to the plan\'s 2-6 AM Eastern', async () => {
    const report = await readTraffic(createPrometheusClient(api), { days: 30, now: new Date(NOW), query: SHORT_QUERY });
    expect(report.samples).toBe(72);
    expect(report.warning).toMatch(/too little data: 3\.0 days of samples .*at least 7 .*02:00-06:00 America\/New_York \(2-6 AM Eastern\)/);
    expect(report.suggestion).toMatchObject({ start: '02:00', end: '06:00', source: 'plan default' });
  });

  it('says what it found when the query has no series', async () => {
    const read = readTraffic(createPrometheusClient(api), { days: 30, now: new Date(NOW), query: 'sum(rate(petcut_no_such_metric_total[1h]))' });
    await expect(read).rejects.toBeInstanceOf(TrafficDataError);
    await expect(read).rejects.toThrow(/found no series from 2026-10-21T12:00:00.000Z .*plan's default window, 02:00-06:00/);
  });

  it('reads 90 days at a 5 minute step in requests Prometheus accepts (it refuses over 11,000 points)', async () => {
    const real = createPrometheusClient(api);
    const requests: number[] = [];
    const counting: PrometheusClient = { ...real, queryRange: (expr, start, end, step) => {
      requests.push((end.getTime() - start.getTime()) / 1000 / step + 1);
      return real.queryRange(expr, start, end, step);
    } };
    const report = await readTraffic(counting, { days: 90, stepS: 300, now: new Date(NOW) });
    expect(requests).toEqual([11_000, 11_000, 3920]);
    expect(report.query).toContain('[5m]');
    // 30 days of data (and 2 hours before them) in 90: the rest is missing.
    expect(report.samples).toBeGreaterThanOrEqual(30 * 288);
    expect(report.missingHours).toBeGreaterThan(59 * 24);
    expect(report.suggestion.start).toBe('02:00');
  });

  it('prints a heat table, the windows and a window block deploy/rollout.yml takes', async () => {
    const report = await readTraffic(createPrometheusClient(api), { days: 30, now: new Date(NOW) });
    const text = formatTraffic(report);
    const rows = text.split('\n').filter((line) => /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) {2}\S/.test(line));
    expect(rows).toHaveLength(7);
    for (const row of rows) expect(row.slice(5)).toHaveLength(24);
    // The peak (weekdays 19-21) is the darkest mark, the quiet weekday hours the lightest.
    expect(rows[0]!.slice(5 + 19, 5 + 22)).toBe('@@@');
    expect(rows[0]!.slice(5 + 2, 5 + 6)).toBe('....');
    const snippet = text.slice(text.indexOf('window:'));
    const pasted = (parse(snippet) as { window: Record<string, unknown> }).window;
    const committed = (parse(await readFile('deploy/rollout.yml', 'utf8')) as { window: Record<string, unknown> }).window;
    expect(Object.keys(pasted).sort()).toEqual(Object.keys(committed).sort());
    expect(pasted).toEqual({ time_zone: NY, start: '02:00', end: '06:00', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] });
  });
});

describe('petcut traffic (the built CLI)', () => {
  const cli = (...args: string[]) => run('node', ['dist/cli/index.js', 'traffic', ...args], { env: { ...process.env, PETCUT_PROMETHEUS_URL: '' } })
    .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }))
    .catch((error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));

  it('prints the report as JSON and exits 0', async () => {
    const { code, stdout } = await cli('--days', '30', '--prometheus', api, '--json', '--now', NOW);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { suggestion: { start: string; end: string }; samples: number; daily: Array<{ day: string; start: { hour: number } }> };
    expect(report.samples).toBe(720);
    expect(report.suggestion).toMatchObject({ start: '02:00', end: '06:00' });
    expect(report.daily.find((d) => d.day === 'Sun')?.start.hour).toBe(4);
  }, 30_000);

  it('exits 4 with the plan default for too little data, 3 for an unreachable API, 2 for a bad flag', async () => {
    const short = await cli('--prometheus', api, '--query', SHORT_QUERY, '--now', NOW);
    expect(short.code).toBe(4);
    expect(short.stderr).toMatch(/too little data/);
    expect(short.stdout).toContain('window:\n  time_zone: America/New_York\n  start: "02:00"\n  end: "06:00"');
    const closed = await cli('--prometheus', `http://127.0.0.1:${await freePort()}`, '--now', NOW);
    expect(closed.code).toBe(3);
    expect(closed.stderr).toMatch(/cannot reach the Prometheus query API/);
    const refused = await cli('--prometheus', api, '--query', 'sum(rate(', '--now', NOW);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/was refused/);
    const bad = await cli('--days', 'thirty', '--prometheus', api);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--days: "thirty" must be a whole number/);
    const noUrl = await cli('--days', '30');
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toMatch(/PETCUT_PROMETHEUS_URL/);
  }, 60_000);

  it('documents the exit codes in --help and hides --now', async () => {
    const { code, stdout } = await cli('--help');
    expect(code).toBe(0);
    expect(stdout).toMatch(/Exit codes: 0 report printed; 2 bad flag; 3 query API unreachable/);
    expect(stdout).toContain('--google [project]');
    expect(stdout).not.toContain('--now');
  });
});
