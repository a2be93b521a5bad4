// A deterministic corpus of bad and odd uploads (#5): truncated, bit-flipped,
// wrong magic, huge declared sizes, nested formats, polyglots, fuzzed headers,
// plus valid controls. Shared by test/http.badInput.test.ts and
// bench/badinput.mjs; plain ESM so the bench runs it without a build.
//
// Each entry: { name, category, data, expect }, where expect lists the
// outcomes allowed under the default upload policy ('ok' or error codes), or
// is null when anything coded is right (bit flips, fuzzed fields).
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { seededRandom } from '../dist/effects/kit.js';

// ---- tools ----------------------------------------------------------------

// Seeded PRNG (mulberry32, the effects' own): the same corpus on every run.
export { seededRandom };

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32be = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const u32le = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
const u16be = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u16le = (n) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const latin1 = (text) => Buffer.from(text, 'latin1');

export function pngChunk(type, data) {
  const body = Buffer.concat([latin1(type), data]);
  return Buffer.concat([u32be(data.length), body, u32be(crc32(body))]);
}

const PNG_SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

function ihdr(width, height, depth = 8, colour = 2) {
  return Buffer.concat([u32be(width), u32be(height), Buffer.from([depth, colour, 0, 0, 0])]);
}

/** A PNG whose header declares width x height but carries one tiny IDAT. */
export function pngDeclaring(width, height) {
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr(width, height)), pngChunk('IDAT', deflateSync(Buffer.alloc(64))), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A copy of a PNG with one more chunk right after IHDR. */
export function withPngChunk(png, type, data) {
  return Buffer.concat([png.subarray(0, 33), pngChunk(type, data), png.subarray(33)]);
}

/** A copy of a JPEG with one more marker segment right after SOI. */
export function withJpegSegment(jpeg, marker, data) {
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, marker]), u16be(data.length + 2), data, jpeg.subarray(2)]);
}

/** Offsets of a JPEG's marker segments before its first scan: [{ marker, at }] (at = the FF). */
export function jpegSegments(jpeg) {
  const found = [];
  for (let at = 2; at + 4 <= jpeg.length && jpeg[at] === 0xff;) {
    const marker = jpeg[at + 1];
    found.push({ marker, at });
    if (marker === 0xda) break;
    at += 2 + jpeg.readUInt16BE(at + 2);
  }
  return found;
}

/** A copy of a real JPEG whose frame header declares width x height. */
export function jpegDeclaring(jpeg, width, height) {
  const out = Buffer.from(jpeg);
  const sof = jpegSegments(out).find((s) => s.marker >= 0xc0 && s.marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(s.marker));
  out.writeUInt16BE(height, sof.at + 5);
  out.writeUInt16BE(width, sof.at + 7);
  return out;
}

function riff(chunks) {
  const body = Buffer.concat([latin1('WEBP'), ...chunks]);
  return Buffer.concat([latin1('RIFF'), u32le(body.length), body]);
}

