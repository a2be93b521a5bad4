import sharp from 'sharp';
import { invalidOption } from '../errors.js';
import { FORMATS } from './formats.js';
import type { FormatName, OutputFormat } from './formats.js';
import type { Box, Planes } from './types.js';

export interface RenderOptions {
  readonly format?: FormatName;
  /** 1..100 for the lossy formats (`lossy` in FORMATS). */
  readonly quality?: number;
  /** zlib level 0..9 for PNG (default 1: fastest that still compresses; 9 for smallest files). */
  readonly pngCompression?: number;
  /** A CSS hex colour (#rgb, #rrggbb, #rrggbbaa) or an image to put behind the pet. */
  readonly background?: string | Buffer;
  /** Crop to the subject's box plus this margin (a share of the box's longer side). */
  readonly crop?: boolean;
  readonly cropMargin?: number;
  /** The alpha mask alone, as a grey image. */
  readonly maskOnly?: boolean;
  /** 'full', 'preview' (long side 1024), or a long side in pixels. Never upscales. */
  readonly size?: 'full' | 'preview' | number;
}

/** A cut-out to render: its planes and the foreground box. */
export interface RenderSource extends Planes {
  readonly box: Box | null;
}

export interface Rendered {
  readonly data: Buffer;
  readonly format: FormatName;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  /** The region of the photo the output shows. */
  readonly rect: Box;
}

const PREVIEW_SIDE = 1024;

export async function renderCutout(source: RenderSource, options: RenderOptions = {}): Promise<Rendered> {
  const formatName = options.format ?? 'png';
  const format: OutputFormat = FORMATS[formatName];
  const quality = checkedInt('quality', options.quality ?? 90, 1, 100);
  const pngCompression = checkedInt('pngCompression', options.pngCompression ?? 1, 0, 9);
  const rect = options.crop ? cropRect(source, options.cropMargin ?? 0.05) : { x: 0, y: 0, width: source.width, height: source.height };
  const side = targetSide(options.size ?? 'full', rect);
  const resize = side < Math.max(rect.width, rect.height);

  // Crop by row copies (memcpy): sharp ignores extract() once joinChannel() is in the pipeline.
  const alpha = cropRows(source.alpha, source.width, 1, rect);
  const alphaRaw = { raw: { width: rect.width, height: rect.height, channels: 1 as const } };
  let pipeline: sharp.Sharp;
  if (options.maskOnly) {
    pipeline = sharp(alpha, alphaRaw).toColourspace('b-w');
  } else {
    const joined = sharp(cropRows(source.rgb, source.width, 3, rect), { raw: { width: rect.width, height: rect.height, channels: 3 } }).joinChannel(alpha, alphaRaw);
    // sharp applies joinChannel after resize and flatten, so when either is asked
    // for, the RGBA frame is materialised first (one libvips copy, ~30 ms at 12 MP).
    const later = resize || options.background !== undefined || !format.supportsAlpha;
    pipeline = later ? sharp(await joined.raw().toBuffer(), { raw: { width: rect.width, height: rect.height, channels: 4 } }) : joined;
  }
  if (resize) pipeline = pipeline.resize({ width: side, height: side, fit: 'inside' });
  if (!options.maskOnly) pipeline = await applyBackground(pipeline, options.background, format.supportsAlpha);
  const { data, info } = await format.encode(pipeline, { quality, pngCompression }).toBuffer({ resolveWithObject: true });
  return { data, format: formatName, contentType: format.contentType, width: info.width, height: info.height, rect };
}

function cropRows(plane: Uint8Array, width: number, channels: number, rect: Box): Buffer {
  const full = Buffer.from(plane.buffer, plane.byteOffset, plane.byteLength);
  if (rect.x === 0 && rect.y === 0 && rect.width === width && rect.height * width * channels === plane.length) return full;
  const out = Buffer.allocUnsafe(rect.width * rect.height * channels);
  const rowBytes = rect.width * channels;
  for (let y = 0; y < rect.height; y++) {
    const start = ((rect.y + y) * width + rect.x) * channels;
    full.copy(out, y * rowBytes, start, start + rowBytes);
  }
  return out;
}

function checkedInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidOption(name, `must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

function targetSide(size: 'full' | 'preview' | number, rect: Box): number {
  const long = Math.max(rect.width, rect.height);
  if (size === 'full') return long;
  if (size === 'preview') return Math.min(long, PREVIEW_SIDE);
  if (!Number.isInteger(size) || size < 1 || size > 16384) throw invalidOption('size', `must be "full", "preview" or a side from 1 to 16384, got ${size}`);
  return Math.min(long, size);
}

function cropRect(source: RenderSource, marginShare: number): Box {
  if (!(marginShare >= 0 && marginShare <= 1)) throw invalidOption('cropMargin', `must be between 0 and 1, got ${marginShare}`);
  const box = source.box;
  if (!box) return { x: 0, y: 0, width: source.width, height: source.height };
  const margin = Math.round(marginShare * Math.max(box.width, box.height));
  const x0 = Math.max(0, box.x - margin), y0 = Math.max(0, box.y - margin);
  const x1 = Math.min(source.width, box.x + box.width + margin), y1 = Math.min(source.height, box.y + box.height + margin);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i;

export function parseColour(text: string): { r: number; g: number; b: number; alpha: number } {
  if (!HEX.test(text)) throw invalidOption('background', `must be a hex colour like #ffffff, got "${text}"`);
  let hex = text.slice(1);
  if (hex.length === 3) hex = [...hex].map((c) => c + c).join('');
  const value = (i: number): number => parseInt(hex.slice(i, i + 2), 16);
  return { r: value(0), g: value(2), b: value(4), alpha: hex.length === 8 ? value(6) / 255 : 1 };
}

async function applyBackground(pipeline: sharp.Sharp, background: string | Buffer | undefined, keepsAlpha: boolean): Promise<sharp.Sharp> {
  if (background === undefined) return keepsAlpha ? pipeline : pipeline.flatten({ background: '#ffffff' });
  if (typeof background === 'string') {
    const colour = parseColour(background);
    if (colour.alpha < 1 && keepsAlpha) return pipeline;
    return pipeline.flatten({ background: { r: colour.r, g: colour.g, b: colour.b } });
  }
  // An image background: the cut-out is rendered first, then laid over the
  // background resized to cover the same frame.
  const { data, info } = await pipeline.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  let backdrop: Buffer;
  try {
    backdrop = await sharp(background, { limitInputPixels: 50_000_000 }).rotate().resize(info.width, info.height, { fit: 'cover' }).removeAlpha().toBuffer();
  } catch {
    throw invalidOption('background', 'the background image could not be decoded');
  }
  return sharp(backdrop).composite([{ input: data, raw: { width: info.width, height: info.height, channels: 4 } }]);
}
