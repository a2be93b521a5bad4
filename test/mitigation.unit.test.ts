import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPetcutError } from '../src/errors.js';
import { createMitigations } from '../src/mitigation/controller.js';
import type { CloudScaler, MitigationDeps, MitigationResult } from '../src/mitigation/controller.js';
import { serviceRefOf } from '../src/mitigation/config.js';
import { parseAlertPayload } from '../src/mitigation/payload.js';
import type { AlertmanagerPayload } from '../src/mitigation/payload.js';
import { composeScaling, localLimits } from '../src/mitigation/policy.js';
import type { MitigationPolicy } from '../src/mitigation/policy.js';
import { createRedisMitigationStore } from '../src/mitigation/redisStore.js';
import { createMemoryMitigationStore } from '../src/mitigation/store.js';
import type { Mitigation, Scaling } from '../src/mitigation/types.js';
import { createCapacity } from '../src/service/capacity.js';
import { buildApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { sharedRedis } from './support/redis.js';
import { until } from './support/wait.js';

const POLICY: MitigationPolicy = { expiryMs: 60 * 60_000, minInstances: 2, maxInstances: 1, uploadsPerMin: 6, concurrency: 1 };
const T0 = new Date('2026-12-02T15:00:00Z');

/** An Alertmanager webhook body as Alertmanager 0.2x writes it. */
function payload(status: 'firing' | 'resolved', alerts: Array<{ name: string; fingerprint: string; status?: 'firing' | 'resolved' }>): AlertmanagerPayload & Record<string, unknown> {
  return {
    version: '4', groupKey: '{}:{alertname="x"}', truncatedAlerts: 0, status, receiver: 'petcut-mitigations',
    groupLabels: {}, commonLabels: { service: 'petcut' }, commonAnnotations: {}, externalURL: 'http://alertmanager:9093',
    alerts: alerts.map((a) => ({
      status: a.status ?? status, labels: { alertname: a.name, service: 'petcut', severity: 'warning' }, annotations: { summary: 's' },
      startsAt: '2026-12-02T15:00:00.123Z', endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : '2026-12-02T15:05:00Z',
      generatorURL: 'http://prometheus:9090/graph', fingerprint: a.fingerprint,
    })),
  };
}

/** The Admin API's side as the controller sees it: what it was asked to set (the process test drives the real client). */
function recordingCloud(): CloudScaler & { readonly sets: Scaling[]; fail: boolean } {
  const sets: Scaling[] = [];
  let current: Scaling = { min: 0, max: 3 };
  const cloud = {
    service: 'projects/petcut-test/locations/us-central1/services/petcut', sets, fail: false,
    async set(target: Scaling) {
      if (cloud.fail) throw new Error('PERMISSION_DENIED');
      sets.push(target);
      const before = current;
      current = target;
      return { before, after: target, changed: before.min !== target.min || before.max !== target.max };
    },
  };
  return cloud;
}

function harness(overrides: Partial<MitigationDeps> = {}) {
  let now = T0;
  let schedule: Scaling = { min: 0, max: 3 };
  const counted: Array<[string, MitigationResult]> = [];
  const received: Array<[string, boolean]> = [];
  const local: Array<ReturnType<typeof localLimits>> = [];
  const cloud = recordingCloud();
  const mitigations = createMitigations({
    policy: POLICY, store: createMemoryMitigationStore(), cloud, schedule: () => schedule, clock: () => now,
    log: { info: () => undefined, warn: () => undefined },
    count: (action, result) => counted.push([action, result]), received: (status, handled) => received.push([status, handled]),
    onLocal: (limits) => local.push(limits), refreshMs: 3_600_000, reassertMs: 60_000, ...overrides,
  });
  return {
    mitigations, cloud, counted, received, local,
    at: (ms: number) => (now = new Date(T0.getTime() + ms)),
    setSchedule: (s: Scaling) => (schedule = s),
  };
}

describe('Alertmanager payload validation', () => {
  it('accepts a version 4 payload and ignores fields a later Alertmanager may add', () => {
    const parsed = parseAlertPayload({ ...payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'a1b2c3d4e5f60718' }]), somethingNew: 1 });
    expect(parsed.alerts[0]?.labels.alertname).toBe('PetcutTrafficSurge');
    expect(parsed).not.toHaveProperty('somethingNew');
  });

  const bad: Array<[string, (p: Record<string, unknown>) => unknown, RegExp]> = [
    ['version 3', (p) => ({ ...p, version: '3' }), /version/],
    ['no alerts', (p) => ({ ...p, alerts: [] }), /alerts/],
    ['an unknown status', (p) => ({ ...p, alerts: [{ ...(p.alerts as object[])[0], status: 'pending' }] }), /alerts\.0\.status/],
    ['no fingerprint', (p) => ({ ...p, alerts: [{ ...(p.alerts as object[])[0], fingerprint: undefined }] }), /alerts\.0\.fingerprint/],
    ['a fingerprint that is not hex', (p) => ({ ...p, alerts: [{ ...(p.alerts as object[])[0], fingerprint: '../../etc' }] }), /fingerprint/],
    ['no alertname', (p) => ({ ...p, alerts: [{ ...(p.alerts as object[])[0], labels: { service: 'petcut' } }] }), /alertname/],
    ['a label that is not a string', (p) => ({ ...p, alerts: [{ ...(p.alerts as object[])[0], labels: { alertname: 'x', n: 1 } }] }), /labels/],
    ['a bad time', (p) => ({ ...p, alerts: [{ ...(p.alerts as object[])[0], startsAt: 'yesterday' }] }), /startsAt/],
    ['an array', () => [], /body/],
    ['too many alerts', (p) => ({ ...p, alerts: Array.from({ length: 501 }, () => (p.alerts as object[])[0]) }), /alerts/],
  ];
  for (const [what, change, where] of bad) {
    it(`refuses ${what} with PETCUT_E_INVALID_ALERT naming the field`, () => {
      const body = change(payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'a1b2c3d4e5f60718' }]));
      let error: unknown;
      try {
        parseAlertPayload(body);
      } catch (caught) {
        error = caught;
      }
      expect(isPetcutError(error) && error.code).toBe('PETCUT_E_INVALID_ALERT');
      expect((error as Error).message).toMatch(where);
    });
  }
});

