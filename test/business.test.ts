import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { loadServiceConfig } from '../src/config.js';
import { listRatings } from '../src/service/feedback.js';
import { assignVariant, parseExperiment } from '../src/service/experiment.js';
import { buildApp, expectError, form, OPERATOR, photo, startEngine } from './support/app.js';
import { testEnv } from './support/env.js';

/**
 * The business KPIs (#19, docs/kpis.md) on the real service: widget events
 * counted in /metrics and the snapshot, beacons, hostile bodies, the A/B
 * variant and its conversion, ratings stored with the session, and the
 * revenue impact of the downtime the service measured itself.
 */
const EXPERIMENT = 'default-effect:color,pencilsketch';
let engine: Engine;
let app: PetcutApp;

beforeAll(async () => {
  engine = await startEngine();
  ({ app } = await buildApp(engine, { env: { PETCUT_EXPERIMENT: EXPERIMENT, PETCUT_ORDER_VALUE_USD: '40' } }));
});

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

const event = (payload: Record<string, unknown>, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url: '/v1/events', payload, headers });

/** A counter's value in /metrics for exactly these labels (0 when absent). */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)) && (l.match(/="/g) ?? []).length === wanted.length);
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('the experiment setting', () => {
  it('parses <experiment>:<variants> and refuses bad values naming the variable and what is allowed', () => {
    expect(parseExperiment('pet-finding:pets,all-salient')).toEqual({ name: 'pet-finding', variants: ['pets', 'all-salient'] });
    expect(parseExperiment(undefined)).toBeUndefined();
    expect(parseExperiment('off')).toBeUndefined();
    expect(() => loadServiceConfig(testEnv({ PETCUT_EXPERIMENT: 'default-effect:color,sepia' }))).toThrow(/PETCUT_EXPERIMENT: "sepia" is not a variant of default-effect: its variants are effect names \(color, .*pencilsketch/);
    expect(() => parseExperiment('colour-test:a,b')).toThrow(/PETCUT_EXPERIMENT: unknown experiment "colour-test": use one of default-effect, pet-finding/);
    expect(() => parseExperiment('default-effect:color')).toThrow(/give 2 to 4 variants/);
    expect(() => parseExperiment('default-effect:color,color')).toThrow(/named twice/);
    expect(() => parseExperiment('pet-finding')).toThrow(/must be <experiment>:<variant>,<variant>/);
    expect(() => loadServiceConfig(testEnv({ PETCUT_ORDER_VALUE_USD: 'lots' }))).toThrow(/PETCUT_ORDER_VALUE_USD/);
  });

  it('assigns a variant per session deterministically, split about evenly over 1000 sessions', () => {
    const experiment = parseExperiment(EXPERIMENT)!;
    const counts = { color: 0, pencilsketch: 0 } as Record<string, number>;
    for (let i = 0; i < 1000; i++) {
      const id = `session-${i.toString().padStart(6, '0')}`;
      const variant = assignVariant(experiment, id);
      expect(assignVariant(experiment, id)).toBe(variant);
      counts[variant]!++;
    }
    // Binomial(1000, 0.5): 5 standard deviations is +-79.
    expect(counts.color).toBeGreaterThan(420);
    expect(counts.pencilsketch).toBeGreaterThan(420);
    expect(counts.color! + counts.pencilsketch!).toBe(1000);
  });
});

describe('GET /v1/widget/config', () => {
  it('answers the session\'s variant and the defaults that follow from it, the same every time', async () => {
    const first = await app.inject({ method: 'GET', url: '/v1/widget/config?session_id=config-session-01' });
    expect(first.statusCode, first.body).toBe(200);
    const body = first.json<{ experiment: { name: string; variant: string }; defaults: { effect: string; subjects: string }; warm: boolean }>();
    expect(body.experiment.name).toBe('default-effect');
    expect(['color', 'pencilsketch']).toContain(body.experiment.variant);
    expect(body.defaults).toEqual({ effect: body.experiment.variant, subjects: 'pets' });
    expect(typeof body.warm).toBe('boolean');
    expect(first.headers['cache-control']).toBe('no-store');
    const again = await app.inject({ method: 'GET', url: '/v1/widget/config', headers: { 'x-session-id': 'config-session-01' } });
    expect(again.json()).toMatchObject({ experiment: body.experiment });
    // Without a session: no variant to give.
    expect((await app.inject({ method: 'GET', url: '/v1/widget/config' })).json()).toMatchObject({ experiment: null, defaults: { effect: 'color', subjects: 'pets' } });
    expectError(await app.inject({ method: 'GET', url: '/v1/widget/config?session_id=a&x=1' }), 400, /PETCUT_E_INVALID_SESSION_ID|PETCUT_E_INVALID_OPTION|PETCUT_E_UNKNOWN_FIELD/);
  });
});

describe('POST /v1/events', () => {
  it('counts events by event and variant in /metrics and the snapshot; bounded labels', async () => {
    const session = 'events-session-01';
    const variant = app.petcut.business.variantOf(session)!;
    const before = await metric('petcut_widget_events_total', { event: 'upload', variant });
    const beforeNone = await metric('petcut_widget_events_total', { event: 'download', variant: 'none' });
    expect((await event({ event: 'upload', sessionId: session })).statusCode).toBe(204);
    // The client's claimed variant loses to the session's own; an unknown one without a session is "none".
    expect((await event({ event: 'upload', sessionId: session, variant: 'not-a-variant' })).statusCode).toBe(204);
    expect((await event({ event: 'download', variant: '<script>' })).statusCode).toBe(204);
    expect((await event({ event: 'style_selected', effect: 'no-such-effect' })).statusCode).toBe(204);
    expect((await event({ event: 'style_selected', effect: 'halftone' })).statusCode).toBe(204);
    // What the widget sends along (web/widget/petcut-app.js): accepted, not a label.
    expect((await event({ event: 'error', code: 'PETCUT_E_NOT_READY', sessionId: session })).statusCode).toBe(204);
    expect((await event({ event: 'rating', rating: 'good', sessionId: session, ms: 120 })).statusCode).toBe(204);
    expectError(await event({ event: 'error', code: '<img src=x>' }), 400, 'PETCUT_E_INVALID_OPTION');
    expect(await metric('petcut_widget_events_total', { event: 'upload', variant })).toBe(before + 2);
    expect(await metric('petcut_widget_events_total', { event: 'download', variant: 'none' })).toBe(beforeNone + 1);
    expect(await metric('petcut_widget_styles_total', { effect: 'other' })).toBeGreaterThanOrEqual(1);
    expect(await metric('petcut_widget_styles_total', { effect: 'halftone' })).toBeGreaterThanOrEqual(1);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toContain('<script>');
    expect(metrics).not.toContain('no-such-effect');
    const snapshot = app.petcut.business.snapshot();
    expect(snapshot.scope).toBe('instance');
    expect(snapshot.events.byEvent.upload).toBeGreaterThanOrEqual(2);
    expect(snapshot.events.byVariant[variant]?.upload).toBeGreaterThanOrEqual(2);
    expect(snapshot.events.styles.halftone).toBeGreaterThanOrEqual(1);
  });

  it('takes a text/plain JSON body (navigator.sendBeacon) like JSON', async () => {
    const before = app.petcut.business.snapshot().events.byEvent.preview;
    const beacon = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'text/plain;charset=UTF-8', origin: 'http://localhost:5173' }, payload: JSON.stringify({ event: 'preview', sessionId: 'beacon-session-01' }) });
    expect(beacon.statusCode, beacon.body).toBe(204);
    expect(app.petcut.business.snapshot().events.byEvent.preview).toBe(before + 1);
    expect(beacon.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    // A simple request still goes through CORS: a page of another origin is refused, and nothing is counted.
    const foreign = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'text/plain', origin: 'https://evil.example' }, payload: JSON.stringify({ event: 'preview' }) });
    expectError(foreign, 403, 'PETCUT_E_ORIGIN_NOT_ALLOWED');
    expect(app.petcut.business.snapshot().events.byEvent.preview).toBe(before + 1);
  });

  it('refuses hostile bodies with a 4xx and a code, counting nothing', async () => {
    const before = app.petcut.business.snapshot().events.total;
    const unknown = expectError(await event({ event: 'buy_everything' }), 400, 'PETCUT_E_INVALID_OPTION');
    expect(unknown.error.message).toMatch(/event/);
    expectError(await event({ event: 'upload', extra: 'x' }), 400, /PETCUT_E_INVALID_OPTION|PETCUT_E_UNKNOWN_FIELD/);
    expectError(await event({ event: 'upload', ms: -1 }), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await event({ event: 'upload', sessionId: '../../etc/passwd' }), 400, 'PETCUT_E_INVALID_SESSION_ID');
    expectError(await event({ event: 'upload', sessionId: 'events-session-01' }, { 'x-session-id': 'events-session-02' }), 400, 'PETCUT_E_SESSION_CONFLICT');
    expectError(await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'text/plain' }, payload: '{"event": "upload"' }), 400, 'PETCUT_E_BAD_REQUEST');
    expectError(await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: '[1,2' }), 400, 'PETCUT_E_BAD_REQUEST');
    expectError(await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ event: 'upload', effect: 'x'.repeat(5000) }) }), 413, 'PETCUT_E_PAYLOAD_TOO_LARGE');
    expectError(await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'event=upload' }), 415, 'PETCUT_E_UNSUPPORTED_MEDIA_TYPE');
    expect(app.petcut.business.snapshot().events.total).toBe(before);
  });
});

