import sharp from 'sharp';

/**
 * Single-channel masks for the quality evaluation: read a grey mask file,
 * resize a mask to another size, write one as a PNG.
 */
export async function readGreyMask(file: Buffer, path: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(file).removeAlpha().toColourspace('b-w').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error(`${path}: expected 1 grey channel, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

/** One byte a pixel in and out: sharp would hand a resized grey plane back as sRGB (3 bytes a pixel) unless told `b-w`. */
export async function resizeMask(mask: Uint8Array, width: number, height: number, toWidth: number, toHeight: number): Promise<Uint8Array> {
  return sharp(mask, { raw: { width, height, channels: 1 } }).resize(toWidth, toHeight, { fit: 'fill' }).toColourspace('b-w').raw().toBuffer();
}

export async function writeMaskPng(mask: Uint8Array, width: number, height: number, path: string): Promise<void> {
  await sharp(mask, { raw: { width, height, channels: 1 } }).png().toFile(path);
}