describe('policy', () => {
  const m = (action: Mitigation['action'], value: number): Mitigation => ({ action, value, alert: 'x', fingerprint: `${action}${value}`, startedAt: T0.toISOString(), expiresAt: T0.toISOString() });

  it('composes with the schedule: floor = max(schedule, surge), cap = min(schedule, cost)', () => {
    expect(composeScaling({ min: 0, max: 3 }, [])).toEqual({ min: 0, max: 3 });
    expect(composeScaling({ min: 0, max: 3 }, [m('min_instances', 2)])).toEqual({ min: 2, max: 3 });
    expect(composeScaling({ min: 1, max: 5 }, [m('min_instances', 2), m('min_instances', 3)])).toEqual({ min: 3, max: 5 });
    // Peak already has a higher floor than the surge's: the schedule's stays.
    expect(composeScaling({ min: 4, max: 8 }, [m('min_instances', 2)])).toEqual({ min: 4, max: 8 });
    expect(composeScaling({ min: 0, max: 3 }, [m('max_instances', 1)])).toEqual({ min: 0, max: 1 });
    // The cost cap wins over a surge floor, and min never exceeds max.
    expect(composeScaling({ min: 1, max: 5 }, [m('min_instances', 3), m('max_instances', 2)])).toEqual({ min: 2, max: 2 });
  });

  it('local limits are the tightest of each kind', () => {
    expect(localLimits([])).toEqual({});
    expect(localLimits([m('throttle', 30), m('throttle', 10), m('concurrency', 2), m('min_instances', 5)])).toEqual({ uploadsPerMin: 10, concurrency: 2 });
  });

  it('reads the service name the Admin API uses', () => {
    expect(serviceRefOf('projects/petcut-prod/locations/us-central1/services/petcut')).toEqual({ project: 'petcut-prod', region: 'us-central1', service: 'petcut' });
    expect(serviceRefOf('petcut')).toBeUndefined();
  });
});