describe('the experiment\'s conversion per variant', () => {
  it('counts sessions that saw a cut-out and those that then added to cart, per variant, in the snapshot and /metrics', async () => {
    const experiment = parseExperiment(EXPERIMENT)!;
    const ids = Array.from({ length: 40 }, (_, i) => `funnel-session-${String(i).padStart(3, '0')}`);
    const before = app.petcut.business.snapshot().experiment!.results;
    const expected: Record<string, { sawCutout: number; addedToCart: number }> = { color: { sawCutout: 0, addedToCart: 0 }, pencilsketch: { sawCutout: 0, addedToCart: 0 } };
    for (const [i, id] of ids.entries()) {
      const variant = assignVariant(experiment, id);
      await event({ event: 'upload', sessionId: id });
      await event({ event: 'cutout_shown', sessionId: id });
      await event({ event: 'cutout_shown', sessionId: id });
      expected[variant]!.sawCutout++;
      // pencilsketch sessions add to cart 3 in 4, color ones 1 in 4 (twice each: counted once).
      if ((variant === 'pencilsketch' ? i % 4 !== 0 : i % 4 === 0)) {
        await event({ event: 'add_to_cart', sessionId: id });
        await event({ event: 'add_to_cart', sessionId: id });
        expected[variant]!.addedToCart++;
      }
    }
    // An add-to-cart without a cut-out seen is no conversion.
    await event({ event: 'add_to_cart', sessionId: 'funnel-session-no-cutout' });
    const results = app.petcut.business.snapshot().experiment!.results;
    for (const variant of experiment.variants) {
      const was = before.find((r) => r.variant === variant)!;
      const now = results.find((r) => r.variant === variant)!;
      expect(now.sawCutout - was.sawCutout, variant).toBe(expected[variant]!.sawCutout);
      expect(now.addedToCart - was.addedToCart, variant).toBe(expected[variant]!.addedToCart);
      expect(now.conversion).toBeCloseTo(now.addedToCart / now.sawCutout, 10);
      expect(await metric('petcut_experiment_sessions_total', { experiment: 'default-effect', variant, stage: 'add_to_cart' })).toBe(now.addedToCart);
      expect(await metric('petcut_experiment_sessions_total', { experiment: 'default-effect', variant, stage: 'cutout_shown' })).toBe(now.sawCutout);
    }
    expect(expected.pencilsketch!.sawCutout).toBeGreaterThan(5);
    const pencil = results.find((r) => r.variant === 'pencilsketch')!;
    const color = results.find((r) => r.variant === 'color')!;
    expect(pencil.conversion!).toBeGreaterThan(color.conversion!);
  });
});

