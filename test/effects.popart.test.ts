import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { popArtEffect, popArtPalette } from '../src/effects/popArt.js';
import type { EffectImage } from '../src/effects/types.js';
import { downscale, meanAbsDiff, opaqueColours, petCutout, runEffect } from './support/effects.js';

/**
 * The cut-out at another size. Not `resized` from the support file: it
 * returns a 3-channel alpha (sharp turns a 1-channel raw resize into sRGB
 * unless the channel is extracted), which scrambles the preview.
 */
async function atSize(image: EffectImage, width: number, height: number): Promise<EffectImage> {
  const raw = { width: image.width, height: image.height };
  const rgb = await sharp(image.rgb, { raw: { ...raw, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  const alpha = await sharp(Buffer.from(image.alpha), { raw: { ...raw, channels: 1 } }).resize(width, height, { fit: 'fill' }).extractChannel(0).raw().toBuffer();
  return { width, height, rgb, alpha: new Uint8Array(alpha.buffer, alpha.byteOffset, alpha.byteLength) };
}

function solid(width: number, height: number, colour: readonly [number, number, number]): EffectImage {
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set(colour, i * 3);
  return { width, height, rgb, alpha: new Uint8Array(width * height).fill(255) };
}

const blurred = (rgb: Buffer, width: number, height: number): Promise<Buffer> =>
  sharp(rgb, { raw: { width, height, channels: 3 } }).blur(1).raw().toBuffer();

describe('popart effect', () => {
  it('keeps the size and the alpha', async () => {
    const image = petCutout(300, 200);
    const alpha = Uint8Array.from(image.alpha);
    const out = await runEffect(popArtEffect, image);
    expect([out.width, out.height, out.rgb.length]).toEqual([300, 200, 300 * 200 * 3]);
    expect(Buffer.from(out.alpha).equals(Buffer.from(alpha))).toBe(true);
  });

  it.each(['classic', 'warhol', 'comic', 'neon'])('paints only %s palette colours, several of them', async (palette) => {
    const out = await runEffect(popArtEffect, petCutout(400, 300), { palette });
    const allowed = new Set(popArtPalette(palette));
    const used = [...opaqueColours(out)];
    expect(used.filter((c) => !allowed.has(c)).map((c) => c.toString(16))).toEqual([]);
    expect(used.length).toBeGreaterThanOrEqual(3);
  });

  it('uses the first version\'s palette by default', () => {
    expect(popArtPalette(String(popArtEffect.parameters.palette!.default))).toEqual([0x000000, 0x8a2be2, 0x00bfff, 0xff1493, 0x32cd32, 0x00ff7f]);
  });

  it('maps strongly coloured pixels to the palette colour nearest in hue', async () => {
    // Orange (30 deg) -> deep pink (328), green (120) -> lime green (120), sky (200) -> deep sky blue (195).
    const cases: [readonly [number, number, number], number][] = [[[255, 128, 0], 0xff1493], [[40, 200, 40], 0x32cd32], [[0, 160, 255], 0x00bfff]];
    for (const [colour, expected] of cases) {
      const out = await runEffect(popArtEffect, solid(16, 16, colour));
      expect([...opaqueColours(out)].map((c) => c.toString(16))).toEqual([expected.toString(16)]);
    }
  });

  it('paints grey by luminance band: dark -> black, light -> the lightest colour', async () => {
    // With the first version's fixed mid-grey pivot (adaptive off).
    const dark = await runEffect(popArtEffect, solid(16, 16, [60, 60, 60]), { adaptive: false });
    const light = await runEffect(popArtEffect, solid(16, 16, [210, 210, 210]), { adaptive: false });
    expect([...opaqueColours(dark)]).toEqual([0x000000]);
    expect([...opaqueColours(light)]).toEqual([0x00ff7f]);
  });

  it('gives byte-identical output for the same input, and leaves the input alone', async () => {
    const image = petCutout(320, 240);
    const before = Buffer.from(image.rgb);
    const a = await runEffect(popArtEffect, image);
    const b = await runEffect(popArtEffect, petCutout(320, 240));
    expect(a.rgb.equals(b.rgb)).toBe(true);
    expect(image.rgb.equals(before)).toBe(true);
  });

  it('paints more colours with more levels', async () => {
    const image = petCutout(400, 300);
    const two = opaqueColours(await runEffect(popArtEffect, image, { levels: 2 })).size;
    const six = opaqueColours(await runEffect(popArtEffect, image, { levels: 6 })).size;
    expect(two).toBeLessThan(six);
  });

  it('looks the same as a 256 px preview and as the full-size print', async () => {
    const full = petCutout(1024, 768);
    const preview = await atSize(full, 256, 192);
    const compare = async (params = {}): Promise<number> => meanAbsDiff(
      await blurred(await downscale(await runEffect(popArtEffect, full, params), 256, 192), 256, 192),
      await blurred(await downscale(await runEffect(popArtEffect, preview), 256, 192), 256, 192));
    // Measured 1.7 (band borders shift by a pixel or so; the denoise blur is skipped at preview scale);
    // other levels or the unstyled cut-out measure 10 and 21, so 4 still tells them apart.
    expect(await compare()).toBeLessThan(4);
    expect(await compare({ levels: 5 })).toBeGreaterThan(4);
  });

  it('adaptive centring keeps a dark coat in colour bands instead of a black silhouette', async () => {
    const dark = petCutout(320, 240);
    const darker = { ...dark, rgb: Buffer.from(dark.rgb.map((v) => Math.round(v * 0.35))) };
    const black = (image: { rgb: Buffer; alpha: Uint8Array }): number => {
      let n = 0, opaque = 0;
      for (let i = 0; i < image.alpha.length; i++) {
        if (image.alpha[i]! < 250) continue;
        opaque++;
        if (image.rgb[i * 3] === 0 && image.rgb[i * 3 + 1] === 0 && image.rgb[i * 3 + 2] === 0) n++;
      }
      return n / opaque;
    };
    const fixed = black(await runEffect(popArtEffect, darker, { adaptive: false }));
    const adaptive = black(await runEffect(popArtEffect, darker));
    expect(fixed).toBeGreaterThan(0.7);
    expect(adaptive).toBeLessThan(0.5);
  });
});
