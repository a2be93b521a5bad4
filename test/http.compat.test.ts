import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { buildApp, form, listen, pathOf, photo, Probe, sniff, startEngine } from './support/app.js';

/**
 * The first version's storefront routes: same engine, cache and sessions as
 * /v1, with the old response shapes (SPEC.md "Compatibility").
 */
let engine: Engine;
let app: PetcutApp;
let base: string;

beforeAll(async () => {
  engine = await startEngine();
  ({ app } = await buildApp(engine));
  base = await listen(app);
});

afterAll(async () => {
  await app.shutdown();
});

interface ProcessBody {
  success: boolean;
  effects: Record<string, string>;
  processing_time: { total: number; background_removal: number; effects_processing: number };
  session_id?: string;
}

describe('POST /api/v2/process-with-effects', () => {
  it('returns every asked effect as a base64 PNG with the first version\'s timing fields, and streams progress to /ws/progress', async () => {
    const session = 'compat-session-1';
    const probe = new Probe(`${base.replace('http', 'ws')}/ws/progress/${session}`);
    await probe.opened;
    await probe.next((m) => m.type === 'connected');
    const upload = form([{ data: await photo(240, 180), field: 'file' }]);
    const sentAt = performance.now();
    const response = await fetch(`${base}/api/v2/process-with-effects?effects=color&session_id=${session}`, { method: 'POST', body: upload });
    const roundTripS = (performance.now() - sentAt) / 1000;
    expect(response.status).toBe(200);
    const body = await response.json() as ProcessBody;
    expect(body.success).toBe(true);
    expect(body.session_id).toBe(session);
    expect(Object.keys(body.effects)).toEqual(['color']);
    const png = Buffer.from(body.effects.color!, 'base64');
    expect(sniff(png)).toBe('png');
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([240, 180, 4]);
    for (const key of ['total', 'background_removal', 'effects_processing'] as const) expect(typeof body.processing_time[key]).toBe('number');
    expect(body.processing_time.total).toBeGreaterThanOrEqual(body.processing_time.background_removal);
    // Seconds, not milliseconds: the server's time (rounded to the ms) fits in the round trip it was part of; in ms it would not.
    expect(body.processing_time.total).toBeLessThanOrEqual(roundTripS + 0.001);

    const summary = await probe.next((m) => m.type === 'completion_summary');
    expect(summary).toMatchObject({ session_id: session, effects: ['color'] });
    const stages = probe.messages.filter((m) => m.type === 'stage_progress');
    expect(stages.length).toBeGreaterThan(2);
    for (const stage of stages) {
      expect(typeof stage.stage).toBe('string');
      expect(typeof stage.message).toBe('string');
      expect(typeof stage.eta_seconds).toBe('number');
    }
    const progress = stages.map((s) => s.progress as number);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    probe.send({ type: 'ping' });
    expect((await probe.next((m) => m.type === 'pong')).type).toBe('pong');
    probe.send('not json');
    expect(await probe.next((m) => m.type === 'error')).toMatchObject({ code: 'PETCUT_E_BAD_REQUEST' });
    probe.close();
  });

  it('return_all_effects=true gives every registered effect; errors are {success:false} with a code', async () => {
    const all = await app.inject({ method: 'POST', url: '/api/v2/process-with-effects?return_all_effects=true', payload: form([{ data: await photo(200, 150), field: 'file' }]) });
    const effects = (await app.inject('/api/v2/effects')).json<{ effects: string[] }>().effects;
    expect(Object.keys(all.json<ProcessBody>().effects).sort()).toEqual([...effects].sort());
    const unknown = await app.inject({ method: 'POST', url: '/api/v2/process-with-effects?effects=sepia-noir', payload: form([{ data: await photo(200, 150), field: 'file' }]) });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({ success: false, code: 'PETCUT_E_UNKNOWN_EFFECT' });
    const missing = await app.inject({ method: 'POST', url: '/api/v2/process-with-effects', payload: form([], { session_id: 'compat-session-2' }) });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ success: false, code: 'PETCUT_E_MISSING_FILE' });
    const text = await app.inject({ method: 'POST', url: '/api/v2/process-with-effects', payload: form([{ data: Buffer.from('hello'), field: 'file', type: 'text/plain' }]) });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ success: false, code: 'PETCUT_E_UNSUPPORTED_FORMAT' });
  });
});

describe('POST /remove-background', () => {
  it.each([['webp', 'image/webp'], ['jpeg', 'image/jpeg'], ['png', 'image/png']])('output_format=%s is honoured: the bytes are %s (lesson 8)', async (format, type) => {
    const response = await app.inject({ method: 'POST', url: `/remove-background?output_format=${format}&quality=70`, payload: form([{ data: await photo(200, 150), field: 'file' }]) });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(type);
    expect(sniff(response.rawPayload)).toBe(format);
  });

  it('a bad output_format is a coded 400 before any processing', async () => {
    const response = await app.inject({ method: 'POST', url: '/remove-background?output_format=gif', payload: form([{ data: await photo(200, 150), field: 'file' }]) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ success: false, code: 'PETCUT_E_INVALID_OPTION' });
  });
});

describe('storage routes', () => {
  it('POST /store-image then GET /session/{id}/images list it with a working URL', async () => {
    const session = 'compat-store-1';
    const stored = await app.inject({ method: 'POST', url: '/store-image', payload: form([{ data: await photo(160, 120, 'png'), field: 'file', filename: 'x.jpg' }], { session_id: session }) });
    expect(stored.statusCode).toBe(200);
    const body = stored.json<{ success: boolean; session_id: string; image_id: string; url: string; tier: string; expires_at: string; content_type: string }>();
    expect(body).toMatchObject({ success: true, session_id: session, tier: 'temporary', content_type: 'image/png' });
    const listed = await app.inject(`/session/${session}/images`);
    expect(listed.statusCode).toBe(200);
    const list = listed.json<{ success: boolean; count: number; images: Array<{ id: string; url: string; tier: string }> }>();
    expect(list).toMatchObject({ success: true, count: 1 });
    expect(list.images[0]).toMatchObject({ id: body.image_id, url: body.url, tier: 'temporary' });
    const image = await app.inject(pathOf(body.url));
    expect(image.statusCode).toBe(200);
    expect(sniff(image.rawPayload)).toBe('png');
    const unknown = await app.inject('/session/nobody-here-123/images');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ success: false, code: 'PETCUT_E_SESSION_NOT_FOUND' });
  });

  it('GET /api/v2/effects lists names with details', async () => {
    const body = (await app.inject('/api/v2/effects')).json<{ success: boolean; effects: string[]; details: Record<string, { parameters: object }> }>();
    expect(body.success).toBe(true);
    expect(body.effects).toContain('color');
    expect(Object.keys(body.details).sort()).toEqual([...body.effects].sort());
  });
});
