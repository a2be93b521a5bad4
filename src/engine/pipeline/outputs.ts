import { contextFor } from '../../effects/kit.js';
import { getEffect, resolveParams } from '../../effects/registry.js';
import { renderCutout } from '../../image/render.js';
import type { Rendered, RenderSource } from '../../image/render.js';
import type { Box } from '../../image/subject.js';
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

/** An output spec whose bytes are exactly the master's (full size, colour, PNG at the master's level). */
export function isMasterLike(spec: OutputSpec): boolean {
  return (spec.effect ?? 'color') === 'color' && (spec.format ?? 'png') === 'png' && (spec.pngCompression ?? 1) === 1 &&
    (spec.size ?? 'full') === 'full' && !spec.crop && !spec.maskOnly && spec.background === undefined;
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
