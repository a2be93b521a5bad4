import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PetcutApp } from '../src/app.js';
import { EFFECTS, resolveParams } from '../src/effects/registry.js';
import type { Engine } from '../src/engine/engine.js';
import { buildApp, expectError, form, pathOf, photo, sniff, startEngine } from './support/app.js';

/**
 * Effects through the service: listing with parameters and previews, several
 * styles from one upload, parameters from the query, validation, caching.
 */
let engine: Engine;
let app: PetcutApp;
const styles = Object.keys(EFFECTS).filter((name) => name !== 'color');
const numeric = Object.values(EFFECTS).flatMap((effect) => Object.entries(effect.parameters)
  .filter(([, spec]) => (spec.type === 'number' || spec.type === 'integer') && spec.max !== undefined)
  .map(([name, spec]) => ({ effect: effect.name, name, spec })));

beforeAll(async () => {
  engine = await startEngine();
  ({ app } = await buildApp(engine));
});

afterAll(async () => {
  await app.shutdown();
});

describe('the effect registry', () => {
  it('has the first version\'s styles and at least three more, each with a label, description and typed parameters', () => {
    for (const name of ['color', 'enhancedblackwhite', 'popart', 'dithering', 'retro8bit']) expect(Object.keys(EFFECTS)).toContain(name);
    expect(Object.keys(EFFECTS).length).toBeGreaterThanOrEqual(8);
    for (const effect of Object.values(EFFECTS)) {
      expect(effect.label.length).toBeGreaterThan(2);
      expect(effect.description.length).toBeGreaterThan(10);
      for (const spec of Object.values(effect.parameters)) {
        expect(['number', 'integer', 'boolean', 'string']).toContain(spec.type);
        if (spec.min !== undefined) expect(Number(spec.default)).toBeGreaterThanOrEqual(spec.min);
        if (spec.max !== undefined) expect(Number(spec.default)).toBeLessThanOrEqual(spec.max);
      }
    }
    expect(numeric.length).toBeGreaterThan(3);
  });

  it('completes parameters with defaults and names the parameter and its range when one is out of range', () => {
    const { effect, name, spec } = numeric[0]!;
    expect(resolveParams(effect)).toMatchObject({ [name]: spec.default });
    expect(() => resolveParams(effect, { [name]: String(spec.max! + 1) })).toThrow(new RegExp(`${effect}\\.${name}.*${spec.min}.*${spec.max}`));
    expect(() => resolveParams(effect, { [name]: 'lots' })).toThrow(expect.objectContaining({ code: 'PETCUT_E_INVALID_OPTION' }));
    expect(() => resolveParams(effect, { nonsense: '1' })).toThrow(/unknown parameter/);
    expect(() => resolveParams('sepia-noir')).toThrow(expect.objectContaining({ code: 'PETCUT_E_UNKNOWN_EFFECT', message: expect.stringContaining('popart') }));
  });
});

