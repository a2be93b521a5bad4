import { getEffect, resolveParams } from '../effects/registry.js';
import { samplePetPng } from '../image/sample.js';
import type { EngineHandle } from './engineHandle.js';

/**
 * The style picker's thumbnails: each effect applied (default parameters) to
 * the built-in sample pet, rendered by the pipeline workers once and kept.
 */
export const PREVIEW_SIDE = 256;

export interface EffectPreviews {
  get(name: string): Promise<Buffer>;
}

export function createEffectPreviews(engine: EngineHandle): EffectPreviews {
  const made = new Map<string, Promise<Buffer>>();
  return {
    get(name) {
      getEffect(name);
      let preview = made.get(name);
      if (!preview) {
        const loaded = engine.require();
        preview = samplePetPng()
          .then((sample) => loaded.render(sample, [{ effect: name, effectParams: resolveParams(name), size: PREVIEW_SIDE, format: 'png', pngCompression: 6 }]))
          .then((result) => result.outputs[0]!.data);
        // A failure is not kept: the next request tries again.
        preview.catch(() => made.delete(name));
        made.set(name, preview);
      }
      return preview;
    },
  };
}