describe('POST /v1/sessions/{id}/feedback', () => {
  it('stores the rating with the session in the store, counts it, and keeps it out of the image list', async () => {
    const session = 'rating-session-01';
    const stored = await app.inject({ method: 'POST', url: `/v1/sessions/${session}/images`, payload: form([{ data: await photo(64, 48, 'jpeg') }]) });
    expect(stored.statusCode, stored.body).toBe(201);
    const imageId = stored.json<{ id: string }>().id;
    const variant = app.petcut.business.variantOf(session)!;
    const goodBefore = await metric('petcut_satisfaction_ratings_total', { rating: 'good', variant });
    const rated = await app.inject({ method: 'POST', url: `/v1/sessions/${session}/feedback`, payload: { rating: 'good', imageId } });
    expect(rated.statusCode, rated.body).toBe(201);
    expect(rated.json()).toMatchObject({ stored: true, variant, tier: 'temporary' });
    expect((await app.inject({ method: 'POST', url: `/v1/sessions/${session}/feedback`, headers: { 'content-type': 'text/plain' }, payload: JSON.stringify({ rating: 'bad' }) })).statusCode).toBe(201);
    const ratings = await listRatings(app.petcut.store, session);
    expect(ratings.map((r) => [r.rating, r.imageId, r.variant, r.tier])).toEqual([['good', imageId, variant, 'temporary'], ['bad', undefined, variant, 'temporary']]);
    expect(ratings[0]!.key).toMatch(new RegExp(`^sessions/temporary/${session}/`));
    expect(await metric('petcut_satisfaction_ratings_total', { rating: 'good', variant })).toBe(goodBefore + 1);
    const listed = await app.inject({ method: 'GET', url: `/v1/sessions/${session}/images` });
    expect(listed.json<{ images: Array<{ id: string }> }>().images.map((i) => i.id)).toEqual([imageId]);
    const s = app.petcut.business.snapshot().satisfaction;
    expect(s.good).toBeGreaterThanOrEqual(1);
    expect(s.bad).toBeGreaterThanOrEqual(1);
    expect(s.shareGood).toBeCloseTo(s.good / (s.good + s.bad), 10);
    expect(s.byVariant[variant]?.good).toBeGreaterThanOrEqual(1);
    expectError(await app.inject({ method: 'POST', url: `/v1/sessions/${session}/feedback`, payload: { rating: 'meh' } }), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await app.inject({ method: 'POST', url: `/v1/sessions/${session}/feedback`, payload: { rating: 'good', imageId: '../x' } }), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await app.inject({ method: 'POST', url: '/v1/sessions/bad!/feedback', payload: { rating: 'good' } }), 400, 'PETCUT_E_INVALID_SESSION_ID');
  });
});

