import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costReport, runCostCommand } from '../src/cli/cost.js';
import { ledgerSink, mergeLedgers, openLedger } from '../src/cost/ledger.js';
import { createCostMeter } from '../src/cost/meter.js';
import type { CostEntry } from '../src/cost/meter.js';
import { buildReport, formatReport } from '../src/cost/report.js';
import type { CostReport, ReportSchedule } from '../src/cost/report.js';
import { FAILED, FEATURE_DIMENSIONS, REQUEST_FEES, UNKNOWN } from '../src/cost/views.js';
import type { Engine } from '../src/engine/engine.js';
import { parseSchedule, segments } from '../src/scaling/schedule.js';
import { buildApp, form, photo, startEngine } from './support/app.js';

/**
 * The cost report's plan views (section 5): peak vs off-peak by the scaling
 * schedule's windows, and per feature (route, print style, output format and
 * size, cache answer). A ledger filled by hand, with entries on and across
 * window boundaries, on the November DST day (25 hours) and the March one
 * (23 hours); every split must add up to the report's total. Then the ledger
 * migration (files written before these views), and the real service
 * recording what the views read.
 */
const SCHEDULE_TEXT = `
timeZone: America/New_York
windows:
  - { name: business, from: "09:00", until: "18:00", min: 0, max: 3, prewarm: true }
  - { name: peak, from: "18:00", until: "22:00", min: 1, max: 5, peak: true, prewarm: true }
  - { name: off-hours, from: "22:00", until: "09:00", min: 0, max: 2 }
`;
const schedule = parseSchedule(SCHEDULE_TEXT, 'test-schedule.yml');
const scheduleOver = (from: number, to: number): ReportSchedule => ({ source: schedule.source, timeZone: schedule.timeZone, segments: segments(schedule, new Date(from), new Date(to)) });

const at = (iso: string): number => Date.parse(iso);
let sequence = 0;
const usd = (vcpu: number) => ({ vcpu, memory: 0, gpu: 0, requests: 0 });
const work = (ended: string, cost: number, extra: Partial<CostEntry> = {}): CostEntry => ({
  id: `t:${++sequence}`, instance: 't', kind: 'work', startedAt: at(ended) - 2000, endedAt: at(ended), images: 1, requests: 0, seconds: 2, usd: usd(cost), ...extra,
});
const idle = (from: string, to: string, cost: number): CostEntry => ({
  id: `t:${++sequence}`, instance: 't', kind: 'idle', startedAt: at(from), endedAt: at(to), images: 0, requests: 0, seconds: (at(to) - at(from)) / 1000, usd: usd(cost),
});
const fees = (ended: string, cost: number): CostEntry => ({
  id: `t:${++sequence}`, instance: 't', kind: 'requests', startedAt: at(ended) - 60_000, endedAt: at(ended), images: 0, requests: 100, seconds: 0, usd: { vcpu: 0, memory: 0, gpu: 0, requests: cost },
});
const out = (effect: string, format: string, pixels: number) => ({ effect, format, pixels });

// Sunday 2026-11-01, New York: EDT (UTC-4) until 02:00, then EST (UTC-5); 01:00-01:59 happens twice. 25 hours.
const NOV_FROM = at('2026-11-01T04:00:00Z');
const NOV_TO = at('2026-11-02T05:00:00Z');
const november = (): CostEntry[] => [
  work('2026-11-01T05:30:00Z', 1, { route: '/v1/cutouts', cache: 'miss', outputs: [out('color', 'png', 5000 * 4000)] }), // 01:30 EDT, off-hours
  work('2026-11-01T06:30:00Z', 2, { route: '/api/v2/process-with-effects', cache: 'miss', outputs: ['color', 'pop-art', 'duotone', 'halftone'].map((e) => out(e, 'png', 800 * 600)) }), // 01:30 EST, again
  work('2026-11-01T23:00:00Z', 4, { route: '/v1/cutouts', cache: 'hit', outputs: [out('color', 'webp', 800 * 600)] }), // 18:00 EST exactly: ends business
  work('2026-11-01T23:00:01Z', 8, { route: '/v1/jobs', cache: 'miss', outputs: [out('color', 'png', 2000 * 1500)] }), // 18:00:01: peak
  work('2026-11-01T20:00:00Z', 0.5, { route: '/v1/cutouts', images: 0 }), // failed, 15:00 business
  work('2026-11-01T16:00:00Z', 16), // a row from an older ledger: no features, 11:00 business
  idle('2026-11-02T02:59:30Z', '2026-11-02T03:00:30Z', 0.6), // across 22:00 EST: half peak, half off-hours
  idle('2026-11-01T03:59:00Z', '2026-11-01T04:01:00Z', 0.2), // across the report's start: half of it counts
  idle('2026-11-02T05:00:00Z', '2026-11-02T05:01:00Z', 5), // after the end: none
  fees('2026-11-01T15:00:00Z', 0.04), // 10:00 EST, business
];

