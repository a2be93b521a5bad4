import { blurPlane } from './kit.js';
import type { Effect, EffectContext, EffectImage, EffectParams } from './types.js';

/**
 * Black dots on white: the pet's brightened luma, edges boosted, then
 * Floyd-Steinberg error diffusion against an adaptive threshold, on a grid
 * of square dots (2 px at the 1024 px reference, scaled with the image).
 *
 * Everything after the first pass runs on the dot grid, not the pixels: at
 * 12 MP with the default dots that is 500 x 375 cells, so the error
 * diffusion (inherently serial) costs a few milliseconds.
 */
/** The adaptive threshold of the first version, on the 0..255 scale: 0.7 x local mean + 38.4 (mid-grey stays 128). */
const THRESHOLD_GAIN = 0.7;
const THRESHOLD_OFFSET = 38.4;
/** Sigma of a 7x7 Gaussian (OpenCV's default for that size), in cells. */
const THRESHOLD_SIGMA = 1.4;
/** The edge boost is an unsharp mask over about one dot. */
const EDGE_SIGMA = 1;

/** Grey 0..255 by Rec. 601 luma level, with the gamma applied. */
function gammaTable(gamma: number): Float32Array {
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = 255 * Math.pow(v / 255, gamma);
  return table;
}

/** One pass over the pixels: gamma luma composited over white by alpha, averaged per cell. */
function cellMeans(image: EffectImage, cell: number, table: Float32Array): { means: Float32Array; cols: number; rows: number } {
  const { width, height, rgb, alpha } = image;
  const cols = Math.ceil(width / cell), rows = Math.ceil(height / cell);
  const sums = new Float32Array(cols * rows);
  const cellX = new Int32Array(width);
  for (let x = 0; x < width; x++) cellX[x] = (x / cell) | 0;
  for (let y = 0; y < height; y++) {
    const base = ((y / cell) | 0) * cols;
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const j = i * 3, a = alpha[i]!;
      // Transparent is white paper; soft edges blend into it.
      const grey = a === 0 ? 255 : 255 - ((255 - table[(77 * rgb[j]! + 150 * rgb[j + 1]! + 29 * rgb[j + 2]! + 128) >> 8]!) * a) / 255;
      sums[base + cellX[x]!] = sums[base + cellX[x]!]! + grey;
    }
  }
  for (let r = 0; r < rows; r++) {
    const h = Math.min(cell, height - r * cell);
    for (let c = 0; c < cols; c++) sums[r * cols + c] = sums[r * cols + c]! / (h * Math.min(cell, width - c * cell));
  }
  return { means: sums, cols, rows };
}

/**
 * Serpentine Floyd-Steinberg over the cells (0..255 values, consumed):
 * 1 where a cell is a black dot. Serpentine order avoids the diagonal
 * "worms" of left-to-right scanning.
 */
export function diffuse(values: Float32Array, threshold: Float32Array, cols: number, rows: number): Uint8Array {
  const black = new Uint8Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    const forward = (r & 1) === 0, dir = forward ? 1 : -1, row = r * cols, below = r + 1 < rows;
    for (let k = 0; k < cols; k++) {
      const c = forward ? k : cols - 1 - k, i = row + c;
      const v = values[i]!;
      const white = v > threshold[i]!;
      if (!white) black[i] = 1;
      const err = white ? v - 255 : v;
      const ahead = c + dir >= 0 && c + dir < cols, behind = c - dir >= 0 && c - dir < cols;
      if (ahead) values[i + dir] = values[i + dir]! + err * (7 / 16);
      if (!below) continue;
      const j = i + cols;
      if (behind) values[j - dir] = values[j - dir]! + err * (3 / 16);
      values[j] = values[j]! + err * (5 / 16);
      if (ahead) values[j + dir] = values[j + dir]! + err * (1 / 16);
    }
  }
  return black;
}

/** Edge boost and the adaptive threshold, from the cell means (blurs through libvips). */
async function prepare(means: Float32Array, cols: number, rows: number, cellsPerDot: number, edgeBoost: number) {
  const unit = new Float32Array(means.length);
  for (let i = 0; i < unit.length; i++) unit[i] = means[i]! / 255;
  const [soft, local] = await Promise.all([
    blurPlane(unit, cols, rows, EDGE_SIGMA * cellsPerDot),
    blurPlane(unit, cols, rows, THRESHOLD_SIGMA * cellsPerDot),
  ]);
  const values = new Float32Array(means.length), threshold = new Float32Array(means.length);
  for (let i = 0; i < values.length; i++) {
    const v = means[i]! + edgeBoost * (means[i]! - 255 * soft[i]!);
    // Clamped so a boosted edge cannot push error far outside the ink range.
    values[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    threshold[i] = THRESHOLD_GAIN * 255 * local[i]! + THRESHOLD_OFFSET;
  }
  return { values, threshold };
}

/** Each pixel takes its cell's dot: pure black or white in all three channels. */
function paint(width: number, height: number, cell: number, black: Uint8Array, cols: number): Buffer {
  const out = Buffer.alloc(width * height * 3);
  const cellX = new Int32Array(width);
  for (let x = 0; x < width; x++) cellX[x] = (x / cell) | 0;
  for (let y = 0; y < height; y++) {
    const base = ((y / cell) | 0) * cols;
    for (let x = 0, j = y * width * 3; x < width; x++, j += 3) {
      const v = black[base + cellX[x]!] === 1 ? 0 : 255;
      out[j] = v; out[j + 1] = v; out[j + 2] = v;
    }
  }
  return out;
}

/** Dot size in pixels for this image (at least one pixel). */
export function cellSize(dot: number, scale: number): number {
  return Math.max(1, Math.round(dot * scale));
}

async function applyDithering(image: EffectImage, params: EffectParams, context: EffectContext): Promise<EffectImage> {
  const { width, height } = image;
  const dot = Number(params.cell);
  const cell = cellSize(dot, context.scale);
  const { means, cols, rows } = cellMeans(image, cell, gammaTable(Number(params.gamma)));
  // Blur sizes follow the nominal dot, so rounding the dot to whole pixels does not change them.
  const { values, threshold } = await prepare(means, cols, rows, (dot * context.scale) / cell, Number(params.edgeBoost));
  const black = diffuse(values, threshold, cols, rows);
  return { width, height, rgb: paint(width, height, cell, black, cols), alpha: image.alpha };
}

export const ditheringEffect: Effect = {
  name: 'dithering',
  label: 'Dithering',
  description: 'Black dots on white paper, like an old newspaper print (Floyd-Steinberg error diffusion).',
  parameters: {
    cell: { type: 'integer', default: 2, min: 1, max: 8, description: 'Dot size in pixels at the 1024 px reference (scaled with the image).' },
    gamma: { type: 'number', default: 0.45, min: 0.2, max: 1.5, description: 'Tone before dithering: lower is lighter (fewer dots), 1 keeps the luma as is.' },
    edgeBoost: { type: 'number', default: 1, min: 0, max: 3, description: 'How strongly edges (eyes, fur outlines) are sharpened before dithering.' },
  },
  apply: applyDithering,
};
