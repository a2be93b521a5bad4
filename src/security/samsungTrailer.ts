/**
 * Samsung's SEF trailer, which Galaxy phones put at the very end of a photo
 * (the motion photo's video, the capture time, the camera mode): data blocks
 * (two zero bytes, a 16-bit type, a 32-bit name length, the name, the data),
 * then a directory: "SEFH", a version, a count and one 12-byte entry a block
 * (type, its distance back from "SEFH", its size), then the directory's
 * length and "SEFT". The layout exiftool reads (Samsung.pm). Little-endian.
 */

/** Blocks in one trailer: a photo has a handful (capture time, mode, colour space, video). */
const MAX_BLOCKS = 256;

/**
 * Where a Samsung trailer ending the file starts, once its blocks are known
 * to tile the bytes up to the directory exactly; undefined when the file
 * does not end with one; why not, when it ends with a broken one. Anything
 * a directory does not list (an older directory left by an edit, which
 * exiftool warns about, or the "QDIOBS" variant) is not accepted.
 */
export function samsungTrailerStart(input: Buffer, start: number): number | string | undefined {
  const end = input.length;
  if (end - start < 20 || input.toString('latin1', end - 4, end) !== 'SEFT') return undefined;
  const directoryLength = input.readUInt32LE(end - 8);
  const directory = end - 8 - directoryLength;
  if (directoryLength < 12 || directory < start || input.toString('latin1', directory, directory + 4) !== 'SEFH') return 'a broken Samsung trailer directory';
  const count = input.readUInt32LE(directory + 8);
  if (count > MAX_BLOCKS || directoryLength !== 12 + 12 * count) return 'a Samsung trailer directory of the wrong length';
  const blocks: Array<readonly [number, number]> = [];
  for (let entry = directory + 12; entry < directory + directoryLength; entry += 12) {
    const back = input.readUInt32LE(entry + 4);
    const size = input.readUInt32LE(entry + 8);
    const at = directory - back;
    if (back > directory - start || size < 8 || at + size > directory || 8 + input.readUInt32LE(at + 4) > size) return 'a Samsung trailer block outside the trailer';
    blocks.push([at, at + size]);
  }
  blocks.sort((a, b) => b[0] - a[0]);
  let first = directory;
  for (const [at, blockEnd] of blocks) {
    if (blockEnd !== first) return 'bytes a Samsung trailer directory does not list';
    first = at;
  }
  return first;
}
