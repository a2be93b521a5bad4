/**
 * Ground-truth mask reader for the evaluation harness.
 *
 * Grey masks (PNG/JPEG, 0/255 or trimaps) go through sharp. Palette PNGs
 * (DAVIS annotations) are decoded here instead, because sharp expands a
 * palette to RGB and the object indices (0 = background, 255 = void) are lost.
 */
import { readFile } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { readGreyMask } from '../image/masks.js';

export interface GroundTruth {
  width: number;
  height: number;
  /** 1 where the pixel is foreground, 0 elsewhere (also 0 on ignored pixels). */
  fg: Uint8Array;
  /** 0 where the pixel must be ignored by the metrics, 1 elsewhere. */
  valid: Uint8Array;
}

export interface ReadGroundTruthOptions {
  /**
   * Raw value marking pixels to ignore: a grey level for grey masks (128 for
   * the unknown band of trimaps), a palette index for palette PNGs (255 for
   * DAVIS void). Exact equality, so it is unreliable for lossy JPEG masks.
   */
  ignoreValue?: number;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOUR_TYPE_PALETTE = 3;

/** Reads a mask file into foreground and validity planes (one byte per pixel). */
export async function readGroundTruth(path: string, options: ReadGroundTruthOptions = {}): Promise<GroundTruth> {
  const file = await readFile(path);
  if (isPalettePng(file)) {
    const { width, height, indices } = decodePalettePng(file, path);
    // Palette masks store object ids: any non-zero index is some object.
    return classify(width, height, indices, (v) => v !== 0, options.ignoreValue);
  }
  const grey = await readGreyMask(file, path);
  return classify(grey.width, grey.height, grey.data, (v) => v >= 128, options.ignoreValue);
}

function classify(
  width: number,
  height: number,
  values: Uint8Array,
  isForeground: (v: number) => boolean,
  ignoreValue: number | undefined,
): GroundTruth {
  const n = width * height;
  const fg = new Uint8Array(n);
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v === ignoreValue) continue; // stays fg=0, valid=0
    valid[i] = 1;
    fg[i] = isForeground(v) ? 1 : 0;
  }
  return { width, height, fg, valid };
}

/** True for a PNG whose IHDR (always the first chunk) declares colour type 3. */
function isPalettePng(file: Buffer): boolean {
  // 8 signature + 4 length + 4 "IHDR" + 4 width + 4 height + 1 depth = offset 25.
  return file.length >= 33 && file.subarray(0, 8).equals(PNG_SIGNATURE) && file[25] === COLOUR_TYPE_PALETTE;
}

interface Ihdr {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  interlace: number;
}

/** Decodes a non-interlaced palette PNG into one palette index per pixel. */
export function decodePalettePng(file: Buffer, name = 'PNG'): { width: number; height: number; indices: Uint8Array } {
  const { ihdr, idat } = readChunks(file, name);
  const { width, height, bitDepth } = ihdr;
  if (ihdr.colourType !== COLOUR_TYPE_PALETTE) throw new Error(`${name}: not a palette PNG (colour type ${ihdr.colourType})`);
  if (ihdr.interlace !== 0) throw new Error(`${name}: interlaced (Adam7) palette PNGs are not supported; re-save it non-interlaced`);
  if (![1, 2, 4, 8].includes(bitDepth)) throw new Error(`${name}: invalid palette bit depth ${bitDepth}`);
  const stride = Math.ceil((width * bitDepth) / 8);
  let raw: Buffer;
  try {
    raw = inflateSync(idat);
  } catch (cause) {
    throw new Error(`${name}: corrupt IDAT data`, { cause });
  }
  if (raw.length < (stride + 1) * height) throw new Error(`${name}: truncated image data`);
  const rows = unfilter(raw, stride, height, name);
  return { width, height, indices: unpackIndices(rows, width, height, stride, bitDepth) };
}

function readChunks(file: Buffer, name: string): { ihdr: Ihdr; idat: Buffer } {
  let ihdr: Ihdr | undefined;
  const idat: Buffer[] = [];
  let pos = 8;
  while (pos + 8 <= file.length) {
    const length = file.readUInt32BE(pos);
    const type = file.toString('latin1', pos + 4, pos + 8);
    const body = file.subarray(pos + 8, pos + 8 + length);
    if (body.length !== length) throw new Error(`${name}: truncated ${type} chunk`);
    if (type === 'IHDR') {
      ihdr = {
        width: body.readUInt32BE(0),
        height: body.readUInt32BE(4),
        bitDepth: body[8]!,
        colourType: body[9]!,
        interlace: body[12]!,
      };
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + length; // length + type + body + CRC
  }
  if (!ihdr || idat.length === 0) throw new Error(`${name}: missing IHDR or IDAT chunk`);
  return { ihdr, idat: Buffer.concat(idat) };
}

/**
 * Undoes the per-row PNG filters (None/Sub/Up/Average/Paeth). Palette pixels
 * are at most one byte, so the "left" neighbour is always 1 byte back (bpp = 1).
 */
function unfilter(raw: Buffer, stride: number, height: number, name: string): Uint8Array {
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride; // only read when y > 0
    for (let x = 0; x < stride; x++) {
      const a = x > 0 ? out[row + x - 1]! : 0;
      const b = y > 0 ? out[prev + x]! : 0;
      const c = x > 0 && y > 0 ? out[prev + x - 1]! : 0;
      out[row + x] = (raw[src + x]! + predict(filter, a, b, c, name)) & 0xff;
    }
  }
  return out;
}

function predict(filter: number, a: number, b: number, c: number, name: string): number {
  switch (filter) {
    case 0:
      return 0;
    case 1:
      return a;
    case 2:
      return b;
    case 3:
      return (a + b) >> 1;
    case 4:
      return paeth(a, b, c);
    default:
      throw new Error(`${name}: invalid PNG row filter ${filter}`);
  }
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Sub-byte depths pack pixels MSB-first; each row starts on a byte boundary. */
function unpackIndices(rows: Uint8Array, width: number, height: number, stride: number, bitDepth: number): Uint8Array {
  if (bitDepth === 8) return rows;
  const out = new Uint8Array(width * height);
  const perByte = 8 / bitDepth;
  const mask = (1 << bitDepth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = rows[y * stride + Math.floor(x / perByte)]!;
      const shift = 8 - bitDepth * ((x % perByte) + 1);
      out[y * width + x] = (byte >> shift) & mask;
    }
  }
  return out;
}
