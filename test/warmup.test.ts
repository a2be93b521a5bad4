import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import { LEDGER_PREFIX } from '../src/cost/index.js';
import { openLedger } from '../src/cost/ledger.js';
import type { Engine } from '../src/engine/engine.js';
import { loadServiceConfig } from '../src/config.js';
import { testEnv } from './support/env.js';
import { buildApp, expectError, listen, photo, startEngine } from './support/app.js';
import { rawRequest } from './support/rawHttp.js';
import { startRedisServer } from './support/redis.js';

/**
 * POST /warmup's pre-warming rules (src/service/warmup.ts, docs/prewarming.md)
 * on the real app and the real model: the schedule's hours (a schedule file
 * of the test's own, a clock the test moves), a recent cut-out, the daily
 * budget with another instance's ledger copy in the store, the hourly
 * budget charged only by real runs, and the storefront's no-cors request
 * over a raw socket. Each app is a fresh instance (its model never ran) on
 * the one engine of this file.
 */
let engine: Engine;
let scratch: string;
let schedule: string;
const apps: PetcutApp[] = [];

// Business day 09:00-22:00 Eastern (pre-warm), nights off. 2026-12-02 is EST (UTC-5).
const SCHEDULE = `timeZone: America/New_York
windows:
  - { name: business, from: "09:00", until: "22:00", min: 0, max: 3, prewarm: true }
  - { name: off-hours, from: "22:00", until: "09:00", min: 0, max: 2 }
`;
const NIGHT = new Date('2026-12-02T08:00:00Z'); // 03:00 EST
const MORNING = new Date('2026-12-02T15:00:00Z'); // 10:00 EST

beforeAll(async () => {
  engine = await startEngine();
  scratch = await mkdtemp(join(tmpdir(), 'petcut-warmup-'));
  schedule = join(scratch, 'schedule.yml');
  await writeFile(schedule, SCHEDULE);
});
afterAll(async () => {
  await Promise.all(apps.map((app) => app.shutdown()));
  await rm(scratch, { recursive: true, force: true });
});