function webpChunk(type, data) {
  return Buffer.concat([latin1(type), u32le(data.length), data, data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

/** A WebP whose header declares width x height: a VP8X canvas, a VP8L header or a VP8 key frame header. */
export function webpDeclaring(width, height, kind = 'vp8x') {
  if (kind === 'vp8x') {
    const vp8x = Buffer.concat([Buffer.from([0, 0, 0, 0]), u32le(width - 1).subarray(0, 3), u32le(height - 1).subarray(0, 3)]);
    return riff([webpChunk('VP8X', vp8x), webpChunk('VP8L', Buffer.from([0x2f, 0, 0, 0, 0, 0, 0, 0]))]);
  }
  if (kind === 'vp8l') {
    const bits = ((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14) | (1 << 28);
    return riff([webpChunk('VP8L', Buffer.concat([Buffer.from([0x2f]), u32le(bits), Buffer.alloc(16)]))]);
  }
  const frame = Buffer.concat([Buffer.from([0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a]), u16le(width & 0x3fff), u16le(height & 0x3fff), Buffer.alloc(24)]);
  return riff([webpChunk('VP8 ', frame)]);
}

/** An ISO-BMFF file start (HEIC, AVIF, MP4...): an ftyp box, then filler. */
export function isoBmff(major, compatible = [], filler = 256) {
  const ftyp = Buffer.concat([latin1('ftyp'), latin1(major), u32be(0), ...compatible.map(latin1)]);
  return Buffer.concat([u32be(ftyp.length + 4), ftyp, u32be(filler + 8), latin1('mdat'), Buffer.alloc(filler, 0x2a)]);
}

/** A ZIP archive holding one stored file (what unzip tools open even when bytes come before it). */
export function zipOf(name, data) {
  const nameBytes = latin1(name);
  const crc = crc32(data);
  const local = Buffer.concat([latin1('PK\x03\x04'), u16le(10), u16le(0), u16le(0), u32le(0), u32le(crc), u32le(data.length), u32le(data.length), u16le(nameBytes.length), u16le(0), nameBytes, data]);
  const central = Buffer.concat([latin1('PK\x01\x02'), u16le(20), u16le(10), u16le(0), u16le(0), u32le(0), u32le(crc), u32le(data.length), u32le(data.length),
    u16le(nameBytes.length), u16le(0), u16le(0), u16le(0), u16le(0), u32le(0), u32le(0), nameBytes]);
  const end = Buffer.concat([latin1('PK\x05\x06'), u16le(0), u16le(0), u16le(1), u16le(1), u32le(central.length), u32le(local.length), u16le(0)]);
  return Buffer.concat([local, central, end]);
}

/** A real two-frame APNG (width x height, solid colours): its default image is the first frame. */
export function apng(width, height, colours = [[255, 0, 0], [0, 0, 255]]) {
  const pixels = ([r, g, b]) => {
    const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => [r, g, b]).flat())]);
    return deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  };
  const fctl = (sequence) => Buffer.concat([u32be(sequence), u32be(width), u32be(height), u32be(0), u32be(0), u16be(1), u16be(10), Buffer.from([0, 0])]);
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr(width, height)), pngChunk('acTL', Buffer.concat([u32be(colours.length), u32be(0)])),
    pngChunk('fcTL', fctl(0)), pngChunk('IDAT', pixels(colours[0])),
    ...colours.slice(1).flatMap((colour, i) => [pngChunk('fcTL', fctl(1 + 2 * i)), pngChunk('fdAT', Buffer.concat([u32be(2 + 2 * i), pixels(colour)]))]),
    pngChunk('IEND', Buffer.alloc(0))]);
}

/** A JPEG with an MPF segment and a second JPEG after it, as phones store HDR gain maps. */
export function multiPictureJpeg(primary, secondary) {
  const mpf = Buffer.concat([latin1('MPF\0'), latin1('II*\0'), u32le(8), Buffer.alloc(16)]);
  return Buffer.concat([withJpegSegment(primary, 0xe2, mpf), secondary]);
}

// ---- the sources: small generated photos ------------------------------------

/** A bright background with a dark textured disc (the "pet"), width x height RGB. */
export function scene(width = 64, height = 48) {
  const rgb = Buffer.alloc(width * height * 3);
  const r = Math.min(width, height) * 0.3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inside = (x - width * 0.45) ** 2 + (y - height / 2) ** 2 <= r * r;
      const noise = ((x * 7919 + y * 104729) % 31) - 15;
      rgb[i] = inside ? 110 + noise : 210 + noise;
      rgb[i + 1] = inside ? 60 + noise : 225 + noise;
      rgb[i + 2] = inside ? 30 + noise : 235;
    }
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } });
}

export async function sources(width = 64, height = 48) {
  const solid = (background) => sharp({ create: { width, height, channels: 3, background } }).png().toBuffer();
  return {
    width, height,
    jpeg: await scene(width, height).jpeg({ quality: 90 }).toBuffer(),
    progressive: await scene(width, height).jpeg({ quality: 90, progressive: true }).toBuffer(),
    png: await scene(width, height).png().toBuffer(),
    webp: await scene(width, height).webp({ quality: 90 }).toBuffer(),
    lossless: await scene(width, height).webp({ lossless: true }).toBuffer(),
    animated: await sharp([await solid('#ff0000'), await solid('#0000ff')], { join: { animated: true } }).webp({ lossless: true }).toBuffer(),
  };
}

// ---- the corpus -------------------------------------------------------------

