import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { buildApp, controlledStore, expectError, finishedJob, form, photo, pathOf, sniff, startEngine } from './support/app.js';
import type { ControlledStore, JobView } from './support/app.js';
import { until } from './support/wait.js';
import { sharedPath, sharedPresent } from './support/shared.js';

/**
 * Re-style without re-upload (#19): POST /v1/sessions/{s}/images/{id}/renders
 * renders a stored photo again. The stored original is re-encoded (its bytes
 * and pixels differ from the upload), yet a style switch after a job starts
 * from the job's cached cut-out (HIT-CUTOUT, no model run); a new selection
 * (`point`) runs the model on the stored photo.
 */
const S = 'renders-session-0001';
const OTHER = 'renders-session-0002';
const HEADERS = { 'x-session-id': S };

let engine: Engine;
let app: PetcutApp;
let control: ControlledStore;
/** Two pets side by side (cat left, dog right) when ../shared is there; a generated photo otherwise. */
let upload: Buffer;
let twoPets = false;
let originalId: string;
let job: JobView;

interface Rendered {
  cache: string;
  sessionId: string;
  sourceId: string;
  petFound?: boolean;
  subjects?: Array<{ label: string; kept: boolean; box: { x: number; y: number; width: number; height: number } }>;
  results: Array<{ effect: string; format: string; contentType: string; width: number; height: number; url: string; imageId: string; box: { x: number; width: number } | null }>;
}

const renders = (query: string, options: { session?: string; image?: string; headers?: Record<string, string> } = {}) => app.inject({
  method: 'POST', url: `/v1/sessions/${options.session ?? S}/images/${options.image ?? originalId}/renders${query}`, headers: options.headers ?? {},
});

/** Mean absolute difference per channel value between two images of the same size (RGBA). */
async function meanDifference(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((data) => sharp(data).ensureAlpha().raw().toBuffer({ resolveWithObject: true })));
  expect([x!.info.width, x!.info.height]).toEqual([y!.info.width, y!.info.height]);
  let sum = 0;
  for (let i = 0; i < x!.data.length; i++) sum += Math.abs(x!.data[i]! - y!.data[i]!);
  return sum / x!.data.length;
}

/** Cut-outs that ran the model (cache misses), as /metrics counts them. */
const modelRuns = async (): Promise<number> => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith('petcut_cache_requests_total') && l.includes('result="miss"'));
  return line ? Number(line.split(' ').pop()) : 0;
};

beforeAll(async () => {
  engine = await startEngine();
  ({ app } = await buildApp(engine, { wrapStore: (inner) => (control = controlledStore(inner)).store }));
  twoPets = sharedPresent('fixtures/pets/cat_chelsea_skimage.png', 'fixtures/pets/dog_saluki_gfm_sample3.jpg');
  if (twoPets) {
    const cat = await sharp(await readFile(sharedPath('fixtures/pets/cat_chelsea_skimage.png'))).resize(450, 300, { fit: 'cover' }).toBuffer();
    const dog = await sharp(await readFile(sharedPath('fixtures/pets/dog_saluki_gfm_sample3.jpg'))).resize(450, 300, { fit: 'cover' }).toBuffer();
    upload = await sharp({ create: { width: 900, height: 300, channels: 3, background: '#808080' } })
      .composite([{ input: cat, left: 0, top: 0 }, { input: dog, left: 450, top: 0 }]).jpeg({ quality: 90 }).toBuffer();
  } else {
    upload = await photo(320, 240);
  }
  const created = await app.inject({ method: 'POST', url: '/v1/jobs?effects=color&size=256', headers: HEADERS, payload: form([{ data: upload }]) });
  expect(created.statusCode, created.body).toBe(202);
  job = await finishedJob(app, created.json<JobView>().id);
  expect(job.status, JSON.stringify(job)).toBe('succeeded');
  originalId = pathOf(job.files[0]!.originalUrl!).split('/').pop()!;
}, 180_000);

afterAll(async () => {
  await app?.petcut.processing.drain();
  await app?.close();
  await engine?.close();
});

