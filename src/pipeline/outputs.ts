import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { contextFor } from '../effects/kit.js';
import { getEffect, resolveParams } from '../effects/registry.js';
import { PetcutError } from '../errors.js';
import { alphaBox } from '../image/fullres.js';
import { renderCutout } from '../image/render.js';
import type { Rendered, RenderSource } from '../image/render.js';
import type { Box } from '../image/subject.js';
import type { OutputSpec, ProgressEvent, RenderedOutput } from './protocol.js';

/** Runs in a pipeline worker: effects and encoders for each asked output. */
export async function renderOutputs(source: RenderSource, outputs: readonly OutputSpec[], progress: (event: ProgressEvent) => void): Promise<RenderedOutput[]> {
  // Styles of one upload share its segmentation and run side by side: their libvips
  // stages overlap on the cores while another style's typed-array loop runs here.
  return Promise.all(outputs.map(async (spec, index) => {
    const effectName = spec.effect ?? 'color';
    progress({ stage: 'effect', effect: effectName, index, of: outputs.length });
    const styled = await applyEffect(source, effectName, spec.effectParams);
    progress({ stage: 'encode', effect: effectName, index, of: outputs.length });
    const output = await renderCutout(styled, spec);
    return { ...output, effect: effectName, box: boxInOutput(source.box, output) };
  }));
}

/** The cut-out in a style (parameters completed with defaults; `color` is the cut-out itself). */
export async function applyEffect(source: RenderSource, name: string, params: OutputSpec['effectParams']): Promise<RenderSource> {
  if (name === 'color') return source;
  const styled = await getEffect(name).apply(source, resolveParams(name, params ?? {}), contextFor(source));
  return { ...source, rgb: styled.rgb, alpha: styled.alpha, width: styled.width, height: styled.height };
}

/**
 * The cut-out master kept in the cache: full-resolution RGBA PNG of the
 * refined colours and alpha, so later renders (another format, size or
 * effect) skip the model.
 */
export async function encodeMaster(source: RenderSource): Promise<Buffer> {
  return sharp(source.rgb, { raw: { width: source.width, height: source.height, channels: 3 } })
    .joinChannel(Buffer.from(source.alpha.buffer, source.alpha.byteOffset, source.alpha.byteLength), { raw: { width: source.width, height: source.height, channels: 1 } })
    .png({ compressionLevel: 1, adaptiveFiltering: false })
    .toBuffer();
}

/** An output spec whose bytes are exactly the master's (full size, colour, PNG at the master's level). */
export function isMasterLike(spec: OutputSpec): boolean {
  return (spec.effect ?? 'color') === 'color' && (spec.format ?? 'png') === 'png' && (spec.pngCompression ?? 1) === 1 &&
    (spec.size ?? 'full') === 'full' && !spec.crop && !spec.maskOnly && spec.background === undefined;
}

/** Reads a master back into planes. */
export async function decodeMaster(master: Buffer): Promise<RenderSource> {
  let decoded: { data: Buffer; info: sharp.OutputInfo };
  try {
    decoded = await sharp(master, { limitInputPixels: false }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new PetcutError('PETCUT_E_INTERNAL', 'A cached cut-out could not be read.', { cause: error });
  }
  const { width, height } = decoded.info;
  const pixels = width * height;
  const rgb = Buffer.allocUnsafe(pixels * 3);
  const alpha = new Uint8Array(pixels);
  const data = decoded.data;
  for (let i = 0, j = 0, k = 0; i < pixels; i++, j += 4, k += 3) {
    rgb[k] = data[j]!;
    rgb[k + 1] = data[j + 1]!;
    rgb[k + 2] = data[j + 2]!;
    alpha[i] = data[j + 3]!;
  }
  return { width, height, rgb, alpha, box: alphaBox(alpha, width, height, 128) };
}

/** Content key of the oriented pixels (what the cache is keyed on, never the file's bytes alone). */
export function pixelHash(width: number, height: number, rgb: Buffer, alpha?: Uint8Array): string {
  const hash = createHash('sha256').update(`${width}x${height}:`).update(rgb);
  if (alpha) hash.update(alpha);
  return hash.digest('hex');
}

/** The foreground box in the output's coordinates (after crop and resize). */
export function boxInOutput(box: Box | null, rendered: Rendered): Box | null {
  if (!box) return null;
  const scale = rendered.width / rendered.rect.width;
  return {
    x: Math.round((box.x - rendered.rect.x) * scale),
    y: Math.round((box.y - rendered.rect.y) * scale),
    width: Math.max(1, Math.round(box.width * scale)),
    height: Math.max(1, Math.round(box.height * scale)),
  };
}
