import sharp from 'sharp';
import { contextFor } from '../../src/effects/kit.js';
import type { Effect, EffectImage, EffectParams } from '../../src/effects/types.js';

/**
 * Helpers for effect tests: a synthetic cut-out (a furry-looking animal shape
 * with shading, colour and fine detail, transparent around it), the default
 * parameters of an effect, and a runner that gives the effect the same
 * context the pipeline gives it.
 */
export function petCutout(width = 320, height = 240): EffectImage {
  const rgb = Buffer.alloc(width * height * 3);
  const alpha = new Uint8Array(width * height);
  const cx = width * 0.5, cy = height * 0.55, rx = width * 0.3, ry = height * 0.32;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      const head = ((x - cx - rx * 0.6) / (rx * 0.45)) ** 2 + ((y - cy + ry * 0.7) / (ry * 0.45)) ** 2;
      const inside = Math.min(d, head);
      if (inside > 1.05) continue;
      alpha[i] = inside > 0.95 ? Math.round(255 * (1.05 - inside) / 0.1) : 255;
      // Orange fur with dark stripes, a light belly, shading, and fine noise.
      const fur = Math.sin(x / 2.5 + Math.sin(y / 9) * 3) * 0.5 + 0.5;
      const stripe = Math.sin((x + y * 0.3) / 11) > 0.6 ? 0.45 : 1;
      const shade = 0.55 + 0.45 * (1 - Math.min(1, inside));
      const belly = y > cy + ry * 0.3 ? 1.35 : 1;
      const n = ((x * 7919 + y * 104729) % 23) - 11;
      rgb[i * 3] = clamp((200 * stripe * shade + 25 * fur) * belly + n);
      rgb[i * 3 + 1] = clamp((120 * stripe * shade + 20 * fur) * belly + n);
      rgb[i * 3 + 2] = clamp((50 * stripe * shade + 10 * fur) * belly + n);
    }
  }
  return { width, height, rgb, alpha };
}

const clamp = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

export function defaultsOf(effect: Effect): Record<string, number | boolean | string> {
  return Object.fromEntries(Object.entries(effect.parameters).map(([name, spec]) => [name, spec.default]));
}

/** Runs an effect as the pipeline does (context from the image; defaults completed). */
export async function runEffect(effect: Effect, image: EffectImage, params: EffectParams = {}): Promise<EffectImage> {
  return effect.apply(image, { ...defaultsOf(effect), ...params }, contextFor(image));
}

/** The distinct RGB colours among opaque pixels (alpha >= 250), as 0xRRGGBB. */
export function opaqueColours(image: EffectImage): Set<number> {
  const colours = new Set<number>();
  for (let i = 0; i < image.alpha.length; i++) {
    if (image.alpha[i]! < 250) continue;
    colours.add((image.rgb[i * 3]! << 16) | (image.rgb[i * 3 + 1]! << 8) | image.rgb[i * 3 + 2]!);
  }
  return colours;
}

/** Downscales an effect image (RGB premultiplied by alpha) to width x height with libvips, for preview/full comparisons. */
export async function downscale(image: EffectImage, width: number, height: number): Promise<Buffer> {
  const rgba = Buffer.alloc(image.width * image.height * 4);
  for (let i = 0; i < image.alpha.length; i++) {
    rgba[i * 4] = image.rgb[i * 3]!;
    rgba[i * 4 + 1] = image.rgb[i * 3 + 1]!;
    rgba[i * 4 + 2] = image.rgb[i * 3 + 2]!;
    rgba[i * 4 + 3] = image.alpha[i]!;
  }
  return sharp(rgba, { raw: { width: image.width, height: image.height, channels: 4 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).flatten({ background: '#ffffff' }).raw().toBuffer();
}

/** Mean absolute difference per channel value (0..255) between two same-size RGB buffers. */
export function meanAbsDiff(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/** The same cut-out at another size (for preview/full consistency): resized RGB and alpha. */
export async function resized(image: EffectImage, width: number, height: number): Promise<EffectImage> {
  const rgb = await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  // extractChannel: sharp hands a resized 1-channel raw image back as 3 channels.
  const alpha = await sharp(Buffer.from(image.alpha), { raw: { width: image.width, height: image.height, channels: 1 } }).resize(width, height, { fit: 'fill' }).extractChannel(0).raw().toBuffer();
  return { width, height, rgb, alpha: new Uint8Array(alpha.buffer, alpha.byteOffset, alpha.byteLength) };
}
