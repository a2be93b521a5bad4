import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { hexToRgb } from '../src/effects/kit.js';
import { halftoneEffect as halftone } from '../src/effects/halftone.js';
import type { EffectImage } from '../src/effects/types.js';
import { downscale, meanAbsDiff, opaqueColours, petCutout, resized, runEffect } from './support/effects.js';

type Rgb = readonly [number, number, number];

/** `resized` hands back a three-band alpha (libvips makes one-band raw sRGB); keep one band either way. */
async function preview(image: EffectImage, width: number, height: number): Promise<EffectImage> {
  const small = await resized(image, width, height);
  const alpha = small.alpha.length === width * height ? small.alpha : small.alpha.filter((_, i) => i % 3 === 0);
  return { ...small, alpha };
}

/** A fully opaque image of one flat colour: no edges, so no outline, just the screen. */
function flat(colour: Rgb, width = 512, height = 512): EffectImage {
  const rgb = Buffer.alloc(width * height * 3);
  for (let j = 0; j < rgb.length; j += 3) rgb.set(colour, j);
  return { width, height, rgb, alpha: new Uint8Array(width * height).fill(255) };
}

const WHITE: Rgb = [255, 255, 255];
const INK = hexToRgb('#1b1a26');

/** Ink amount (0 paper .. 1 ink) of a mono pixel, from its red channel. */
const inkAt = (image: EffectImage, i: number, ink: Rgb = INK): number => (255 - image.rgb[i * 3]!) / (255 - ink[0]);

/** Mean ink amount over opaque pixels. */
function inkShare(image: EffectImage, ink: Rgb = INK): number {
  let sum = 0, n = 0;
  for (let i = 0; i < image.alpha.length; i++) if (image.alpha[i]! >= 250) { sum += inkAt(image, i, ink); n++; }
  return sum / n;
}

function meanColour(image: EffectImage): Rgb {
  const sum = [0, 0, 0];
  for (let j = 0; j < image.rgb.length; j += 3) for (let c = 0; c < 3; c++) sum[c]! += image.rgb[j + c]!;
  const n = image.rgb.length / 3;
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

/** Distance of p from the segment a-b (8-bit units). */
function offSegment(p: Rgb, a: Rgb, b: Rgb): number {
  const d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
  const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * d[0]! + (p[1] - a[1]) * d[1]! + (p[2] - a[2]) * d[2]!) / (d[0]! ** 2 + d[1]! ** 2 + d[2]! ** 2)));
  return Math.hypot(p[0] - a[0] - t * d[0]!, p[1] - a[1] - t * d[1]!, p[2] - a[2] - t * d[2]!);
}

