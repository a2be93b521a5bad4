import sharp from 'sharp';
import { PetcutError } from '../errors.js';

/** Formats the pipeline accepts, decided by sharp from the magic number, never from a file name. */
const ACCEPTED = new Set(['jpeg', 'png', 'webp']);

const UPLOAD_AGAIN = 'upload it again (if that fails too, open the photo on your device, save or export it again, and upload the new copy).';

export interface DecodedImage {
  /** Oriented sRGB pixels, 3 bytes a pixel (transparent input flattened onto white). */
  readonly rgb: Buffer;
  /** The input's own alpha (oriented), when it had one: the result never shows what the input hid. */
  readonly alpha?: Buffer;
  readonly width: number;
  readonly height: number;
  readonly format: string;
}

export interface DecodeOptions {
  /** Pixel limit checked from the header before any pixel is decoded. */
  readonly maxPixels: number;
}

function explainUnsupported(format: string | undefined): string {
  if (format === 'heif') {
    return 'HEIC/HEIF photos are not supported: on an iPhone choose Settings > Camera > Formats > Most Compatible, or export the photo as JPEG.';
  }
  return `Unsupported image format${format ? ` "${format}"` : ''}: use JPEG, PNG or WebP.`;
}

/** The accepted format named by the file's magic number, if any. */
export function sniffFormat(input: Buffer): 'JPEG' | 'PNG' | 'WebP' | undefined {
  if (input.length >= 3 && input[0] === 0xff && input[1] === 0xd8 && input[2] === 0xff) return 'JPEG';
  if (input.length >= 8 && input.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'PNG';
  if (input.length >= 12 && input.toString('latin1', 0, 4) === 'RIFF' && input.toString('latin1', 8, 12) === 'WEBP') return 'WebP';
  return undefined;
}

export interface Header { format: string; width: number; height: number; hasAlpha: boolean }

/** Reads the header only: format and dimensions, cheap whatever the file's size. */
export async function inspectImage(input: Buffer, options: DecodeOptions): Promise<Header> {
  if (input.length === 0) throw new PetcutError('PETCUT_E_EMPTY_INPUT');
  let meta: sharp.Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    if (sniffFormat(input)) throw new PetcutError('PETCUT_E_CORRUPT_IMAGE', `The ${sniffFormat(input)} file is damaged or only partly uploaded: ${UPLOAD_AGAIN}`, { cause: error });
    throw new PetcutError('PETCUT_E_UNSUPPORTED_FORMAT', 'The file is not a readable image: use JPEG, PNG or WebP.', { cause: error });
  }
  if (!meta.format || !ACCEPTED.has(meta.format)) {
    throw new PetcutError('PETCUT_E_UNSUPPORTED_FORMAT', explainUnsupported(meta.format));
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width < 1 || height < 1) throw new PetcutError('PETCUT_E_CORRUPT_IMAGE', 'The image declares no pixels.');
  if (width * height > options.maxPixels) {
    throw new PetcutError('PETCUT_E_TOO_MANY_PIXELS',
      `The image is ${width}x${height} (${(width * height / 1e6).toFixed(1)} MP); the limit is ${(options.maxPixels / 1e6).toFixed(1)} MP.`);
  }
  return { format: meta.format, width, height, hasAlpha: meta.hasAlpha === true };
}

/**
 * Decodes once to raw sRGB with the EXIF orientation applied first (the first
 * version lost it and printed sideways pets). Animated images give their first
 * frame (sharp's default). CMYK, 16-bit and greyscale inputs become 8-bit sRGB.
 */
export async function decodeImage(input: Buffer, options: DecodeOptions, inspected?: Header): Promise<DecodedImage> {
  const header = inspected ?? await inspectImage(input, options);
  try {
    const oriented = sharp(input, { limitInputPixels: options.maxPixels, failOn: 'error' }).rotate().toColourspace('srgb');
    if (!header.hasAlpha) {
      const { data, info } = await oriented.removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return { rgb: data, width: info.width, height: info.height, format: header.format };
    }
    const { data, info } = await oriented.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return { ...splitAlpha(data, info.width, info.height), width: info.width, height: info.height, format: header.format };
  } catch (error) {
    throw decodeError(error);
  }
}

/** libvips' own words stay in the cause (for the log): the shopper is told what to do. */
function decodeError(error: unknown): PetcutError {
  if (error instanceof PetcutError) return error;
  return new PetcutError('PETCUT_E_CORRUPT_IMAGE', `The image could not be decoded: the file is damaged or only partly uploaded: ${UPLOAD_AGAIN}`, { cause: error });
}

/**
 * The model's square input straight from the file: JPEG shrink-on-load makes
 * this much cheaper than the full decode, so inference can start while the
 * full-resolution decode is still running. Transparent input goes on white.
 */
export async function decodeModelInput(input: Buffer, size: number, options: DecodeOptions): Promise<Buffer> {
  try {
    return await sharp(input, { limitInputPixels: options.maxPixels, failOn: 'error' }).rotate().toColourspace('srgb')
      .flatten({ background: '#ffffff' }).resize(size, size, { fit: 'fill', kernel: 'linear' }).removeAlpha().raw().toBuffer();
  } catch (error) {
    throw decodeError(error);
  }
}

/** Flattens RGBA onto white for the model and keeps the alpha apart. */
function splitAlpha(rgba: Buffer, width: number, height: number): { rgb: Buffer; alpha: Buffer } {
  const n = width * height;
  const rgb = Buffer.allocUnsafe(n * 3);
  const alpha = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    const a = rgba[i * 4 + 3]!;
    alpha[i] = a;
    const keep = a / 255;
    const white = 255 - a;
    rgb[i * 3] = rgba[i * 4]! * keep + white;
    rgb[i * 3 + 1] = rgba[i * 4 + 1]! * keep + white;
    rgb[i * 3 + 2] = rgba[i * 4 + 2]! * keep + white;
  }
  return { rgb, alpha };
}
