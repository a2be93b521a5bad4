import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import { optionsFromFlags } from '../src/cli/remove.js';
import { isPetcutError } from '../src/errors.js';
import { parseCutoutOptions } from '../src/http/options.js';
import { formatSubjectsHeader, RESULT_HEADERS } from '../src/http/views.js';
import { createResultCache } from '../src/service/cache.js';
import { boundedFacts, DEFAULT_SELECTION, formatSubjectsLine, selectionKey } from '../src/service/selection.js';
import { buildApp, expectError, finishedJob, form, photo, startEngine } from './support/app.js';
import type { JobView } from './support/app.js';
import { sharedPath, sharedPresent } from './support/shared.js';
import { createStore } from '../src/storage/index.js';

/**
 * Subject selection over HTTP and the CLI (#18): the `subjects`, `point` and
 * `people` options, their cache keys, and the answers (X-Petcut-Pet-Found,
 * X-Petcut-Subjects, `petFound`/`subjects` in JSON). The cases under "with pet
 * finding" need the engine's class models (they fill subjects and petFound).
 */

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return isPetcutError(error) ? `${error.code} ${error.message}` : String(error);
  }
};

describe('segment options', () => {
  it('default: every pet, people dropped; point alone implies subjects=point (rounded to 0.01)', () => {
    expect(parseCutoutOptions({}).selection).toEqual({ keep: 'pets', people: false });
    expect(parseCutoutOptions({ point: '0.421,0.6149' }).selection).toEqual({ keep: 'point', people: false, point: { x: 0.42, y: 0.61 } });
    expect(parseCutoutOptions({ subjects: 'largest-pet', people: 'keep' }).selection).toEqual({ keep: 'largest-pet', people: true });
    for (const [people, kept] of [['true', true], ['1', true], ['drop', false], ['false', false], ['0', false]] as const) expect(parseCutoutOptions({ people }).selection.people).toBe(kept);
    // Output options are still theirs: a format beside the segment options.
    expect(parseCutoutOptions({ subjects: 'all-salient', format: 'jpeg' }).outputs[0]!.format).toBe('jpeg');
  });

  it('bad values are PETCUT_E_INVALID_OPTION naming the option; unknown fields stay PETCUT_E_UNKNOWN_FIELD', () => {
    expect(codeOf(() => parseCutoutOptions({ subjects: 'cats' }))).toMatch(/^PETCUT_E_INVALID_OPTION .*"subjects".*pets, largest-pet, point, all-salient/);
    expect(codeOf(() => parseCutoutOptions({ point: '1.2,0.5' }))).toMatch(/^PETCUT_E_INVALID_OPTION .*"point".*0\.\.1/);
    expect(codeOf(() => parseCutoutOptions({ point: '320,240' }))).toMatch(/^PETCUT_E_INVALID_OPTION .*"point".*not pixels/);
    expect(codeOf(() => parseCutoutOptions({ point: '-0.1,0.5' }))).toMatch(/^PETCUT_E_INVALID_OPTION .*"point"/);
    for (const point of ['abc', '0.5', '0.5,', '0.5,0.5,0.5', ',', 'NaN,1', '1e-1,0.5']) expect(codeOf(() => parseCutoutOptions({ point }))).toMatch(/^PETCUT_E_INVALID_OPTION .*"point"/);
    expect(codeOf(() => parseCutoutOptions({ subjects: 'point' }))).toMatch(/^PETCUT_E_INVALID_OPTION .*"point".*needs/);
    // A point with another mode would be ignored: refused, not silently dropped.
    expect(codeOf(() => parseCutoutOptions({ subjects: 'all-salient', point: '0.5,0.5' }))).toMatch(/^PETCUT_E_INVALID_OPTION .*"point".*subjects=all-salient/);
    expect(codeOf(() => parseCutoutOptions({ people: 'maybe' }))).toMatch(/^PETCUT_E_INVALID_OPTION .*"people"/);
    expect(codeOf(() => parseCutoutOptions({ subject: 'pets' }))).toMatch(/^PETCUT_E_UNKNOWN_FIELD .*subjects, point, people/);
  });

  it('selection keys: equal selections share one, every difference splits them', () => {
    const keys = [
      selectionKey(), selectionKey({ keep: 'pets', people: true }), selectionKey({ keep: 'largest-pet', people: false }),
      selectionKey({ keep: 'all-salient', people: false }), selectionKey({ keep: 'point', people: false, point: { x: 0.4, y: 0.6 } }),
      selectionKey({ keep: 'point', people: false, point: { x: 0.41, y: 0.6 } }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(selectionKey(DEFAULT_SELECTION)).toBe(selectionKey(parseCutoutOptions({ subjects: 'pets', people: 'drop' }).selection));
    expect(selectionKey({ keep: 'point', people: false, point: { x: 0.404, y: 0.6 } })).toBe(keys[4]);
    const cache = createResultCache({} as never, () => 'model-a', { days: 1, memoryBytes: 1 });
    const hash = 'a'.repeat(64);
    expect(cache.pixelKey(hash)).toBe(cache.pixelKey(hash, DEFAULT_SELECTION));
    expect(cache.pixelKey(hash, { keep: 'all-salient', people: false })).not.toBe(cache.pixelKey(hash));
  });

  it('the cached cut-out keeps subjects and petFound in its metadata; an entry made before them still loads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petcut-subjects-'));
    try {
      const store = createStore({ kind: 'fs', root: dir });
      const cache = createResultCache(store, () => 'model-a', { days: 1, memoryBytes: 1 << 20 });
      const base = { box: { x: 1, y: 2, width: 30, height: 40 }, confidence: 0.9, zoomed: false, sourceWidth: 320, sourceHeight: 240 };
      const subjects = [{ label: 'dog', score: 0.876, box: { x: 1, y: 2, width: 30, height: 40 }, kept: true }, { label: 'potted plant', score: 0.5, box: { x: 100, y: 0, width: 50, height: 90 }, kept: false }];
      await cache.putMaster('with', Buffer.from('png'), { ...base, subjects, petFound: true });
      expect((await cache.getMaster('with'))!.facts).toEqual({ ...base, subjects, petFound: true });
      await cache.putMaster('without-pet', Buffer.from('png'), { ...base, subjects: [], petFound: false });
      expect((await cache.getMaster('without-pet'))!.facts).toEqual({ ...base, subjects: [], petFound: false });
      await cache.putMaster('old', Buffer.from('png'), base);
      expect((await cache.getMaster('old'))!.facts).toEqual(base);
      // Metadata someone else wrote (or garbled) reads as absent, never as an error.
      await store.put('cache/cutout/garbled.png', Buffer.from('png'), { contentType: 'image/png', metadata: { box: '1,2,30,40', confidence: '0.9', zoomed: 'false', width: '320', height: '240', subjects: '[["cat","high"]]', petfound: 'yes' } });
      expect((await cache.getMaster('garbled'))!.facts).toEqual(base);
      // Aliases: the default selection's is the bare bytes key; others are their own; one made before pet finding is a miss.
      const bytesKey = 'b'.repeat(64);
      await cache.saveAlias(bytesKey, { pixelKey: 'p-pets', facts: base });
      await cache.saveAlias(bytesKey, { pixelKey: 'p-all', facts: base }, { keep: 'all-salient', people: false });
      const fresh = createResultCache(store, () => 'model-a', { days: 1, memoryBytes: 1 << 20 });
      expect((await fresh.alias(bytesKey))?.pixelKey).toBe('p-pets');
      expect((await fresh.alias(bytesKey, DEFAULT_SELECTION))?.pixelKey).toBe('p-pets');
      expect((await fresh.alias(bytesKey, { keep: 'all-salient', people: false }))?.pixelKey).toBe('p-all');
      expect(await fresh.alias(bytesKey, { keep: 'pets', people: true })).toBeUndefined();
      await store.put(`cache/alias/${'c'.repeat(64)}`, Buffer.from(JSON.stringify({ pixelKey: 'p-v1', facts: base, model: 'model-a' })), { contentType: 'application/json' });
      expect(await fresh.alias('c'.repeat(64))).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the subjects header: compact, header-safe, at most 8 subjects and under 1 KB', () => {
    const cat = { label: 'cat', score: 0.9134, box: { x: 12, y: 40, width: 300, height: 280 }, kept: true };
    const person = { label: 'person', score: 0.88, box: { x: 0, y: 0, width: 500, height: 700 }, kept: false };
    expect(formatSubjectsHeader([cat, person])).toBe('cat 0.91 12,40,300,280 kept; person 0.88 0,0,500,700 dropped');
    expect(formatSubjectsHeader([{ ...person, label: 'Potted Plant\r\nX-Evil: 1' }])).toMatch(/^potted-plant-x-evil-1 0\.88 0,0,500,700 dropped$/);
    expect(formatSubjectsHeader([])).toBe('none');
    const crowd = boundedFacts({ box: null, confidence: 1, zoomed: false, sourceWidth: 1, sourceHeight: 1, subjects: Array.from({ length: 40 }, () => ({ ...person, label: 'x'.repeat(200), score: 3 })) });
    expect(crowd.subjects).toHaveLength(8);
    expect(crowd.subjects![0]!.score).toBe(1);
    expect(formatSubjectsHeader(crowd.subjects!).length).toBeLessThanOrEqual(1024);
    expect(formatSubjectsLine({ subjects: [cat, person], petFound: true })).toBe('pet found: cat 0.91 kept, person 0.88 dropped');
    expect(formatSubjectsLine({ petFound: false })).toMatch(/^no pet found/);
    expect(formatSubjectsLine({})).toBe('');
    expect(RESULT_HEADERS).toEqual(expect.arrayContaining(['X-Petcut-Pet-Found', 'X-Petcut-Subjects']));
  });

  it('petcut remove: --subjects, --point (shares), --people; --hint (pixels) picks the point mode', async () => {
    expect(await optionsFromFlags({ output: 'o', format: 'png' })).toMatchObject({ keep: 'pets', people: false });
    expect(await optionsFromFlags({ output: 'o', format: 'png', point: '0.7,0.5', people: true })).toMatchObject({ keep: 'point', people: true, point: { x: 0.7, y: 0.5 } });
    expect(await optionsFromFlags({ output: 'o', format: 'png', hint: '120,80' })).toMatchObject({ keep: 'point', hint: { x: 120, y: 80 } });
    expect(await optionsFromFlags({ output: 'o', format: 'png', hint: '120,80', subjects: 'all-salient' })).toMatchObject({ keep: 'all-salient', hint: { x: 120, y: 80 } });
    await expect(optionsFromFlags({ output: 'o', format: 'png', subjects: 'dogs' })).rejects.toMatchObject({ code: 'PETCUT_E_INVALID_OPTION' });
    await expect(optionsFromFlags({ output: 'o', format: 'png', point: '300,200' })).rejects.toMatchObject({ code: 'PETCUT_E_INVALID_OPTION' });
  });
});

