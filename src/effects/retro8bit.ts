import type { Effect, EffectContext, EffectImage, EffectParams } from './types.js';

/**
 * Retro 8-bit (the first version's look): the cut-out as pixel art. Blocks of
 * 6 px at the 1024 px reference, split into half-size blocks where Sobel finds
 * an edge (eyes, nose, the silhouette), each painted with the alpha-weighted
 * mean colour's nearest colour in a 32-colour pet palette (distance weighted
 * R 0.15, G 0.60, B 0.25). Alpha becomes blocky too: a block is opaque when its
 * mean alpha is at least 128, otherwise transparent, so the outline is pixel art.
 */

/**
 * 32 colours chosen for fur, noses and eyes rather than a generic console
 * palette: a grey ramp (black cats to white bellies), browns and tans (dogs,
 * tabbies), golds and gingers (goldens, orange cats), pinks (noses, tongues,
 * inner ears) and eye tones (green, hazel, blue). Each ramp is spaced so that
 * shading on fur gives two or three visible steps, as sprites do.
 */
const PET_PALETTE = [
  // Greys: black fur to white belly, slightly warm (fur greys are; cool greys turned grey cats blue-ish).
  0x0e0c0c, 0x2c2a2a, 0x4b4848, 0x6f6b6a, 0x96928f, 0xbdb9b6, 0xe2dfdc, 0xffffff,
  // Browns: chocolate labs, tabby stripes, tan and cream coats.
  0x2e1c12, 0x4a2e1c, 0x6b4226, 0x8c5a33, 0xa8744a, 0xc49a6c, 0xdcc09a, 0xf0e0c0,
  // Golds and gingers: goldens, orange cats, amber eyes.
  0x7a4a10, 0xb0661e, 0xd9822b, 0xe8a849, 0xf2c66d, 0xf7dea0,
  // Pinks: liver noses, tongues, pink noses, inner ears.
  0x7a3b3f, 0xb5575f, 0xe07a8a, 0xf0a8b0, 0xf8d0d0,
  // Eye tones: olive and olive-gold (most cat eyes: a calico's measured ~(94, 87, 52) went brown without them), green, blue, deep blue.
  0x5c5a2c, 0x8f8c3a, 0x5d8a3c, 0x6d9fcf, 0x2f5173,
] as const;

const WEIGHT_R = 0.15, WEIGHT_G = 0.6, WEIGHT_B = 0.25;
/** Sobel magnitude (0..255 scale, on the half-block grid) above which a block is split: a clear feature edge, not fur texture. */
const EDGE_THRESHOLD = 40;

export const retro8bitEffect: Effect = {
  name: 'retro8bit',
  label: 'Retro 8-bit',
  description: 'Pixel art: big square pixels in a 32-colour pet palette, finer pixels along edges.',
  parameters: {
    blockSize: { type: 'integer', default: 6, min: 2, max: 32, description: 'Pixel block size at 1024 px (scaled with the image).' },
    edgeDetail: { type: 'boolean', default: true, description: 'Split blocks on edges (eyes, nose, outline) into half-size blocks.' },
  },
  apply: (image, params, context) => Promise.resolve(applyRetro8bit(image, params, context)),
};

export const retro8bitPalette: readonly number[] = PET_PALETTE;

/** The block size in pixels for an image at `scale` (the tests use it to find the grid). */
export function retro8bitBlock(blockSize: number, scale: number): number {
  return Math.max(1, Math.round(blockSize * scale));
}

/**
 * The half-block grid: each block is split at `ceil(block / 2)` into up to 2x2
 * cells. `cellOf[x]` is the cell column (or row) of pixel x; `size[c]` its width.
 */
interface Axis { readonly cellOf: Int32Array; readonly size: Int32Array; readonly cells: number }

