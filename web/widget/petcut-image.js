// The shopper's photo before upload: refuse a raw HEIC with a clear message, and downscale big photos on the
// phone, upright (EXIF orientation applied), so that a 12 MP camera photo does not cost the shopper 5 MB of data.

/**
 * The long side sent to the service: a 10-inch print at 300 dpi needs 3000 px; the service refuses over 4096 px a
 * side and its model works at 1024, so more pixels only cost upload time. docs/widget.md says why in full.
 */
export const LONG_SIDE = 3000;
/** JPEG quality of the downscaled photo: visually lossless for a print at this size, ~1.5-2.5 MB at 3000 px. */
const QUALITY = 0.9;

const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1', 'avif']);

/** The ISO-BMFF brand of a HEIC/HEIF/AVIF file (bytes 4-11: "ftyp" + brand), or undefined. */
export async function heifBrand(file) {
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const text = String.fromCharCode(...head);
  if (text.slice(4, 8) !== 'ftyp') return undefined;
  const brand = text.slice(8, 12);
  return HEIF_BRANDS.has(brand) ? brand : undefined;
}

/** Whether the bytes are one of the formats the service takes (JPEG, PNG, WebP), by magic number. */
export async function acceptedFormat(file) {
  const b = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (String.fromCharCode(...b.slice(0, 4)) === 'RIFF' && String.fromCharCode(...b.slice(8, 12)) === 'WEBP') return 'webp';
  return undefined;
}

/**
 * The photo to upload: the file itself when its long side is at most LONG_SIDE (the service applies the EXIF
 * orientation itself), else an upright JPEG of LONG_SIDE px. Resolves { blob, width, height, scaled }.
 */
export async function prepare(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    // The browser cannot decode it (an unusual JPEG): send it as it is and let the service say what is wrong.
    return { blob: file, width: 0, height: 0, scaled: false };
  }
  const { width, height } = bitmap;
  const long = Math.max(width, height);
  if (long <= LONG_SIDE) {
    bitmap.close();
    return { blob: file, width, height, scaled: false };
  }
  const scale = LONG_SIDE / long;
  const w = Math.round(width * scale);
  const h = Math.round(height * scale);
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext('2d');
  context.imageSmoothingQuality = 'high';
  context.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', QUALITY));
  canvas.width = 0;
  return blob ? { blob, width: w, height: h, scaled: true } : { blob: file, width, height, scaled: false };
}
