import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import { checkImageBytes } from '../src/security/imageCheck.js';
import type { UploadPolicy } from '../src/security/imageCheck.js';
import type { ObjectStore } from '../src/storage/index.js';
import { buildApp, DAY_MS, expectError, form, OPERATOR, pathOf, photo, startEngine } from './support/app.js';
import { motionVideo } from './support/craft.js';

let app: PetcutApp;
let dir: string;
let store: ObjectStore;
let offsetMs = 0; // the sessions' clock runs this far ahead of real time
const POLICY: UploadPolicy = { maxBytes: 30 * 1024 * 1024, maxDimension: 4096, maxPixels: 4096 * 4096, animated: 'first-frame', trailingData: 'strip' };

beforeAll(async () => {
  const engine = await startEngine();
  ({ app, dir, store } = await buildApp(engine, { env: { PETCUT_CACHE_DAYS: '2' }, clock: () => new Date(Date.now() + offsetMs) }));
});
afterAll(async () => {
  await app?.shutdown();
});

interface ImageView { id: string; kind: string; effect?: string; source?: string; contentType: string; size: number; tier: string; createdAt: string; expiresAt: string; url: string }

const upload = async (sessionId: string, data: Buffer, filename = 'photo.jpg', type?: string) => {
  const response = await app.inject({ method: 'POST', url: `/v1/sessions/${sessionId}/images`, payload: form([{ data, filename, type }]) });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<ImageView>();
};
const list = async (sessionId: string): Promise<ImageView[]> => {
  const response = await app.inject({ method: 'GET', url: `/v1/sessions/${sessionId}/images` });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ sessionId: string; images: ImageView[] }>().images;
};
/** Order completion is an operator's (or Shopify's webhook's) decision: these calls carry the operator key. */
const order = (sessionId: string, body?: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: `/v1/sessions/${sessionId}/order`, headers: OPERATOR, ...(body ? { payload: body } : {}) });
const lifetimeDays = (image: ImageView): number => (Date.parse(image.expiresAt) - Date.parse(image.createdAt)) / DAY_MS;
const onDisk = async (tier: string, sessionId: string): Promise<string[]> =>
  (await readdir(join(dir, 'sessions', tier, sessionId)).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));

