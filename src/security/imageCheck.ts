import type { PetcutError } from '../errors.js';

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
  readonly format: 'jpeg' | 'png' | 'webp';
  readonly width: number;
  readonly height: number;
  /** Frames or pages (1 for a still image). */
  readonly frames: number;
  /** Bytes after the image's end marker (0 when none). */
  readonly trailingBytes: number;
}

/** TODO(#5, in progress): the header walk. Throws a coded PetcutError for anything not allowed. */
export function checkImageBytes(input: Buffer, policy: UploadPolicy): CheckedImage {
  void input;
  void policy;
  return { format: 'jpeg', width: 0, height: 0, frames: 1, trailingBytes: 0 };
}

export type { PetcutError };
