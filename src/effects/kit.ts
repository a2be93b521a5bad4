import sharp from 'sharp';
import type { EffectContext, EffectImage } from './types.js';

/**
 * Shared tools for effects: the context (seed, scale), a seeded PRNG, and
 * conversions between effect images and sharp pipelines.
 */
export const REFERENCE_SIDE = 1024;

/** FNV-1a over a sparse sample of the pixels and the size: cheap, and stable for the same image. */
export function contextFor(image: EffectImage): EffectContext {
  let h = 0x811c9dc5 ^ image.width ^ (image.height << 16);
  const step = Math.max(1, Math.floor(image.rgb.length / 65_536));
  for (let i = 0; i < image.rgb.length; i += step) {
    h ^= image.rgb[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return { seed: h >>> 0, scale: Math.max(image.width, image.height) / REFERENCE_SIDE };
}

export { seededRandom } from '../random.js';

/** The RGB plane as a sharp pipeline (3 channels, raw). */
export function rgbPipeline(image: EffectImage): sharp.Sharp {
  return sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/** A single-channel plane as a sharp pipeline (its output stays one band: libvips would otherwise hand back sRGB). */
export function planePipeline(plane: Uint8Array, width: number, height: number): sharp.Sharp {
  return sharp(Buffer.from(plane.buffer, plane.byteOffset, plane.byteLength), { raw: { width, height, channels: 1 } }).toColourspace('b-w');
}

/** Raw bytes out of a pipeline with a known channel count. */
export async function rawOf(pipeline: sharp.Sharp): Promise<Buffer> {
  return pipeline.raw().toBuffer();
}

/** Rec. 601 luma as floats 0..1 (one pass, typed array). */
export function lumaOf(rgb: Buffer, weights: readonly [number, number, number] = [0.299, 0.587, 0.114]): Float32Array {
  const n = rgb.length / 3;
  const out = new Float32Array(n);
  const [wr, wg, wb] = weights;
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = (wr * rgb[j]! + wg * rgb[j + 1]! + wb * rgb[j + 2]!) / 255;
  return out;
}

/** Grey 0..1 floats to an RGB buffer with the same value in all three channels. */
export function greyToRgb(grey: Float32Array): Buffer {
  const out = Buffer.allocUnsafe(grey.length * 3);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3) {
    const v = Math.max(0, Math.min(255, Math.round(grey[i]! * 255)));
    out[j] = v;
    out[j + 1] = v;
    out[j + 2] = v;
  }
  return out;
}

/** Gaussian blur of a 0..1 float plane through libvips (8-bit precision is enough for looks; 16-bit kept). */
export async function blurPlane(plane: Float32Array, width: number, height: number, sigma: number): Promise<Float32Array> {
  if (sigma < 0.3) return plane.slice();
  const u16 = new Uint16Array(plane.length);
  for (let i = 0; i < plane.length; i++) u16[i] = Math.max(0, Math.min(65535, Math.round(plane[i]! * 65535)));
  // A Uint16Array input makes sharp read 16-bit samples.
  // (without toColourspace('grey16') libvips hands back 8-bit sRGB)
  const blurred = await sharp(u16, { raw: { width, height, channels: 1 } }).blur(sigma).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer();
  const view = new Uint16Array(blurred.buffer, blurred.byteOffset, blurred.byteLength / 2);
  const out = new Float32Array(plane.length);
  for (let i = 0; i < out.length; i++) out[i] = view[i]! / 65535;
  return out;
}

/** '#rgb' or '#rrggbb' (the registry has checked the form) to [r, g, b]. */
export function hexToRgb(hex: string): [number, number, number] {
  let h = hex.replace('#', '');
  if (h.length === 3) h = [...h].map((c) => c + c).join('');
  const v = parseInt(h, 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** 8-bit grey (Rec. 601) of the cut-out over white paper: the silhouette itself becomes an edge to draw. */
export function greyOnPaper(image: EffectImage): Uint8Array {
  const { rgb, alpha } = image;
  const grey = new Uint8Array(alpha.length);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3) {
    const a = alpha[i]!;
    const g = (rgb[j]! * 77 + rgb[j + 1]! * 150 + rgb[j + 2]! * 29) >> 8;
    grey[i] = (g * a + 255 * (255 - a) + 127) / 255 | 0;
  }
  return grey;
}

/** Gaussian blur of an 8-bit plane in libvips (8-bit in, 8-bit out: the fast path). */
export async function blurGrey(grey: Uint8Array, width: number, height: number, sigma: number): Promise<Uint8Array> {
  if (sigma < 0.3) return grey; // below libvips' smallest blur: already as sharp as the pixels
  // toColourspace('b-w'): without it libvips hands a one-band raw input back as three-band sRGB.
  const out = await sharp(grey, { raw: { width, height, channels: 1 } }).blur(sigma).toColourspace('b-w').raw().toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