describe('over HTTP', () => {
  let engine: Engine;
  let app: PetcutApp;
  let pet: Buffer;
  beforeAll(async () => {
    engine = await startEngine();
    ({ app } = await buildApp(engine, { env: { PETCUT_CORS_ORIGINS: 'https://*.myshopify.com' } }));
    pet = await photo(320, 240, 'png');
  });
  afterAll(async () => {
    await app?.shutdown();
  });
  /** One cut-out, its background cache writes (master, alias) finished. */
  const cutout = async (query: string, body: Buffer | FormData = form([{ data: pet }]), headers: Record<string, string> = {}) => {
    const response = await app.inject({ method: 'POST', url: `/v1/cutouts${query}`, payload: body, headers });
    await app.petcut.processing.drain();
    return response;
  };

  it('refuses bad segment options in the query and in multipart fields, before the model runs', async () => {
    expectError(await cutout('?subjects=cats'), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await cutout('?point=1.5,0.2'), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await cutout('', form([{ data: pet }], { point: 'middle' })), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await cutout('', form([{ data: pet }], { subjects: 'point' })), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await cutout('?subjects=all-salient&point=0.5,0.5'), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await cutout('', form([{ data: pet }], { people: 'perhaps' })), 400, 'PETCUT_E_INVALID_OPTION');
    expectError(await cutout('?subject=pets'), 400, /PETCUT_E_UNKNOWN_FIELD|PETCUT_E_INVALID_OPTION/);
    const body = expectError(await cutout('', form([{ data: pet }], { subject: 'pets' })), 400, 'PETCUT_E_UNKNOWN_FIELD');
    expect(body.error.message).toContain('subjects');
    expectError(await app.inject({ method: 'POST', url: '/v1/jobs?subjects=everything', payload: form([{ data: pet }]) }), 400, 'PETCUT_E_INVALID_OPTION');
  });

  it('each selection is its own cut-out; another effect of the same selection renders from its master', async () => {
    const first = await cutout('?subjects=all-salient&size=64');
    expect(first.statusCode).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    // all-salient says nothing about pets.
    expect(first.headers['x-petcut-pet-found']).toBeUndefined();
    expect((await cutout('?subjects=all-salient&size=64')).headers['x-cache']).toBe('HIT');
    const styled = await cutout('?subjects=all-salient&size=64&effects=pencilsketch');
    expect(styled.statusCode).toBe(200);
    expect(styled.headers['x-cache']).toBe('HIT-CUTOUT');
    // Another selection of the same photo is not the all-salient cut-out.
    const pets = await cutout('?size=64');
    expect(pets.headers['x-cache']).toBe('MISS');
    // With pet finding (engine #18): a drawn disc is no animal; the saliency cut-out still comes back, flagged.
    expect(pets.statusCode).toBe(200);
    expect(pets.headers['x-petcut-pet-found']).toBe('false');
    expect((await cutout('?size=64', form([{ data: pet }], { subjects: 'point', point: '0.45,0.5' }))).headers['x-cache']).toBe('MISS');
    // The same tap, within the rounding, shares it.
    expect((await cutout('?size=64', form([{ data: pet }], { point: '0.452,0.498' }))).headers['x-cache']).toBe('HIT');
    expect((await cutout('?size=64&people=keep')).headers['x-cache']).toBe('MISS');
    expect((await cutout('?size=64&people=true&effects=enhancedblackwhite')).headers['x-cache']).toBe('HIT-CUTOUT');
  });

  it('the OpenAPI document shows the options, the headers and the JSON fields', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { parameters?: Array<{ name: string }>; responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: { properties?: Record<string, unknown> } }> }> }>> }>();
    const post = doc.paths['/v1/cutouts']!.post!;
    expect(post.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(['subjects', 'point', 'people']));
    expect(Object.keys(post.responses['200']!.headers ?? {})).toEqual(['X-Petcut-Pet-Found', 'X-Petcut-Subjects']);
    expect(Object.keys(post.responses['200']!.content!['application/json']!.schema.properties!)).toEqual(expect.arrayContaining(['petFound', 'subjects']));
    expect(doc.paths['/v1/jobs']!.post!.parameters!.map((p) => p.name)).toContain('subjects');
  });

  it('the compat routes keep working with the defaults', async () => {
    const response = await app.inject({ method: 'POST', url: '/remove-background', payload: form([{ data: pet, field: 'file' }]) });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('image/png');
  });

  // ---- with pet finding: these need the engine's class models (#18) --------------------------------

  const hasCat = sharedPresent('fixtures/pets/cat_chelsea_skimage.png');
  it.runIf(hasCat)('with pet finding: a cat photo says pet found, with a kept cat among the subjects (headers and JSON)', async () => {
    const cat = await readFile(sharedPath('fixtures/pets/cat_chelsea_skimage.png'));
    const response = await cutout('?size=128', form([{ data: cat }]), { accept: 'application/json', origin: 'https://pet-prints.myshopify.com' });
    expect(response.statusCode).toBe(200);
    // The storefront's script can read them.
    expect(String(response.headers['access-control-expose-headers'])).toMatch(/X-Petcut-Pet-Found.*X-Petcut-Subjects/);
    expect(response.headers['x-petcut-pet-found']).toBe('true');
    const header = String(response.headers['x-petcut-subjects']);
    expect(header).toMatch(/^[a-z0-9-]+ \d\.\d\d -?\d+,-?\d+,\d+,\d+ (kept|dropped)(; [a-z0-9-]+ \d\.\d\d -?\d+,-?\d+,\d+,\d+ (kept|dropped))*$/);
    expect(header).toMatch(/(^|; )cat \d\.\d\d [\d,-]+ kept/);
    const body = response.json<{ petFound?: boolean; subjects?: Array<{ label: string; score: number; box: { x: number; y: number; width: number; height: number }; kept: boolean }> }>();
    expect(body.petFound).toBe(true);
    const found = body.subjects!.find((s) => s.label === 'cat');
    expect(found).toMatchObject({ kept: true });
    expect(found!.score).toBeGreaterThan(0.3);
    expect(found!.box.width).toBeGreaterThan(50);
    // The same photo again: the answer comes from the cache, facts included.
    const again = await cutout('?size=128&effects=pencilsketch', form([{ data: cat }]), { accept: 'application/json' });
    expect(again.json<{ cache: string }>().cache).toBe('cutout');
    expect(again.headers['x-petcut-pet-found']).toBe('true');
    expect(again.headers['x-petcut-subjects']).toBe(header);
  });

  it.runIf(hasCat)('with pet finding: a job\'s files carry petFound and subjects', async () => {
    const cat = await readFile(sharedPath('fixtures/pets/cat_chelsea_skimage.png'));
    const created = await app.inject({ method: 'POST', url: '/v1/jobs?subjects=largest-pet&size=96', payload: form([{ data: cat }]) });
    expect(created.statusCode).toBe(202);
    const job = await finishedJob(app, created.json<JobView>().id) as JobView & { files: Array<{ petFound?: boolean; subjects?: Array<{ label: string; kept: boolean }> }> };
    expect(job.status).toBe('succeeded');
    expect(job.files[0]!.petFound).toBe(true);
    expect(job.files[0]!.subjects!.filter((s) => s.kept).map((s) => s.label)).toEqual(['cat']);
  });
});
