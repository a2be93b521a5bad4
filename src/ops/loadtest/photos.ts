// The photos a load test uploads: the shared pet fixtures when present (else a
// drawn pet), drawn once at the asked size (preview: 1024 px long side; phone:
// 4032x3024, 12 MP), then made unique per upload by a tweak to the JPEG's
// quantisation tables. That changes the decoded pixels (so the pixel-keyed cache
// misses, unlike a new comment or EXIF block) at the cost of a byte copy, not a
// re-encode: re-encoding 12 MP photos at 50/s would make the generator the bottleneck.
import { randomInt } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { svgToJpeg } from '../../image/svg.js';
import type { SIZES } from './profiles.js';

export type PhotoSize = (typeof SIZES)[number];
const SIDES: Record<PhotoSize, [number, number]> = { preview: [1024, 768], phone: [4032, 3024] };

const DRAWN_PET = `<g><rect width="100%" height="100%" fill="#c9b79c"/><ellipse cx="50%" cy="62%" rx="22%" ry="26%" fill="#6b4a2b"/>
<circle cx="50%" cy="34%" r="14%" fill="#7a5532"/><circle cx="45%" cy="31%" r="1.5%" fill="#111"/><circle cx="55%" cy="31%" r="1.5%" fill="#111"/></g>`;

function drawn(width: number, height: number, inner: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}">${inner}</svg>`;
}

/** Base photos at `size`: one per fixture in `dir` (JPEG or PNG), or one drawn pet when there are none. */
export async function basePhotos(dir: string, size: PhotoSize, limit = 8): Promise<Buffer[]> {
  const [width, height] = SIDES[size];
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => /\.(jpe?g|png)$/i.test(name)).sort().slice(0, limit);
  if (names.length === 0) return [await svgToJpeg(drawn(width, height, DRAWN_PET))];
  return Promise.all(names.map(async (name) => {
    const mime = /\.png$/i.test(name) ? 'image/png' : 'image/jpeg';
    const href = `data:${mime};base64,${(await readFile(join(dir, name))).toString('base64')}`;
    return svgToJpeg(drawn(width, height, `<image width="${width}" height="${height}" preserveAspectRatio="xMidYMid slice" href="${href}" xlink:href="${href}"/>`));
  }));
}

// Zig-zag positions 20..51 of each 8-bit table: mid frequencies, where a quality-90
// quantiser is 4-12, so +1 is invisible yet present in nearly every photo's blocks.
const FIRST_TWEAKED = 20;
const TWEAKED = 32;

/** A copy of `jpeg` with quantiser entries nudged by the bits of `variant` (a 32-bit number). */
export function tweakJpeg(jpeg: Buffer, variant: number): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('tweakJpeg: not a JPEG');
  const out = Buffer.from(jpeg);
  let offset = 2;
  while (offset + 4 <= out.length && out[offset] === 0xff) {
    const marker = out[offset + 1]!;
    const length = out.readUInt16BE(offset + 2);
    if (marker === 0xda) break; // start of scan: the tables are all before it
    if (marker === 0xdb) {
      for (let table = offset + 4; table < offset + 2 + length; table += 1 + 64 * ((out[table]! >> 4) + 1)) {
        if (out[table]! >> 4 !== 0) continue; // 16-bit tables: left alone
        for (let bit = 0; bit < TWEAKED; bit++) {
          if (((variant >>> bit) & 1) === 0) continue;
          const at = table + 1 + FIRST_TWEAKED + bit;
          out[at] = out[at]! >= 255 ? 254 : out[at]! + 1;
        }
        variant = Math.imul(variant ^ (variant >>> 16), 0x45d9f3b) >>> 0; // other tables get other bits
      }
    }
    offset += 2 + length;
  }
  return out;
}

/** Hands out upload bodies: unique ones, or with probability `hitShare` one already sent (a cache hit). */
export function photoSource(bases: readonly Buffer[], hitShare: number, random: () => number) {
  const sent: Buffer[] = [];
  let next = 0;
  return (): Buffer => {
    if (sent.length > 0 && random() < hitShare) return sent[Math.floor(random() * sent.length)]!;
    const photo = tweakJpeg(bases[next++ % bases.length]!, randomInt(1, 2 ** 32 - 1));
    if (sent.length < 64) sent.push(photo);
    return photo;
  };
}
