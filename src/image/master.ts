import sharp from 'sharp';
import { PetcutError } from '../errors.js';
import { alphaBox } from './fullres.js';
import type { RenderSource } from './render.js';
import type { Planes } from './types.js';

/**
 * The cut-out master kept in the cache: full-resolution RGBA PNG of the
 * refined colours and alpha, so later renders (another format, size or
 * effect) skip the model.
 */
export async function encodeMaster(source: Planes): Promise<Buffer> {
  return sharp(source.rgb, { raw: { width: source.width, height: source.height, channels: 3 } })
    .joinChannel(Buffer.from(source.alpha.buffer, source.alpha.byteOffset, source.alpha.byteLength), { raw: { width: source.width, height: source.height, channels: 1 } })
    .png({ compressionLevel: 1, adaptiveFiltering: false })
    .toBuffer();
}

/** Reads a master back into planes (and its foreground box). */
export async function decodeMaster(master: Buffer): Promise<RenderSource> {
  let decoded: { data: Buffer; info: sharp.OutputInfo };
  try {
    decoded = await sharp(master, { limitInputPixels: false }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new PetcutError('PETCUT_E_INTERNAL', 'A cached cut-out could not be read.', { cause: error });
  }
  const { width, height } = decoded.info;
  const pixels = width * height;
  const rgb = Buffer.allocUnsafe(pixels * 3);
  const alpha = new Uint8Array(pixels);
  const data = decoded.data;
  for (let i = 0, j = 0, k = 0; i < pixels; i++, j += 4, k += 3) {
    rgb[k] = data[j]!;
    rgb[k + 1] = data[j + 1]!;
    rgb[k + 2] = data[j + 2]!;
    alpha[i] = data[j + 3]!;
  }
  return { width, height, rgb, alpha, box: alphaBox(alpha, width, height, 128) };
}

/**
 * libvips' operation cache keeps recent images alive; in a pipeline worker
 * every request is a new image, so the cache only costs memory (~100 MB at
 * 12 MP). Called once per worker thread.
 */
export function disableOperationCache(): void {
  sharp.cache(false);
}