describe('the controller', () => {
  it('a traffic surge raises the floor, its resolution returns to the schedule', async () => {
    const h = harness();
    const fired = await h.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'aa01' }])));
    expect(fired).toMatchObject({ applied: ['min_instances'], ignored: 0, cloud: 'applied' });
    expect(h.cloud.sets.at(-1)).toEqual({ min: 2, max: 3 });
    expect(h.counted).toContainEqual(['min_instances', 'applied']);
    expect(h.mitigations.counts().min_instances).toBe(1);
    // Alertmanager repeats a firing group: the mitigation is not started twice, nor its expiry pushed out.
    const again = await h.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'aa01' }])));
    expect(again.applied).toEqual([]);
    expect(h.counted).toContainEqual(['min_instances', 'already_active']);
    const resolved = await h.mitigations.receive(parseAlertPayload(payload('resolved', [{ name: 'PetcutTrafficSurge', fingerprint: 'aa01' }])));
    expect(resolved).toMatchObject({ undone: ['min_instances'], cloud: 'applied' });
    expect(h.cloud.sets.at(-1)).toEqual({ min: 0, max: 3 });
    expect(h.counted).toContainEqual(['min_instances', 'undone']);
    expect(h.mitigations.active()).toEqual([]);
    await h.mitigations.close();
  });

  it('a cost overrun lowers max instances and throttles uploads; memory pressure caps concurrency', async () => {
    const h = harness();
    await h.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutDailyBudget75', fingerprint: 'bb02' }, { name: 'PetcutHighMemory', fingerprint: 'cc03' }])));
    expect(h.cloud.sets.at(-1)).toEqual({ min: 0, max: 1 });
    expect(h.local.at(-1)).toEqual({ uploadsPerMin: 6, concurrency: 1 });
    expect(h.mitigations.view()).toMatchObject({ store: 'memory', limits: { uploadsPerMin: 6, concurrency: 1 }, cloud: { service: 'projects/petcut-test/locations/us-central1/services/petcut', target: { min: 0, max: 1 } } });
    expect((h.mitigations.view().active as unknown[]).length).toBe(3);
    await h.mitigations.receive(parseAlertPayload(payload('resolved', [{ name: 'PetcutHighMemory', fingerprint: 'cc03' }])));
    expect(h.local.at(-1)).toEqual({ uploadsPerMin: 6 });
    await h.mitigations.close();
  });

  it('accepts and ignores alerts that have no mitigation, counting them', async () => {
    const h = harness();
    const summary = await h.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutQueueBacklog', fingerprint: 'dd04' }, { name: 'Watchdog', fingerprint: 'dd05' }])));
    expect(summary).toEqual({ applied: [], undone: [], ignored: 2 });
    expect(h.received).toEqual([['firing', false], ['firing', false]]);
    expect(h.cloud.sets).toEqual([]);
    await h.mitigations.close();
  });

  it('ends a mitigation at its expiry, cloud side included, even when no resolution comes', async () => {
    const h = harness();
    await h.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutColdStartsBusinessHours', fingerprint: 'ee06' }, { name: 'PetcutCostSpike', fingerprint: 'ee07' }])));
    expect(h.cloud.sets.at(-1)).toEqual({ min: 1, max: 1 });
    h.at(POLICY.expiryMs - 1000);
    await h.mitigations.refresh();
    expect(h.mitigations.active()).toHaveLength(3);
    h.at(POLICY.expiryMs + 1);
    await h.mitigations.refresh();
    expect(h.mitigations.active()).toEqual([]);
    expect(h.counted.filter(([, result]) => result === 'expired').map(([action]) => action).sort()).toEqual(['max_instances', 'min_instances', 'throttle']);
    expect(h.cloud.sets.at(-1)).toEqual({ min: 0, max: 3 });
    expect(h.local.at(-1)).toEqual({});
    await h.mitigations.close();
  });

  it('re-asserts the floor when a scheduled change lowered it, composing with the new window', async () => {
    const h = harness({ reassertMs: 1 });
    await h.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'ff08' }])));
    // Cloud Scheduler's job for the next window sets the schedule's values; the next refresh composes again.
    h.setSchedule({ min: 0, max: 2 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await h.mitigations.refresh();
    expect(h.cloud.sets.at(-1)).toEqual({ min: 2, max: 2 });
    h.setSchedule({ min: 1, max: 5 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await h.mitigations.refresh();
    expect(h.cloud.sets.at(-1)).toEqual({ min: 2, max: 5 });
    await h.mitigations.close();
  });

  it('without a Cloud Run service, cloud actions are skipped and counted; the throttle still works', async () => {
    const h = harness({ cloud: undefined });
    const summary = await h.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutSpendRateHigh', fingerprint: 'ab09' }])));
    expect(summary.cloud).toBe('skipped');
    expect(h.counted).toEqual([['throttle', 'applied'], ['max_instances', 'skipped']]);
    expect(h.local.at(-1)).toEqual({ uploadsPerMin: 6 });
    expect(h.mitigations.view()).toMatchObject({ cloud: { service: null, skipped: 'PETCUT_MITIGATION_SERVICE is not set' } });
    await h.mitigations.close();
  });

  it('an Admin API failure is counted, kept, and retried by the re-assertion', async () => {
    const h = harness({ reassertMs: 1 });
    h.cloud.fail = true;
    const summary = await h.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'ac10' }])));
    expect(summary.cloud).toBe('failed');
    expect(h.counted).toContainEqual(['min_instances', 'failed']);
    expect(h.mitigations.view()).toMatchObject({ cloud: { error: 'PERMISSION_DENIED' } });
    h.cloud.fail = false;
    await new Promise((resolve) => setTimeout(resolve, 5));
    await h.mitigations.refresh();
    expect(h.cloud.sets.at(-1)).toEqual({ min: 2, max: 3 });
    await h.mitigations.close();
  });
});

