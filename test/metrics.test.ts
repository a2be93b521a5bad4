import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePalettePng, readGroundTruth } from '../src/eval/maskReader.js';
import { boundaryF, boundaryMap, diskOffsets, iou, mae } from '../src/eval/metrics.js';

/** Builds a 0/1 plane of width×height from rows written as '#' (1) and '.' (0). */
function plane(...rows: string[]): Uint8Array {
  return Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0));
}
const toAlpha = (p: Uint8Array): Uint8Array => p.map((v) => v * 255);
const allValid = (n: number): Uint8Array => new Uint8Array(n).fill(1);

describe('iou', () => {
  it('scores two overlapping 2×2 squares as 2/6', () => {
    const pred = plane('##..', '##..', '....', '....');
    const gt = plane('.##.', '.##.', '....', '....');
    expect(iou(toAlpha(pred), { fg: gt, valid: allValid(16) })).toBeCloseTo(1 / 3, 12);
  });

  it('thresholds alpha at 128 and returns 1 for an empty union', () => {
    const gt = { fg: plane('#.'), valid: allValid(2) };
    expect(iou(Uint8Array.from([128, 127]), gt)).toBe(1);
    expect(iou(Uint8Array.from([127, 0]), gt)).toBe(0);
    expect(iou(Uint8Array.from([0, 0]), { fg: plane('..'), valid: allValid(2) })).toBe(1);
  });

  it('leaves invalid pixels out of both intersection and union', () => {
    const pred = toAlpha(plane('###'));
    const gt = plane('#..');
    expect(iou(pred, { fg: gt, valid: allValid(3) })).toBeCloseTo(1 / 3, 12);
    expect(iou(pred, { fg: gt, valid: plane('#.#') })).toBeCloseTo(1 / 2, 12);
    expect(iou(pred, { fg: gt, valid: plane('#..') })).toBe(1);
  });
});

describe('mae', () => {
  it('averages |alpha/255 - fg| with semi-transparent alpha', () => {
    const alpha = Uint8Array.from([255, 128, 0, 51]);
    const gt = { fg: plane('##..'), valid: allValid(4) };
    // errors: 0, 127/255, 0, 51/255
    expect(mae(alpha, gt)).toBeCloseTo((127 + 51) / 255 / 4, 12);
  });

  it('excludes the ignore band', () => {
    const alpha = Uint8Array.from([255, 128, 0, 51]);
    const gt = { fg: plane('##..'), valid: plane('#.##') };
    expect(mae(alpha, gt)).toBeCloseTo(51 / 255 / 3, 12);
    expect(mae(alpha, { fg: gt.fg, valid: plane('....') })).toBe(0);
  });

  it('rejects planes of different sizes', () => {
    expect(() => mae(new Uint8Array(3), { fg: new Uint8Array(4), valid: allValid(4) })).toThrow(/size/);
  });
});

