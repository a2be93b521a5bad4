import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeImage } from '../../image/decode.js';
import { renderCutout } from '../../image/render.js';
import { resizeRgb } from '../../image/resample.js';
import { demoPhoto } from '../../image/sample.js';

/** Where real pet photos are looked for when --photos is not given (the shared fixtures). */
export const DEFAULT_PHOTOS_DIR = '../shared/fixtures/pets';

/** A phone's 12 MP photo; `preview` is for slow CPU machines (the thresholds stay). */
export const PHOTO_SIZES = { full: { width: 4000, height: 3000 }, preview: { width: 1024, height: 768 } } as const;

/** Side of the square that makes each photo unique: big enough that JPEG quantisation cannot erase it. */
const MARK = 16;
// Decoding a fixture is bounded by this (the fixtures are a few MP; a 100 MP file there is a mistake).
const MAX_SOURCE_PIXELS = 50_000_000;

export interface PhotoMaker {
  /** Where the photos come from, for the report. */
  readonly source: string;
  /** A JPEG no earlier call (nor an earlier run) produced: a different pixel block, so the cache misses. */
  readonly next: (size: keyof typeof PHOTO_SIZES) => Promise<Buffer>;
}

interface Base { readonly rgb: Buffer; readonly width: number; readonly height: number }

async function sources(dir: string | undefined): Promise<{ files: Buffer[]; source: string }> {
  const folder = dir ?? (existsSync(DEFAULT_PHOTOS_DIR) ? DEFAULT_PHOTOS_DIR : undefined);
  if (folder) {
    const names = (await readdir(folder)).filter((name) => /\.(jpe?g|png|webp)$/i.test(name)).sort();
    if (names.length > 0) return { files: await Promise.all(names.map((name) => readFile(join(folder, name)))), source: `${names.length} photos in ${folder}` };
    if (dir) throw new Error(`--photos: no JPEG, PNG or WebP in ${dir}`);
  }
  return { files: [await demoPhoto()], source: 'the generated sample cat (no photo folder found)' };
}

/**
 * Photos resized to phone size once per source and size; each call then
 * paints a 16x16 block with a colour made of a run nonce and a counter and
 * re-encodes (JPEG, quality 90), so the decoded pixels differ every time and
 * the content-addressed cache cannot answer.
 */
export async function createPhotoMaker(dir?: string): Promise<PhotoMaker> {
  const { files, source } = await sources(dir);
  const nonce = randomBytes(2);
  const bases = new Map<string, Promise<Base>>();
  let counter = 0;
  const base = (index: number, size: keyof typeof PHOTO_SIZES): Promise<Base> => {
    const key = `${index}:${size}`;
    let found = bases.get(key);
    if (!found) {
      const { width, height } = PHOTO_SIZES[size];
      found = decodeImage(files[index]!, { maxPixels: MAX_SOURCE_PIXELS })
        .then(async (decoded) => ({ rgb: await resizeRgb(decoded.rgb, decoded.width, decoded.height, width, height), width, height }));
      bases.set(key, found);
    }
    return found;
  };
  return {
    source,
    next: async (size) => {
      const n = counter++;
      const { rgb, width, height } = await base(n % files.length, size);
      const marked = Buffer.from(rgb);
      const colour = [nonce[0]!, nonce[1]!, n % 256, Math.floor(n / 256) % 256];
      // Two blocks side by side carry four bytes: 65,536 photos per run before a colour repeats.
      for (let y = 0; y < MARK; y++) {
        for (let x = 0; x < 2 * MARK; x++) {
          const at = (y * width + x) * 3;
          const c = x < MARK ? 0 : 2;
          marked[at] = colour[c]!;
          marked[at + 1] = colour[c + 1]!;
          marked[at + 2] = 128;
        }
      }
      const opaque = new Uint8Array(width * height).fill(255);
      return (await renderCutout({ rgb: marked, alpha: opaque, width, height, box: null }, { format: 'jpeg', quality: 90 })).data;
    },
  };
}