const rowsOf = (report: CostReport, dimension: (typeof FEATURE_DIMENSIONS)[number]) => Object.fromEntries(report.features[dimension].map((r) => [r.name, r]));
const total = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

describe('peak vs off-peak: the schedule\'s windows', () => {
  const report = buildReport(november(), { from: NOV_FROM, to: NOV_TO }, undefined, 'shop', scheduleOver(NOV_FROM, NOV_TO));
  const split = report.schedule!;
  const window = (name: string) => split.windows.find((w) => w.window === name)!;

  it('splits a 25-hour DST day into its windows by the wall clock', () => {
    expect(split.windows.map((w) => [w.window, w.peak, w.hours])).toEqual([['peak', true, 4], ['business', false, 9], ['off-hours', false, 12]]);
    expect(split.peak.hours + split.offPeak.hours).toBe(25);
    expect(split).toMatchObject({ source: 'test-schedule.yml', timeZone: 'America/New_York' });
  });

  it('books work where it ended (a boundary belongs to the window it ends) and prorates idle across boundaries', () => {
    expect(report.spend.total).toBeCloseTo(32.24, 10);
    expect(window('off-hours').spendUsd).toBeCloseTo(1 + 2 + 0.3 + 0.1, 10); // both 01:30s, half of each idle stretch
    expect(window('business').spendUsd).toBeCloseTo(4 + 0.5 + 16 + 0.04, 10); // 18:00:00 ends business
    expect(window('peak').spendUsd).toBeCloseTo(8 + 0.3, 10);
    expect(window('peak').idleUsd).toBeCloseTo(0.3, 10);
    expect(split.windows.map((w) => [w.window, w.images])).toEqual([['peak', 1], ['business', 2], ['off-hours', 2]]);
  });

  it('adds up to the total: spend, idle and images', () => {
    expect(total(split.windows.map((w) => w.spendUsd))).toBeCloseTo(report.spend.total, 10);
    expect(split.peak.spendUsd + split.offPeak.spendUsd).toBeCloseTo(report.spend.total, 10);
    expect(split.peak.idleUsd + split.offPeak.idleUsd).toBeCloseTo(report.idleUsd, 10);
    expect(split.peak.images + split.offPeak.images).toBe(report.images);
  });

  it('has 23 hours on the March DST day, and 21:59:59 EDT is still peak', () => {
    const from = at('2026-03-08T05:00:00Z'); // midnight EST
    const to = at('2026-03-09T04:00:00Z'); // midnight EDT
    const entries = [work('2026-03-09T01:59:59Z', 3), work('2026-03-09T02:00:01Z', 5), work('2026-03-08T07:30:00Z', 7), idle('2026-03-08T21:59:00Z', '2026-03-08T22:01:00Z', 1)];
    const march = buildReport(entries, { from, to }, undefined, 'shop', scheduleOver(from, to)).schedule!;
    expect(march.windows.map((w) => [w.window, w.hours])).toEqual([['peak', 4], ['off-hours', 10], ['business', 9]]);
    // 21:59:59 EDT peak; 22:00:01 EDT off-hours; 03:30 EDT (07:30 UTC: 02:00-02:59 never happened) off-hours; 17:59-18:01 EDT idle half and half.
    expect(march.windows.map((w) => [w.window, Number(w.spendUsd.toFixed(10))])).toEqual([['peak', 3.5], ['off-hours', 12], ['business', 0.5]]);
  });

  it('prints the split with shares and cost per hour', () => {
    const text = formatReport(report);
    expect(text).toMatch(/peak vs off-peak \(schedule test-schedule\.yml, America\/New_York\)/);
    expect(text).toMatch(/^ {2}peak +yes +4\.0 +1 +\$8\.30 +25\.7 % +\$0\.30 /m);
    expect(text).toMatch(/^ {2}off-peak +21\.0 +4 +\$23\.94 +74\.3 %/m);
  });
});