const OK = ['ok'];
const UNSUPPORTED = ['PETCUT_E_UNSUPPORTED_FORMAT'];
const CORRUPT = ['PETCUT_E_CORRUPT_IMAGE'];
const TOO_BIG = ['PETCUT_E_DIMENSIONS_TOO_LARGE', 'PETCUT_E_TOO_MANY_PIXELS'];
const SUSPICIOUS = ['PETCUT_E_SUSPICIOUS_CONTENT'];
const MAGIC = { jpeg: 3, progressive: 3, png: 8, webp: 12, animated: 12 };

/** The corpus: at least 200 entries, the same bytes for the same seed. */
export async function badInputCorpus({ seed = 5 } = {}) {
  const random = seededRandom(seed);
  const int = (n) => Math.floor(random() * n);
  const src = await sources();
  const entries = [];
  const add = (category, name, data, expect) => entries.push({ category, name, data, expect });

  // Valid controls and odd-but-valid photos: each must give a cut-out.
  add('valid', 'jpeg', src.jpeg, OK);
  add('valid', 'progressive jpeg', src.progressive, OK);
  add('valid', 'png', src.png, OK);
  add('valid', 'lossy webp', src.webp, OK);
  add('valid', 'cmyk jpeg', await scene().toColourspace('cmyk').jpeg().toBuffer(), OK);
  add('valid', '1x1 png', await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toBuffer(), OK);
  add('valid', 'jpeg with exif and gps', await scene().withExif({ IFD0: { Make: 'PetPhone' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } }).jpeg().toBuffer(), OK);
  add('trailing', 'jpeg + motion-photo video', Buffer.concat([src.jpeg, isoBmff('mp42', ['isom'], 4000)]), OK);
  add('trailing', 'png + random bytes', Buffer.concat([src.png, randomBytes(random, 300)]), SUSPICIOUS); // not a structure phones append (#12)
  add('trailing', 'webp + bytes past the RIFF size', Buffer.concat([src.webp, randomBytes(random, 200)]), SUSPICIOUS); // as above
  add('trailing', 'jpeg with an MPF gain map', multiPictureJpeg(src.jpeg, src.progressive), OK);
  add('animated', 'animated webp', src.animated, OK);
  add('animated', 'apng', apng(src.width, src.height), OK);

  // Nothing, or nothing like an image.
  add('empty', 'zero bytes', Buffer.alloc(0), ['PETCUT_E_EMPTY_INPUT', 'PETCUT_E_MISSING_FILE']);
  for (const n of [1, 16, 1000, 100_000]) add('zeros', `${n} zero bytes`, Buffer.alloc(n), UNSUPPORTED);
  for (const n of [1, 3, 1000]) add('all-ff', `${n} 0xFF bytes`, Buffer.alloc(n, 0xff), UNSUPPORTED);
  add('wrong-magic', 'text', latin1('hello, this is not an image'), UNSUPPORTED);
  for (const n of [2, 7, 64, 4096, 65_536]) add('wrong-magic', `${n} random bytes`, randomBytes(random, n), UNSUPPORTED);
  add('wrong-magic', 'jpeg with its first byte changed', patch(src.jpeg, 0, 0xfe), UNSUPPORTED);
  add('wrong-magic', 'jpeg without FF after SOI', patch(src.jpeg, 2, 0x00), UNSUPPORTED);
  add('wrong-magic', 'png with a broken signature', patch(src.png, 4, 0x0a), UNSUPPORTED);
  add('wrong-magic', 'webp with WEBQ', patch(src.webp, 11, 0x51), UNSUPPORTED);
  add('wrong-magic', 'RIFF AVI', Buffer.concat([latin1('RIFF'), u32le(100), latin1('AVI LIST'), Buffer.alloc(92)]), UNSUPPORTED);
  add('wrong-magic', 'png body behind a jpeg name', src.png.subarray(8), UNSUPPORTED);

  // Other formats, named with a message saying what to do.
  add('other-format', 'gif', await scene().gif().toBuffer(), UNSUPPORTED);
  add('other-format', 'animated gif', await sharp([await scene().png().toBuffer(), await scene().negate().png().toBuffer()], { join: { animated: true } }).gif().toBuffer(), UNSUPPORTED);
  add('other-format', 'tiff', await scene().tiff().toBuffer(), UNSUPPORTED);
  add('other-format', 'big-endian tiff header', Buffer.concat([latin1('MM\0*'), Buffer.alloc(60)]), UNSUPPORTED);
  add('other-format', 'avif', await scene().avif().toBuffer(), UNSUPPORTED);
  for (const [major, compatible] of [['heic', ['mif1', 'heic']], ['heix', ['mif1']], ['mif1', ['heic']], ['msf1', ['hevc']], ['heim', []]]) {
    add('heic', `heic (${major})`, isoBmff(major, compatible), ['PETCUT_E_HEIC_UNSUPPORTED']);
  }
  add('other-format', 'mp4 video', isoBmff('isom', ['iso2', 'mp41']), UNSUPPORTED);
  add('other-format', 'svg', latin1('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><circle cx="30" cy="24" r="14"/></svg>'), UNSUPPORTED);
  add('other-format', 'svg with a BOM and whitespace', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), latin1('\n  <?xml version="1.0"?><svg/>')]), UNSUPPORTED);
  add('other-format', 'html', latin1('<!DOCTYPE html><html><body><script>alert(1)</script></body></html>'), UNSUPPORTED);
  add('other-format', 'pdf', latin1('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n'), UNSUPPORTED);
  add('other-format', 'zip', zipOf('a.txt', latin1('hello')), UNSUPPORTED);
  add('other-format', 'psd header', Buffer.concat([latin1('8BPS'), Buffer.alloc(60)]), UNSUPPORTED);
  add('other-format', 'bmp header', Buffer.concat([latin1('BM'), u32le(70), Buffer.alloc(64)]), UNSUPPORTED);
  add('other-format', 'ico header', Buffer.concat([Buffer.from([0, 0, 1, 0, 1, 0]), Buffer.alloc(40)]), UNSUPPORTED);
  add('other-format', 'jpeg xl codestream', Buffer.concat([Buffer.from([0xff, 0x0a]), randomBytes(random, 40)]), UNSUPPORTED);
  add('other-format', 'jpeg 2000', Buffer.concat([Buffer.from([0, 0, 0, 0x0c]), latin1('jP  \r\n\x87\n'), Buffer.alloc(40)]), UNSUPPORTED);
  add('other-format', 'elf program', Buffer.concat([latin1('\x7fELF'), Buffer.alloc(60)]), UNSUPPORTED);

  // Huge or empty declared sizes: refused from the header, in milliseconds.
  for (const [w, h] of [[100_000, 100_000], [4097, 10], [10, 4097], [65_535, 65_535], [0x7fffffff, 1], [30_000, 30_000]]) add('huge-dimensions', `png declaring ${w}x${h}`, pngDeclaring(w, h), TOO_BIG);
  for (const [w, h] of [[65_535, 65_535], [5000, 3000], [4097, 1], [1, 60_000]]) add('huge-dimensions', `jpeg declaring ${w}x${h}`, jpegDeclaring(src.jpeg, w, h), TOO_BIG);
  for (const [w, h, kind] of [[16_384, 16_384, 'vp8x'], [1 << 24, 1 << 24, 'vp8x'], [16_384, 16_384, 'vp8l'], [16_383, 16_383, 'vp8'], [5000, 20, 'vp8']]) add('huge-dimensions', `webp (${kind}) declaring ${w}x${h}`, webpDeclaring(w, h, kind), TOO_BIG);
  add('zero-dimensions', 'png declaring 0x10', pngDeclaring(0, 10), CORRUPT);
  add('zero-dimensions', 'jpeg declaring 64x0', jpegDeclaring(src.jpeg, 64, 0), CORRUPT);
  add('zero-dimensions', 'webp (vp8) declaring 0x0', webpDeclaring(0, 0, 'vp8'), CORRUPT);

  // Cut-off uploads, at many lengths.
  for (const kind of ['jpeg', 'progressive', 'png', 'webp', 'animated']) {
    const whole = src[kind];
    const cuts = new Set([1, 2, 4, 8, 11, 16, 20, 24, 30, 40, 64, 100, 160, 240, whole.length >> 2, whole.length >> 1, Math.floor(whole.length * 0.9), whole.length - 3]);
    for (const cut of [...cuts].filter((n) => n > 0 && n < whole.length)) {
      add('truncated', `${kind} cut at ${cut} of ${whole.length}`, whole.subarray(0, cut), cut < MAGIC[kind] ? UNSUPPORTED : CORRUPT);
    }
  }

  // Bit flips: anywhere, and in the headers.
  for (const kind of ['jpeg', 'png', 'webp']) {
    for (const [flips, region] of [[1, 'anywhere'], [16, 'anywhere'], [1, 'header'], [3, 'header'], [8, 'header']]) {
      const data = Buffer.from(src[kind]);
      const span = region === 'header' ? Math.min(64, data.length) : data.length;
      for (let f = 0; f < flips; f++) data[int(span)] ^= 1 << int(8);
      add('bit-flip', `${kind}: ${flips} flips ${region}`, data, null);
    }
  }

  // Fuzzed header fields.
  for (let k = 0; k < 8; k++) {
    const w = int(65_536);
    const h = int(65_536);
    add('fuzzed-header', `jpeg with SOF ${w}x${h}`, jpegDeclaring(src.jpeg, w, h), w > 4096 || h > 4096 ? TOO_BIG : w === 0 || h === 0 ? CORRUPT : null);
  }
  const segments = jpegSegments(src.jpeg);
  for (let k = 0; k < 8; k++) {
    const data = Buffer.from(src.jpeg);
    const segment = segments[int(segments.length)];
    data.writeUInt16BE(int(0x10000), segment.at + 2);
    add('fuzzed-header', `jpeg with a random length in FF${segment.marker.toString(16)}`, data, null);
  }
  for (let k = 0; k < 6; k++) {
    const data = Buffer.from(src.png);
    data.writeUInt32BE(int(2) ? int(0x100000000) : int(64), 33); // the length of the chunk after IHDR
    add('fuzzed-header', `png with a random chunk length #${k}`, data, null);
  }
  for (let k = 0; k < 6; k++) {
    const depth = [1, 2, 3, 4, 8, 16, 32][int(7)];
    const colour = [0, 1, 2, 3, 4, 5, 6, 7][int(8)];
    const data = Buffer.from(src.png);
    data.set(pngChunk('IHDR', ihdr(src.width, src.height, depth, colour)), 8);
    add('fuzzed-header', `png IHDR depth ${depth} colour ${colour}`, data, null);
  }
  for (let k = 0; k < 6; k++) {
    const data = Buffer.from(src.webp);
    const field = int(2) ? 4 : 16; // the RIFF size or the first chunk's size
    data.writeUInt32LE(int(2) ? int(0x100000000) : int(data.length * 2), field);
    add('fuzzed-header', `webp with a random ${field === 4 ? 'RIFF' : 'chunk'} size #${k}`, data, null);
  }
  for (let k = 0; k < 4; k++) {
    const w = 1 + int(20_000);
    const h = 1 + int(20_000);
    add('fuzzed-header', `webp canvas ${w}x${h}`, webpDeclaring(w, h, 'vp8x'), w > 4096 || h > 4096 ? TOO_BIG : CORRUPT);
  }

  // Polyglots: active content in metadata, payloads after the end.
  add('polyglot', 'jpeg + <script>', Buffer.concat([src.jpeg, latin1('<script>alert(document.cookie)</script>')]), SUSPICIOUS);
  add('polyglot', 'jpeg + html page', Buffer.concat([src.jpeg, latin1('\n<!DOCTYPE html><title>x</title>')]), SUSPICIOUS);
  add('polyglot', 'jpeg + zip', Buffer.concat([src.jpeg, zipOf('payload.js', latin1('alert(1)'))]), SUSPICIOUS);
  add('polyglot', 'jpeg + junk + zip (unzip finds it from the end)', Buffer.concat([src.jpeg, randomBytes(random, 100), zipOf('a.txt', latin1('x'))]), SUSPICIOUS);
  add('polyglot', 'jpeg + pdf', Buffer.concat([src.jpeg, latin1('%PDF-1.4\n%%EOF')]), SUSPICIOUS);
  add('polyglot', 'jpeg + windows program', Buffer.concat([src.jpeg, latin1('MZ\x90\0'), Buffer.alloc(60)]), SUSPICIOUS);
  add('polyglot', 'jpeg + elf', Buffer.concat([src.jpeg, latin1('\x7fELF'), Buffer.alloc(60)]), SUSPICIOUS);
  add('polyglot', 'jpeg + shell script', Buffer.concat([src.jpeg, latin1('#!/bin/sh\nrm -rf /\n')]), SUSPICIOUS);
  add('polyglot', 'jpeg COM <?php', withJpegSegment(src.jpeg, 0xfe, latin1('<?php system($_GET["c"]); ?>')), SUSPICIOUS);
  add('polyglot', 'jpeg APP1 XMP <iframe>', withJpegSegment(src.jpeg, 0xe1, latin1('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><IFRAME src="//evil"></IFRAME></x:xmpmeta>')), SUSPICIOUS);
  add('polyglot', 'jpeg exif description <script>', await scene().withExif({ IFD0: { ImageDescription: '<script>alert(1)</script>' } }).jpeg().toBuffer(), SUSPICIOUS);
  add('polyglot', 'jpeg COM javascript: url', withJpegSegment(src.jpeg, 0xfe, latin1('see JavaScript:alert(1)')), SUSPICIOUS);
  add('polyglot', 'png tEXt <?php', withPngChunk(src.png, 'tEXt', latin1('Comment\0<?php echo 1; ?>')), SUSPICIOUS);
  add('polyglot', 'png iTXt <svg', withPngChunk(src.png, 'iTXt', latin1('XML\0\0\0\0\0<svg onload="alert(1)">')), SUSPICIOUS);
  add('polyglot', 'png zTXt compressed <script>', withPngChunk(src.png, 'zTXt', Buffer.concat([latin1('Comment\0\0'), deflateSync(latin1('<script>alert(1)</script>'))])), SUSPICIOUS);
  add('polyglot', 'png + <html> after IEND', Buffer.concat([src.png, latin1('<html><body>hi</body></html>')]), SUSPICIOUS);
  add('polyglot', 'webp + zip after the RIFF size', Buffer.concat([src.webp, zipOf('a.txt', latin1('x'))]), SUSPICIOUS);
  add('polyglot', 'webp EXIF chunk with a javascript: url', webpWithExif(await scene().webp().toBuffer(), latin1('II*\0javascript:alert(1)')), SUSPICIOUS);

  // Nested formats.
  add('nested', 'jpeg inside a png private chunk', withPngChunk(src.png, 'jpEg', src.jpeg), OK);
  add('nested', 'jpeg with a png appended', Buffer.concat([src.jpeg, src.png]), SUSPICIOUS); // phones append JPEGs and videos, not PNGs (#12)
  add('nested', 'png inside a zip', zipOf('pet.png', src.png), UNSUPPORTED);
  add('nested', 'svg with a base64 png', latin1(`<svg xmlns="http://www.w3.org/2000/svg"><image href="data:image/png;base64,${src.png.toString('base64')}"/></svg>`), UNSUPPORTED);
  add('nested', 'pdf with a jpeg', Buffer.concat([latin1('%PDF-1.4\n1 0 obj << /Subtype /Image /Filter /DCTDecode >> stream\n'), src.jpeg, latin1('\nendstream endobj\n%%EOF')]), UNSUPPORTED);
  add('nested', 'html with a base64 jpeg', latin1(`<html><img src="data:image/jpeg;base64,${src.jpeg.toString('base64')}"></html>`), UNSUPPORTED);
  add('nested', 'heic header with a jpeg inside', Buffer.concat([isoBmff('heic', ['mif1']), src.jpeg]), ['PETCUT_E_HEIC_UNSUPPORTED']);
  add('nested', 'gif with a jpeg appended', Buffer.concat([await scene().gif().toBuffer(), src.jpeg]), UNSUPPORTED);
  return entries;
}

function randomBytes(random, n) {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
}

function patch(data, at, value) {
  const out = Buffer.from(data);
  out[at] = value;
  return out;
}

/** A lossy WebP turned into a VP8X file with an EXIF chunk. */
function webpWithExif(simple, exif) {
  const chunk = simple.subarray(12);
  const width = chunk.readUInt16LE(14) & 0x3fff;
  const height = chunk.readUInt16LE(16) & 0x3fff;
  const vp8x = Buffer.concat([Buffer.from([0x08, 0, 0, 0]), u32le(width - 1).subarray(0, 3), u32le(height - 1).subarray(0, 3)]);
  return riff([webpChunk('VP8X', vp8x), chunk, webpChunk('EXIF', exif)]);
}