describe('storing customer photos', () => {
  it('strips EXIF (GPS included) and keeps the orientation applied', async () => {
    const base = await photo(320, 240, 'jpeg');
    const gps = await sharp(base).withExif({
      IFD0: { Make: 'PetPhone', Model: 'Model X' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
    }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const input = await sharp(gps).metadata();
    expect(input.orientation).toBe(6);
    expect(input.exif!.includes('PetPhone')).toBe(true);
    expect(input.exif!.includes(Buffer.from([0x88, 0x25])) || input.exif!.includes(Buffer.from([0x25, 0x88]))).toBe(true); // the GPS IFD pointer
    const image = await upload('gps-session-01', gps);
    expect(image).toMatchObject({ kind: 'original', contentType: 'image/jpeg', tier: 'temporary' });
    const stored = await app.inject({ method: 'GET', url: pathOf(image.url) });
    expect(stored.statusCode).toBe(200);
    expect(stored.headers['content-type']).toBe('image/jpeg');
    expect(stored.headers['x-tier']).toBe('temporary');
    const meta = await sharp(stored.rawPayload).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.orientation ?? 1).toBe(1);
    expect([meta.width, meta.height]).toEqual([240, 320]);
    expect(stored.rawPayload.includes('PetPhone')).toBe(false);
    expect(image.size).toBe(stored.rawPayload.length);
  });

  it('drops what followed the image (a motion-photo video) along with the EXIF: the original is re-encoded', async () => {
    const base = await sharp(await photo(160, 120, 'jpeg')).withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } }).jpeg().toBuffer();
    // A well-formed MP4 (the trailing structures phones append are the only ones the gate lets through).
    const video = motionVideo(Buffer.concat([Buffer.from('PETCUT-MOTION-PHOTO-PAYLOAD', 'latin1'), Buffer.alloc(4000, 0x2a)]));
    const input = Buffer.concat([base, video]);
    expect(checkImageBytes(input, { ...POLICY, trailingData: 'strip' }).trailingBytes).toBe(video.length);
    const image = await upload('motion-session-01', input);
    const stored = (await app.inject({ method: 'GET', url: pathOf(image.url) })).rawPayload;
    expect(stored.includes('PETCUT-MOTION-PHOTO-PAYLOAD')).toBe(false);
    expect(checkImageBytes(stored, { ...POLICY, trailingData: 'reject' })).toMatchObject({ format: 'jpeg', width: 160, height: 120, trailingBytes: 0 });
    expect((await sharp(stored).metadata()).exif).toBeUndefined();
  });

  it('two uploads in the same millisecond get different ids and both are kept', async () => {
    const [a, b] = await Promise.all([photo(160, 120, 'jpeg'), photo(160, 120, 'jpeg', 10)]);
    const frozen = vi.spyOn(Date, 'now').mockReturnValue(Date.parse('2026-01-01T12:00:00.000Z'));
    let images: ImageView[];
    try {
      images = await Promise.all([upload('same-ms-session', a!), upload('same-ms-session', b!)]);
    } finally {
      frozen.mockRestore();
    }
    expect(images[0]!.id.slice(0, 9)).toBe(images[1]!.id.slice(0, 9)); // the same time part
    expect(images[0]!.id).not.toBe(images[1]!.id);
    expect((await list('same-ms-session')).map((i) => i.id).sort()).toEqual(images.map((i) => i.id).sort());
    expect(await onDisk('temporary', 'same-ms-session')).toHaveLength(2);
  });

  it('the extension and type follow the real content, not the file name', async () => {
    const png = await upload('ext-session-01', await photo(160, 120, 'png'), 'photo.jpg', 'image/jpeg');
    expect(png.contentType).toBe('image/png');
    const webp = await upload('ext-session-01', await photo(160, 120, 'webp'), 'photo.png', 'image/png');
    expect(webp.contentType).toBe('image/webp');
    expect((await onDisk('temporary', 'ext-session-01')).sort()).toEqual([`${png.id}.png`, `${webp.id}.webp`].sort());
    const served = await app.inject({ method: 'GET', url: pathOf(png.url) });
    expect(served.headers['content-type']).toBe('image/png');
  });

  it('the list shows each image as temporary for 7 days', async () => {
    const images = await list('ext-session-01');
    expect(images).toHaveLength(2);
    for (const image of images) {
      expect(image.tier).toBe('temporary');
      expect(lifetimeDays(image)).toBeCloseTo(7, 3);
      expect(Math.abs(Date.parse(image.createdAt) - Date.now())).toBeLessThan(60_000);
      expect(image.url).toMatch(new RegExp(`/v1/sessions/ext-session-01/images/${image.id}$`));
    }
  });

  it('a cut-out with X-Session-ID is stored in the session beside its original', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: await photo(320, 240, 'jpeg', 5) }]), headers: { 'x-session-id': 'cutout-session-1' } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-session-id']).toBe('cutout-session-1');
    const images = await list('cutout-session-1');
    const original = images.find((i) => i.kind === 'original');
    const cutout = images.find((i) => i.kind === 'cutout');
    expect(original).toMatchObject({ contentType: 'image/jpeg' });
    expect(cutout).toMatchObject({ contentType: 'image/png', effect: 'color', source: original!.id });
    const stored = await app.inject({ method: 'GET', url: pathOf(cutout!.url) });
    expect(stored.rawPayload.equals(response.rawPayload)).toBe(true);
  });
});

