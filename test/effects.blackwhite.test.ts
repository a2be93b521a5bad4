import { describe, expect, it } from 'vitest';
import { enhancedBlackWhiteEffect as bw, filmTone } from '../src/effects/enhancedBlackWhite.js';
import type { EffectImage } from '../src/effects/types.js';
import { downscale, meanAbsDiff, opaqueColours, petCutout, resized, runEffect } from './support/effects.js';

/** An opaque image of one grey level. */
function flat(width: number, height: number, level: number): EffectImage {
  return { width, height, rgb: Buffer.alloc(width * height * 3, level), alpha: new Uint8Array(width * height).fill(255) };
}

/** The grey values of opaque pixels. */
function greys(image: EffectImage): number[] {
  const out: number[] = [];
  for (let i = 0; i < image.alpha.length; i++) if (image.alpha[i]! >= 250) out.push(image.rgb[i * 3]!);
  return out;
}

function spread(values: number[]): number {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
}

/** Sum of absolute differences between horizontal neighbours: how much fine detail there is. */
function detail(image: EffectImage): number {
  let sum = 0;
  for (let i = 0; i + 3 < image.rgb.length; i += 3) sum += Math.abs(image.rgb[i]! - image.rgb[i + 3]!);
  return sum;
}

/**
 * The same cut-out at preview size. The shared `resized` helper returns its
 * alpha with three bands (sharp turns a one-band raw image into sRGB); keep
 * the first band so the comparison holds whether or not that is fixed.
 */
async function preview(image: EffectImage, width: number, height: number): Promise<EffectImage> {
  const small = await resized(image, width, height);
  const alpha = small.alpha.length === width * height ? small.alpha : small.alpha.filter((_, i) => i % 3 === 0);
  return { ...small, alpha };
}

describe('enhancedblackwhite effect', () => {
  it('keeps the size and the alpha, and turns every opaque pixel grey', async () => {
    const image = petCutout();
    const out = await runEffect(bw, image);
    expect([out.width, out.height, out.rgb.length]).toEqual([image.width, image.height, image.width * image.height * 3]);
    expect(out.alpha).toEqual(image.alpha);
    const colours = opaqueColours(out);
    for (const c of colours) expect([(c >> 16) & 255, c & 255]).toEqual([(c >> 8) & 255, (c >> 8) & 255]);
    // Grey, not flat: the cut-out's shading survives.
    expect(colours.size).toBeGreaterThan(50);
  });

  it('is deterministic: the same image and parameters give identical bytes', async () => {
    const image = petCutout();
    const [a, b] = await Promise.all([runEffect(bw, image), runEffect(bw, image)]);
    expect(a.rgb.equals(b.rgb)).toBe(true);
  });

  // Grain is sized at the 1024 px reference (and weakened below it, as a downscaled print's would be): test it there.
  it('seeds the grain from the image: another image gets another grain', async () => {
    const a = flat(1024, 32, 128);
    const b = flat(1024, 32, 128);
    b.rgb[0] = 127; // one pixel in a corner changes the seed
    const [outA, outB] = await Promise.all([runEffect(bw, a), runEffect(bw, b)]);
    // Compare away from the changed corner, where the inputs are the same.
    let differing = 0;
    for (let y = 8; y < 32; y++) for (let x = 8; x < 1024; x++) if (outA.rgb[(y * 1024 + x) * 3] !== outB.rgb[(y * 1024 + x) * 3]) differing++;
    expect(differing).toBeGreaterThan(24 * 1016 * 0.5);
  });

  it('grain 0 leaves a flat grey flat; the default grain does not', async () => {
    const image = flat(1024, 32, 128);
    expect(new Set(greys(await runEffect(bw, image, { grain: 0 }))).size).toBe(1);
    expect(spread(greys(await runEffect(bw, image)))).toBeGreaterThan(2);
  });

  it('contrast 2 spreads the tones wider than contrast 0.5', async () => {
    const image = petCutout();
    const low = spread(greys(await runEffect(bw, image, { contrast: 0.5, grain: 0 })));
    const high = spread(greys(await runEffect(bw, image, { contrast: 2, grain: 0 })));
    expect(high).toBeGreaterThan(low * 2);
  });

  it('sharpen adds fine detail and halation only brightens', async () => {
    // At the reference size: on small images the 1.2 px sharpening radius is below a pixel.
    const image = petCutout(1024, 768);
    const soft = await runEffect(bw, image, { sharpen: 0, grain: 0 });
    const sharp = await runEffect(bw, image, { sharpen: 3, grain: 0 });
    expect(detail(sharp)).toBeGreaterThan(detail(soft) * 1.1);
    // A bright disc on a dark ground at the reference size: the glow lightens the dark around it and darkens nothing.
    const disc = flat(1024, 256, 40);
    for (let y = 0; y < 256; y++) for (let x = 0; x < 1024; x++) if ((x - 512) ** 2 + (y - 128) ** 2 < 3600) disc.rgb.fill(250, (y * 1024 + x) * 3, (y * 1024 + x) * 3 + 3);
    const none = greys(await runEffect(bw, disc, { halation: 0, grain: 0, sharpen: 0 }));
    const glow = greys(await runEffect(bw, disc, { halation: 0.5, grain: 0, sharpen: 0 }));
    expect(glow.every((v, i) => v >= none[i]!)).toBe(true);
    expect(glow.filter((v, i) => v > none[i]! + 5).length).toBeGreaterThan(2000); // measured: 3553, a ring ~9 px wide around the disc
  });

  it('follows the film curve and protects highlights from clipping', async () => {
    expect(filmTone(0, 1)).toBe(0);
    expect(filmTone(0.1, 1)).toBeCloseTo(Math.pow(0.11, 1.25) * 0.92, 6);
    expect(filmTone(0.8, 1)).toBeCloseTo(1 - Math.pow(0.2 * 1.05, 0.75) * 0.95, 6);
    // Near-white input levels stay distinct and below paper white.
    const ramp = flat(56, 4, 0);
    for (let i = 0; i < 56 * 4; i++) ramp.rgb.fill(200 + (i % 56), i * 3, i * 3 + 3);
    const out = await runEffect(bw, ramp, { grain: 0, sharpen: 0, halation: 0 });
    const row = [...Array(56).keys()].map((x) => out.rgb[(56 + x) * 3]!);
    expect(row.every((v, x) => x === 0 || v >= row[x - 1]!)).toBe(true);
    // Clipping would make the top levels equal (255); protected, they still climb, below paper white.
    expect(row[55]!).toBeGreaterThan(row[50]!);
    expect(row[55]!).toBeLessThan(250);
  });

  it('a preview looks like the downscaled print', async () => {
    // Measured: 1.14 levels mean difference (0.40 without grain). Sizes not scaled to the image
    // give 2.1 (blur sigmas) or 2.4 (grain amplitude); a contrast change from 1.12 to 0.8 gives 4.7.
    const full = petCutout(1024, 768);
    const small = await preview(full, 256, 192);
    const print = await downscale(await runEffect(bw, full), 256, 192);
    const shown = await downscale(await runEffect(bw, small), 256, 192);
    expect(meanAbsDiff(print, shown)).toBeLessThan(1.6);
  });
});
