import type { ModelDescription } from './models.js';

/** Interleaved RGB bytes (size x size) to the model's normalised planar float tensor. */
export function toModelTensor(rgb: Uint8Array, model: ModelDescription): Float32Array {
  const plane = model.inputSize * model.inputSize;
  const tensor = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = model.mean[c]!;
    const scale = 1 / model.std[c]!;
    const offset = c * plane;
    for (let i = 0; i < plane; i++) tensor[offset + i] = (rgb[i * 3 + c]! - mean) * scale;
  }
  return tensor;
}

/** The model's output plane as a probability in 0..1. */
export function toProbability(output: Float32Array, model: ModelDescription): Float32Array {
  if (model.outputRange === 'probability') {
    for (let i = 0; i < output.length; i++) output[i] = Math.min(1, Math.max(0, output[i]!));
    return output;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of output) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo > 1e-6 ? hi - lo : 1;
  for (let i = 0; i < output.length; i++) output[i] = (output[i]! - lo) / span;
  return output;
}