describe('revenue impact of downtime', () => {
  it('is the measured failed share per minute, priced by the order value and orders a day', async () => {
    let now = Date.parse('2026-12-01T10:00:00Z');
    // No engine ever loads here: every cut-out is a 503 the service itself answers (and measures).
    const { app: down } = await buildApp(new Promise<Engine>(() => undefined), { clock: () => new Date(now), env: { PETCUT_ORDER_VALUE_USD: '50', PETCUT_ORDERS_PER_DAY: '1440' } });
    try {
      const image = await photo(32, 24, 'jpeg');
      for (let i = 0; i < 6; i++) expect((await down.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: image }]) })).statusCode).toBe(503);
      for (let i = 0; i < 4; i++) expect((await down.inject({ method: 'GET', url: '/v1/widget/config' })).statusCode).toBe(200);
      // Probes are not in the SLO's count.
      for (let i = 0; i < 5; i++) await down.inject({ method: 'GET', url: '/healthz' });
      now += 60_000;
      for (let i = 0; i < 2; i++) expect((await down.inject({ method: 'GET', url: '/v1/widget/config' })).statusCode).toBe(200);
      now += 60_000;
      const revenue = down.petcut.business.snapshot().revenue;
      expect(revenue).toMatchObject({ requests: 12, failed: 6, orderValueUsd: 50, ordersPerDay: 1440, ordersPerDaySource: 'configured', windowMinutes: 2 });
      expect(revenue.failedShare).toBeCloseTo(0.5, 10);
      // Minute 1: 6 of 10 failed = 0.6 minute down; minute 2: none.
      expect(revenue.downtimeMinutes).toBeCloseTo(0.6, 10);
      expect(revenue.lostOrders).toBeCloseTo(0.6, 10);
      expect(revenue.lostRevenueUsd).toBeCloseTo(30, 10);
    } finally {
      await down.close();
    }
  });

  it('uses the measured add-to-cart rate when no orders a day are configured; no price without an order value', () => {
    const revenue = app.petcut.business.snapshot().revenue;
    expect(revenue.ordersPerDaySource).toBe('measured');
    expect(revenue.ordersPerDay).toBeGreaterThan(0);
    expect(revenue.orderValueUsd).toBe(40);
    expect(revenue.lostRevenueUsd).toBeCloseTo((revenue.downtimeMinutes / 1440) * revenue.ordersPerDay! * 40, 10);
  });
});

describe('the OpenAPI document', () => {
  it('has the widget\'s routes and the report with their summaries', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { summary?: string; tags?: string[] }>> }>();
    for (const [path, method] of [['/v1/widget/config', 'get'], ['/v1/events', 'post'], ['/v1/sessions/{sessionId}/feedback', 'post'], ['/v1/admin/report', 'get']] as const) {
      expect(doc.paths[path]?.[method]?.summary?.length, `${method} ${path}`).toBeGreaterThan(20);
    }
    expect(doc.paths['/v1/events']!.post!.tags).toEqual(['widget']);
  });
});

describe('GET /v1/admin/report', () => {
  it('is for operators only', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/admin/report' })).statusCode).toBe(401);
    const md = await app.inject({ method: 'GET', url: '/v1/admin/report?format=md', headers: OPERATOR });
    expect(md.statusCode, md.body.slice(0, 300)).toBe(200);
    expect(md.headers['content-type']).toMatch(/^text\/markdown/);
    expect(md.body).toMatch(/## Feedback/);
  });
});
