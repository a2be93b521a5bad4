import { PetcutError } from '../errors.js';
import { findActiveContent, findPayload, isPadding, scanBudget } from './activeContent.js';
import { corrupt, formatName } from './imageLayout.js';
import type { AcceptedFormat, ImageLayout, SizeCheck } from './imageLayout.js';
import { sniffUpload } from './imageSniff.js';
import { jpegLayout } from './jpegLayout.js';
import { pngLayout } from './pngLayout.js';
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
 * gives the size, frames and where the image ends; metadata and trailing
 * bytes are scanned for polyglot payloads. Milliseconds even at 30 MB: scans
 * are memchr (Buffer.indexOf) over metadata and the trailing region only.
 * Throws a coded PetcutError a shopper can act on. The decoder runs later as
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
  refuseActiveContent(input, layout, trailing);
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

/** A polyglot: script or markup in the metadata, or a payload after the image. Refused whatever the trailing-data policy. */
function refuseActiveContent(input: Buffer, layout: ImageLayout, trailing: Buffer): void {
  const budget = scanBudget();
  const blocks = [...layout.metadata.map(([start, end]) => input.subarray(start, end)), ...(layout.inflated ?? [])];
  let found: string | undefined;
  for (const block of blocks) found ??= findActiveContent(block, budget);
  if (!found && trailing.length > 0) found = findPayload(trailing, budget);
  if (found) {
    throw new PetcutError('PETCUT_E_SUSPICIOUS_CONTENT', `The file carries data that is not part of the photo: ${AGAIN}.`,
      { cause: new Error(`active content: ${found}`) });
  }
}

function megabytes(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, '');
}