describe('order tiers', () => {
  it('an order moves the images to order_completed (180 days) on disk, and their URLs keep working', async () => {
    const before = await list('ext-session-01');
    const bytes = await Promise.all(before.map(async (i) => (await app.inject({ method: 'GET', url: pathOf(i.url) })).rawPayload));
    const response = await order('ext-session-01');
    expect(response.statusCode, response.body).toBe(200);
    const moved = response.json<{ tier: string; moved: number; images: ImageView[] }>();
    expect(moved).toMatchObject({ tier: 'order_completed', moved: 2 });
    const after = await list('ext-session-01');
    expect(after.map((i) => [i.id, i.url])).toEqual(before.map((i) => [i.id, i.url]));
    for (const [n, image] of after.entries()) {
      expect(image.tier).toBe('order_completed');
      // 180 days from the order (the clock restarts in the new tier); the upload time is kept.
      expect((Date.parse(image.expiresAt) - Date.now()) / DAY_MS).toBeCloseTo(180, 2);
      expect(image.createdAt).toBe(before[n]!.createdAt);
      const served = await app.inject({ method: 'GET', url: pathOf(image.url) });
      expect(served.statusCode).toBe(200);
      expect(served.headers['x-tier']).toBe('order_completed');
      expect(served.rawPayload.equals(bytes[n]!)).toBe(true);
    }
    expect(await onDisk('order_completed', 'ext-session-01')).toHaveLength(2);
    expect(existsSync(join(dir, 'sessions', 'temporary', 'ext-session-01'))).toBe(false);
  });

  it('pending is 30 days; tiers only move up (pending after completed changes nothing)', async () => {
    await upload('tier-session-01', await photo(160, 120, 'jpeg'));
    const pending = await order('tier-session-01', { status: 'pending', orderId: '#1001' });
    expect(pending.json()).toMatchObject({ tier: 'order_pending', moved: 1 });
    expect(lifetimeDays((await list('tier-session-01'))[0]!)).toBeCloseTo(30, 3);
    expect((await order('tier-session-01', { status: 'completed' })).json()).toMatchObject({ moved: 1 });
    const again = await order('tier-session-01', { status: 'pending' });
    expect(again.json()).toMatchObject({ moved: 0, images: [{ tier: 'order_completed' }] });
    expect((await order('tier-session-01', { status: 'archived' })).json()).toMatchObject({ moved: 1, images: [{ tier: 'archived' }] });
    expect(lifetimeDays((await list('tier-session-01'))[0]!)).toBeCloseTo(730, 3);
    expect(await onDisk('order_completed', 'tier-session-01')).toEqual([]);
  });

  it('unknown sessions and images get 404; bad order bodies 400', async () => {
    expectError(await app.inject({ method: 'GET', url: '/v1/sessions/never-seen-01/images' }), 404, 'PETCUT_E_SESSION_NOT_FOUND');
    expectError(await order('never-seen-01'), 404, 'PETCUT_E_SESSION_NOT_FOUND');
    expectError(await app.inject({ method: 'GET', url: '/v1/sessions/ext-session-01/images/0mx0oase3-yZbKV9gTbCo' }), 404, 'PETCUT_E_IMAGE_NOT_FOUND');
    expectError(await app.inject({ method: 'GET', url: '/v1/sessions/ext-session-01/images/..%2F..%2Fcache' }), 404, 'PETCUT_E_IMAGE_NOT_FOUND');
    expectError(await order('ext-session-01', { status: 'shipped' }), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await order('ext-session-01', { status: 'completed', refund: true }), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await app.inject({ method: 'GET', url: '/v1/sessions/a/b/images' }), 404, 'PETCUT_E_NOT_FOUND');
  });

  it('an invalid session id gets 400 PETCUT_E_INVALID_SESSION_ID wherever it appears', async () => {
    for (const bad of ['x', 'has%20space1', '..%2F..%2Fetc1', 'a'.repeat(65)]) {
      expectError(await app.inject({ method: 'GET', url: `/v1/sessions/${bad}/images` }), 400, 'PETCUT_E_INVALID_SESSION_ID');
      expectError(await app.inject({ method: 'POST', url: `/v1/sessions/${bad}/images`, payload: form([{ data: await photo(160, 120) }]) }), 400, 'PETCUT_E_INVALID_SESSION_ID');
    }
    expectError(await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: await photo(160, 120) }]), headers: { 'x-session-id': 'x' } }), 400, 'PETCUT_E_INVALID_SESSION_ID');
    expect(existsSync(join(dir, 'sessions', 'temporary', 'x'))).toBe(false);
  });
});

describe('expiry sweep (local disk) on the sessions clock', () => {
  it('keeps what is young, drops the cache after PETCUT_CACHE_DAYS, temporary after 7 days, order_completed after 180', async () => {
    await app.petcut.processing.drain();
    await upload('sweep-temp-0001', await photo(160, 120));
    await upload('sweep-order-001', await photo(160, 120, 'png'));
    await order('sweep-order-001');
    const cacheEntries = (await store.list('cache/')).length;
    expect(cacheEntries).toBeGreaterThanOrEqual(3); // master, alias and render of the cut-out above

    offsetMs = 1 * DAY_MS;
    expect((await app.petcut.sessions.sweep()).deleted).toBe(0);
    offsetMs = 3 * DAY_MS;
    expect((await app.petcut.sessions.sweep()).deleted).toBe(cacheEntries);
    expect(await store.list('cache/')).toEqual([]);
    expect(await list('sweep-temp-0001')).toHaveLength(1);

    offsetMs = 8 * DAY_MS;
    await app.petcut.sessions.sweep();
    expectError(await app.inject({ method: 'GET', url: '/v1/sessions/sweep-temp-0001/images' }), 404, 'PETCUT_E_SESSION_NOT_FOUND');
    expect(existsSync(join(dir, 'sessions', 'temporary', 'sweep-temp-0001'))).toBe(false);
    const kept = await list('sweep-order-001');
    expect(kept).toHaveLength(1);
    expect((await app.inject({ method: 'GET', url: pathOf(kept[0]!.url) })).statusCode).toBe(200);
    expect(await list('ext-session-01')).toHaveLength(2); // order_completed too

    offsetMs = 181 * DAY_MS;
    await app.petcut.sessions.sweep();
    expectError(await app.inject({ method: 'GET', url: '/v1/sessions/sweep-order-001/images' }), 404, 'PETCUT_E_SESSION_NOT_FOUND');
    expectError(await app.inject({ method: 'GET', url: pathOf(kept[0]!.url) }), 404, 'PETCUT_E_IMAGE_NOT_FOUND');
    expect(await list('tier-session-01')).toHaveLength(1); // archived: 730 days
    offsetMs = 0;
  });
});