describe('boundaryMap (seg2bmap)', () => {
  it('marks pixels that differ from E/S/SE neighbours, not the image border', () => {
    const seg = plane('....', '.##.', '.##.', '....');
    expect(Array.from(boundaryMap(seg, 4, 4))).toEqual(Array.from(plane('###.', '#.#.', '###.', '....')));
    expect(Array.from(boundaryMap(plane('###', '###'), 3, 2))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('builds skimage-style disks', () => {
    expect(diskOffsets(1)).toHaveLength(5);
    expect(diskOffsets(2)).toHaveLength(13);
    expect(diskOffsets(8)).toHaveLength(197);
  });
});

describe('boundaryF', () => {
  // 10×4 step edges: gt boundary is column 4, this prediction's is column 7.
  const gt = { fg: plane(...Array(4).fill('#####.....')), valid: allValid(40) };
  const shifted = toAlpha(plane(...Array(4).fill('########..')));

  it('is 1 for identical masks', () => {
    const fg = plane('......', '.###..', '.####.', '..##..', '......');
    expect(boundaryF(toAlpha(fg), { fg, valid: allValid(30) }, 6, 5)).toEqual({ precision: 1, recall: 1, f: 1 });
  });

  it('is 0 when the boundary is shifted beyond the tolerance and 1 within it', () => {
    expect(boundaryF(shifted, gt, 10, 4, 2)).toEqual({ precision: 0, recall: 0, f: 0 });
    expect(boundaryF(shifted, gt, 10, 4, 3)).toEqual({ precision: 1, recall: 1, f: 1 });
    // Default 0.008 of a 10×4 diagonal rounds up to 1 pixel.
    expect(boundaryF(shifted, gt, 10, 4).f).toBe(0);
  });

  it('matches a hand-computed partial F', () => {
    // Pred boundary: (7,0) (4..7,1) (4,2) (4,3) = 7 px; within 1 px of gt column 4: (4,1) (5,1) (4,2) (4,3).
    const pred = toAlpha(plane('########..', '########..', '#####.....', '#####.....'));
    const score = boundaryF(pred, gt, 10, 4, 1);
    expect(score.precision).toBeCloseTo(4 / 7, 12);
    expect(score.recall).toBe(1);
    expect(score.f).toBeCloseTo(8 / 11, 12);
  });

  it('zeroes void pixels in both masks before taking boundaries', () => {
    const pred = toAlpha(plane('########..', '########..', '#####.....', '#####.....'));
    const valid = plane('#####.....', '#####.....', '##########', '##########');
    expect(boundaryF(pred, { fg: gt.fg, valid }, 10, 4, 1)).toEqual({ precision: 1, recall: 1, f: 1 });
  });

  it('follows the DAVIS empty-boundary edge cases', () => {
    const empty = new Uint8Array(40);
    expect(boundaryF(empty, { fg: new Uint8Array(40), valid: allValid(40) }, 10, 4)).toEqual({ precision: 1, recall: 1, f: 1 });
    expect(boundaryF(empty, gt, 10, 4)).toEqual({ precision: 1, recall: 0, f: 0 });
    expect(boundaryF(shifted, { fg: new Uint8Array(40), valid: allValid(40) }, 10, 4)).toEqual({ precision: 0, recall: 1, f: 0 });
    // A full frame has no boundary: seg2bmap never marks the image border.
    expect(boundaryF(toAlpha(allValid(40)), gt, 10, 4)).toEqual({ precision: 1, recall: 0, f: 0 });
  });
});

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Palette PNG whose row y uses filter y % 5, so every filter type is decoded. */
function palettePng(indices: number[][], bitDepth: number, interlace = 0): Buffer {
  const width = indices[0]!.length;
  const stride = Math.ceil((width * bitDepth) / 8);
  const rows = indices.map((row) => {
    const packed = Buffer.alloc(stride);
    row.forEach((v, x) => {
      const bit = x * bitDepth;
      packed[bit >> 3]! |= v << (8 - bitDepth - (bit & 7));
    });
    return packed;
  });
  const filtered = rows.map((row, y) => {
    const prev = rows[y - 1] ?? Buffer.alloc(stride);
    const out = Buffer.alloc(stride + 1);
    out[0] = y % 5;
    for (let x = 0; x < stride; x++) {
      const [a, b, c] = [x > 0 ? row[x - 1]! : 0, prev[x]!, x > 0 ? prev[x - 1]! : 0];
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][y % 5]!;
      out[x + 1] = (row[x]! - pred) & 0xff;
    }
    return out;
  });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(indices.length, 4);
  ihdr.set([bitDepth, 3, 0, 0, interlace], 8);
  // Red = index lets a test check the encoder against libvips' decoder.
  const plte = Buffer.from(Array.from({ length: 1 << bitDepth }, (_, i) => [i, 255 - i, 0x40]).flat());
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('PLTE', plte),
    chunk('IDAT', deflateSync(Buffer.concat(filtered))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('readGroundTruth', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petcut-masks-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // 10 pseudo-random rows (two per filter type) so that Sub/Average/Paeth meet
  // every predictor branch; about a third background and a sixth void.
  let seed = 7;
  const idx8 = Array.from({ length: 10 }, () =>
    Array.from({ length: 12 }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const r = seed % 6;
      return r < 2 ? 0 : r === 5 ? 255 : 1 + (seed % 254);
    }),
  );
  // Paeth (row 4) at x=1 sees a=12, b=6, c=10: pb == pc < pa, which must pick b.
  idx8[3]!.splice(0, 2, 10, 6);
  idx8[4]!.splice(0, 2, 12, 7);
  it('decodes an 8-bit palette PNG with all row filters, index 255 void', async () => {
    const path = join(dir, 'p8.png');
    await writeFile(path, palettePng(idx8, 8));
    // libvips decodes the test encoder's file to the same indices (red = index).
    const rgb = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    expect(rgb.info.channels).toBe(3);
    expect(Array.from(rgb.data.filter((_, i) => i % 3 === 0))).toEqual(idx8.flat());
    const flat = idx8.flat();
    expect(Array.from(decodePalettePng(await readFile(path)).indices)).toEqual(flat);
    const gt = await readGroundTruth(path, { ignoreValue: 255 });
    expect([gt.width, gt.height]).toEqual([12, 10]);
    expect(Array.from(gt.fg)).toEqual(flat.map((v) => (v !== 0 && v !== 255 ? 1 : 0)));
    expect(Array.from(gt.valid)).toEqual(flat.map((v) => (v === 255 ? 0 : 1)));
  });

  it('decodes a 4-bit palette PNG with an odd width', async () => {
    const idx4 = [
      [0, 1, 15, 0, 3],
      [2, 0, 0, 15, 0],
      [0, 14, 0, 1, 1],
    ];
    const path = join(dir, 'p4.png');
    await writeFile(path, palettePng(idx4, 4));
    const flat = idx4.flat();
    expect(Array.from(decodePalettePng(await readFile(path)).indices)).toEqual(flat);
    const gt = await readGroundTruth(path, { ignoreValue: 15 });
    expect([gt.width, gt.height]).toEqual([5, 3]);
    expect(Array.from(gt.fg)).toEqual(flat.map((v) => (v !== 0 && v !== 15 ? 1 : 0)));
    expect(Array.from(gt.valid)).toEqual(flat.map((v) => (v === 15 ? 0 : 1)));
  });

  it('rejects interlaced palette PNGs with a clear error', async () => {
    const path = join(dir, 'interlaced.png');
    await writeFile(path, palettePng(idx8, 8, 1));
    await expect(readGroundTruth(path, {})).rejects.toThrow(/interlaced/);
  });

  it('reads an 8-bit grey PNG, with and without a trimap ignore value', async () => {
    const grey = [0, 255, 128, 127, 129, 255, 0, 128];
    const path = join(dir, 'grey.png');
    await sharp(Buffer.from(grey), { raw: { width: 4, height: 2, channels: 1 } }).png().toFile(path);
    const plain = await readGroundTruth(path, {});
    expect([plain.width, plain.height]).toEqual([4, 2]);
    expect(Array.from(plain.fg)).toEqual([0, 1, 1, 0, 1, 1, 0, 1]);
    expect(Array.from(plain.valid)).toEqual(Array(8).fill(1));
    const trimap = await readGroundTruth(path, { ignoreValue: 128 });
    expect(Array.from(trimap.fg)).toEqual([0, 1, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(trimap.valid)).toEqual([1, 1, 0, 1, 1, 1, 1, 0]);
  });
});
