import sharp from 'sharp';
import type { Box } from './subject.js';

/** sharp calls on raw RGB buffers used by the segmentation stages. */
export async function resizeRgb(rgb: Buffer, width: number, height: number, toWidth: number, toHeight: number, region?: Box): Promise<Buffer> {
  let pipeline = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (region) pipeline = pipeline.extract({ left: region.x, top: region.y, width: region.width, height: region.height });
  // Stretch (fit 'fill'): ISNet was trained on images squashed to its square input.
  return pipeline.resize(toWidth, toHeight, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
}

/** The work grid: the photo's aspect, long side at most `maxSide`, never upscaled. */
export function workSize(width: number, height: number, maxSide: number): { width: number; height: number; scale: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)), scale };
}
