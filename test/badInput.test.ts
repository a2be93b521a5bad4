import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../src/engine/engine.js';
import type { Engine } from '../src/engine/engine.js';
import { discJpeg, discScene, iouOf } from './images.js';
import { pngDeclaring } from './support/craft.js';
import { testEngineConfig } from './support/env.js';

let engine: Engine;
let good: Buffer;
beforeAll(async () => {
  engine = await createEngine({ config: testEngineConfig() });
  good = (await discJpeg(240, 180, [{ cx: 120, cy: 90, r: 50 }])).jpeg;
});
afterAll(async () => {
  await engine?.close();
});

describe('bad input gets a coded error and harms nothing', () => {
  it.each([
    ['an empty file', () => Buffer.alloc(0), 'PETCUT_E_EMPTY_INPUT'],
    ['text', () => Buffer.from('hello, this is not an image'), 'PETCUT_E_UNSUPPORTED_FORMAT'],
    ['random bytes', () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)), 'PETCUT_E_UNSUPPORTED_FORMAT'],
    ['a truncated JPEG', () => good.subarray(0, Math.floor(good.length * 0.6)), 'PETCUT_E_CORRUPT_IMAGE'],
    ['a JPEG header alone', () => good.subarray(0, 200), 'PETCUT_E_CORRUPT_IMAGE'],
  ] as const)('%s', async (_name, make, code) => {
    await expect(engine.cutout(make())).rejects.toMatchObject({ code });
  });

  it('huge declared dimensions are refused from the header', async () => {
    // A header and no pixel data: only the header can have said 30000x30000. How fast such a refusal
    // is, through the API, is measured by `npm run bench -- badinput` (headerRejectionMs).
    const bomb = pngDeclaring(30_000, 30_000);
    expect(bomb.length).toBeLessThan(100);
    await expect(engine.cutout(bomb)).rejects.toMatchObject({ code: 'PETCUT_E_TOO_MANY_PIXELS', message: expect.stringContaining('30000x30000') });
    // Nothing was left running or queued for it.
    expect([engine.inFlight(), engine.queued()]).toEqual([0, 0]);
  });

  it.each([
    ['GIF', (s: sharp.Sharp) => s.gif(), /JPEG, PNG or WebP/],
    ['TIFF', (s: sharp.Sharp) => s.tiff(), /JPEG, PNG or WebP/],
    ['HEIF/AVIF', (s: sharp.Sharp) => s.heif({ compression: 'av1' }), /HEIC/],
  ] as const)('%s is refused with a message a shopper can act on', async (_name, encode, message) => {
    const input = await encode(sharp(good)).toBuffer();
    await expect(engine.cutout(input)).rejects.toMatchObject({ code: 'PETCUT_E_UNSUPPORTED_FORMAT', message: expect.stringMatching(message) });
  });

  it('SVG is refused', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><circle cx="50" cy="50" r="40"/></svg>');
    await expect(engine.cutout(svg)).rejects.toMatchObject({ code: 'PETCUT_E_UNSUPPORTED_FORMAT' });
  });

  it('bit-flipped JPEGs give a result or a coded error, never a crash', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const flipped = Buffer.from(good);
      for (let k = 0; k < 12; k++) {
        const at = 300 + ((seed * 7919 + k * 104729) % (flipped.length - 300));
        flipped[at] = flipped[at]! ^ (1 << (k % 8));
      }
      const outcome = await engine.cutout(flipped).then(() => 'ok', (error: { code?: string }) => error.code);
      expect(['ok', 'PETCUT_E_CORRUPT_IMAGE', 'PETCUT_E_UNSUPPORTED_FORMAT']).toContain(outcome);
    }
    // Six model runs: 87 s beside the rest of the suite on a 2-core AVX2-only machine.
  }, 300_000);

  it('the engine still works after all of that', async () => {
    const result = await engine.cutout(good);
    expect(result.width).toBe(240);
  });
});

describe('unusual but valid images get a correct result', () => {
  it('1x1 pixel', async () => {
    const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toBuffer();
    const result = await engine.cutout(tiny);
    expect([result.width, result.height]).toEqual([1, 1]);
  });

  it.each([
    ['CMYK JPEG', (s: sharp.Sharp) => s.toColourspace('cmyk').jpeg()],
    ['16-bit PNG', (s: sharp.Sharp) => s.toColourspace('rgb16').png()],
    ['greyscale JPEG', (s: sharp.Sharp) => s.greyscale().jpeg()],
    ['WebP', (s: sharp.Sharp) => s.webp({ quality: 90 })],
    ['JPEG with a payload appended', (s: sharp.Sharp) => s.jpeg()],
  ] as const)('%s', async (name, encode) => {
    const { rgb, truth } = discScene(240, 180, [{ cx: 120, cy: 90, r: 50 }]);
    let input = await encode(sharp(rgb, { raw: { width: 240, height: 180, channels: 3 } })).toBuffer();
    if (name.includes('payload')) input = Buffer.concat([input, Buffer.from('PK\u0003\u0004 trailing zip-like payload')]);
    const result = await engine.segment(input);
    expect(iouOf(result.alpha, truth)).toBeGreaterThan(name.startsWith('greyscale') ? 0.8 : 0.9);
  });

  it('an image with alpha: what the input hid stays hidden', async () => {
    const { rgb } = discScene(240, 180, [{ cx: 120, cy: 90, r: 50 }]);
    const rgba = Buffer.alloc(240 * 180 * 4);
    for (let i = 0; i < 240 * 180; i++) {
      rgba.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = i % 240 < 120 ? 0 : 255;
    }
    const png = await sharp(rgba, { raw: { width: 240, height: 180, channels: 4 } }).png().toBuffer();
    const result = await engine.segment(png);
    expect(result.alpha[90 * 240 + 100]).toBe(0);
    expect(result.alpha[90 * 240 + 140]).toBe(255);
  });
});