describe('per feature: route, print style, format, size, cache', () => {
  const report = buildReport(november(), { from: NOV_FROM, to: NOV_TO });
  const idleShare = (busy: number) => busy + report.idleUsd * (busy / report.busyUsd);

  it('each view adds up to the total spend', () => {
    expect(report.schedule).toBeUndefined();
    for (const dimension of FEATURE_DIMENSIONS) {
      expect(total(report.features[dimension].map((r) => r.totalUsd)), dimension).toBeCloseTo(report.spend.total, 10);
      expect(total(report.features[dimension].map((r) => r.busyUsd)), dimension).toBeCloseTo(report.busyUsd, 10);
    }
  });

  it('routes: photos and cost; idle shared out by busy cost; old rows unknown, request fees on their own', () => {
    const routes = rowsOf(report, 'route');
    expect(Object.keys(routes).sort()).toEqual(['(request fees)', '(unknown)', '/api/v2/process-with-effects', '/v1/cutouts', '/v1/jobs']);
    expect(routes['/v1/cutouts']).toMatchObject({ count: 3 });
    expect(routes['/v1/cutouts']!.busyUsd).toBeCloseTo(5.5, 10);
    expect(routes['/v1/cutouts']!.totalUsd).toBeCloseTo(idleShare(5.5), 10);
    expect(routes[UNKNOWN]!.busyUsd).toBeCloseTo(16, 10);
    expect(routes[REQUEST_FEES]!.busyUsd).toBeCloseTo(0.04, 10);
  });

  it('print styles split a photo\'s cost over its outputs; sizes by output pixels; formats; cache answers', () => {
    const effects = rowsOf(report, 'effect');
    expect(effects.color!.count).toBe(4);
    expect(effects.color!.busyUsd).toBeCloseTo(1 + 0.5 + 4 + 8, 10);
    expect(effects['pop-art']!.busyUsd).toBeCloseTo(0.5, 10);
    expect(effects[FAILED]!.busyUsd).toBeCloseTo(0.5, 10);
    const sizes = rowsOf(report, 'size');
    expect(Object.fromEntries(Object.entries(sizes).map(([name, r]) => [name, [r.count, Number(r.busyUsd.toFixed(10))]]))).toEqual({
      'over 12 MP': [1, 1], 'up to 1 MP': [5, 6], '1-4 MP': [1, 8], [FAILED]: [0, 0.5], [UNKNOWN]: [0, 16], [REQUEST_FEES]: [0, 0.04],
    });
    const formats = rowsOf(report, 'format');
    expect(formats.png!.count).toBe(6);
    expect(formats.webp!.busyUsd).toBeCloseTo(4, 10);
    const cache = rowsOf(report, 'cache');
    expect(cache.miss!.busyUsd).toBeCloseTo(11, 10);
    expect(cache.hit).toMatchObject({ count: 1 });
    expect(cache[FAILED]!.busyUsd).toBeCloseTo(0.5, 10);
  });

  it('a span with only idle time still adds up', () => {
    const only = buildReport([idle('2026-11-01T10:00:00Z', '2026-11-01T10:01:00Z', 0.25)], { from: NOV_FROM, to: NOV_TO });
    for (const dimension of FEATURE_DIMENSIONS) expect(total(only.features[dimension].map((r) => r.totalUsd))).toBeCloseTo(0.25, 10);
  });

  it('prints a table per view', () => {
    const text = formatReport(report);
    for (const title of ['by route', 'by print style', 'by output format', 'by output size', 'by cache answer']) expect(text).toContain(title);
    expect(text).toMatch(/^ {2}\/v1\/jobs +1 +\$8\.00 +\$0\.18 +\$8\.18$/m);
  });
});

