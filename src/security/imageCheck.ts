import { PetcutError } from '../errors.js';
import { findActiveContent, scanBudget } from './activeContent.js';
import { corrupt, formatName } from './imageLayout.js';
import type { AcceptedFormat, ImageLayout, SizeCheck } from './imageLayout.js';
import { sniffUpload } from './imageSniff.js';
import { jpegLayout } from './jpegLayout.js';
import { pngLayout } from './pngLayout.js';
import { findArchive, isPadding, trailerProblem } from './trailingData.js';
import { webpLayout } from './webpLayout.js';

/** What an upload may be; checked on the raw bytes before any decoding. */
export interface UploadPolicy {
  readonly maxBytes: number;
  /** Each side at most this many pixels (the plan: 4096). */
  readonly maxDimension: number;
  /** Width x height at most this many pixels (decompression bombs). */
  readonly maxPixels: number;
  readonly animated: 'first-frame' | 'reject';
  readonly trailingData: 'strip' | 'reject';
}

export interface CheckedImage {
  readonly format: AcceptedFormat;
  readonly width: number;
  readonly height: number;
  /** Frames or pages (1 for a still image). */
  readonly frames: number;
  /** Bytes after the image's end marker (0 when none). */
  readonly trailingBytes: number;
}

const LAYOUTS: Record<AcceptedFormat, (input: Buffer, checkSize: SizeCheck) => ImageLayout> = { jpeg: jpegLayout, png: pngLayout, webp: webpLayout };

const AGAIN = 'save the photo again (or take a screenshot of it) and upload that';

/**
 * The upload gate, run on the raw bytes before anything expensive (no
 * decoding, no sharp): the magic number decides the format; the header walk
 * gives the size, frames and where the image ends; the bytes after it must
 * be structures phones append (trailingData.ts), and every byte of metadata
 * is scanned for active content. Milliseconds even at 30 MB: the walks jump
 * from header to header and the scans are memchr (Buffer.indexOf) over
 * metadata only. Throws a coded PetcutError a shopper can act on. The decoder runs later as
 * a second line of defence (damaged pixel data, bad checksums inside).
 */
export function checkImageBytes(input: Buffer, policy: UploadPolicy): CheckedImage {
  if (input.length === 0) throw new PetcutError('PETCUT_E_EMPTY_INPUT', 'The file is empty: choose the photo again and upload it.');
  if (input.length > policy.maxBytes) {
    throw new PetcutError('PETCUT_E_PAYLOAD_TOO_LARGE', `The file is ${megabytes(input.length)} MB; the limit is ${megabytes(policy.maxBytes)} MB: upload a smaller copy of the photo (a phone's "Large" or "Medium" share size is plenty).`);
  }
  const format = sniffUpload(input);
  const layout = LAYOUTS[format](input, sizeCheck(format, policy));
  if (layout.frames > 1 && policy.animated === 'reject') {
    throw new PetcutError('PETCUT_E_ANIMATED_IMAGE', `This ${formatName(format)} is an animation (${layout.frames} frames): upload a single still photo.`);
  }
  const trailing = input.subarray(layout.end);
  refusePolyglots(input, layout);
  if (trailing.length > 0 && policy.trailingData === 'reject' && !isPadding(trailing)) {
    throw new PetcutError('PETCUT_E_SUSPICIOUS_CONTENT',
      `The file has ${trailing.length} bytes of extra data after the photo (some phones attach a short video): ${AGAIN}.`);
  }
  return { format, width: layout.width, height: layout.height, frames: layout.frames, trailingBytes: trailing.length };
}

function sizeCheck(format: AcceptedFormat, policy: UploadPolicy): SizeCheck {
  return (width, height) => {
    if (width < 1 || height < 1) throw corrupt(format, `it declares ${width}x${height} pixels`);
    if (width > policy.maxDimension || height > policy.maxDimension) {
      throw new PetcutError('PETCUT_E_DIMENSIONS_TOO_LARGE',
        `The photo is ${width}x${height} pixels; the limit is ${policy.maxDimension} x ${policy.maxDimension}: resize it (most phones' share or export "Large" or "Medium" size does) and upload it again.`);
    }
    if (width * height > policy.maxPixels) {
      throw new PetcutError('PETCUT_E_TOO_MANY_PIXELS',
        `The photo is ${width}x${height} pixels (${(width * height / 1e6).toFixed(1)} MP); the limit is ${(policy.maxPixels / 1e6).toFixed(1)} MP: resize it (most phones' share or export "Large" or "Medium" size does) and upload it again.`);
    }
  };
}

/**
 * A polyglot: bytes after the image that are not what phones append, active
 * content in any metadata (the photo's, or a JPEG's after it), or an archive
 * or document tools would find. Refused whatever the trailing-data policy.
 */
function refusePolyglots(input: Buffer, layout: ImageLayout): void {
  const metadata = [...layout.metadata];
  const trailer = layout.end < input.length ? trailerProblem(input, layout.end, metadata) : undefined;
  const found = trailer === undefined ? activeContentIn(input, metadata, layout.inflated ?? []) ?? findArchive(input, layout.end) : `after the image: ${trailer}`;
  if (found) {
    throw new PetcutError('PETCUT_E_SUSPICIOUS_CONTENT', `The file carries data that is not part of the photo: ${AGAIN}.`,
      { cause: new Error(`polyglot: ${found}`) });
  }
}

function activeContentIn(input: Buffer, ranges: ReadonlyArray<readonly [number, number]>, inflated: readonly Buffer[]): string | undefined {
  const budget = scanBudget();
  for (const [start, end] of ranges) {
    const found = findActiveContent(input, budget, start, end);
    if (found) return `active content: ${found}`;
  }
  for (const block of inflated) {
    const found = findActiveContent(block, budget);
    if (found) return `active content (compressed text): ${found}`;
  }
  return undefined;
}

function megabytes(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, '');
}