describe('shared through a real Redis', () => {
  let redis: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    redis = await sharedRedis();
  }, 30_000);
  afterAll(async () => redis?.close());

  it('a mitigation received by one instance applies on another; one of them undoes it at expiry', async () => {
    const key = `petcut:test:mitigations:${randomUUID()}`;
    let now = T0;
    const instance = (name: string) => {
      const local: Array<ReturnType<typeof localLimits>> = [];
      const counted: string[] = [];
      const mitigations = createMitigations({
        policy: POLICY, store: createRedisMitigationStore({ url: redis.url, timeoutMs: 2000, key }), clock: () => now,
        log: { info: () => undefined, warn: () => undefined }, onLocal: (limits) => local.push(limits),
        count: (action, result) => counted.push(`${name}:${action}:${result}`), refreshMs: 3_600_000, reassertMs: 60_000,
      });
      return { mitigations, local, counted };
    };
    const a = instance('a');
    const b = instance('b');
    await a.mitigations.receive(parseAlertPayload(payload('firing', [{ name: 'PetcutDailyBudget75', fingerprint: 'fa11' }, { name: 'PetcutHighMemory', fingerprint: 'fa12' }])));
    await b.mitigations.refresh();
    expect(b.local.at(-1)).toEqual({ uploadsPerMin: 6, concurrency: 1 });
    expect(b.mitigations.view()).toMatchObject({ store: 'redis' });
    now = new Date(T0.getTime() + POLICY.expiryMs + 1);
    await Promise.all([a.mitigations.refresh(), b.mitigations.refresh()]);
    // Each expired mitigation is ended once, by whichever instance deleted it first.
    const expired = [...a.counted, ...b.counted].filter((line) => line.endsWith(':expired')).map((line) => line.split(':').slice(1).join(':')).sort();
    expect(expired).toEqual(['concurrency:expired', 'max_instances:expired', 'throttle:expired']);
    await until(async () => { await b.mitigations.refresh(); return b.local.at(-1)?.uploadsPerMin === undefined; }, 'b to lift the throttle', 5000, 50);
    await Promise.all([a.mitigations.close(), b.mitigations.close()]);
  }, 30_000);
});

describe('the admission cap', () => {
  it('caps images admitted at once below concurrency + queue, and lifts', () => {
    const capacity = createCapacity({ concurrency: 2, queueMax: 4, memoryPressure: 1, retryAfterS: 3, probe: async () => ({ rssBytes: 1, usedBytes: 1, limitBytes: 100, source: 'test' }) as never });
    capacity.limitTo(1);
    const release = capacity.admit();
    expect(() => capacity.admit()).toThrow(/room for 1/);
    expect(capacity.status().cap).toBe(1);
    capacity.limitTo(undefined);
    const more = [capacity.admit(), capacity.admit()];
    expect(capacity.status().cap).toBeUndefined();
    release();
    more.forEach((r) => r());
    capacity.close();
  });
});