function axisFor(length: number, block: number): Axis {
  const half = Math.ceil(block / 2);
  const cells = 2 * Math.ceil(length / block);
  const cellOf = new Int32Array(length), size = new Int32Array(cells);
  for (let x = 0; x < length; x++) {
    const c = 2 * Math.floor(x / block) + (x % block >= half ? 1 : 0);
    cellOf[x] = c;
    size[c]!++;
  }
  return { cellOf, size, cells };
}

function applyRetro8bit(image: EffectImage, params: EffectParams, context: EffectContext): EffectImage {
  const { width, height } = image;
  const block = retro8bitBlock(Number(params.blockSize), context.scale);
  const cols = axisFor(width, block), rows = axisFor(height, block);
  const sums = cellSums(image, cols, rows);
  const split = params.edgeDetail === true && block > 1 ? edgeBlocks(sums, cols, rows) : new Uint8Array((cols.cells / 2) * (rows.cells / 2));
  const cellColour = paintCells(sums, cols, rows, split);
  return render(width, height, cols, rows, cellColour);
}

/** One pass over the frame: per half-block cell, sums of r*a, g*a, b*a and a. */
function cellSums(image: EffectImage, cols: Axis, rows: Axis): Float64Array {
  const { width, height, rgb, alpha } = image;
  const sums = new Float64Array(cols.cells * rows.cells * 4);
  for (let y = 0; y < height; y++) {
    const rowBase = rows.cellOf[y]! * cols.cells;
    let x = 0, p = y * width;
    for (let c = 0; c < cols.cells; c++) {
      const end = x + cols.size[c]!;
      let sr = 0, sg = 0, sb = 0, sa = 0;
      for (; x < end; x++, p++) {
        const a = alpha[p]!, j = p * 3;
        sr += rgb[j]! * a; sg += rgb[j + 1]! * a; sb += rgb[j + 2]! * a; sa += a;
      }
      const k = (rowBase + c) * 4;
      sums[k]! += sr; sums[k + 1]! += sg; sums[k + 2]! += sb; sums[k + 3]! += sa;
    }
  }
  return sums;
}

/**
 * Sobel on the half-block grid (premultiplied luma and alpha, 0..255): a
 * block is split when any of its cells is on an edge. Working on cell means
 * makes the edge test the same at preview and print size.
 */
function edgeBlocks(sums: Float64Array, cols: Axis, rows: Axis): Uint8Array {
  const w = cols.cells, h = rows.cells;
  const lumaPlane = new Float32Array(w * h), alphaPlane = new Float32Array(w * h);
  for (let cy = 0; cy < h; cy++) {
    for (let cx = 0; cx < w; cx++) {
      // An empty cell (a block narrower than half at the border) borrows its sibling's values.
      const sx = cols.size[cx] === 0 ? cx - 1 : cx, sy = rows.size[cy] === 0 ? cy - 1 : cy;
      const k = (sy * w + sx) * 4, count = cols.size[sx]! * rows.size[sy]!;
      lumaPlane[cy * w + cx] = (0.299 * sums[k]! + 0.587 * sums[k + 1]! + 0.114 * sums[k + 2]!) / (255 * count);
      alphaPlane[cy * w + cx] = sums[k + 3]! / count;
    }
  }
  const split = new Uint8Array((w / 2) * (h / 2));
  for (let cy = 0; cy < h; cy++) {
    for (let cx = 0; cx < w; cx++) {
      if (sobel(lumaPlane, w, h, cx, cy) >= EDGE_THRESHOLD || sobel(alphaPlane, w, h, cx, cy) >= EDGE_THRESHOLD) split[(cy >> 1) * (w / 2) + (cx >> 1)] = 1;
    }
  }
  return split;
}

