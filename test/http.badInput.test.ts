import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { ERRORS } from '../src/errors.js';
import { checkImageBytes } from '../src/security/imageCheck.js';
import type { UploadPolicy } from '../src/security/imageCheck.js';
import { discScene, iouOf } from './images.js';
import { asInjected, buildApp, expectError, form, listen, pathOf, photo, sniff, startEngine } from './support/app.js';
import { apng, badInputCorpus, isoBmff, pngDeclaring, sources, zipOf } from './support/craft.js';
import type { CorpusEntry, Sources } from './support/craft.js';

/**
 * The bad-input corpus (bench/badinput-corpus.mjs, 200+ files) through the
 * real API and the real model: no 5xx, no crash, every refusal a 4xx with a
 * known code (the expected one where the file's category decides it), every
 * success a real PNG of the photo's size, and nothing stored for a refusal.
 */
// Rate limits would turn a 260-file burst from one address into 429s: they are not what is tested here.
const OPEN = { PETCUT_RATE_LIMIT_IP_PER_MIN: '0', PETCUT_RATE_LIMIT_SESSION_PER_MIN: '0', PETCUT_QUEUE_MAX: '32' };
const POLICY: UploadPolicy = { maxBytes: 30 * 1024 * 1024, maxDimension: 4096, maxPixels: 4096 * 4096, animated: 'first-frame', trailingData: 'strip' };

let engine: Engine;
let app: PetcutApp;
let dir: string;
let corpus: CorpusEntry[];
let src: Sources;

beforeAll(async () => {
  engine = await startEngine();
  ({ app, dir } = await buildApp(engine, { env: OPEN }));
  [corpus, src] = await Promise.all([badInputCorpus(), sources()]);
});
afterAll(async () => {
  await app?.close();
  await engine?.close();
});

interface Outcome { readonly entry: CorpusEntry; readonly status: number; readonly code: string; readonly body: Buffer; readonly headers: Record<string, unknown> }

type Send = (entry: CorpusEntry, index: number) => Promise<{ statusCode: number; rawPayload: Buffer; headers: Record<string, unknown> }>;

/** The client's Content-Type and file name lie on purpose: only the bytes may decide. */
const injectCutout = (target: PetcutApp, route = '/v1/cutouts'): Send => (entry, index) => {
  const headers: Record<string, string> = index % 5 === 0 ? { 'x-session-id': sessionOf(index) } : {};
  return index % 2 === 0
    ? target.inject({ method: 'POST', url: route, payload: entry.data, headers: { ...headers, 'content-type': 'image/jpeg' } })
    : target.inject({ method: 'POST', url: route, payload: form([{ data: entry.data, filename: 'photo.png', type: 'image/png' }]), headers });
};
const sessionOf = (index: number) => `corpus-session-${index}`;

async function runAll(entries: readonly CorpusEntry[], send: Send, concurrency = 4): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(entries.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < entries.length; i = next++) {
      const response = await send(entries[i]!, i);
      const code = response.statusCode === 200 || response.statusCode === 201 ? 'ok' : String(JSON.parse(response.rawPayload.toString()).error?.code);
      outcomes[i] = { entry: entries[i]!, status: response.statusCode, code, body: response.rawPayload, headers: response.headers };
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return outcomes;
}

/** Every outcome is a 200 cut-out or a coded 4xx, and the one the file's category calls for. */
async function expectCoded(outcomes: readonly Outcome[]): Promise<void> {
  const wrong = outcomes.filter((o) => o.status >= 500 || (o.entry.expect !== null && !o.entry.expect.includes(o.code)) || (o.code !== 'ok' && !(o.code in ERRORS)));
  expect(wrong.map((o) => `${o.entry.category} / ${o.entry.name}: ${o.status} ${o.code}`)).toEqual([]);
  for (const o of outcomes) {
    if (o.code !== 'ok') {
      expect(o.status, o.entry.name).toBeGreaterThanOrEqual(400);
      expect(o.status, o.entry.name).toBeLessThan(500);
      expect(o.status).toBe(ERRORS[o.code as keyof typeof ERRORS].status);
      continue;
    }
    expect(o.status).toBe(200);
    expect(sniff(o.body), o.entry.name).toBe('png');
    const { width, height } = await sharp(o.body).metadata();
    const checked = checkImageBytes(o.entry.data, POLICY);
    expect([[checked.width, checked.height], [checked.height, checked.width]], o.entry.name).toContainEqual([width, height]);
    expect([Number(o.headers['x-image-width']), Number(o.headers['x-image-height'])]).toEqual([width, height]);
  }
}