describe('halftone effect', () => {
  it('keeps the size and the alpha in both modes', async () => {
    const image = petCutout();
    for (const mode of ['color', 'mono']) {
      const out = await runEffect(halftone, image, { mode });
      expect([out.width, out.height, out.rgb.length]).toEqual([image.width, image.height, image.width * image.height * 3]);
      expect(out.alpha).toEqual(image.alpha);
    }
  });

  it('mono prints two colours, ink and paper, plus anti-aliased dot edges between them', async () => {
    const image = petCutout(1024, 768);
    for (const inkHex of ['#1b1a26', '#c0392b']) {
      const ink = hexToRgb(inkHex);
      const out = await runEffect(halftone, image, { mode: 'mono', ink: inkHex });
      const colours = [...opaqueColours(out)].map((c): Rgb => [c >> 16, (c >> 8) & 255, c & 255]);
      // Every colour is a mix of the two (channels rounded one by one).
      expect(Math.max(...colours.map((c) => offSegment(c, WHITE, ink)))).toBeLessThan(0.9);
      // Measured: 71 % of the pet's pixels are pure ink or pure paper; the rest are dot and line edges.
      let pure = 0, opaque = 0;
      for (let i = 0; i < out.alpha.length; i++) {
        if (out.alpha[i]! < 250) continue;
        opaque++;
        const p = out.rgb.subarray(i * 3, i * 3 + 3);
        if ((p[0] === 255 && p[1] === 255 && p[2] === 255) || (p[0] === ink[0] && p[1] === ink[1] && p[2] === ink[2])) pure++;
      }
      expect(pure / opaque).toBeGreaterThan(0.6);
    }
  });

  it('dot area grows with darkness: a dark flat patch takes more ink than a light one', async () => {
    const shares: number[] = [];
    for (const grey of [230, 170, 110, 50]) shares.push(inkShare(await runEffect(halftone, flat([grey, grey, grey]), { mode: 'mono', outline: 0 })));
    // Measured 0, 0.22, 0.49, 0.73.
    for (let k = 1; k < shares.length; k++) expect(shares[k]!).toBeGreaterThan(shares[k - 1]! + 0.1);
    expect(shares[0]!).toBeLessThan(0.05); // near-white prints as clean paper
    expect(shares[3]!).toBeGreaterThan(0.6);
  });

  it('colour mode mixes cyan, magenta, yellow and black screens into the patch colour', async () => {
    const red = meanColour(await runEffect(halftone, flat([220, 40, 40]), { outline: 0 }));
    const blue = meanColour(await runEffect(halftone, flat([40, 70, 210]), { outline: 0 }));
    const black = meanColour(await runEffect(halftone, flat([15, 15, 15]), { outline: 0 }));
    expect(red[0]).toBeGreaterThan(red[1] + 60);
    expect(red[0]).toBeGreaterThan(red[2] + 60);
    expect(blue[2]).toBeGreaterThan(blue[0] + 40);
    expect(Math.max(...black)).toBeLessThan(70);
    // A screen, not a flat fill: many colours from overlapping dots.
    expect(opaqueColours(await runEffect(halftone, flat([200, 120, 50]), { outline: 0 })).size).toBeGreaterThan(50);
  });

  it('outline inks the contour', async () => {
    const image = petCutout(1024, 768);
    // The soft edge of the cut-out (alpha 140..245, ~10 px wide here): where the contour line is drawn.
    const band: number[] = [];
    for (let i = 0; i < image.alpha.length; i++) if (image.alpha[i]! >= 140 && image.alpha[i]! <= 245) band.push(i);
    const bandInk = async (outline: number): Promise<number> => {
      const out = await runEffect(halftone, image, { mode: 'mono', outline });
      return band.reduce((s, i) => s + inkAt(out, i), 0) / band.length;
    };
    // Measured 0.77 with the outline, 0.40 (the dots alone) without.
    expect(await bandInk(1)).toBeGreaterThan((await bandInk(0)) + 0.2);
  });

  it('cell sets the dot spacing: twice the cell, half the dots along a row', async () => {
    const image = flat([128, 128, 128]);
    const transitions = async (cell: number): Promise<number> => {
      const out = await runEffect(halftone, image, { mode: 'mono', outline: 0, cell });
      let count = 0;
      for (let i = 1; i < out.alpha.length; i++) if (i % image.width !== 0 && out.rgb[i * 3]! < 128 && out.rgb[(i - 1) * 3]! >= 128) count++;
      return count;
    };
    const ratio = (await transitions(8)) / (await transitions(16));
    expect(ratio).toBeGreaterThan(1.7);
    expect(ratio).toBeLessThan(2.3);
  });

  it('angle turns the screen: at 0 degrees the dots repeat exactly every cell along a row', async () => {
    const image = flat([128, 128, 128], 512, 512); // scale 0.5: the 8 px cell is 4 px here
    const periodic = async (angle: number): Promise<number> => {
      const out = await runEffect(halftone, image, { mode: 'mono', outline: 0, angle });
      let same = 0, n = 0;
      for (let y = 0; y < image.height; y++) for (let x = 0; x + 4 < image.width; x++, n++) {
        if (out.rgb[(y * image.width + x) * 3] === out.rgb[(y * image.width + x + 4) * 3]) same++;
      }
      return same / n;
    };
    expect(await periodic(0)).toBeGreaterThan(0.99);
    expect(await periodic(45)).toBeLessThan(0.9);
  });

  it('is deterministic', async () => {
    const image = petCutout();
    const [a, b] = await Promise.all([runEffect(halftone, image), runEffect(halftone, image)]);
    expect(a.rgb.equals(b.rgb)).toBe(true);
  });

  it('a preview looks like the downscaled full-size print (dots blurred away)', async () => {
    const full = petCutout(1024, 768);
    const small = await preview(full, 256, 192);
    const blur = (rgb: Buffer): Promise<Buffer> => sharp(rgb, { raw: { width: 256, height: 192, channels: 3 } }).blur(2).raw().toBuffer();
    const a = await blur(await downscale(await runEffect(halftone, full), 256, 192));
    const b = await blur(await downscale(await runEffect(halftone, small), 256, 192));
    // Measured 3.9 levels (of 255): the screens land differently and thin lines round differently at
    // 0.25x. Without supersampling the 2 px preview cells it measured 8.1 (tone 20 levels off in the
    // highlights); a preview screened as if it were 1024 px (context.scale ignored) measures 8.0.
    expect(meanAbsDiff(a, b)).toBeLessThan(6);
  });

  it('copes with tiny and fully transparent images', async () => {
    for (const [width, height] of [[1, 1], [3, 2], [1, 9]] as const) {
      for (const mode of ['color', 'mono']) {
        const image: EffectImage = { width, height, rgb: Buffer.alloc(width * height * 3, 80), alpha: new Uint8Array(width * height) };
        const out = await runEffect(halftone, image, { mode });
        expect(out.rgb.length).toBe(width * height * 3);
      }
    }
  });
});
