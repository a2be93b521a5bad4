import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { cellSize, diffuse, ditheringEffect as dither } from '../src/effects/dithering.js';
import { contextFor } from '../src/effects/kit.js';
import type { EffectImage } from '../src/effects/types.js';
import { downscale, meanAbsDiff, opaqueColours, petCutout, resized, runEffect } from './support/effects.js';

const BLACK = 0x000000, WHITE = 0xffffff;

/** Share of opaque pixels that are black. */
function inkShare(image: EffectImage): number {
  let ink = 0, opaque = 0;
  for (let i = 0; i < image.alpha.length; i++) {
    if (image.alpha[i]! < 250) continue;
    opaque++;
    if (image.rgb[i * 3] === 0) ink++;
  }
  return ink / opaque;
}

/** Whether every pixel equals the top-left pixel of its cell x cell block. */
function constantInCells(image: EffectImage, cell: number): boolean {
  for (let y = 0; y < image.height; y++) for (let x = 0; x < image.width; x++) {
    const origin = (Math.floor(y / cell) * cell * image.width + Math.floor(x / cell) * cell) * 3;
    if (image.rgb[(y * image.width + x) * 3] !== image.rgb[origin]) return false;
  }
  return true;
}

/** See effects.blackwhite.test.ts: `resized` returns a three-band alpha; keep one band. */
async function preview(image: EffectImage, width: number, height: number): Promise<EffectImage> {
  const small = await resized(image, width, height);
  const alpha = small.alpha.length === width * height ? small.alpha : small.alpha.filter((_, i) => i % 3 === 0);
  return { ...small, alpha };
}

const blurred = (rgb: Buffer, width: number, height: number): Promise<Buffer> =>
  sharp(rgb, { raw: { width, height, channels: 3 } }).blur(2).raw().toBuffer();

describe('dithering effect', () => {
  it('keeps the size and the alpha and draws only pure black and white dots', async () => {
    const image = petCutout();
    const out = await runEffect(dither, image);
    expect([out.width, out.height, out.rgb.length]).toEqual([image.width, image.height, image.width * image.height * 3]);
    expect(out.alpha).toEqual(image.alpha);
    expect([...opaqueColours(out)].sort()).toEqual([BLACK, WHITE]);
  });

  it('draws dots on the cell grid: each cell is one colour, neighbouring cells differ', async () => {
    const image = petCutout();
    const cell = cellSize(8, contextFor(image).scale);
    expect(cell).toBe(3); // 8 px at 1024 -> 2.5 px at 320 wide, rounded
    const out = await runEffect(dither, image, { cell: 8 });
    expect(constantInCells(out, cell)).toBe(true);
    // Not a coarser grid either: some horizontally adjacent cells differ.
    let changes = 0;
    for (let y = 0; y < out.height; y += cell) for (let x = 0; x + cell < out.width; x += cell) {
      if (out.rgb[(y * out.width + x) * 3] !== out.rgb[(y * out.width + x + cell) * 3]) changes++;
    }
    expect(changes).toBeGreaterThan(100);
  });

  it('is deterministic', async () => {
    const image = petCutout();
    const [a, b] = await Promise.all([runEffect(dither, image), runEffect(dither, image)]);
    expect(a.rgb.equals(b.rgb)).toBe(true);
  });

  it('error diffusion keeps the tone: a flat 25% grey gets about 75% black cells', () => {
    const cols = 64, rows = 64;
    const black = diffuse(new Float32Array(cols * rows).fill(64), new Float32Array(cols * rows).fill(128), cols, rows);
    const share = black.reduce((s, v) => s + v, 0) / black.length;
    expect(share).toBeGreaterThan(0.72);
    expect(share).toBeLessThan(0.78);
  });

  it('a higher gamma darkens (more dots); edge boost adds contrast at edges', async () => {
    const image = petCutout();
    const light = inkShare(await runEffect(dither, image, { gamma: 0.3 }));
    const dark = inkShare(await runEffect(dither, image, { gamma: 1.2 }));
    expect(dark).toBeGreaterThan(light + 0.15);
    // A vertical step from grey 90 to grey 170 at the reference size (the boost works over one 2 px dot):
    // boosting darkens the dark side next to the edge.
    const w = 1024, h = 64;
    const step: EffectImage = { width: w, height: h, rgb: Buffer.alloc(w * h * 3), alpha: new Uint8Array(w * h).fill(255) };
    for (let i = 0; i < w * h; i++) step.rgb.fill(i % w < w / 2 ? 90 : 170, i * 3, i * 3 + 3);
    const nearEdge = (out: EffectImage): number => {
      let ink = 0;
      for (let y = 0; y < h; y++) for (let x = w / 2 - 4; x < w / 2; x++) if (out.rgb[(y * w + x) * 3] === 0) ink++;
      return ink;
    };
    const plain = nearEdge(await runEffect(dither, step, { edgeBoost: 0 }));
    const boosted = nearEdge(await runEffect(dither, step, { edgeBoost: 3 }));
    expect(boosted).toBeGreaterThan(plain * 1.15);
  });

  it('a preview looks like the downscaled print once the dots are blurred away', async () => {
    // Measured: 1.05 levels after a sigma-2 blur (35 before: the dots differ). A dot size not
    // scaled to the image gives 2.7; a gamma change from 0.45 to 0.6 gives 6.6.
    const full = petCutout(1024, 768);
    const print = await runEffect(dither, full);
    expect(constantInCells(print, 2)).toBe(true); // 2 px dots at the reference size
    const small = await preview(full, 256, 192);
    const a = await blurred(await downscale(print, 256, 192), 256, 192);
    const b = await blurred(await downscale(await runEffect(dither, small), 256, 192), 256, 192);
    expect(meanAbsDiff(a, b)).toBeLessThan(1.8);
  });
});
