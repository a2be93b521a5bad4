import { inflateSync } from 'node:zlib';
import { corrupt } from './imageLayout.js';
import type { ImageLayout, SizeCheck } from './imageLayout.js';

/** Bit depths each colour type allows (PNG spec, table 11.1). */
const DEPTHS: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/**
 * Chunks not scanned for active content: compressed pixels and the fixed
 * binary critical chunks. Every other chunk is, standard or private (their
 * data is never stored: originals are re-encoded, and a browser reading the
 * file as a page would read them all the same).
 */
const UNSCANNED = new Set(['IHDR', 'PLTE', 'IDAT', 'fdAT', 'IEND']);
/**
 * Chunks a walk may read. A 30 MB PNG in libpng's 8 KB IDAT chunks has under
 * 4,000; a file of millions of empty chunks would cost the event loop half
 * a second and is refused instead.
 */
const MAX_CHUNKS = 1 << 16;
/**
 * Compressed text is inflated (up to 1 MB each, in at most 16 chunks) to be
 * scanned; beyond that it is left unscanned: originals are re-encoded, so
 * text chunks are never stored or served.
 */
const MAX_INFLATED_TEXT = 1 << 20;
const MAX_INFLATED_CHUNKS = 16;

/**
 * Walks a PNG's chunks by their lengths: IHDR first (size, depth, CRC),
 * `acTL` (APNG: the frame count), every chunk that is not pixels (for the
 * active-content scan), then IEND. A chunk running past the end of the file
 * means a cut upload (the decoder refuses those too, only later).
 */
export function pngLayout(input: Buffer, checkSize: SizeCheck): ImageLayout {
  if (input.length < 33 || input.readUInt32BE(8) !== 13 || input.toString('latin1', 12, 16) !== 'IHDR') throw corrupt('png', 'no IHDR chunk first');
  const width = input.readUInt32BE(16);
  const height = input.readUInt32BE(20);
  checkSize(width, height);
  if (crc32(input, 12, 29) !== input.readUInt32BE(29)) throw corrupt('png', 'the IHDR checksum is wrong');
  const depth = input[24]!;
  if (!DEPTHS[input[25]!]?.includes(depth) || input[26] !== 0 || input[27] !== 0 || input[28]! > 1) throw corrupt('png', 'IHDR has invalid fields');
  const metadata: Array<readonly [number, number]> = [];
  const inflated: Buffer[] = [];
  let inflations = 0;
  let frames = 1;
  let sawData = false;
  for (let pos = 33, chunks = 0; pos + 12 <= input.length; chunks++) {
    if (chunks > MAX_CHUNKS) throw corrupt('png', 'implausibly many chunks');
    const length = input.readUInt32BE(pos);
    const type = input.toString('latin1', pos + 4, pos + 8);
    const dataStart = pos + 8;
    const dataEnd = dataStart + length;
    if (length > 0x7fffffff || !isChunkType(input, pos + 4)) throw corrupt('png', `a bad chunk header at ${pos}`);
    if (dataEnd + 4 > input.length) throw corrupt('png', `the ${type} chunk runs past the end of the file`);
    if (type === 'IEND') {
      if (!sawData) throw corrupt('png', 'no image data');
      return { width, height, frames, end: dataEnd + 4, metadata, inflated };
    }
    if (type === 'IDAT') sawData = true;
    else if (type === 'IHDR') throw corrupt('png', 'a second IHDR');
    else if (type === 'acTL' && length >= 8) frames = Math.max(1, input.readUInt32BE(dataStart));
    if (!UNSCANNED.has(type)) metadata.push([dataStart, dataEnd]);
    if ((type === 'zTXt' || type === 'iTXt') && inflations++ < MAX_INFLATED_CHUNKS) {
      const text = compressedText(input, type, dataStart, dataEnd);
      if (text) inflated.push(text);
    }
    pos = dataEnd + 4;
  }
  throw corrupt('png', 'the file ends before IEND');
}

/** Four ASCII letters (a byte check: this runs for every chunk). */
function isChunkType(input: Buffer, at: number): boolean {
  for (let i = at; i < at + 4; i++) {
    const lower = input[i]! | 0x20;
    if (lower < 0x61 || lower > 0x7a) return false;
  }
  return true;
}

/** The inflated text of zTXt, or of an iTXt with its compression flag set. */
function compressedText(input: Buffer, type: string, start: number, end: number): Buffer | undefined {
  if (type !== 'zTXt' && type !== 'iTXt') return undefined;
  const chunk = input.subarray(start, end);
  const keywordEnd = chunk.indexOf(0);
  if (keywordEnd < 0) return undefined;
  let at = keywordEnd + 2; // the zero, then zTXt's compression method or iTXt's compression flag
  if (type === 'iTXt') {
    if (chunk[keywordEnd + 1] !== 1) return undefined;
    const language = chunk.indexOf(0, at + 1);
    const translated = language < 0 ? -1 : chunk.indexOf(0, language + 1);
    if (translated < 0) return undefined;
    at = translated + 1;
  }
  try {
    return inflateSync(chunk.subarray(at), { maxOutputLength: MAX_INFLATED_TEXT });
  } catch {
    return undefined; // broken or too long: the raw bytes are still scanned
  }
}

let table: Uint32Array | undefined;

function crc32(input: Buffer, start: number, end: number): number {
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = table[(c ^ input[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
