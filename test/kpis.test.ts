import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { PetcutError } from '../src/errors.js';
import { periodOf } from '../src/cost/burn.js';
import { createAlertSource } from '../src/observability/alertmanager.js';
import { parseNvidiaSmi } from '../src/observability/gpu.js';
import { createKpiRecorder, KPI_MINUTES, MINUTE_MS } from '../src/observability/kpis.js';
import type { KpiSample, KpiSnapshot } from '../src/observability/kpis.js';
import { DASHBOARD_CSP } from '../src/http/routes/dashboard.js';
import { issueStorefrontToken } from '../src/security/tokens.js';
import { buildApp, expectError, OPERATOR, photo, startEngine } from './support/app.js';
import { startAlertmanager } from './support/alertmanager.js';
import type { TestAlertmanager } from './support/alertmanager.js';
import { freePort } from './support/redis.js';
import { until } from './support/wait.js';

/**
 * The dashboard's numbers: the ring buffer on an injected clock, then
 * GET /v1/admin/kpis over the real service (real model, real cut-outs) with a
 * real Alertmanager (Debian's prometheus-alertmanager) and an unreachable one.
 */
const outcome = (cache: 'hit' | 'cutout' | 'miss') => ({ cache, times: {} });

describe('the ring buffer (injected clock)', () => {
  it('counts per minute and rolls over: a slot a lap old is emptied before reuse', () => {
    let t = Date.UTC(2026, 11, 1, 12, 0, 10);
    const kpis = createKpiRecorder({ now: () => t, minutes: 60 });
    kpis.request(200, undefined);
    t += MINUTE_MS;
    kpis.request(200, undefined);
    kpis.request(201, undefined);
    const two = kpis.window(2);
    expect(two.series.requests).toEqual([1, 2]);
    expect(two.series.t[1]! - two.series.t[0]!).toBe(MINUTE_MS);
    expect(two.series.t[1]! % MINUTE_MS).toBe(0);
    expect(two.totals.requests).toBe(3);
    // 60 minutes later the same slots hold new minutes: the old counts are gone.
    t += 60 * MINUTE_MS;
    kpis.request(200, undefined);
    const lap = kpis.window(60);
    expect(lap.series.requests.length).toBe(60);
    expect(lap.totals.requests).toBe(1);
    expect(lap.series.requests.at(-1)).toBe(1);
    // A quiet minute is zero, not missing.
    t += MINUTE_MS;
    expect(kpis.window(2).series.requests).toEqual([1, 0]);
  });

  it('percentiles from known values (1..1000 ms): within 5 %', () => {
    const t = Date.UTC(2026, 11, 1, 12, 0, 0);
    const kpis = createKpiRecorder({ now: () => t });
    const observer = kpis.observer(() => true);
    for (let ms = 1000; ms >= 1; ms--) observer.done!(outcome('miss'), ms / 1000);
    const { totals, series } = kpis.window(1);
    expect(totals.latencyMs.count).toBe(1000);
    for (const [p, want] of [[totals.latencyMs.p50, 500], [totals.latencyMs.p95, 950], [totals.latencyMs.p99, 990]] as const) {
      expect(Math.abs(p! - want) / want, `${p} vs ${want}`).toBeLessThan(0.05);
    }
    expect(series.p95[0]).toBe(totals.latencyMs.p95);
    // One slow photo among fast ones moves P99, not P50.
    const mixed = createKpiRecorder({ now: () => t });
    const o = mixed.observer(() => true);
    for (let i = 0; i < 98; i++) o.done!(outcome('miss'), 0.2);
    o.done!(outcome('miss'), 30);
    o.done!(outcome('miss'), 30);
    const m = mixed.window(1).totals.latencyMs;
    expect(Math.abs(m.p50! - 200) / 200).toBeLessThan(0.05);
    expect(Math.abs(m.p99! - 30_000) / 30_000).toBeLessThan(0.05);
  });

  it('errors by code: the bounded set of src/errors.ts, anything else as "other"; 5xx counted apart', () => {
    const t = Date.UTC(2026, 11, 1, 12, 0, 0);
    const kpis = createKpiRecorder({ now: () => t });
    kpis.request(400, 'PETCUT_E_INVALID_OPTION');
    kpis.request(400, 'PETCUT_E_INVALID_OPTION');
    kpis.request(503, 'PETCUT_E_OVERLOADED');
    kpis.request(418, 'made-up-code-from-nowhere');
    kpis.request(404, undefined);
    kpis.request(200, undefined);
    const { totals, series } = kpis.window(5);
    expect(totals.errorsByCode).toEqual({ PETCUT_E_INVALID_OPTION: 2, PETCUT_E_OVERLOADED: 1, other: 2 });
    expect(totals).toMatchObject({ requests: 6, errors: 5, serverErrors: 1 });
    expect(totals.errorRate).toBeCloseTo(1 / 6, 6);
    expect(series.errorsByCode.PETCUT_E_INVALID_OPTION).toEqual([0, 0, 0, 0, 2]);
  });

  it('cache hit rate, cold-served, failures (refusals are not failures), samples', () => {
    const t = Date.UTC(2026, 11, 1, 12, 0, 0);
    let sample: KpiSample = { queued: 3, inFlight: 2, memory: { usedBytes: 100, limitBytes: 1000 }, gpus: [], costTotalUsd: 1 };
    const kpis = createKpiRecorder({ now: () => t, sampler: () => sample, sampleMs: 3_600_000 });
    let warm = false;
    const observer = kpis.observer(() => warm);
    observer.done!(outcome('miss'), 2);
    warm = true;
    observer.done!(outcome('hit'), 0.01);
    observer.done!(outcome('cutout'), 0.1);
    observer.done!(outcome('miss'), 1);
    observer.failed!(new PetcutError('PETCUT_E_CORRUPT_IMAGE'));
    observer.failed!(new PetcutError('PETCUT_E_OVERLOADED'));
    kpis.sample();
    sample = { ...sample, queued: 1, memory: { usedBytes: 50, limitBytes: 1000 }, costTotalUsd: 1.25 };
    kpis.sample();
    const { totals, series } = kpis.window(1);
    expect(totals.cache).toEqual({ hit: 1, cutout: 1, miss: 2, hitRate: 0.5 });
    expect(totals).toMatchObject({ images: 4, failures: 1, coldServed: 1 });
    expect(totals.successRate).toBeCloseTo(0.8, 6);
    expect(series).toMatchObject({ queueDepth: [3], inFlight: [2], memoryUsedBytes: [100], memoryLimitBytes: [1000], gpuUtilization: [null] });
    // The first sample books the meter's spend since it started (1), the second what it added (0.25).
    expect(totals.costUsd).toBeCloseTo(1.25, 9);
    expect(kpis.firstRequest()).toMatchObject({ ms: 2000, cold: true });
    kpis.close();
  });

  it('a sampler with nothing to read yet, or one that throws, costs one sample and never the process', () => {
    const t = Date.UTC(2026, 11, 1, 12, 0, 0);
    let mode: 'early' | 'broken' | 'ready' = 'early';
    const kpis = createKpiRecorder({
      now: () => t, sampleMs: 3_600_000,
      sampler: () => {
        if (mode === 'broken') throw new ReferenceError('context not built');
        return mode === 'ready' ? { queued: 4, inFlight: 1, gpus: [] } : undefined;
      },
    });
    kpis.sample();
    mode = 'broken';
    expect(() => kpis.sample()).not.toThrow();
    expect(kpis.window(1).series.queueDepth).toEqual([null]);
    mode = 'ready';
    kpis.sample();
    expect(kpis.window(1).series.queueDepth).toEqual([4]);
    kpis.close();
  });

  it('memory stays bounded: 10 000 busy minutes keep at most 1440 slots, about 1.5 MB', () => {
    let t = Date.UTC(2026, 11, 1, 0, 0, 0);
    const kpis = createKpiRecorder({ now: () => t });
    const observer = kpis.observer(() => true);
    for (let minute = 0; minute < 10_000; minute++, t += MINUTE_MS) {
      kpis.request(500, 'PETCUT_E_INTERNAL');
      kpis.request(200, undefined);
      observer.done!(outcome('miss'), 0.5);
    }
    const { slots, bytes } = kpis.footprint();
    expect(slots).toBe(KPI_MINUTES);
    expect(bytes).toBeLessThan(1.5 * 1024 * 1024);
    const day = kpis.window(100_000);
    expect(day.series.t.length).toBe(KPI_MINUTES);
    expect(day.totals.requests).toBe(2 * KPI_MINUTES - 2);
  });

  it('budget periods are the UTC day, the ISO week (Monday) and the month', () => {
    const t = Date.UTC(2026, 11, 2, 15, 30); // a Wednesday
    expect(new Date(periodOf('daily', t).from).toISOString()).toBe('2026-12-02T00:00:00.000Z');
    expect(new Date(periodOf('weekly', t).from).toISOString()).toBe('2026-11-30T00:00:00.000Z');
    expect(new Date(periodOf('monthly', t).from).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(new Date(periodOf('weekly', Date.UTC(2026, 10, 29, 23)).from).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(new Date(periodOf('monthly', t).to).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });
});

// ---- the route, over the real service -------------------------------------

let dir: string;
let engine: Engine;
let app: PetcutApp;
let locked: PetcutApp;
let alertmanager: TestAlertmanager | undefined;
const JWT_SECRET = 'storefront-token-key-for-kpi-tests-0123456789';
const L4 = { readings: () => parseNvidiaSmi('0, NVIDIA L4, 42, 3072, 23034\n'), state: () => 'ok', close: () => undefined };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petcut-kpis-'));
  const [loaded, am, closedPort] = await Promise.all([startEngine(), startAlertmanager(dir), freePort()]);
  engine = loaded;
  alertmanager = am;
  app = (await buildApp(engine, { env: { PETCUT_ALERTMANAGER_URL: am.url, PETCUT_COST_FLUSH_S: '1' } })).app;
  // Nothing listens on closedPort: the alerts panel must say so, the rest of the answer must still come.
  // Its GPU readings are a probe's (nvidia-smi's parsed lines), for the GPU series on a machine without one.
  locked = (await buildApp(engine, { env: { PETCUT_JWT_SECRET: JWT_SECRET, PETCUT_ALERTMANAGER_URL: `http://127.0.0.1:${closedPort}` }, gpuProbe: L4 })).app;
}, 180_000);

afterAll(async () => {
  for (const a of [app, locked]) {
    if (!a) continue;
    await a.petcut.processing.drain();
    await a.close();
  }
  await engine?.close();
  await alertmanager?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const kpis = async (target: PetcutApp, minutes = 60): Promise<KpiSnapshot> => {
  const response = await target.inject({ method: 'GET', url: `/v1/admin/kpis?minutes=${minutes}`, headers: OPERATOR });
  expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
  expect(response.headers['cache-control']).toBe('no-store');
  return response.json<KpiSnapshot>();
};

describe('GET /dashboard and its files', () => {
  it('the page, its files and uPlot from node_modules: CSP, ETag/304, gzip; nothing else is reachable', async () => {
    const page = await app.inject({ method: 'GET', url: '/dashboard' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toMatch(/^default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; /);
    expect(DASHBOARD_CSP).toContain("frame-ancestors 'none'");
    expect(page.body).toContain('<script type="module" src="/dashboard/dashboard.js"></script>');
    // No inline script or style in the page.
    expect([...page.body.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].every((m) => m[1]!.trim() === '' && /\ssrc=/.test(m[0]))).toBe(true);
    expect(page.body).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect((await app.inject({ method: 'GET', url: '/dashboard/' })).body).toBe(page.body);
    expect((await app.inject({ method: 'GET', url: '/dashboard', headers: { 'if-none-match': String(page.headers.etag) } })).statusCode).toBe(304);
    for (const [url, type] of [['/dashboard/dashboard.js', 'text/javascript'], ['/dashboard/dashboard.css', 'text/css'], ['/dashboard/vendor/uPlot.iife.min.js', 'text/javascript'], ['/dashboard/vendor/uPlot.min.css', 'text/css']] as const) {
      const file = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip' } });
      expect(file.statusCode, url).toBe(200);
      expect(file.headers['content-type'], url).toBe(`${type}; charset=utf-8`);
      expect(file.headers['content-encoding'], url).toBe('gzip');
    }
    for (const url of ['/dashboard/../package.json', '/dashboard/%2e%2e/package.json', '/dashboard/vendor/uPlot.esm.js', '/dashboard/vendor/../../package.json', '/dashboard/nothing.js', '/dashboard/%00']) {
      const missing = await app.inject({ method: 'GET', url });
      expect([400, 404], url).toContain(missing.statusCode);
      expect(missing.body, url).not.toContain('"name": "petcut"');
    }
  });
});

describe('GET /v1/admin/kpis', () => {
  it('is for operators: 401 without a key, 401 with a wrong one, 403 with a storefront credential; minutes is checked', async () => {
    expectError(await app.inject({ method: 'GET', url: '/v1/admin/kpis' }), 401, 'PETCUT_E_UNAUTHORIZED');
    expectError(await app.inject({ method: 'GET', url: '/v1/admin/kpis', headers: { 'x-api-key': 'pk_not-the-key' } }), 401, 'PETCUT_E_INVALID_TOKEN');
    const { token } = await issueStorefrontToken({ sessionId: 'kpi-session-0001', shop: 'pets.myshopify.com' }, { secret: JWT_SECRET, ttlS: 600, now: new Date() });
    expectError(await locked.inject({ method: 'GET', url: '/v1/admin/kpis', headers: { authorization: `Bearer ${token}` } }), 403, 'PETCUT_E_OPERATOR_ONLY');
    for (const minutes of ['0', '1441', 'lots']) expectError(await app.inject({ method: 'GET', url: `/v1/admin/kpis?minutes=${minutes}`, headers: OPERATOR }), 400, /PETCUT_E_(INVALID_OPTION|BAD_REQUEST)/);
  });

  it('numbers after real traffic: cut-outs, a cache hit on the repeat, a forced error by code, latency, cost', async () => {
    const image = await photo(320, 240, 'jpeg', 7);
    const cut = () => app.inject({ method: 'POST', url: '/v1/cutouts?size=128', headers: { 'content-type': 'image/jpeg' }, payload: image });
    const first = await cut();
    expect(first.statusCode, first.body.slice(0, 200)).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    const again = await cut();
    expect(again.headers['x-cache']).toMatch(/^HIT/);
    const bad = await app.inject({ method: 'POST', url: '/v1/cutouts', headers: { 'content-type': 'image/jpeg' }, payload: Buffer.from('not a photo at all') });
    expect(bad.statusCode).toBe(415);
    // Probes and the dashboard's own polls are not traffic.
    await app.inject({ method: 'GET', url: '/healthz' });
    const before = await kpis(app);
    app.petcut.kpis.recorder.sample();
    const body = await kpis(app, 5);
    expect(body.minutes).toBe(5);
    expect(body.series.t).toHaveLength(5);
    expect(body.totals.requests).toBe(before.totals.requests);
    expect(body.totals.requests).toBeGreaterThanOrEqual(3);
    expect(body.totals.errorsByCode.PETCUT_E_UNSUPPORTED_FORMAT).toBeGreaterThanOrEqual(1);
    expect(body.series.errorsByCode.PETCUT_E_UNSUPPORTED_FORMAT?.at(-1)).toBeGreaterThanOrEqual(1);
    expect(body.totals.images).toBeGreaterThanOrEqual(2);
    expect(body.totals.cache.miss).toBeGreaterThanOrEqual(1);
    expect(body.totals.cache.hit + body.totals.cache.cutout).toBeGreaterThanOrEqual(1);
    expect(body.totals.cache.hitRate).toBeGreaterThan(0);
    expect(body.totals.latencyMs.p50).toBeGreaterThan(0);
    expect(body.series.p99.at(-1)).toBeGreaterThan(0);
    expect(body.series.queueDepth.at(-1)).toBe(0);
    expect(body.series.memoryLimitBytes.at(-1)).toBeGreaterThan(0);
    expect(body.instance).toMatchObject({ warm: true, model: { device: 'cpu' }, queue: { queued: 0 } });
    expect(body.instance.firstRequest).toMatchObject({ cold: expect.any(Boolean), ms: expect.any(Number) });
    expect(body.instance.coldStartS).toBeGreaterThan(0);
    expect(body.instance.memory!.share).toBeGreaterThan(0);
    expect(body.instance.gpu.state).toEqual(expect.any(String));
    expect(body.cost).toMatchObject({ metering: true, usdPer1000ImagesTarget: 65, burn: { daily: { budgetUsd: 200 }, weekly: { budgetUsd: 1200 }, monthly: { budgetUsd: 5000 } } });
    expect(body.cost.sinceStartUsd).toBeGreaterThan(0);
    expect(body.cost.burn.daily.usd).toBeGreaterThan(0);
    expect(body.cost.burn.daily.share).toBeCloseTo(body.cost.burn.daily.usd / 200, 9);
    expect(body.cost.burn.monthly.usd).toBeGreaterThanOrEqual(body.cost.burn.daily.usd);
    expect(body.mitigations).toMatchObject({ active: [] });
    expect(body.warmups).toMatchObject({ warm: true, counts: expect.any(Object) });
    expect(body.alerts.configured).toBe(true);
  });

  it('cost per 1000 images once the meter has been sampled over the photos', async () => {
    // The sampler books the meter's spend into the minute; the photos of the last test are in the same window.
    await until(async () => (await kpis(app, 5)).cost.usdPer1000Images !== null, 'the cost per 1000 images', 30_000, 500);
    const body = await kpis(app, 5);
    expect(body.cost.usdPer1000Images).toBeGreaterThan(0);
    expect(body.cost.usdPer1000Images).toBeCloseTo((body.totals.costUsd / body.totals.images) * 1000, 9);
  });

  it('firing alerts from a real Alertmanager', async () => {
    await alertmanager!.fire('PetcutHighErrorRate', { severity: 'critical', service: 'petcut' }, 'More than 10 % of requests fail');
    // The answer is cached for 15 s: an earlier call in this file may hold the list from before the post.
    await until(async () => (await kpis(app)).alerts.firing.length > 0, 'the alert in /v1/admin/kpis', 60_000, 1000);
    const { alerts } = await kpis(app);
    expect(alerts).toMatchObject({ configured: true, source: alertmanager!.url, fetchedAt: expect.any(String) });
    expect(alerts.error).toBeUndefined();
    expect(alerts.firing).toEqual([expect.objectContaining({ name: 'PetcutHighErrorRate', severity: 'critical', summary: 'More than 10 % of requests fail', labels: expect.objectContaining({ service: 'petcut' }) })]);
  }, 90_000);

  it('an unreachable Alertmanager is a clear alerts.error; the rest of the answer still comes', async () => {
    const body = await kpis(locked);
    expect(body.alerts.configured).toBe(true);
    expect(body.alerts.firing).toEqual([]);
    expect(body.alerts.error).toMatch(/^Alertmanager at http:\/\/127\.0\.0\.1:\d+: unreachable \(ECONNREFUSED\)$/);
    expect(body.totals).toBeDefined();
    // The GPU: the probe's reading now, and in the series once sampled.
    locked.petcut.kpis.recorder.sample();
    const gpu = await kpis(locked, 2);
    expect(gpu.instance.gpu).toEqual({ state: 'ok', devices: [{ index: '0', name: 'NVIDIA L4', utilization: 0.42, memoryUsedBytes: 3072 * 1048576, memoryTotalBytes: 23034 * 1048576 }] });
    expect(gpu.series.gpuUtilization.at(-1)).toBe(0.42);
    expect(gpu.series.gpuMemoryUsedBytes.at(-1)).toBe(3072 * 1048576);
    expect((await kpis(app, 2)).series.gpuUtilization.every((v) => v === null || v >= 0)).toBe(true);
    // A URL that never answers: the short timeout, said in words.
    const silent = await import('node:net').then(({ createServer }) => createServer(() => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const slow = await createAlertSource({ url: `http://user:secret@127.0.0.1:${port}/am/`, timeoutMs: 300 }).read();
      expect(slow.error).toBe(`Alertmanager at http://127.0.0.1:${port}/am: no answer within 0.3 s`);
      expect(JSON.stringify(slow)).not.toContain('secret');
    } finally {
      silent.close();
    }
    expect((await createAlertSource({}).read())).toEqual({ configured: false, firing: [] });
  });
});
