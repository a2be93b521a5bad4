/**
 * Hand-crafted files for the upload-check tests: the corpus module's tools
 * (plain ESM, shared with bench/badinput.mjs), typed for the tests.
 */
export {
  apng, badInputCorpus, crc32, isoBmff, jpegDeclaring, jpegSegments, multiPictureJpeg, pngChunk, pngDeclaring,
  scene, seededRandom, sources, webpDeclaring, withJpegSegment, withPngChunk, zipOf,
} from '../../bench/badinput-corpus.mjs';
export type { CorpusEntry, Sources } from '../../bench/badinput-corpus.mjs';
