import { corrupt } from './imageLayout.js';
import type { ImageLayout, SizeCheck } from './imageLayout.js';

/** Frame headers that carry the dimensions. C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames. */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const SOS = 0xda;
const EOI = 0xd9;
const APP2 = 0xe2;
const COM = 0xfe;
/** Secondary images (gain maps, depth maps) a phone chains after the primary one; more than this is not a photo. */
const MAX_CHAINED_IMAGES = 4;
/**
 * FF bytes a walk may look at. Entropy-coded data has about one FF00 per 256
 * bytes, plus restart markers (at most one per MCU: 262,144 at 4096 x 4096),
 * so a 30 MB photo needs under 400,000; a file built of FF00 pairs would
 * need 15 million (half a second of the event loop) and is refused instead.
 */
const MAX_MARKERS = 1 << 20;
/** APPn and COM segments: a phone photo has a dozen (EXIF, XMP and its extensions, ICC, MPF); thousands are not a photo. */
const MAX_METADATA_SEGMENTS = 4096;

interface Walk { width: number; height: number; end: number; multiPicture: boolean }

/**
 * Walks a JPEG's marker segments the way libjpeg reads them: segments by
 * their lengths (so an EXIF thumbnail's own markers are skipped), the frame
 * header for the size, entropy-coded data by its markers (FF00 is a stuffed
 * byte, FFD0-D7 restart markers), scan after scan (progressive files) until
 * EOI. A file without its EOI is refused here as cut off: libvips (with
 * failOn 'error') refuses nearly all of those anyway ("premature end of JPEG
 * image", even for a complete scan whose EOI alone is missing), only later
 * and not always, so the header check makes the answer fast and the same.
 */
export function jpegLayout(input: Buffer, checkSize: SizeCheck): ImageLayout {
  const metadata: Array<readonly [number, number]> = [];
  const budget = markerBudget();
  const primary = walk(input, 0, { metadata, budget, checkSize });
  let end = primary.end;
  // MPF (APP2 "MPF\0"): the extra images are part of the photo, not a payload.
  for (let k = 0; primary.multiPicture && k < MAX_CHAINED_IMAGES && isJpegAt(input, end); k++) {
    try {
      end = walk(input, end, { metadata, budget }).end;
    } catch {
      break; // not part of the photo: the rest is trailing data, which must then parse as what phones append (it will not)
    }
  }
  return { width: primary.width, height: primary.height, frames: 1, end, metadata };
}

/** FF bytes a walk of one file's JPEGs may look at (see MAX_MARKERS). */
export function markerBudget(): { left: number } {
  return { left: MAX_MARKERS };
}

/**
 * The end of a JPEG starting at `start` that follows the photo (a depth
 * map, a gain map without MPF): walked like the photo, its metadata
 * segments added to `metadata`. Throws a coded error when it is damaged.
 */
export function followingJpegEnd(input: Buffer, start: number, metadata: Array<readonly [number, number]>, budget: { left: number }): number {
  return walk(input, start, { metadata, budget }).end;
}

interface WalkState {
  readonly metadata: Array<readonly [number, number]>;
  /** FF bytes left to look at, shared by every image in the file. */
  readonly budget: { left: number };
  /** Only for the primary image: secondary images do not set the size. */
  readonly checkSize?: SizeCheck;
}

function walk(input: Buffer, start: number, state: WalkState): Walk {
  const result: Walk = { width: 0, height: 0, end: 0, multiPicture: false };
  let pos = start + 2;
  let framed = false;
  let scanned = false;
  for (;;) {
    pos = nextMarker(input, pos, state.budget);
    if (pos < 0) throw corrupt('jpeg', scanned ? 'no end-of-image marker (the file is cut off)' : 'the file ends before the image data');
    const marker = input[pos + 1]!;
    if (marker === EOI) {
      if (!scanned) throw corrupt('jpeg', 'end of image before any image data');
      result.end = pos + 2;
      return result;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      if (marker === 0xd8) throw corrupt('jpeg', 'a second start-of-image marker');
      pos += 2; // standalone markers carry no length
      continue;
    }
    if (pos + 4 > input.length) throw corrupt('jpeg', 'a segment header is cut off');
    const length = input.readUInt16BE(pos + 2);
    const segmentEnd = pos + 2 + length;
    if (length < 2 || segmentEnd > input.length) throw corrupt('jpeg', `a segment (FF${marker.toString(16)}) runs past the end of the file`);
    if (SOF.has(marker)) {
      if (framed) throw corrupt('jpeg', 'two frame headers');
      const size = readFrame(input, pos, length);
      state.checkSize?.(size.width, size.height);
      result.width = size.width;
      result.height = size.height;
      framed = true;
    } else if ((marker >= 0xe0 && marker <= 0xef) || marker === COM) {
      if (state.metadata.length >= MAX_METADATA_SEGMENTS) throw corrupt('jpeg', 'implausibly many metadata segments');
      state.metadata.push([pos + 4, segmentEnd]);
      if (marker === APP2 && input.toString('latin1', pos + 4, Math.min(pos + 8, segmentEnd)) === 'MPF\0') result.multiPicture = true;
    } else if (marker === SOS) {
      if (!framed) throw corrupt('jpeg', 'image data before the frame header');
      scanned = true;
      pos = scanEnd(input, segmentEnd, state.budget);
      continue;
    }
    pos = segmentEnd;
  }
}

/** SOFn: precision, height, width, component count, then 3 bytes a component. */
function readFrame(input: Buffer, pos: number, length: number): { width: number; height: number } {
  if (length < 11) throw corrupt('jpeg', 'the frame header is too short');
  const components = input[pos + 9]!;
  if (components < 1 || length !== 8 + 3 * components) throw corrupt('jpeg', 'the frame header has a wrong length');
  return { height: input.readUInt16BE(pos + 5), width: input.readUInt16BE(pos + 7) };
}

/**
 * The next marker at or after `pos`, as libjpeg finds it: bytes that are not
 * a marker are skipped (libjpeg warns and goes on), FF fill bytes too.
 * Returns the offset of its FF, or -1 at the end of the file. Every FF looked
 * at is paid from the budget, so a file made of FF00 pairs costs milliseconds.
 */
function nextMarker(input: Buffer, pos: number, budget: { left: number }): number {
  for (;;) {
    pos = input.indexOf(0xff, pos);
    if (pos < 0 || pos + 1 >= input.length) return -1;
    if (--budget.left < 0) throw corrupt('jpeg', 'implausibly many markers or stuffed bytes');
    const next = input[pos + 1]!;
    if (next === 0xff || next === 0x00) pos += next === 0xff ? 1 : 2;
    else return pos;
  }
}

/** Past a scan's entropy-coded data: the next marker that is not a restart marker. */
function scanEnd(input: Buffer, pos: number, budget: { left: number }): number {
  for (;;) {
    const at = nextMarker(input, pos, budget);
    if (at < 0) return input.length;
    const marker = input[at + 1]!;
    if (marker >= 0xd0 && marker <= 0xd7) pos = at + 2;
    else return at;
  }
}

export function isJpegAt(input: Buffer, at: number): boolean {
  return input[at] === 0xff && input[at + 1] === 0xd8 && input[at + 2] === 0xff;
}
