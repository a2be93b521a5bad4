import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { contextFor } from '../src/effects/kit.js';
import { retro8bitBlock, retro8bitEffect, retro8bitPalette } from '../src/effects/retro8bit.js';
import type { EffectImage } from '../src/effects/types.js';
import { downscale, meanAbsDiff, opaqueColours, petCutout, runEffect } from './support/effects.js';

/** The cut-out at another size (see the pop art test for why not `resized`: its alpha comes back 3-channel). */
async function atSize(image: EffectImage, width: number, height: number): Promise<EffectImage> {
  const raw = { width: image.width, height: image.height };
  const rgb = await sharp(image.rgb, { raw: { ...raw, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  const alpha = await sharp(Buffer.from(image.alpha), { raw: { ...raw, channels: 1 } }).resize(width, height, { fit: 'fill' }).extractChannel(0).raw().toBuffer();
  return { width, height, rgb, alpha: new Uint8Array(alpha.buffer, alpha.byteOffset, alpha.byteLength) };
}

const pixel = (image: EffectImage, x: number, y: number): number => {
  const i = y * image.width + x;
  return image.alpha[i]! * 2 ** 24 + image.rgb[i * 3]! * 65536 + image.rgb[i * 3 + 1]! * 256 + image.rgb[i * 3 + 2]!;
};

interface Rect { x0: number; y0: number; x1: number; y1: number }

function isConstant(out: EffectImage, r: Rect): boolean {
  const first = pixel(out, r.x0, r.y0);
  for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) if (pixel(out, x, y) !== first) return false;
  return true;
}

/** Opaque exactly when the input's mean alpha over the area is at least 128. */
function alphaRuleHolds(input: EffectImage, out: EffectImage, r: Rect): boolean {
  let sum = 0;
  for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) sum += input.alpha[y * input.width + x]!;
  return out.alpha[r.y0 * out.width + r.x0] === (sum / ((r.x1 - r.x0) * (r.y1 - r.y0)) >= 128 ? 255 : 0);
}

/**
 * Walks the block grid: each block is either one flat colour, or (an edge
 * block) four flat half-size cells split at ceil(block / 2); either way the
 * alpha follows the mean-alpha rule. Returns how many blocks were split and
 * how many broke the rules.
 */
function checkBlocks(input: EffectImage, out: EffectImage, block: number): { blocks: number; split: number; broken: number } {
  const half = Math.ceil(block / 2);
  let blocks = 0, split = 0, broken = 0;
  for (let y0 = 0; y0 < out.height; y0 += block) {
    for (let x0 = 0; x0 < out.width; x0 += block) {
      blocks++;
      const whole = { x0, y0, x1: Math.min(out.width, x0 + block), y1: Math.min(out.height, y0 + block) };
      if (isConstant(out, whole)) {
        if (!alphaRuleHolds(input, out, whole)) broken++;
        continue;
      }
      split++;
      const xs = [x0, Math.min(whole.x1, x0 + half), whole.x1], ys = [y0, Math.min(whole.y1, y0 + half), whole.y1];
      for (let j = 0; j < 2; j++) {
        for (let i = 0; i < 2; i++) {
          const cell = { x0: xs[i]!, y0: ys[j]!, x1: xs[i + 1]!, y1: ys[j + 1]! };
          if (cell.x0 === cell.x1 || cell.y0 === cell.y1) continue;
          if (!isConstant(out, cell) || !alphaRuleHolds(input, out, cell)) broken++;
        }
      }
    }
  }
  return { blocks, split, broken };
}

function solid(width: number, height: number, colour: readonly [number, number, number]): EffectImage {
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set(colour, i * 3);
  return { width, height, rgb, alpha: new Uint8Array(width * height).fill(255) };
}

function nearest(colour: readonly [number, number, number], weights: readonly [number, number, number]): number {
  let best = 0, bestDistance = Infinity;
  for (const c of retro8bitPalette) {
    const d = weights[0] * ((c >> 16) - colour[0]) ** 2 + weights[1] * (((c >> 8) & 255) - colour[1]) ** 2 + weights[2] * ((c & 255) - colour[2]) ** 2;
    if (d < bestDistance) { bestDistance = d; best = c; }
  }
  return best;
}

/** Pixels that differ from their left neighbour: fewer for bigger blocks. */
function horizontalChanges(out: EffectImage): number {
  let changes = 0;
  for (let y = 0; y < out.height; y++) for (let x = 1; x < out.width; x++) if (pixel(out, x, y) !== pixel(out, x - 1, y)) changes++;
  return changes;
}

describe('retro8bit effect', () => {
  it('has a 32-colour palette', () => {
    expect(new Set(retro8bitPalette).size).toBe(32);
  });

  it('paints flat 6 px blocks at 1024 px, half-size blocks on edges, with a blocky alpha', async () => {
    const input = petCutout(1024, 768);
    const out = await runEffect(retro8bitEffect, input);
    const block = retro8bitBlock(6, contextFor(input).scale);
    expect(block).toBe(6);
    expect([out.width, out.height, out.rgb.length, out.alpha.length]).toEqual([1024, 768, 1024 * 768 * 3, 1024 * 768]);
    const { blocks, split, broken } = checkBlocks(input, out, block);
    expect(broken).toBe(0);
    // Edges (outline, stripes) are split; flat fur is not.
    expect(split).toBeGreaterThan(blocks * 0.02);
    expect(split).toBeLessThan(blocks * 0.5);
    expect(out.alpha.every((a) => a === 0 || a === 255)).toBe(true);
  });

  it('scales the block with the image and splits none without edge detail', async () => {
    const input = petCutout(2048, 1536);
    const block = retro8bitBlock(6, contextFor(input).scale);
    expect(block).toBe(12);
    const out = await runEffect(retro8bitEffect, input, { edgeDetail: false });
    expect(checkBlocks(input, out, block)).toMatchObject({ split: 0, broken: 0 });
  });

  it('paints only palette colours', async () => {
    const out = await runEffect(retro8bitEffect, petCutout(640, 480));
    const allowed = new Set(retro8bitPalette);
    const used = [...opaqueColours(out)];
    expect(used.filter((c) => !allowed.has(c)).map((c) => c.toString(16))).toEqual([]);
    expect(used.length).toBeGreaterThanOrEqual(3);
  });

  it('picks the nearest colour with green weighted most (R 0.15, G 0.60, B 0.25)', async () => {
    const colour = [0, 120, 200] as const;
    const weighted = nearest(colour, [0.15, 0.6, 0.25]);
    expect(weighted).not.toBe(nearest(colour, [1, 1, 1]));
    const out = await runEffect(retro8bitEffect, solid(64, 48, colour));
    expect([...opaqueColours(out)]).toEqual([weighted]);
  });

  it('gives byte-identical output for the same input', async () => {
    const a = await runEffect(retro8bitEffect, petCutout(500, 375));
    const b = await runEffect(retro8bitEffect, petCutout(500, 375));
    expect(a.rgb.equals(b.rgb)).toBe(true);
    expect(Buffer.from(a.alpha).equals(Buffer.from(b.alpha))).toBe(true);
  });

  it('changes colour less often with bigger blocks', async () => {
    const input = petCutout(1024, 768);
    const small = horizontalChanges(await runEffect(retro8bitEffect, input, { blockSize: 4 }));
    const big = horizontalChanges(await runEffect(retro8bitEffect, input, { blockSize: 12 }));
    expect(big).toBeLessThan(small * 0.7);
  });

  it('looks the same as a 256 px preview and as the full-size print', async () => {
    const full = petCutout(1024, 768);
    const preview = await atSize(full, 256, 192);
    const blurred = (rgb: Buffer): Promise<Buffer> => sharp(rgb, { raw: { width: 256, height: 192, channels: 3 } }).blur(1).raw().toBuffer();
    const previewLook = await blurred(await downscale(await runEffect(retro8bitEffect, preview), 256, 192));
    const compare = async (params = {}): Promise<number> =>
      meanAbsDiff(await blurred(await downscale(await runEffect(retro8bitEffect, full, params), 256, 192)), previewLook);
    // Measured 1.3: a 6 px block is 1.5 px in the preview, which has whole pixels only (2 px blocks).
    // A block size not scaled with the image (24 px at 1024) measures 3.4, the unstyled cut-out 2.4.
    expect(await compare()).toBeLessThan(2);
    expect(await compare({ blockSize: 24 })).toBeGreaterThan(2);
  });
});