describe('the corpus through POST /v1/cutouts', () => {
  let outcomes: Outcome[];

  it('has at least 200 files of every kind', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(200);
    const categories = new Set(corpus.map((e) => e.category));
    for (const kind of ['truncated', 'bit-flip', 'wrong-magic', 'huge-dimensions', 'nested', 'empty', 'zeros', 'all-ff', 'fuzzed-header', 'polyglot', 'heic']) {
      expect(categories).toContain(kind);
    }
  });

  it('no 5xx, every refusal a known 4xx code (the expected one), every success a PNG of the right size', async () => {
    outcomes = await runAll(corpus, injectCutout(app));
    await expectCoded(outcomes);
    // The corpus is not all refusals: the valid controls got cut-outs.
    expect(outcomes.filter((o) => o.entry.category === 'valid').every((o) => o.code === 'ok')).toBe(true);
    const codes = new Set(outcomes.map((o) => o.code));
    for (const code of ['PETCUT_E_UNSUPPORTED_FORMAT', 'PETCUT_E_HEIC_UNSUPPORTED', 'PETCUT_E_CORRUPT_IMAGE', 'PETCUT_E_DIMENSIONS_TOO_LARGE', 'PETCUT_E_SUSPICIOUS_CONTENT']) {
      expect(codes).toContain(code);
    }
  }, 600_000);

  it('nothing was stored for a refused upload given a session; a cut-out stored its original and result', async () => {
    for (const [index, o] of outcomes.entries()) {
      if (index % 5 !== 0) continue;
      const listing = await app.inject({ method: 'GET', url: `/v1/sessions/${sessionOf(index)}/images` });
      const onDisk = await filesOf(sessionOf(index));
      if (o.code === 'ok') {
        expect(listing.statusCode, o.entry.name).toBe(200);
        expect(listing.json<{ images: Array<{ kind: string }> }>().images.map((i) => i.kind).sort()).toEqual(['cutout', 'original']);
        expect(onDisk).toHaveLength(2);
      } else {
        expectError(listing, 404, 'PETCUT_E_SESSION_NOT_FOUND');
        expect(onDisk, o.entry.name).toEqual([]);
      }
    }
  });

  it('the service is still healthy and cuts a good photo out correctly', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const response = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: await photo(160, 120, 'jpeg'), headers: { 'content-type': 'image/jpeg' } });
    expect(response.statusCode).toBe(200);
    const { data, info } = await sharp(response.rawPayload).extractChannel('alpha').raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([160, 120]);
    expect(iouOf(data, discScene(160, 120, [{ cx: 72, cy: 60, r: 36 }]).truth)).toBeGreaterThan(0.85);
  });
});

describe('the corpus through the session store (sanitize, no model)', () => {
  it('refusals leave nothing behind; stored originals are re-encoded without what followed the image', async () => {
    const outcomes = await runAll(corpus, (entry, index) => app.inject({
      method: 'POST', url: `/v1/sessions/store-session-${index}/images`, payload: entry.data, headers: { 'content-type': 'application/octet-stream' },
    }));
    for (const [index, o] of outcomes.entries()) {
      expect(o.status, o.entry.name).toBeLessThan(500);
      expect(o.code === 'ok' || o.code in ERRORS, o.code).toBe(true);
      const onDisk = await filesOf(`store-session-${index}`);
      if (o.code !== 'ok') {
        expect(onDisk, o.entry.name).toEqual([]);
        continue;
      }
      expect(o.status).toBe(201);
      expect(onDisk, o.entry.name).toHaveLength(1);
      if (o.entry.category === 'trailing' || o.entry.category === 'nested') {
        const stored = await app.inject({ method: 'GET', url: pathOf(JSON.parse(o.body.toString()).url as string) });
        expect(stored.statusCode).toBe(200);
        const checked = checkImageBytes(stored.rawPayload, { ...POLICY, trailingData: 'reject' });
        expect(checked.trailingBytes, o.entry.name).toBe(0);
      }
    }
  }, 300_000);
});