/** Sobel gradient magnitude at (x, y), borders clamped, scaled so a full 0 -> 255 step reads 255. */
function sobel(plane: Float32Array, w: number, h: number, x: number, y: number): number {
  const x0 = x > 0 ? x - 1 : 0, x1 = x < w - 1 ? x + 1 : x, y0 = y > 0 ? y - 1 : 0, y1 = y < h - 1 ? y + 1 : y;
  const at = (xx: number, yy: number): number => plane[yy * w + xx]!;
  const gx = at(x1, y0) + 2 * at(x1, y) + at(x1, y1) - at(x0, y0) - 2 * at(x0, y) - at(x0, y1);
  const gy = at(x0, y1) + 2 * at(x, y1) + at(x1, y1) - at(x0, y0) - 2 * at(x, y0) - at(x1, y0);
  return Math.sqrt(gx * gx + gy * gy) / 4;
}

/**
 * Each cell's output, packed 0xAARRGGBB with alpha 0 or 255: its block's mean
 * colour, or its own where the block is split.
 */
function paintCells(sums: Float64Array, cols: Axis, rows: Axis, split: Uint8Array): Uint32Array {
  const w = cols.cells, h = rows.cells, bw = w / 2;
  const out = new Uint32Array(w * h);
  for (let cy = 0; cy < h; cy++) {
    for (let cx = 0; cx < w; cx++) {
      const own = split[(cy >> 1) * bw + (cx >> 1)] === 1;
      const x0 = own ? cx : cx & ~1, x1 = own ? cx : x0 + 1, y0 = own ? cy : cy & ~1, y1 = own ? cy : y0 + 1;
      let r = 0, g = 0, b = 0, a = 0, count = 0;
      for (let yy = y0; yy <= y1; yy++) {
        for (let xx = x0; xx <= x1; xx++) {
          const k = (yy * w + xx) * 4;
          r += sums[k]!; g += sums[k + 1]!; b += sums[k + 2]!; a += sums[k + 3]!;
          count += cols.size[xx]! * rows.size[yy]!;
        }
      }
      out[cy * w + cx] = count > 0 && a / count >= 128 ? (0xff000000 | nearestColour(r / a, g / a, b / a)) >>> 0 : 0;
    }
  }
  return out;
}

/**
 * Nearest palette colour by weighted squared distance. Exact, without a cache:
 * it runs once a cell (about 22 000 blocks whatever the image size, up to 4x
 * that where split), 32 candidates each, which costs a few milliseconds.
 */
function nearestColour(r: number, g: number, b: number): number {
  let best = 0, bestDistance = Infinity;
  for (let i = 0; i < PET_PALETTE.length; i++) {
    const c = PET_PALETTE[i]!;
    const dr = ((c >> 16) & 255) - r, dg = ((c >> 8) & 255) - g, db = (c & 255) - b;
    const distance = WEIGHT_R * dr * dr + WEIGHT_G * dg * dg + WEIGHT_B * db * db;
    if (distance < bestDistance) { bestDistance = distance; best = c; }
  }
  return best;
}

/** Writes one output row per cell row and copies it to the other rows of that cell row. */
function render(width: number, height: number, cols: Axis, rows: Axis, cellColour: Uint32Array): EffectImage {
  const rgb = Buffer.allocUnsafe(width * height * 3), alpha = new Uint8Array(width * height);
  const alphaBytes = Buffer.from(alpha.buffer, alpha.byteOffset, alpha.byteLength);
  let y = 0;
  for (let cy = 0; cy < rows.cells; cy++) {
    const count = rows.size[cy]!;
    if (count === 0) continue;
    const first = y;
    for (let x = 0, p = first * width; x < width; x++, p++) {
      const v = cellColour[cy * cols.cells + cols.cellOf[x]!]!;
      rgb[p * 3] = (v >> 16) & 255; rgb[p * 3 + 1] = (v >> 8) & 255; rgb[p * 3 + 2] = v & 255;
      alpha[p] = v >>> 24;
    }
    for (y = first + 1; y < first + count; y++) {
      rgb.copy(rgb, y * width * 3, first * width * 3, (first + 1) * width * 3);
      alphaBytes.copy(alphaBytes, y * width, first * width, (first + 1) * width);
    }
  }
  return { width, height, rgb, alpha };
}