describe('POST /v1/admin/alerts', () => {
  const TOKEN = 'alertmanager-token-for-the-petcut-tests-0123456789';
  let open: TestApp;
  let closed: TestApp;
  // No route here runs the model: an engine that never loads keeps the file fast.
  const engine = new Promise<never>(() => undefined);
  beforeAll(async () => {
    open = await buildApp(engine, { env: { PETCUT_ALERT_WEBHOOK_TOKEN: TOKEN, PETCUT_MITIGATION_UPLOADS_PER_MIN: '1' } });
    closed = await buildApp(engine);
  });
  afterAll(async () => {
    await open?.app.close();
    await closed?.app.close();
  });
  const post = (app: TestApp, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) =>
    app.app.inject({ method: 'POST', url: '/v1/admin/alerts', headers: { 'content-type': 'application/json', ...headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
  const code = (response: { body: string }) => (JSON.parse(response.body) as { error?: { code?: string } }).error?.code;

  it('is not configured (501) without PETCUT_ALERT_WEBHOOK_TOKEN, as the Shopify webhook', async () => {
    const response = await post(closed, payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'ad13' }]));
    expect(response.statusCode).toBe(501);
    expect(code(response)).toBe('PETCUT_E_NOT_CONFIGURED');
  });

  it('refuses a wrong or missing token (401), and an operator key is no substitute', async () => {
    const attempts: Array<Record<string, string>> = [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: 'Bearer pk_test-operator-key-for-petcut-tests' }, { 'x-api-key': 'pk_test-operator-key-for-petcut-tests' }];
    for (const headers of attempts) {
      const response = await post(open, payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'ad14' }]), headers);
      expect(response.statusCode, JSON.stringify(headers)).toBe(401);
      expect(code(response)).toBe('PETCUT_E_INVALID_TOKEN');
    }
  });

  it('refuses a bad payload (400 PETCUT_E_INVALID_ALERT) and an oversized body (413)', async () => {
    const bad = await post(open, { version: '4', alerts: 'none' });
    expect(bad.statusCode).toBe(400);
    expect(code(bad)).toBe('PETCUT_E_INVALID_ALERT');
    const notJson = await post(open, '{"version": "4", alerts');
    expect(notJson.statusCode).toBe(400);
    expect(code(notJson)).toBe('PETCUT_E_BAD_REQUEST');
    const big = await post(open, { ...payload('firing', [{ name: 'PetcutTrafficSurge', fingerprint: 'ad15' }]), filler: 'x'.repeat(300 * 1024) });
    expect(big.statusCode).toBe(413);
  });

  it('applies the throttle: visible in /health and effective on uploads (429 PETCUT_E_THROTTLED), lifted on resolve', async () => {
    const fired = await post(open, payload('firing', [{ name: 'PetcutDailyBudget75', fingerprint: 'ad16' }, { name: 'Watchdog', fingerprint: 'ad17' }]));
    expect(fired.statusCode, fired.body).toBe(200);
    expect(JSON.parse(fired.body)).toMatchObject({ applied: ['max_instances', 'throttle'], ignored: 1, cloud: 'skipped' });
    const health = JSON.parse((await open.app.inject({ url: '/health' })).body) as { mitigations: { limits: unknown; active: Array<{ action: string }> } };
    expect(health.mitigations.limits).toEqual({ uploadsPerMin: 1 });
    expect(health.mitigations.active.map((m) => m.action).sort()).toEqual(['max_instances', 'throttle']);
    // The first upload of the minute passes the throttle (it then meets the model still loading: 503); the second is throttled.
    const upload = () => open.app.inject({ method: 'POST', url: '/v1/cutouts', headers: { 'content-type': 'image/png' }, payload: Buffer.from('not really') });
    expect((await upload()).statusCode).not.toBe(429);
    const throttled = await upload();
    expect(throttled.statusCode).toBe(429);
    expect(code(throttled)).toBe('PETCUT_E_THROTTLED');
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    const metrics = (await open.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/petcut_mitigations_total\{action="throttle",result="applied"\} 1/);
    expect(metrics).toMatch(/petcut_mitigation_active\{action="throttle"\} 1/);
    expect(metrics).toMatch(/petcut_mitigation_alerts_total\{status="firing",handled="false"\} 1/);
    const resolved = await post(open, payload('resolved', [{ name: 'PetcutDailyBudget75', fingerprint: 'ad16' }]));
    expect(JSON.parse(resolved.body)).toMatchObject({ undone: ['max_instances', 'throttle'] });
    expect(code(await upload())).not.toBe('PETCUT_E_THROTTLED');
  });
});
