// The same JPEG with a fresh comment segment (COM, after SOI): different bytes, the same
// pixels, so nothing is a cache hit unless a benchmark wants one. (Random bytes after
// the image's end would be refused as not what phones append, issue #12.)
import { randomBytes } from 'node:crypto';

export function uniqueJpeg(jpeg) {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('uniqueJpeg: not a JPEG');
  const text = Buffer.from(randomBytes(12).toString('hex'), 'latin1');
  const segment = Buffer.alloc(4 + text.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(2 + text.length, 2);
  text.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}
