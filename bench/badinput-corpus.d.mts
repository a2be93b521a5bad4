// Types for badinput-corpus.mjs, so the TypeScript tests can import it.
import type { Sharp } from 'sharp';

export interface CorpusEntry {
  readonly category: string;
  readonly name: string;
  readonly data: Buffer;
  /** Outcomes allowed under the default policy ('ok' or error codes); null when any coded outcome is right. */
  readonly expect: readonly string[] | null;
}

export interface Sources {
  readonly width: number;
  readonly height: number;
  readonly jpeg: Buffer;
  readonly progressive: Buffer;
  readonly png: Buffer;
  readonly webp: Buffer;
  readonly lossless: Buffer;
  readonly animated: Buffer;
}

export function seededRandom(seed: number): () => number;
export function crc32(bytes: Uint8Array): number;
export function pngChunk(type: string, data: Buffer): Buffer;
export function pngDeclaring(width: number, height: number): Buffer;
export function withPngChunk(png: Buffer, type: string, data: Buffer): Buffer;
export function withJpegSegment(jpeg: Buffer, marker: number, data: Buffer): Buffer;
export function jpegSegments(jpeg: Buffer): Array<{ marker: number; at: number }>;
export function jpegDeclaring(jpeg: Buffer, width: number, height: number): Buffer;
export function webpDeclaring(width: number, height: number, kind?: 'vp8x' | 'vp8l' | 'vp8'): Buffer;
export function isoBmff(major: string, compatible?: string[], filler?: number): Buffer;
export function zipOf(name: string, data: Buffer): Buffer;
export function apng(width: number, height: number, colours?: Array<[number, number, number]>): Buffer;
export function multiPictureJpeg(primary: Buffer, secondary: Buffer): Buffer;
export function scene(width?: number, height?: number): Sharp;
export function sources(width?: number, height?: number): Promise<Sources>;
export function badInputCorpus(options?: { seed?: number }): Promise<CorpusEntry[]>;
