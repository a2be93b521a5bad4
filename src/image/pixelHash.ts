import { createHash } from 'node:crypto';

/** Content key of the oriented pixels (what the cache is keyed on, never the file's bytes alone). */
export function pixelHash(width: number, height: number, rgb: Buffer, alpha?: Uint8Array): string {
  const hash = createHash('sha256').update(`${width}x${height}:`).update(rgb);
  if (alpha) hash.update(alpha);
  return hash.digest('hex');
}
