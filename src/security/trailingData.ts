import { followingJpegEnd, isJpegAt, markerBudget } from './jpegLayout.js';
import { samsungTrailerStart } from './samsungTrailer.js';

/**
 * Bytes after the image are allowed only when all of them, end to end, parse
 * as what phones append: 0x00/0xFF padding, further JPEGs (gain, depth and
 * confidence maps), an ISO-BMFF video (Google and Samsung motion photos) and
 * Samsung's SEF trailer at the very end. Anything else (text, markup in any
 * encoding, archives, programs, documents, unknown bytes) is refused, so
 * nothing needs to be recognised by its content. What the structures carry
 * (compressed media) is opaque: only the JPEGs' metadata segments are
 * scanned, like the photo's. Bounded: each step reads a header and jumps.
 */

/** Images and videos after the photo: a phone writes a handful (gain map, depth and confidence maps, a video). */
const MAX_STRUCTURES = 16;
/** Top-level boxes of an appended video: ftyp, moov, mdat and a few others; millions of tiny ones are refused, not walked. */
const MAX_BOXES = 4096;
/** Filler between and after the structures: cameras pad to a block, not by megabytes (as isPadding). */
const MAX_PADDING = 65_536;

/**
 * Why the bytes from `start` to the end of the file are not an allowed
 * trailer, or undefined when they are. The metadata segments of JPEGs found
 * there are added to `metadata`, to be scanned with the photo's.
 */
export function trailerProblem(input: Buffer, start: number, metadata: Array<readonly [number, number]>): string | undefined {
  const samsung = samsungTrailerStart(input, start);
  if (typeof samsung === 'string') return samsung;
  const end = samsung ?? input.length;
  const walk = { structures: 0, boxes: 0, padding: 0, budget: markerBudget() };
  for (let pos = start; pos < end;) {
    if (isJpegAt(input, pos) || isBoxChainAt(input, pos)) {
      if (++walk.structures > MAX_STRUCTURES) return 'implausibly many images or videos after the image';
      const after = isJpegAt(input, pos) ? jpegEnd(input, pos, metadata, walk.budget) : boxChainEnd(input, pos, end, walk);
      if (typeof after === 'string') return after;
      if (after > end) return 'a JPEG after the image runs into the Samsung trailer';
      pos = after;
      continue;
    }
    const next = paddingEnd(input, pos, end);
    if (next === pos) return `unknown bytes at ${pos} (${input.toString('hex', pos, Math.min(pos + 8, end))})`;
    if ((walk.padding += next - pos) > MAX_PADDING) return 'too much padding';
    pos = next;
  }
  return undefined;
}

/** Zero or 0xFF filler some cameras write after the end marker: not data (what PETCUT_TRAILING_DATA=reject still accepts). */
export function isPadding(trailing: Buffer): boolean {
  if (trailing.length > MAX_PADDING) return false;
  for (const byte of trailing) if (byte !== 0x00 && byte !== 0xff) return false;
  return true;
}

/**
 * The end of a run of 0x00/0xFF filler from `pos`, or where a structure
 * starts inside it: a JPEG's FF D8 FF begins with a filler byte, and a box's
 * size with up to three zero bytes.
 */
function paddingEnd(input: Buffer, pos: number, end: number): number {
  const limit = Math.min(end, pos + MAX_PADDING + 1);
  let run = pos;
  while (run < limit && (input[run] === 0x00 || input[run] === 0xff)) run++;
  for (let at = Math.max(pos, run - 3); at < run; at++) if (isJpegAt(input, at) || isBoxChainAt(input, at)) return at;
  return run;
}

function jpegEnd(input: Buffer, pos: number, metadata: Array<readonly [number, number]>, budget: { left: number }): number | string {
  try {
    return followingJpegEnd(input, pos, metadata, budget);
  } catch (error) {
    const detail = error instanceof Error && error.cause instanceof Error ? error.cause.message : 'damaged';
    return `a damaged JPEG after the image (${detail})`;
  }
}

/** An ISO-BMFF file starts with its ftyp box: the major brand, a version and whole compatible brands. */
function isBoxChainAt(input: Buffer, at: number): boolean {
  if (at + 16 > input.length || input.toString('latin1', at + 4, at + 8) !== 'ftyp') return false;
  const size = input.readUInt32BE(at);
  return size >= 16 && size % 4 === 0;
}

/**
 * Past an ISO-BMFF box chain: 32-bit size and a printable type (size 1: a
 * 64-bit size follows; size 0: to the end, so the last box). The chain ends
 * where the bytes are not a box header (what follows must then be padding or
 * another structure); a box running past the end is a cut or lying file.
 */
function boxChainEnd(input: Buffer, pos: number, end: number, walk: { boxes: number }): number | string {
  while (pos + 8 <= end && isBoxType(input, pos + 4)) {
    if (++walk.boxes > MAX_BOXES) return 'implausibly many boxes after the image';
    const type = input.toString('latin1', pos + 4, pos + 8);
    let size = input.readUInt32BE(pos);
    if (size === 1) {
      if (pos + 16 > end) return `a ${type} box header runs past the end of the file`;
      size = Number(input.readBigUInt64BE(pos + 8));
      if (size < 16) return `a ${type} box smaller than its header`;
    } else if (size === 0) {
      size = end - pos;
    } else if (size < 8) {
      return `a ${type} box smaller than its header`;
    }
    if (pos + size > end) return `a ${type} box runs past the end of the file`;
    pos += size;
  }
  return pos;
}

function isBoxType(input: Buffer, at: number): boolean {
  for (let i = at; i < at + 4; i++) if (input[i]! < 0x20 || input[i]! > 0x7e) return false;
  return true;
}

const ZIP_EOCD = Buffer.from('PK\x05\x06', 'latin1');
const ZIP_CENTRAL = 0x02014b50;
const ZIP64_LOCATOR = 0x07064b50;
/** A ZIP's end-of-central-directory record sits in its last 22 + 65,535 bytes; unzip tools look there, whatever comes first. */
const ZIP_TAIL = 22 + 0xffff;
const PDF = Buffer.from('%PDF-', 'latin1');

/**
 * Documents that tools find by scanning, not at the file's start, so the
 * structures above do not keep them out: a ZIP whose end record is in the
 * file's last 64 KiB (inside a video's media data, or in the image's own last
 * chunk or segment) and a PDF header anywhere after the image. A ZIP record
 * counts when its central directory is where the record says (as unzip,
 * Python and Java look for it), so random bytes do not trip it.
 */
export function findArchive(input: Buffer, imageEnd: number): string | undefined {
  if (input.indexOf(PDF, imageEnd) >= 0) return 'a PDF document';
  const from = Math.max(0, input.length - ZIP_TAIL);
  const tail = input.subarray(from);
  for (let at = tail.lastIndexOf(ZIP_EOCD); at >= 0; at = at > 0 ? tail.lastIndexOf(ZIP_EOCD, at - 1) : -1) {
    if (isZipEnd(input, from + at)) return 'a ZIP archive';
  }
  return undefined;
}

function isZipEnd(input: Buffer, at: number): boolean {
  if (at + 22 > input.length) return false;
  const size = input.readUInt32LE(at + 12);
  const offset = input.readUInt32LE(at + 16);
  const signatureAt = (pos: number) => pos >= 0 && pos + 4 <= input.length && input.readUInt32LE(pos) === ZIP_CENTRAL;
  return signatureAt(at - size) || signatureAt(offset) || (at >= 20 && input.readUInt32LE(at - 20) === ZIP64_LOCATOR);
}
