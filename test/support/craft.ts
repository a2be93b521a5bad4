/**
 * Hand-crafted files for the upload-check tests: the corpus module's tools
 * (plain ESM, shared with bench/badinput.mjs), typed for the tests, plus the
 * structures phones append after an image and the ones attackers do.
 */
export {
  apng, badInputCorpus, crc32, isoBmff, jpegDeclaring, jpegSegments, multiPictureJpeg, pngChunk, pngDeclaring,
  scene, seededRandom, sources, webpDeclaring, withJpegSegment, withPngChunk, zipOf,
} from '../../bench/badinput-corpus.mjs';
export type { CorpusEntry, Sources } from '../../bench/badinput-corpus.mjs';

const latin1 = (text: string) => Buffer.from(text, 'latin1');
const u32be = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const u32le = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };

/** Text as UTF-16 (each ASCII character followed or preceded by a zero byte), with a byte-order mark when asked. */
export function utf16(text: string, order: 'le' | 'be', bom = false): Buffer {
  const le = Buffer.from(text, 'utf16le');
  const body = order === 'le' ? le : Buffer.from(le).swap16();
  const mark = order === 'le' ? [0xff, 0xfe] : [0xfe, 0xff];
  return bom ? Buffer.concat([Buffer.from(mark), body]) : body;
}

/** One ISO-BMFF box: 32-bit size and type, or size 1 and a 64-bit size. */
export function box(type: string, data: Buffer, large = false): Buffer {
  if (!large) return Buffer.concat([u32be(8 + data.length), latin1(type), data]);
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(16 + data.length));
  return Buffer.concat([u32be(1), latin1(type), size, data]);
}

/** A small MP4 as a phone's motion photo carries: ftyp, moov (with a track header), mdat with the given media bytes. */
export function motionVideo(media: Buffer = Buffer.alloc(3000, 0x2a)): Buffer {
  const ftyp = box('ftyp', Buffer.concat([latin1('mp42'), u32be(0), latin1('isommp42')]));
  const moov = box('moov', Buffer.concat([box('mvhd', Buffer.alloc(100)), box('trak', box('tkhd', Buffer.alloc(84)))]));
  return Buffer.concat([ftyp, moov, box('mdat', media)]);
}

export interface SefBlock { readonly type: number; readonly name: string; readonly data: Buffer }

/**
 * Samsung's SEF trailer: blocks (zeros, the type, the name's length, the name,
 * the data), then the SEFH directory (version, count, one entry per block:
 * the type, its distance back from SEFH, its size), the directory's length
 * and SEFT. This is the layout exiftool reads (Samsung.pm, ProcessSamsung).
 */
export function samsungTrailer(blocks: readonly SefBlock[]): Buffer {
  const encoded = blocks.map((b) => {
    const marker = Buffer.from([0, 0, b.type & 0xff, b.type >> 8]);
    return { marker, bytes: Buffer.concat([marker, u32le(b.name.length), latin1(b.name), b.data]) };
  });
  const total = encoded.reduce((n, e) => n + e.bytes.length, 0);
  let at = 0;
  const entries = encoded.map((e) => {
    const entry = Buffer.concat([e.marker, u32le(total - at), u32le(e.bytes.length)]);
    at += e.bytes.length;
    return entry;
  });
  const directory = Buffer.concat([latin1('SEFH'), u32le(106), u32le(blocks.length), ...entries]);
  return Buffer.concat([...encoded.map((e) => e.bytes), directory, u32le(directory.length), latin1('SEFT')]);
}

/** A Samsung motion photo's trailer: the time it was taken, then the video. */
export function samsungMotionTrailer(video: Buffer = motionVideo()): Buffer {
  return samsungTrailer([
    { type: 0x0a01, name: 'Image_UTC_Data', data: latin1('1458170015363') },
    { type: 0x0a30, name: 'MotionPhoto_Data', data: video },
  ]);
}

/**
 * Apple's iDOT chunk in iPhone screenshots (binary, 28 bytes): the image cut
 * into two halves decoded in parallel, each half's rows, and the offset of
 * the IDAT where the second half starts.
 */
export function appleIdot(height: number, secondIdatOffset = 0x5e): Buffer {
  const half = height >> 1;
  return Buffer.concat([u32be(2), u32be(0), u32be(half), u32be(0x28), u32be(half), u32be(height - half), u32be(secondIdatOffset)]);
}

/** ImageMagick's vpAg chunk (virtual page size): width, height, unit. */
export function imageMagickVpag(width: number, height: number): Buffer {
  return Buffer.concat([u32be(width), u32be(height), Buffer.from([0])]);
}

function webpChunk(type: string, data: Buffer): Buffer {
  return Buffer.concat([latin1(type), u32le(data.length), data, data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

/** A copy of a WebP (simple or extended) with more RIFF chunks after its own, and the RIFF size to match. */
export function withWebpChunks(webp: Buffer, chunks: ReadonlyArray<readonly [string, Buffer]>): Buffer {
  const end = 8 + webp.readUInt32LE(4);
  const body = Buffer.concat([webp.subarray(8, end), ...chunks.map(([type, data]) => webpChunk(type, data))]);
  return Buffer.concat([latin1('RIFF'), u32le(body.length), body, webp.subarray(end)]);
}

/** A copy of an animated WebP whose first ANMF frame carries one more (unknown) chunk after its bitstream. */
export function withAnmfChunk(webp: Buffer, type: string, data: Buffer): Buffer {
  for (let pos = 12; pos + 8 <= webp.length;) {
    const size = webp.readUInt32LE(pos + 4);
    if (webp.toString('latin1', pos, pos + 4) === 'ANMF') {
      const frame = Buffer.concat([webp.subarray(pos + 8, pos + 8 + size), webpChunk(type, data)]);
      const rebuilt = Buffer.concat([webp.subarray(8, pos), webpChunk('ANMF', frame), webp.subarray(pos + 8 + size + (size & 1))]);
      return Buffer.concat([latin1('RIFF'), u32le(rebuilt.length), rebuilt]);
    }
    pos += 8 + size + (size & 1);
  }
  throw new Error('no ANMF chunk');
}

/** A chain of `count` empty 8-byte boxes after an ftyp: structurally valid, and no video. */
export function tinyBoxes(count: number): Buffer {
  const empty = box('free', Buffer.alloc(0));
  return Buffer.concat([box('ftyp', latin1('isom\0\0\0\0')), Buffer.alloc(count * 8, empty)]);
}