describe('effects over HTTP', () => {
  it('GET /v1/effects lists every style with its parameters and a preview the service renders', async () => {
    const listed = (await app.inject('/v1/effects')).json<{ effects: Array<{ name: string; label: string; parameters: Record<string, unknown>; previewUrl: string }> }>();
    expect(listed.effects.map((e) => e.name).sort()).toEqual(Object.keys(EFFECTS).sort());
    const popart = listed.effects.find((e) => e.name === 'popart')!;
    const preview = await app.inject(pathOf(popart.previewUrl));
    expect(preview.statusCode).toBe(200);
    expect(preview.headers['content-type']).toBe('image/png');
    const meta = await sharp(preview.rawPayload).metadata();
    expect(Math.max(meta.width!, meta.height!)).toBe(256);
    expect(meta.channels).toBe(4);
    const colour = await app.inject('/v1/effects/color/preview.png');
    expect(colour.rawPayload.equals(preview.rawPayload)).toBe(false);
    expectError(await app.inject('/v1/effects/sepia-noir/preview.png'), 400, 'PETCUT_E_UNKNOWN_EFFECT');
  });

  it('several styles from one upload: one segmentation, one output each, all cached; the same request again is a hit', async () => {
    const input = await photo(320, 240);
    const url = `/v1/cutouts?effects=${['color', ...styles].join(',')}&size=preview`;
    const first = await app.inject({ method: 'POST', url, payload: form([{ data: input }]) });
    expect(first.statusCode, first.body).toBe(200);
    const body = first.json<{ cache: string; results: Array<{ effect: string; url: string; width: number; height: number }> }>();
    expect(body.cache).toBe('miss');
    expect(body.results.map((r) => r.effect)).toEqual(['color', ...styles]);
    const bytes = await Promise.all(body.results.map(async (r) => (await app.inject(pathOf(r.url))).rawPayload));
    for (const [i, data] of bytes.entries()) {
      expect(sniff(data)).toBe('png');
      expect(await sharp(data).metadata()).toMatchObject({ width: 320, height: 240 });
      if (i > 0) expect(data.equals(bytes[0]!)).toBe(false);
    }
    const again = await app.inject({ method: 'POST', url, payload: form([{ data: input }]) });
    expect(again.json<{ cache: string }>().cache).toBe('hit');
  });

  it('parameters come from the query as <effect>.<name>; defaults spelled out share the cache key; a changed value renders anew', async () => {
    const { effect, name, spec } = numeric.find((p) => p.spec.max! > p.spec.min! && p.effect !== 'color')!;
    const input = await photo(240, 180, 'png', 5);
    const plain = await app.inject({ method: 'POST', url: `/v1/cutouts?effects=${effect}`, payload: input, headers: { 'content-type': 'image/png' } });
    expect(plain.statusCode, plain.body).toBe(200);
    await app.petcut.processing.drain();
    const spelled = await app.inject({ method: 'POST', url: `/v1/cutouts?effects=${effect}&${effect}.${name}=${spec.default}`, payload: input, headers: { 'content-type': 'image/png' } });
    expect(spelled.headers['x-cache']).toBe('HIT');
    const other = spec.type === 'integer' ? spec.max! : (spec.min! + spec.max!) / 2 === spec.default ? spec.max! : (spec.min! + spec.max!) / 2;
    const changed = await app.inject({ method: 'POST', url: `/v1/cutouts?effects=${effect}&${effect}.${name}=${other}`, payload: input, headers: { 'content-type': 'image/png' } });
    expect(changed.headers['x-cache']).toBe('HIT-CUTOUT');
    expect(changed.rawPayload.equals(plain.rawPayload)).toBe(false);
  });

  it('bad parameters are 400s naming the parameter; a parameter for an effect not asked is refused', async () => {
    const { effect, name, spec } = numeric[0]!;
    const input = await photo(160, 120);
    const tooBig = await app.inject({ method: 'POST', url: `/v1/cutouts?effects=${effect}&${effect}.${name}=${spec.max! + 1}`, payload: form([{ data: input }]) });
    expect(expectError(tooBig, 400, 'PETCUT_E_INVALID_OPTION').error.message).toContain(`${effect}.${name}`);
    const unknown = await app.inject({ method: 'POST', url: `/v1/cutouts?effects=${effect}&${effect}.nonsense=1`, payload: form([{ data: input }]) });
    expectError(unknown, 400, 'PETCUT_E_INVALID_OPTION');
    const notAsked = await app.inject({ method: 'POST', url: `/v1/cutouts?${effect}.${name}=${spec.default}`, payload: form([{ data: input }]) });
    expect(expectError(notAsked, 400, 'PETCUT_E_INVALID_OPTION').error.message).toContain('not among the asked effects');
    const asField = await app.inject({ method: 'POST', url: `/v1/cutouts?effects=${effect}`, payload: form([{ data: input }], { [`${effect}.${name}`]: 'x' }) });
    expectError(asField, 400, 'PETCUT_E_INVALID_OPTION');
  });

  it('JPEG on a background colour: the style shows on the pet and the background is the colour', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/cutouts?effects=popart&format=jpeg&background=%2300ff00', payload: form([{ data: await photo(240, 180) }]) });
    expect(response.statusCode, response.body).toBe(200);
    expect(sniff(response.rawPayload)).toBe('jpeg');
    const { data } = await sharp(response.rawPayload).raw().toBuffer({ resolveWithObject: true });
    // The top-left corner is background in the test scene.
    expect(data[0]).toBeLessThan(30);
    expect(data[1]).toBeGreaterThan(225);
    expect(data[2]).toBeLessThan(30);
  });
});