describe('POST /v1/sessions/{sessionId}/images/{imageId}/renders', () => {
  it('after a job, another style renders from the cached cut-out (HIT-CUTOUT, no model run), stored in the session; it matches a fresh cut-out of that style', async () => {
    const runs = await modelRuns();
    const response = await renders('?effects=popart&size=256', { headers: HEADERS });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['x-cache']).toBe('HIT-CUTOUT');
    expect(response.headers['x-effect']).toBe('popart');
    expect(response.headers['x-session-id']).toBe(S);
    const body = response.json<Rendered>();
    expect(body).toMatchObject({ cache: 'cutout', sessionId: S, sourceId: originalId });
    expect(body.results).toHaveLength(1);
    const [result] = body.results;
    expect(result).toMatchObject({ effect: 'popart', format: 'png', contentType: 'image/png' });
    expect(Math.max(result!.width, result!.height)).toBe(256);
    expect(pathOf(result!.url)).toBe(`/v1/sessions/${S}/images/${result!.imageId}`);
    expect(await modelRuns()).toBe(runs);
    // Stored beside the original, as a cut-out of it.
    const listed = (await app.inject({ method: 'GET', url: `/v1/sessions/${S}/images` })).json<{ images: Array<{ id: string; kind: string; effect?: string; source?: string }> }>().images;
    expect(listed.find((i) => i.id === result!.imageId)).toMatchObject({ kind: 'cutout', effect: 'popart', source: originalId });
    const stored = await app.inject({ method: 'GET', url: pathOf(result!.url) });
    expect(stored.statusCode).toBe(200);
    expect(sniff(stored.rawPayload)).toBe('png');
    // A fresh cut-out of the upload in the same style: the same picture.
    const fresh = await app.inject({ method: 'POST', url: '/v1/cutouts?effects=popart&size=256', payload: form([{ data: upload }]) });
    expect(fresh.statusCode).toBe(200);
    expect(await meanDifference(stored.rawPayload, fresh.rawPayload)).toBeLessThan(1);
    // The same render again: every output from the cache.
    const again = await renders('?effects=popart&size=256', { headers: HEADERS });
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.json<Rendered>().cache).toBe('hit');
  });

  it('format, quality and several styles at once; answered with the cut-out headers', async () => {
    const response = await renders('?effects=color,pencilsketch&format=webp&quality=80&size=200');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['x-cache']).toBe('HIT-CUTOUT');
    expect(String(response.headers['x-source-width'])).toBe(twoPets ? '900' : '320');
    const body = response.json<Rendered>();
    expect(body.results.map((r) => [r.effect, r.format])).toEqual([['color', 'webp'], ['pencilsketch', 'webp']]);
    for (const result of body.results) expect(sniff((await app.inject({ method: 'GET', url: pathOf(result.url) })).rawPayload)).toBe('webp');
    if (twoPets) {
      expect(body.petFound).toBe(true);
      expect(response.headers['x-petcut-pet-found']).toBe('true');
    }
  });

  it('a cut-out\'s id resolves to its original', async () => {
    const cutoutId = job.files[0]!.results![0]!.imageId;
    const response = await renders('?effects=duotone&size=128', { image: cutoutId });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json<Rendered>()).toMatchObject({ sourceId: originalId, cache: 'cutout' });
    const listed = (await app.inject({ method: 'GET', url: `/v1/sessions/${S}/images` })).json<{ images: Array<{ id: string; source?: string; effect?: string }> }>().images;
    expect(listed.find((i) => i.id === response.json<Rendered>().results[0]!.imageId)).toMatchObject({ source: originalId, effect: 'duotone' });
  });

  it.runIf(sharedPresent('fixtures/pets/cat_chelsea_skimage.png', 'fixtures/pets/dog_saluki_gfm_sample3.jpg'))('a tap point runs the model on the stored photo (MISS) and moves the selection to the pet under it', async () => {
    const runs = await modelRuns();
    // The job's own output (both pets, 256 px): its box, in the same pixels as the renders' boxes.
    const both = (job.files[0]!.results![0] as unknown as { box: { x: number; width: number } }).box;
    const right = await renders('?point=0.75,0.5&size=256');
    expect(right.statusCode, right.body).toBe(200);
    expect(right.headers['x-cache']).toBe('MISS');
    expect(await modelRuns()).toBe(runs + 1);
    const left = await renders('?point=0.25,0.5&size=256');
    expect(left.headers['x-cache']).toBe('MISS');
    const boxOf = (response: typeof right): { x: number; width: number } => response.json<Rendered>().results[0]!.box!;
    const keptOf = (response: typeof right): string[] => response.json<Rendered>().subjects!.filter((s) => s.kept).map((s) => s.label);
    // Both pets by default; one each under the taps: the dog on the right, the cat on the left.
    expect(keptOf(right)).toEqual(['dog']);
    expect(keptOf(left)).toEqual(['cat']);
    // Boxes in the 256 px output: the right pet's box starts right of the middle, the left one's ends before it.
    expect(boxOf(right).x).toBeGreaterThan(100);
    expect(boxOf(left).x + boxOf(left).width).toBeLessThan(156);
    expect(boxOf(right).x).toBeGreaterThan(both.x);
    // The same tap again (another style): from that cut-out.
    const again = await renders('?point=0.75,0.5&size=256&effects=popart');
    expect(again.headers['x-cache']).toBe('HIT-CUTOUT');
  });

  it('unknown images: 404 PETCUT_E_IMAGE_NOT_FOUND (well-formed, malformed, another session\'s)', async () => {
    expectError(await renders('', { image: 'lz0000000-AAAAAAAAAAA' }), 404, 'PETCUT_E_IMAGE_NOT_FOUND');
    expectError(await renders('', { image: 'not-an-image-id' }), 404, 'PETCUT_E_IMAGE_NOT_FOUND');
    expectError(await renders('', { image: '..%2F..%2Fcache' }), 404, 'PETCUT_E_IMAGE_NOT_FOUND');
    // The image belongs to S: named under another session it does not exist there.
    expectError(await renders('', { session: OTHER }), 404, 'PETCUT_E_IMAGE_NOT_FOUND');
    // Two sessions named at once: refused before anything is read.
    expectError(await renders('', { session: OTHER, headers: HEADERS }), 400, 'PETCUT_E_SESSION_CONFLICT');
  });

  it('bad options: 400 naming the field, before any work', async () => {
    const runs = await modelRuns();
    for (const [query, field] of [['?effects=no-such-effect', 'no-such-effect'], ['?quality=500', 'quality'], ['?format=no-such-format', 'format'], ['?point=2,2', 'point'],
      ['?colour=red', 'colour'], ['?subjects=all-salient&point=0.5,0.5', 'point'], ['?size=0', 'size']] as const) {
      const body = expectError(await renders(query), 400, /^PETCUT_E_/);
      expect(body.error.message, query).toContain(field);
    }
    expect(await modelRuns()).toBe(runs);
  });

  it('storage down: 503 with Retry-After, nothing runs', async () => {
    const restore = control.fail(() => true);
    try {
      const response = await renders('?effects=halftone');
      expectError(response, 503, 'PETCUT_E_STORAGE_UNAVAILABLE');
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      restore();
    }
    await until(() => app.petcut.storageHealth.up(), 'storage to be up again', 60_000, 100);
  });

  it('is in the OpenAPI document with its options and answer', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { parameters?: Array<{ name: string }>; responses: Record<string, unknown>; tags?: string[] }>> }>();
    const post = doc.paths['/v1/sessions/{sessionId}/images/{imageId}/renders']!.post!;
    expect(post.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(['sessionId', 'imageId', 'effects', 'format', 'point', 'subjects']));
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['200', '400', '404', '503']));
  });
});

