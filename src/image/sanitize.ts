import sharp from 'sharp';
import { PetcutError } from '../errors.js';
import { inspectImage } from './decode.js';
import { FORMATS } from './formats.js';
import type { FormatName } from './formats.js';

export interface SanitizedImage {
  readonly data: Buffer;
  readonly format: FormatName;
  readonly contentType: string;
  readonly extension: string;
  readonly width: number;
  readonly height: number;
}

/**
 * A customer's original as we store it: re-encoded in its own format with the
 * EXIF orientation applied and every metadata block dropped (GPS position,
 * camera serial, XMP, comments); only the colour profile is kept. Re-encoding
 * also means we never store the uploaded bytes themselves (polyglot files).
 */
export async function sanitizeOriginal(input: Buffer, maxPixels: number): Promise<SanitizedImage> {
  const header = await inspectImage(input, { maxPixels });
  const format: FormatName = header.format === 'jpeg' ? 'jpeg' : header.format === 'webp' ? 'webp' : 'png';
  try {
    let pipeline = sharp(input, { limitInputPixels: maxPixels, failOn: 'error' }).rotate().keepIccProfile();
    pipeline = format === 'jpeg' ? pipeline.jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
      : format === 'webp' ? pipeline.webp({ quality: 95, alphaQuality: 100, effort: 2 })
        : pipeline.png({ compressionLevel: 6 });
    const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
    const spec = FORMATS[format];
    return { data, format, contentType: spec.contentType, extension: spec.extension, width: info.width, height: info.height };
  } catch (error) {
    throw new PetcutError('PETCUT_E_CORRUPT_IMAGE', 'The image could not be decoded: the file is damaged or only partly uploaded: upload it again.', { cause: error });
  }
}
