import { PetcutError } from '../errors.js';
import type { AcceptedFormat } from './imageLayout.js';

/**
 * The format of an upload, decided by its magic number only: the client's
 * Content-Type and file name are never trusted. Anything other than JPEG,
 * PNG or WebP is refused here, named when we recognise it, with what to do.
 */
export function sniffUpload(input: Buffer): AcceptedFormat {
  if (startsWith(input, 0, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(input, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(input, 0, 4) === 'RIFF' && ascii(input, 8, 12) === 'WEBP') return 'webp';
  throw refuseOther(input);
}

const USE = 'use a JPEG, PNG or WebP photo';

function refuseOther(input: Buffer): PetcutError {
  const isoBmff = ascii(input, 4, 8) === 'ftyp' ? isoBmffBrand(input) : undefined;
  if (isoBmff === 'heic') return new PetcutError('PETCUT_E_HEIC_UNSUPPORTED');
  const known = isoBmff === 'avif' ? 'AVIF images are not supported: export the photo as JPEG (or PNG) and upload that.'
    : isoBmff === 'raw' ? 'Camera RAW files are not supported: export the photo as JPEG and upload that.'
      : isoBmff === 'video' ? `This is a video, not a photo: ${USE} (a still from the video works too).`
        : otherFormat(input);
  return new PetcutError('PETCUT_E_UNSUPPORTED_FORMAT', known ?? `This file is not a photo we can read: ${USE}.`);
}

function otherFormat(input: Buffer): string | undefined {
  const head = ascii(input, 0, 8);
  if (head.startsWith('GIF87a') || head.startsWith('GIF89a')) return `GIF images are not supported: ${USE} (for an animation, a screenshot of one frame).`;
  if (head.startsWith('II*\0') || head.startsWith('MM\0*') || head.startsWith('II+\0') || head.startsWith('MM\0+') || head.startsWith('IIRO') || head.startsWith('IIU\0')) {
    return 'TIFF and camera RAW files are not supported: export the photo as JPEG (or PNG) and upload that.';
  }
  if (head.startsWith('%PDF')) return `PDF documents are not supported: ${USE} (export or screenshot the page with the pet).`;
  if (head.startsWith('PK\x03\x04') || head.startsWith('PK\x05\x06')) return `ZIP archives are not accepted: unzip it and upload one photo (${USE}).`;
  if (head.startsWith('8BPS')) return 'Photoshop files are not supported: export the image as JPEG or PNG and upload that.';
  if (head.startsWith('BM')) return `BMP images are not supported: ${USE}.`;
  if (startsWith(input, 0, [0, 0, 1, 0]) || startsWith(input, 0, [0, 0, 2, 0])) return `Icons are not supported: ${USE}.`;
  if (startsWith(input, 0, [0xff, 0x0a]) || ascii(input, 4, 8) === 'JXL ') return `JPEG XL images are not supported yet: ${USE}.`;
  if (ascii(input, 4, 8) === 'jP  ' || startsWith(input, 0, [0xff, 0x4f, 0xff, 0x51])) return `JPEG 2000 images are not supported: ${USE}.`;
  if (looksLikeMarkup(input)) return `SVG, HTML and other text files are not photos: ${USE}.`;
  return undefined;
}

const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
const VIDEO_BRANDS = new Set(['isom', 'iso2', 'mp41', 'mp42', 'qt  ', 'M4V ', '3gp4', '3gp5', '3g2a', 'avc1', 'dash']);

/** An ISO-BMFF `ftyp` box: AVIF wins over the generic `mif1` brand it also carries. */
function isoBmffBrand(input: Buffer): 'heic' | 'avif' | 'raw' | 'video' | undefined {
  const boxSize = Math.min(input.readUInt32BE(0), input.length, 256);
  const brands: string[] = [ascii(input, 8, 12)];
  for (let at = 16; at + 4 <= boxSize; at += 4) brands.push(ascii(input, at, at + 4));
  if (brands.some((b) => b === 'avif' || b === 'avis')) return 'avif';
  if (brands.some((b) => HEIC_BRANDS.has(b))) return 'heic';
  if (brands.includes('crx ')) return 'raw';
  if (brands.some((b) => VIDEO_BRANDS.has(b))) return 'video';
  return undefined;
}

/** Markup after an optional byte-order mark and whitespace: SVG, XML, HTML. */
function looksLikeMarkup(input: Buffer): boolean {
  let at = startsWith(input, 0, [0xef, 0xbb, 0xbf]) ? 3 : startsWith(input, 0, [0xfe, 0xff]) || startsWith(input, 0, [0xff, 0xfe]) ? 2 : 0;
  const utf16 = at === 2;
  const limit = Math.min(input.length, 4096);
  while (at < limit && (input[at] === 0x20 || input[at] === 0x09 || input[at] === 0x0a || input[at] === 0x0d || (utf16 && input[at] === 0))) at++;
  return input[at] === 0x3c; // '<'
}

function startsWith(input: Buffer, at: number, bytes: readonly number[]): boolean {
  if (input.length < at + bytes.length) return false;
  return bytes.every((b, i) => input[at + i] === b);
}

function ascii(input: Buffer, start: number, end: number): string {
  return input.length >= end ? input.toString('latin1', start, end) : '';
}
