import { corrupt } from './imageLayout.js';
import type { ImageLayout, SizeCheck } from './imageLayout.js';

interface Chunk { readonly type: string; readonly start: number; readonly end: number }

const ANIMATION_FLAG = 0x02;
/** Chunks a walk may read: an animation has one a frame; millions of empty chunks are refused rather than walked. */
const MAX_CHUNKS = 1 << 16;
/**
 * Chunks not scanned for active content: the image bitstreams and the fixed
 * binary headers. Every other chunk is (EXIF, XMP, ICCP, unknown ones), and
 * so are the unknown chunks inside an ANMF frame after its 16-byte header.
 */
const UNSCANNED = new Set(['VP8 ', 'VP8L', 'ALPH', 'VP8X', 'ANIM']);
const FRAME_HEADER = 16;

/**
 * Reads a WebP's RIFF chunks: the RIFF size against the file (bytes past it
 * are trailing data; a size past the end is a cut upload), the size from the
 * first chunk (VP8 lossy, VP8L lossless or the VP8X canvas), ANMF frames,
 * and every chunk that is not an image bitstream for the active-content scan.
 */
export function webpLayout(input: Buffer, checkSize: SizeCheck): ImageLayout {
  if (input.length < 20) throw corrupt('webp', 'too short for a chunk');
  // The size first (bounded by the file, not the RIFF size): a huge declared image is refused for that.
  const first = readChunks(input, 12, input.length, 1)[0]!;
  const isCanvas = first.type === 'VP8X';
  if (isCanvas && first.end - first.start < 10) throw corrupt('webp', 'VP8X is too short');
  const { width, height } = isCanvas
    ? { width: input.readUIntLE(first.start + 4, 3) + 1, height: input.readUIntLE(first.start + 7, 3) + 1 }
    : imageSize(input, first);
  checkSize(width, height);
  const end = 8 + input.readUInt32LE(4);
  if (end > input.length) throw corrupt('webp', 'the RIFF size runs past the end of the file');
  const chunks = readChunks(input, 12, end, Infinity);
  const metadata = scannedChunks(input, chunks);
  if (!isCanvas) return { width, height, frames: 1, end, metadata };
  if ((input[first.start]! & ANIMATION_FLAG) !== 0) {
    const frames = chunks.filter((c) => c.type === 'ANMF').length;
    if (frames === 0) throw corrupt('webp', 'an animation without frames');
    return { width, height, frames, end, metadata };
  }
  const image = chunks.find((c) => c.type === 'VP8 ' || c.type === 'VP8L');
  if (!image) throw corrupt('webp', 'no image chunk');
  const size = imageSize(input, image);
  if (size.width !== width || size.height !== height) throw corrupt('webp', 'the image and canvas sizes differ');
  return { width, height, frames: 1, end, metadata };
}

/** [start, end) of every chunk's data that is not an image bitstream, ANMF frames' own chunks included. */
function scannedChunks(input: Buffer, chunks: readonly Chunk[]): Array<readonly [number, number]> {
  const scanned: Array<readonly [number, number]> = [];
  let frameChunks = 0;
  for (const chunk of chunks) {
    if (chunk.type !== 'ANMF') {
      if (!UNSCANNED.has(chunk.type)) scanned.push([chunk.start, chunk.end]);
      continue;
    }
    if (chunk.end - chunk.start < FRAME_HEADER + 8) throw corrupt('webp', 'an animation frame is too short');
    const inner = readChunks(input, chunk.start + FRAME_HEADER, chunk.end, MAX_CHUNKS);
    if ((frameChunks += inner.length) > MAX_CHUNKS) throw corrupt('webp', 'implausibly many chunks');
    for (const c of inner) if (!UNSCANNED.has(c.type)) scanned.push([c.start, c.end]);
  }
  return scanned;
}

/** Up to `limit` chunks from `start` to `end`; at least one, or the file is corrupt. */
function readChunks(input: Buffer, start: number, end: number, limit: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (let pos = start; pos + 8 <= end && chunks.length < limit;) {
    const type = input.toString('latin1', pos, pos + 4);
    const size = input.readUInt32LE(pos + 4);
    const dataEnd = pos + 8 + size;
    if (dataEnd > end) throw corrupt('webp', `the ${type} chunk runs past the RIFF size`);
    if (chunks.length >= MAX_CHUNKS) throw corrupt('webp', 'implausibly many chunks');
    chunks.push({ type, start: pos + 8, end: dataEnd });
    pos = dataEnd + (size & 1);
  }
  if (chunks.length === 0) throw corrupt('webp', 'no chunks');
  return chunks;
}

/** The size in a VP8 key frame header or a VP8L header. */
function imageSize(input: Buffer, chunk: Chunk): { width: number; height: number } {
  const at = chunk.start;
  if (chunk.type === 'VP8 ') {
    if (chunk.end - at < 10 || (input[at]! & 1) !== 0 || input.readUIntBE(at + 3, 3) !== 0x9d012a) throw corrupt('webp', 'a bad VP8 frame header');
    return { width: input.readUInt16LE(at + 6) & 0x3fff, height: input.readUInt16LE(at + 8) & 0x3fff };
  }
  if (chunk.type === 'VP8L') {
    if (chunk.end - at < 5 || input[at] !== 0x2f) throw corrupt('webp', 'a bad VP8L header');
    const bits = input.readUInt32LE(at + 1);
    if (bits >>> 29 !== 0) throw corrupt('webp', 'an unknown VP8L version');
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  throw corrupt('webp', `the first chunk is ${JSON.stringify(chunk.type)}, not an image`);
}