describe('header-detectable problems never reach the model', () => {
  it('a tiny file declaring 100000x100000: 413 DIMENSIONS_TOO_LARGE, no engine work', async () => {
    const work = vi.spyOn(engine, 'process');
    try {
      for (const data of [pngDeclaring(100_000, 100_000), Buffer.concat([pngDeclaring(100_000, 100_000).subarray(0, 33), Buffer.alloc(8)])]) {
        expect(data.length).toBeLessThan(200);
        const response = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: data, headers: { 'content-type': 'image/png' } });
        const body = expectError(response, 413, 'PETCUT_E_DIMENSIONS_TOO_LARGE');
        expect(body.error.message).toContain('100000x100000');
        expect(response.headers['x-processing-time-ms']).toBeUndefined();
      }
      expect(work).not.toHaveBeenCalled();
    } finally {
      work.mockRestore();
    }
  });

  it('HEIC gets 415 with what to change on the iPhone, whatever the declared type', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: form([{ data: isoBmff('heic', ['mif1', 'heic']), filename: 'IMG_0001.JPG', type: 'image/jpeg' }]) });
    expect(expectError(response, 415, 'PETCUT_E_HEIC_UNSUPPORTED').error.message).toMatch(/Most Compatible/);
  });
});

describe('over a real socket', () => {
  it('a slice of the corpus gives the same coded answers', async () => {
    const base = await listen(app);
    const slice = corpus.filter((_, i) => i % 11 === 0);
    const outcomes = await runAll(slice, async (entry) => {
      const response = await fetch(`${base}/v1/cutouts`, { method: 'POST', body: new Uint8Array(entry.data), headers: { 'content-type': 'image/webp' } });
      const injected = await asInjected(response);
      return { statusCode: injected.statusCode, rawPayload: Buffer.from(injected.body, 'latin1'), headers: injected.headers };
    });
    expect(slice.length).toBeGreaterThanOrEqual(20);
    for (const o of outcomes) {
      expect(o.status, o.entry.name).toBeLessThan(500);
      if (o.code !== 'ok') expect(o.entry.expect === null || o.entry.expect.includes(o.code), `${o.entry.name}: ${o.code}`).toBe(true);
      else expect(o.headers['content-type']).toBe('image/png');
    }
  }, 300_000);
});

describe('PETCUT_ANIMATED=reject and PETCUT_TRAILING_DATA=reject', () => {
  let strict: PetcutApp;
  beforeAll(async () => {
    strict = (await buildApp(engine, { env: { ...OPEN, PETCUT_ANIMATED: 'reject', PETCUT_TRAILING_DATA: 'reject' } })).app;
  });
  afterAll(async () => {
    await strict?.close(); // not shutdown(): the engine is shared
  });

  it.each([
    ['an animated WebP', () => src.animated, 'PETCUT_E_ANIMATED_IMAGE', /animation \(2 frames\)/],
    ['an APNG', () => apng(64, 48), 'PETCUT_E_ANIMATED_IMAGE', /still photo/],
    ['a JPEG with a motion-photo video after it', () => Buffer.concat([src.jpeg, isoBmff('mp42', ['isom'], 4000)]), 'PETCUT_E_SUSPICIOUS_CONTENT', /extra data after the photo/],
    ['a JPEG with a ZIP after it', () => Buffer.concat([src.jpeg, zipOf('a.txt', Buffer.from('x'))]), 'PETCUT_E_SUSPICIOUS_CONTENT', /save the photo again/],
  ] as const)('%s is refused with 422', async (_name, make, code, message) => {
    for (const payload of [make(), form([{ data: make() }])]) {
      const response = await strict.inject({ method: 'POST', url: '/v1/cutouts', payload, ...(Buffer.isBuffer(payload) ? { headers: { 'content-type': 'image/png' } } : {}) });
      expect(expectError(response, 422, code).error.message).toMatch(message);
    }
  });

  it('the default app takes the same animation (first frame) and motion photo (payload dropped)', async () => {
    for (const data of [src.animated, Buffer.concat([src.jpeg, isoBmff('mp42', ['isom'], 4000)])]) {
      const response = await app.inject({ method: 'POST', url: '/v1/cutouts', payload: data, headers: { 'content-type': 'image/jpeg' } });
      expect(response.statusCode, response.body.slice(0, 200)).toBe(200);
      expect([Number(response.headers['x-image-width']), Number(response.headers['x-image-height'])]).toEqual([64, 48]);
    }
  });
});

/** Files under any tier of one session in the data directory. */
async function filesOf(sessionId: string): Promise<string[]> {
  const tiers = await readdir(join(dir, 'sessions')).catch(() => [] as string[]);
  const found = await Promise.all(tiers.map((tier) => readdir(join(dir, 'sessions', tier, sessionId)).catch(() => [] as string[])));
  return found.flat().filter((name) => !name.startsWith('.'));
}