describe('the ledger keeps the features, and reads ledgers older than them', () => {
  let dir: string;
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'petcut-cost-report-'))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  /** A ledger file as petcut wrote them before the per-feature views (the old schema, one work row). */
  function oldLedger(path: string): void {
    const db = new Database(path);
    db.exec(`CREATE TABLE cost_entries (id TEXT PRIMARY KEY, instance TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('work', 'idle', 'requests')),
      started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, shop TEXT, session TEXT, images INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL DEFAULT 0,
      seconds REAL NOT NULL DEFAULT 0, vcpu_usd REAL NOT NULL DEFAULT 0, memory_usd REAL NOT NULL DEFAULT 0, gpu_usd REAL NOT NULL DEFAULT 0, requests_usd REAL NOT NULL DEFAULT 0);
      CREATE INDEX cost_entries_ended_at ON cost_entries (ended_at);`);
    db.prepare('INSERT INTO cost_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run('old:1', 'old', 'work', at('2026-11-01T15:00:00Z'), at('2026-11-01T15:00:02Z'), 'a.myshopify.com', null, 1, 0, 2, 0.75, 0, 0, 0);
    db.close();
  }

  it('a meter\'s work carries its route, cache answer and outputs through the file', () => {
    const path = join(dir, 'new.sqlite');
    const ledger = openLedger(path);
    let now = at('2026-11-01T15:00:00Z');
    const meter = createCostMeter({ billing: 'instance', requestFee: 0, instance: 'n', now: () => now, rates: () => ({ vcpu: 0.001, memory: 0, gpu: 0 }), sink: ledgerSink(ledger, (e) => { throw e; }) });
    const ticket = meter.begin({ shop: 'a.myshopify.com', route: '/v1/cutouts' });
    now += 3000;
    ticket.end(1, { cache: 'miss', outputs: [out('pop-art', 'png', 640 * 480), out('color', 'webp', 320 * 240)] });
    meter.close();
    const [entry] = ledger.read(0, now + 1).filter((e) => e.kind === 'work');
    ledger.close();
    expect(entry).toMatchObject({ route: '/v1/cutouts', cache: 'miss', outputs: [{ effect: 'pop-art', format: 'png', pixels: 307_200 }, { effect: 'color', format: 'webp', pixels: 76_800 }] });
  });

  it('reads an old file read-only as it is (unknown features), migrates it when opened for writing, merges it into a new one', () => {
    const path = join(dir, 'old.sqlite');
    oldLedger(path);
    const readOnly = openLedger(path, { readonly: true });
    const [old] = readOnly.read(0, Date.now());
    readOnly.close();
    expect(old).toMatchObject({ id: 'old:1', shop: 'a.myshopify.com', images: 1 });
    expect(old!.route).toBeUndefined();
    expect(old!.outputs).toBeUndefined();
    expect(rowsOf(buildReport([old!], { from: NOV_FROM, to: NOV_TO }), 'route')[UNKNOWN]!.totalUsd).toBeCloseTo(0.75, 10);

    const target = join(dir, 'merged.sqlite');
    expect(mergeLedgers(target, [path])).toEqual({ added: 1, seen: 1 });
    const merged = openLedger(target, { readonly: true });
    expect(merged.read(0, Date.now()).map((e) => [e.id, e.route])).toEqual([['old:1', undefined]]);
    merged.close();

    // Opened by a newer instance: the columns are added, the old row stays, new rows keep their features.
    const writable = openLedger(path);
    writable.append([work('2026-11-01T16:00:00Z', 1, { id: 'new:1', route: '/remove-background', cache: 'hit', outputs: [out('color', 'png', 100)] })]);
    const both = writable.read(0, Date.now());
    writable.close();
    expect(both.map((e) => [e.id, e.route ?? null, e.cache ?? null])).toEqual([['old:1', null, null], ['new:1', '/remove-background', 'hit']]);
    const columns = new Database(path, { readonly: true });
    expect((columns.prepare("SELECT name FROM pragma_table_info('cost_entries')").all() as Array<{ name: string }>).map((c) => c.name)).toEqual(expect.arrayContaining(['route', 'cache', 'outputs']));
    columns.close();
  });

  it('petcut cost report: --schedule, text and --json; a bad schedule file exits 2 naming it', async () => {
    const ledgerPath = join(dir, 'cli.sqlite');
    const ledger = openLedger(ledgerPath);
    ledger.append(november());
    ledger.close();
    const schedulePath = join(dir, 'schedule.yml');
    await writeFile(schedulePath, SCHEDULE_TEXT);
    const flags = { from: '2026-11-01T00:00:00-04:00', to: '2026-11-02T00:00:00-05:00', ledger: [ledgerPath], schedule: schedulePath };
    let text = '';
    await costReport({ ...flags, json: true }, (t) => void (text += t));
    const json = JSON.parse(text) as CostReport;
    expect(json.schedule!.source).toBe(schedulePath);
    expect(json.schedule!.peak.spendUsd + json.schedule!.offPeak.spendUsd).toBeCloseTo(json.spend.total, 10);
    expect(json.features.route.length).toBe(5);
    text = '';
    await costReport(flags, (t) => void (text += t));
    expect(text).toContain('peak vs off-peak');
    expect(text).toContain('by print style');

    await writeFile(schedulePath, SCHEDULE_TEXT.replace('"22:00", min: 1', '"23:00", min: 1'));
    const logged: string[] = [];
    const before = process.exitCode;
    await runCostCommand(() => costReport(flags, () => undefined), (line) => logged.push(line));
    expect(process.exitCode).toBe(2);
    process.exitCode = before;
    expect(logged.join('\n')).toContain(schedulePath);
  });
});

