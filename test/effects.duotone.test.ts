import { describe, expect, it } from 'vitest';
import { duotoneEffect as duotone } from '../src/effects/duotone.js';
import { hexToRgb } from '../src/effects/kit.js';
import type { EffectImage } from '../src/effects/types.js';
import { downscale, meanAbsDiff, petCutout, resized, runEffect } from './support/effects.js';

type Rgb = readonly [number, number, number];

/** `resized` hands back a three-band alpha (libvips makes one-band raw sRGB); keep one band either way. */
async function preview(image: EffectImage, width: number, height: number): Promise<EffectImage> {
  const small = await resized(image, width, height);
  const alpha = small.alpha.length === width * height ? small.alpha : small.alpha.filter((_, i) => i % 3 === 0);
  return { ...small, alpha };
}

/** Position along dark -> light (0..1, clamped) and distance from that segment, in 8-bit units. */
function onSegment(p: Rgb, dark: Rgb, light: Rgb): { t: number; distance: number } {
  const d = [light[0] - dark[0], light[1] - dark[1], light[2] - dark[2]];
  const len2 = d[0]! ** 2 + d[1]! ** 2 + d[2]! ** 2;
  const t = Math.max(0, Math.min(1, ((p[0] - dark[0]) * d[0]! + (p[1] - dark[1]) * d[1]! + (p[2] - dark[2]) * d[2]!) / len2));
  const distance = Math.hypot(p[0] - dark[0] - t * d[0]!, p[1] - dark[1] - t * d[1]!, p[2] - dark[2] - t * d[2]!);
  return { t, distance };
}

const pixel = (image: EffectImage, i: number): Rgb => [image.rgb[i * 3]!, image.rgb[i * 3 + 1]!, image.rgb[i * 3 + 2]!];
const lumaAt = (image: EffectImage, i: number): number => 0.299 * image.rgb[i * 3]! + 0.587 * image.rgb[i * 3 + 1]! + 0.114 * image.rgb[i * 3 + 2]!;

function opaque(image: EffectImage): number[] {
  const out: number[] = [];
  for (let i = 0; i < image.alpha.length; i++) if (image.alpha[i]! >= 250) out.push(i);
  return out;
}

describe('duotone effect', () => {
  it('keeps the size and the alpha', async () => {
    const image = petCutout();
    const out = await runEffect(duotone, image);
    expect([out.width, out.height, out.rgb.length]).toEqual([image.width, image.height, image.width * image.height * 3]);
    expect(out.alpha).toEqual(image.alpha);
  });

  it('every pixel is a mix of the two inks, from the dark one to the light one', async () => {
    const image = petCutout();
    for (const [darkHex, lightHex] of [['#2b1a10', '#f3e3c3'], ['#003366', '#ffcc00'], ['#000', '#fff']] as const) {
      const dark = hexToRgb(darkHex), light = hexToRgb(lightHex);
      const out = await runEffect(duotone, image, { dark: darkHex, light: lightHex });
      const inside = opaque(image);
      // Channels are rounded one by one: at most sqrt(3) / 2 off the exact line.
      expect(Math.max(...inside.map((i) => onSegment(pixel(out, i), dark, light).distance))).toBeLessThan(0.9);
      // The darkest input prints in (nearly) the pure dark ink, the lightest in the light one.
      const byLuma = [...inside].sort((a, b) => lumaAt(image, a) - lumaAt(image, b));
      expect(onSegment(pixel(out, byLuma[0]!), dark, light).t).toBeLessThan(0.02);
      expect(onSegment(pixel(out, byLuma[byLuma.length - 1]!), dark, light).t).toBeGreaterThan(0.98);
    }
  });

  it('keeps the order of tones: a darker input never prints lighter', async () => {
    const image = petCutout();
    const out = await runEffect(duotone, image);
    const byLuma = opaque(image).sort((a, b) => lumaAt(image, a) - lumaAt(image, b));
    let inversions = 0;
    // Compare on the 10-bit luma the effect uses: equal luma may round either way by one level.
    for (let k = 1; k < byLuma.length; k++) {
      if (out.rgb[byLuma[k]! * 3]! < out.rgb[byLuma[k - 1]! * 3]! - 1) inversions++;
    }
    expect(inversions).toBe(0);
  });

  it('contrast spreads the tones away from the middle', async () => {
    const image = petCutout();
    const spread = async (contrast: number): Promise<number> => {
      const out = await runEffect(duotone, image, { contrast });
      const dark = hexToRgb('#2b1a10'), light = hexToRgb('#f3e3c3');
      const ts = opaque(image).map((i) => onSegment(pixel(out, i), dark, light).t);
      return ts.reduce((s, t) => s + Math.abs(t - 0.5), 0) / ts.length;
    };
    const [soft, normal, hard] = [await spread(0.5), await spread(1), await spread(2)];
    // Measured mean distances from the middle tone: 0.11, 0.20, 0.30.
    expect(normal).toBeGreaterThan(soft + 0.05);
    expect(hard).toBeGreaterThan(normal + 0.05);
  });

  it('is deterministic', async () => {
    const image = petCutout();
    const [a, b] = await Promise.all([runEffect(duotone, image), runEffect(duotone, image)]);
    expect(a.rgb.equals(b.rgb)).toBe(true);
  });

  it('a preview looks like the downscaled full-size print', async () => {
    const full = petCutout(1024, 768);
    const small = await preview(full, 256, 192);
    const a = await downscale(await runEffect(duotone, full), 256, 192);
    const b = await downscale(await runEffect(duotone, small), 256, 192);
    // Measured 0.8 levels (of 255): a per-pixel tone map differs only where the resize averages
    // fine fur noise before (preview) or after (full) the curve, and in the levels' percentiles.
    // The preview with its inks swapped measures 28.
    expect(meanAbsDiff(a, b)).toBeLessThan(2);
  });

  it('copes with tiny and fully transparent images', async () => {
    for (const [width, height] of [[1, 1], [3, 2]] as const) {
      const image: EffectImage = { width, height, rgb: Buffer.alloc(width * height * 3, 80), alpha: new Uint8Array(width * height) };
      const out = await runEffect(duotone, image);
      expect(out.rgb.length).toBe(width * height * 3);
    }
  });
});