describe('admission: like a cut-out', () => {
  it('no room for one more image: 503 PETCUT_E_OVERLOADED with Retry-After', async () => {
    let held!: ControlledStore;
    const { app: small } = await buildApp(engine, { wrapStore: (inner) => (held = controlledStore(inner)).store, env: { PETCUT_CONCURRENCY: '1', PETCUT_QUEUE_MAX: '0' } });
    try {
      const stored = await small.inject({ method: 'POST', url: `/v1/sessions/${S}/images`, payload: form([{ data: await photo(96, 72) }]) });
      expect(stored.statusCode, stored.body).toBe(201);
      const id = stored.json<{ id: string }>().id;
      const blocker = await photo(80, 60, 'jpeg', 30);
      const release = held.hold((op, key) => op === 'get' && key === `cache/alias/${createHash('sha256').update(blocker).digest('hex')}`);
      const busy = small.inject({ method: 'POST', url: '/v1/cutouts?size=48', payload: form([{ data: blocker }]) });
      await until(() => small.petcut.capacity.status().working === 1, 'one photo held');
      const refused = await small.inject({ method: 'POST', url: `/v1/sessions/${S}/images/${id}/renders?size=48` });
      expectError(refused, 503, 'PETCUT_E_OVERLOADED');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      release();
      expect((await busy).statusCode).toBe(200);
      const accepted = await small.inject({ method: 'POST', url: `/v1/sessions/${S}/images/${id}/renders?size=48` });
      expect(accepted.statusCode, accepted.body).toBe(200);
      // A photo stored on its own was never cut out: the model runs on it.
      expect(accepted.headers['x-cache']).toBe('MISS');
      expect(small.petcut.capacity.status()).toMatchObject({ inFlight: 0, working: 0 });
    } finally {
      await small.petcut.processing.drain();
      await small.close();
    }
  });
});