describe('the service records what the views read', () => {
  let engine: Engine;
  let dir: string;
  beforeAll(async () => {
    engine = await startEngine();
    dir = await mkdtemp(join(tmpdir(), 'petcut-cost-features-'));
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await engine?.close();
  });

  it('a cut-out and a style set land in the ledger with route, cache answer, styles, formats and pixels', async () => {
    const { app } = await buildApp(engine, { env: { PETCUT_COST_FLUSH_S: '1', PETCUT_COST_LEDGER: join(dir, 'ledger-{instance}.sqlite') } });
    const picture = await photo(240, 180, 'jpeg', 11);
    const first = await app.inject({ method: 'POST', url: '/v1/cutouts?format=webp', payload: form([{ data: picture }]) });
    expect(first.statusCode).toBe(200);
    const again = await app.inject({ method: 'POST', url: '/v1/cutouts?format=webp', payload: form([{ data: picture }]) });
    expect(again.headers['x-cache']).toBe('HIT');
    // The cut-out (the master) is stored in the background: the style set below renders from it.
    await app.petcut.processing.drain();
    const styles = await app.inject({ method: 'POST', url: '/api/v2/process-with-effects?effects=color,popart', payload: form([{ data: picture, field: 'file' }]) });
    expect(styles.statusCode).toBe(200);
    await app.petcut.processing.drain();
    await app.close();
    const [file] = (await readdir(dir)).filter((name) => name.endsWith('.sqlite'));
    const ledger = openLedger(join(dir, file!), { readonly: true });
    const entries = ledger.read(0, Date.now() + 1000).filter((e) => e.kind === 'work');
    ledger.close();
    expect(entries.map((e) => [e.route, e.cache, e.outputs?.map((o) => `${o.effect}/${o.format}/${o.pixels}`)])).toEqual([
      ['/v1/cutouts', 'miss', ['color/webp/43200']],
      ['/v1/cutouts', 'hit', ['color/webp/43200']],
      ['/api/v2/process-with-effects', 'cutout', ['color/png/43200', 'popart/png/43200']],
    ]);
  }, 120_000);
});