async function instance(env: Record<string, string>, clock?: () => Date): Promise<{ app: PetcutApp; store: Awaited<ReturnType<typeof buildApp>>['store'] }> {
  const built = await buildApp(engine, { env: { PETCUT_SCALING_SCHEDULE: schedule, ...env }, clock });
  apps.push(built.app);
  return built;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const warmup = async (app: PetcutApp) => app.inject({ method: 'POST', url: '/warmup' });
const health = async (app: PetcutApp): Promise<Json> => (await app.inject({ method: 'GET', url: '/health' })).json<Json>().warmup as Json;
const sample = async (app: PetcutApp, result: string): Promise<number> => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`petcut_warmups_total{result="${result}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
};
const cutout = async (app: PetcutApp, shift: number) =>
  app.inject({ method: 'POST', url: '/v1/cutouts?size=48', headers: { 'content-type': 'image/jpeg' }, payload: await photo(96, 72, 'jpeg', shift) });

describe('POST /warmup follows the pre-warming rules', () => {
  it('outside the schedule\'s pre-warm windows: answered at once without a model run, counted; inside: one run, charged once', async () => {
    let now = NIGHT;
    // A budget of one run an hour: the skips, and the calls that join the run, must not spend it.
    const { app } = await instance({ PETCUT_WARMUP_HOURS: 'schedule', PETCUT_RATE_LIMIT_WARMUP_PER_HOUR: '1' }, () => now);
    for (let i = 0; i < 4; i++) expect((await warmup(app)).json().result).toBe('outside_hours');
    const night = await warmup(app);
    expect(night.statusCode).toBe(200);
    expect(night.json()).toMatchObject({ result: 'outside_hours', skipped: 'outside_hours', ran: false, warm: false, alreadyWarm: false });
    expect(app.petcut.warmup.isWarm()).toBe(false);
    expect(await health(app)).toMatchObject({
      warm: false,
      conditions: { businessHours: { rule: 'schedule', window: 'off-hours', prewarm: false, until: '2026-12-02T14:00:00.000Z', blocks: true } },
      counts: { outside_hours: 5, ran: 0 },
      last: { result: 'outside_hours' },
    });
    now = MORNING;
    // Three at once: one runs (and is charged), the others wait for it.
    const morning = await Promise.all([warmup(app), warmup(app), warmup(app)]);
    expect(morning.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    expect(morning.map((a) => a.json().result).sort()).toEqual(['joined', 'joined', 'ran']);
    expect(morning.find((a) => a.json().result === 'ran')!.json()).toMatchObject({ ran: true, warm: true, alreadyWarm: false });
    expect(morning.find((a) => a.json().result === 'joined')!.json()).toMatchObject({ ran: false, warm: true, alreadyWarm: false });
    expect((await warmup(app)).json()).toMatchObject({ result: 'already_warm', ran: false, warm: true, alreadyWarm: true });
    expect((await warmup(app)).json().skipped).toBeUndefined();
    expect(await health(app)).toMatchObject({ warm: true, conditions: { businessHours: { window: 'business', prewarm: true, blocks: false } }, counts: { outside_hours: 5, ran: 1, joined: 2, already_warm: 2, refused: 0 } });
    expect([await sample(app, 'outside_hours'), await sample(app, 'ran'), await sample(app, 'joined'), await sample(app, 'already_warm')]).toEqual([5, 1, 2, 2]);
    expect((await health(app)).conditions.hourly).toEqual({ perHour: 1, scope: 'instance', store: 'memory' });
  });

  it('a cut-out processed in the last PETCUT_WARMUP_RECENT_S seconds: the instance is warm, answered at once', async () => {
    let now = MORNING;
    const { app } = await instance({ PETCUT_WARMUP_HOURS: 'always', PETCUT_WARMUP_RECENT_S: '600' }, () => now);
    expect((await cutout(app, 3)).statusCode).toBe(200);
    const recent = await warmup(app);
    expect(recent.json()).toMatchObject({ result: 'recent_request', skipped: 'recent_request', ran: false, warm: true });
    expect(await health(app)).toMatchObject({ conditions: { recentRequest: { windowS: 600, lastProcessedAt: MORNING.toISOString(), ageS: 0, blocks: true } }, counts: { recent_request: 1, ran: 0 } });
    // Ten minutes on, the rule no longer applies; the cut-out (a cache miss) already ran the model.
    now = new Date(MORNING.getTime() + 601_000);
    expect((await warmup(app)).json()).toMatchObject({ result: 'already_warm', ran: false, warm: true });
    expect((await health(app)).conditions.recentRequest).toMatchObject({ ageS: 601, blocks: false });
    expect(await sample(app, 'recent_request')).toBe(1);
  });

  it('the daily budget counts the other instances\' ledger copies in the bucket; once spent, no run', async () => {
    const { app, store } = await instance({ PETCUT_WARMUP_HOURS: 'always', PETCUT_WARMUP_BUDGET_USD: '5' });
    // Another instance spent $6 today (its uploaded ledger copy, as createCostTracking writes it).
    const file = join(scratch, 'other.sqlite');
    const ledger = openLedger(file);
    const t = Date.now();
    ledger.append([{ id: 'other-instance:1', instance: 'other-instance', kind: 'work', startedAt: t - 2000, endedAt: t - 1000, images: 1, requests: 0, seconds: 1, usd: { vcpu: 4, memory: 1, gpu: 1, requests: 0 } }]);
    await store.put(`${LEDGER_PREFIX}other-instance.sqlite`, ledger.snapshot(), { contentType: 'application/vnd.sqlite3' });
    ledger.close();
    const spent = await warmup(app);
    expect(spent.statusCode).toBe(200);
    expect(spent.json()).toMatchObject({ result: 'budget_spent', skipped: 'budget_spent', ran: false, warm: false });
    const view = await health(app);
    expect(view.conditions.budget).toMatchObject({ dailyUsd: 5, instances: 2, blocks: true, ledgersReadAt: expect.any(String) });
    expect(view.conditions.budget.spentTodayUsd).toBeGreaterThanOrEqual(6);
    expect(await sample(app, 'budget_spent')).toBe(1);
  });

  it('the default budget is the price file\'s daily budget; 0 turns the rule off', async () => {
    const { app } = await instance({ PETCUT_WARMUP_HOURS: 'always' });
    expect((await health(app)).conditions.budget).toMatchObject({ dailyUsd: 200, instances: 1, blocks: false });
    const off = await instance({ PETCUT_WARMUP_HOURS: 'always', PETCUT_WARMUP_BUDGET_USD: '0' });
    expect((await health(off.app)).conditions.budget).toMatchObject({ dailyUsd: 0, blocks: false });
  });

  it('the storefront\'s no-cors ping (no body, or text/plain, from the shop\'s origin) is accepted and cheap', async () => {
    const { app } = await instance({ PETCUT_WARMUP_HOURS: 'schedule' }, () => NIGHT);
    const base = await listen(app);
    const host = new URL(base).host;
    const heads = [
      // What fetch(url + '/warmup', { method: 'POST', mode: 'no-cors', keepalive: true }) sends: no body at all.
      `POST /warmup HTTP/1.1\r\nHost: ${host}\r\nOrigin: https://pet-prints.myshopify.com\r\nSec-Fetch-Mode: no-cors\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      // An empty string body: text/plain.
      `POST /warmup HTTP/1.1\r\nHost: ${host}\r\nOrigin: https://pet-prints.myshopify.com\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      // navigator.sendBeacon(url + '/warmup'): the same, with a tiny text body.
      `POST /warmup HTTP/1.1\r\nHost: ${host}\r\nOrigin: https://pet-prints.myshopify.com\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`,
    ];
    for (const head of heads) {
      const exchange = rawRequest(base, head);
      await exchange.closed;
      const answer = exchange.received();
      expect(answer, answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer).toMatch(/"result":"outside_hours"/);
      expect(answer).toMatch(/x-processing-time-ms|content-type: application\/json/i);
    }
    expect((await health(app)).counts.outside_hours).toBe(3);
  });

  it('with REDIS_URL the hourly budget is the whole service\'s: a run on one instance spends it for another', async () => {
    // A Redis of this test's own: the budget's key (warmup:service) must not meet other files' charges.
    const redis = await startRedisServer();
    try {
      const env = { PETCUT_WARMUP_HOURS: 'always', PETCUT_RATE_LIMIT_WARMUP_PER_HOUR: '1', REDIS_URL: redis.url };
      const [a, b] = [await instance(env), await instance(env)];
      expect((await warmup(a.app)).json()).toMatchObject({ result: 'ran' });
      const refused = await warmup(b.app);
      expectError(refused, 429, 'PETCUT_E_RATE_LIMITED');
      expect(await health(b.app)).toMatchObject({ warm: false, counts: { refused: 1, ran: 0 }, conditions: { hourly: { perHour: 1, scope: 'service', store: 'redis+memory' } } });
      expect(b.app.rateLimiter!.stats().backend).toBe('redis');
    } finally {
      await redis.close();
    }
  });

  it('a bad rule setting or schedule file stops the start, naming the variable or the file and field', async () => {
    expect(() => loadServiceConfig(testEnv({ PETCUT_WARMUP_HOURS: 'nights' }))).toThrow(/PETCUT_WARMUP_HOURS/);
    expect(() => loadServiceConfig(testEnv({ PETCUT_WARMUP_RECENT_S: '-1' }))).toThrow(/PETCUT_WARMUP_RECENT_S/);
    expect(() => loadServiceConfig(testEnv({ PETCUT_WARMUP_BUDGET_USD: 'lots' }))).toThrow(/PETCUT_WARMUP_BUDGET_USD/);
    const broken = join(scratch, 'broken.yml');
    await writeFile(broken, SCHEDULE.replace('prewarm: true', 'prewarm: sometimes'));
    await expect(buildApp(engine, { env: { PETCUT_WARMUP_HOURS: 'schedule', PETCUT_SCALING_SCHEDULE: broken } })).rejects.toThrow(new RegExp(`${broken}.*prewarm`));
    // hours=always never reads the schedule.
    const always = await buildApp(engine, { env: { PETCUT_WARMUP_HOURS: 'always', PETCUT_SCALING_SCHEDULE: join(scratch, 'missing.yml') } });
    apps.push(always.app);
    expect((await health(always.app)).conditions.businessHours).toEqual({ rule: 'always', blocks: false });
  });

  it('a refused run is a 429 with a stable code, counted as refused', async () => {
    const { app } = await instance({ PETCUT_WARMUP_HOURS: 'always', PETCUT_RATE_LIMIT_WARMUP_PER_HOUR: '1' });
    // The one run of the hour: spent by a run that did happen (a fresh instance on this limiter would be refused next).
    const limiter = app.rateLimiter!;
    await limiter.charge('warmup', 'service');
    const refused = await warmup(app);
    expectError(refused, 429, 'PETCUT_E_RATE_LIMITED');
    expect(refused.json<Json>().error.message).toMatch(/Too many warm-ups of the service/);
    expect((await health(app)).counts).toMatchObject({ refused: 1, ran: 0 });
    expect(await sample(app, 'refused')).toBe(1);
    expect(app.petcut.warmup.isWarm()).toBe(false);
  });
});
