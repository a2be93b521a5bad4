import { PetcutError } from '../errors.js';

/** What a format's structure walk found, read from headers and chunk lengths only (no pixel is decoded). */
export interface ImageLayout {
  readonly width: number;
  readonly height: number;
  /** Frames or pages (1 for a still image). */
  readonly frames: number;
  /** Offset just past the image's end marker (JPEG EOI, PNG IEND, the RIFF size): what follows is trailing data (trailingData.ts). */
  readonly end: number;
  /** [start, end) of every block that is not pixel data (comments, EXIF, XMP, ICC, private chunks) to scan for active content. */
  readonly metadata: ReadonlyArray<readonly [number, number]>;
  /** Decompressed text metadata (PNG zTXt / compressed iTXt) to scan as well. */
  readonly inflated?: readonly Buffer[];
}

/**
 * Called by a walk as soon as the header has given the dimensions, so a tiny
 * file declaring a huge image is refused for its size even when the rest of
 * it is garbage.
 */
export type SizeCheck = (width: number, height: number) => void;

export type AcceptedFormat = 'jpeg' | 'png' | 'webp';

const NAMES: Record<AcceptedFormat, string> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP' };

/**
 * A file with the right magic number but a broken structure. The detail is
 * for the log (as the cause); the shopper is told what to do.
 */
export function corrupt(format: AcceptedFormat, detail: string): PetcutError {
  return new PetcutError('PETCUT_E_CORRUPT_IMAGE',
    `The ${NAMES[format]} file is damaged or only partly uploaded: upload it again (if that fails too, open the photo on your device, save or export it again, and upload the new copy).`,
    { cause: new Error(`${NAMES[format]}: ${detail}`) });
}

export function formatName(format: AcceptedFormat): string {
  return NAMES[format];
}
