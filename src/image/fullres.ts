import type { GuidedCoefficients } from './refine.js';
import type { Box } from './subject.js';

/**
 * The two full-resolution passes. Both are single loops over the photo with
 * no intermediate full-size planes: about 12 M iterations for a phone photo.
 */

/** Maps full-resolution x (or y) to bilinear taps on the work grid. */
function taps(full: number, work: number): { i0: Int32Array; i1: Int32Array; f: Float32Array; nearest: Int32Array } {
  const scale = work / full;
  const i0 = new Int32Array(full), i1 = new Int32Array(full), nearest = new Int32Array(full);
  const f = new Float32Array(full);
  for (let x = 0; x < full; x++) {
    const p = Math.min(Math.max((x + 0.5) * scale - 0.5, 0), work - 1);
    i0[x] = Math.floor(p);
    i1[x] = Math.min(i0[x]! + 1, work - 1);
    f[x] = p - i0[x]!;
    nearest[x] = Math.min(work - 1, Math.floor((x + 0.5) * scale));
  }
  return { i0, i1, f, nearest };
}

/** For each work cell column (or row): the first full-resolution index mapping to it (nearest). */
function runStarts(full: number, work: number, nearest: Int32Array): Int32Array {
  const starts = new Int32Array(work + 1).fill(full);
  for (let x = full - 1; x >= 0; x--) starts[nearest[x]!] = x;
  for (let c = work - 1; c >= 0; c--) if (starts[c]! > starts[c + 1]!) starts[c] = starts[c + 1]!;
  return starts;
}

export interface FinishInput {
  readonly coeff: GuidedCoefficients;
  /** Refined alpha on the coefficients' grid. */
  readonly coarse: Float32Array;
  /** Grid cells near an edge, where full-resolution work is needed. */
  readonly band: Uint8Array;
  readonly means: { fg: Float32Array; bg: Float32Array };
  readonly inputAlpha?: Uint8Array;
}

/**
 * The one full-resolution pass: returns the alpha and turns `rgb` in place into
 * the cut-out's colours. Away from edges a whole run of pixels shares its grid
 * cell's value (a fill: opaque runs keep the photo, transparent runs are zeroed
 * so they compress to nothing). Inside the band each pixel gets the guided
 * filter's interpolated coefficients applied to its own colour, and its
 * estimated foreground colour (decontaminate) so the old background does not
 * bleed into the fur: semi-transparent pixels and the opaque rim alike.
 */
export function finishFullRes(rgb: Uint8Array, width: number, height: number, input: FinishInput): Uint8Array {
  const { coeff, coarse, band, inputAlpha } = input;
  const ww = coeff.width;
  const tx = taps(width, ww);
  const ty = taps(height, coeff.height);
  const starts = runStarts(width, ww, tx.nearest);
  const alpha = new Uint8Array(width * height);
  const cells = interleave(coeff, input.means);
  const rowCells = new Float64Array(ww * PLANES);
  const made = new Int32Array(ww).fill(-1);
  for (let y = 0; y < height; y++) {
    const rn = ty.nearest[y]! * ww;
    const row = y * width;
    for (let c = 0; c < ww; c++) {
      const x0 = starts[c]!, x1 = starts[c + 1]!;
      if (x0 >= x1) continue;
      const cell = rn + c;
      if (band[cell]) {
        // This row's vertical interpolation of the cells its pixels tap (c - 1..c + 1), once per row.
        for (let k = Math.max(0, c - 1); k <= Math.min(ww - 1, c + 1); k++) {
          if (made[k] === y) continue;
          lerpCell(rowCells, cells, k, ty.i0[y]! * ww + k, ty.i1[y]! * ww + k, ty.f[y]!);
          made[k] = y;
        }
        for (let x = x0; x < x1; x++) finishPixel(rgb, alpha, row + x, rowCells, tx.i0[x]! * PLANES, tx.i1[x]! * PLANES, tx.f[x]!);
      } else if (coarse[cell]! >= 0.5) {
        alpha.fill(255, row + x0, row + x1);
      } else {
        rgb.fill(0, (row + x0) * 3, (row + x1) * 3);
      }
    }
  }
  if (inputAlpha) applyInputAlpha(rgb, alpha, inputAlpha);
  return alpha;
}

/** Per grid cell, interleaved: the coefficients ar, ag, ab, b, then Fb and Bb - Fb (RGB each). */
const PLANES = 10;

function interleave(coeff: GuidedCoefficients, means: { fg: Float32Array; bg: Float32Array }): Float32Array {
  const n = coeff.width * coeff.height;
  const out = new Float32Array(n * PLANES);
  const { ar, ag, ab, b } = coeff, { fg, bg } = means;
  for (let i = 0, o = 0, m = 0; i < n; i++, o += PLANES, m += 3) {
    out[o] = ar[i]!; out[o + 1] = ag[i]!; out[o + 2] = ab[i]!; out[o + 3] = b[i]!;
    out[o + 4] = fg[m]!; out[o + 5] = fg[m + 1]!; out[o + 6] = fg[m + 2]!;
    out[o + 7] = bg[m]! - fg[m]!; out[o + 8] = bg[m + 1]! - fg[m + 1]!; out[o + 9] = bg[m + 2]! - fg[m + 2]!;
  }
  return out;
}

function lerpCell(rowCells: Float64Array, cells: Float32Array, column: number, top: number, bottom: number, f: number): void {
  const o = column * PLANES, t = top * PLANES, b = bottom * PLANES;
  for (let k = 0; k < PLANES; k++) rowCells[o + k] = cells[t + k]! + (cells[b + k]! - cells[t + k]!) * f;
}

/** One band pixel: alpha from the coefficients bilinearly sampled at it (left and right taps of this row's cells), then its colour. */
function finishPixel(rgb: Uint8Array, alpha: Uint8Array, i: number, rowCells: Float64Array, l: number, r: number, f: number): void {
  const p = i * 3;
  const R = rgb[p]!, G = rgb[p + 1]!, B = rgb[p + 2]!;
  const ar = rowCells[l]! + (rowCells[r]! - rowCells[l]!) * f;
  const ag = rowCells[l + 1]! + (rowCells[r + 1]! - rowCells[l + 1]!) * f;
  const ab = rowCells[l + 2]! + (rowCells[r + 2]! - rowCells[l + 2]!) * f;
  const b = rowCells[l + 3]! + (rowCells[r + 3]! - rowCells[l + 3]!) * f;
  const v = Math.round(((ar * R + ag * G + ab * B) / 255 + b) * 255);
  const value = v < 0 ? 0 : v > 255 ? 255 : v;
  alpha[i] = value;
  if (value === 0) {
    rgb[p] = 0; rgb[p + 1] = 0; rgb[p + 2] = 0;
    return;
  }
  decontaminate(rgb, p, value, rowCells, l, r, f);
}

/**
 * The foreground colour of an edge pixel with alpha `value` (1..255), in
 * place, from the local means Fb and d = Bb - Fb (sampled like the coefficients). Blur fusion where it is
 * semi-transparent (an opaque pixel keeps its colour); then whatever of the
 * colour still leans from Fb towards Bb is taken out (k d, with k the lean
 * of F - Fb along d, when positive, at most 1): the fur tips at the edge
 * that the matte calls opaque carry the old background as much as the
 * semi-transparent ones do, and blur fusion leaves some where the matte's
 * alpha is higher than the colour's mix. Detail across that line (fur's own
 * shading that is not background-coloured) is kept, and alpha is never touched.
 */
function decontaminate(rgb: Uint8Array, p: number, value: number, rowCells: Float64Array, left: number, right: number, f: number): void {
  const l = left + 4, h = right + 4;
  const fr = rowCells[l]! + (rowCells[h]! - rowCells[l]!) * f;
  const fg = rowCells[l + 1]! + (rowCells[h + 1]! - rowCells[l + 1]!) * f;
  const fb = rowCells[l + 2]! + (rowCells[h + 2]! - rowCells[l + 2]!) * f;
  const dr = rowCells[l + 3]! + (rowCells[h + 3]! - rowCells[l + 3]!) * f;
  const dg = rowCells[l + 4]! + (rowCells[h + 4]! - rowCells[l + 4]!) * f;
  const db = rowCells[l + 5]! + (rowCells[h + 5]! - rowCells[l + 5]!) * f;
  let r = rgb[p]!, g = rgb[p + 1]!, b = rgb[p + 2]!;
  if (value < 255) {
    // F = Fb + t (I - t Fb - (1 - t) Bb), written as F = I + (1 - t)(Fb - I) - t (1 - t) d.
    const t = value / 255, u = 1 - t, w = t * u;
    r += u * (fr - r) - w * dr;
    g += u * (fg - g) - w * dg;
    b += u * (fb - b) - w * db;
  }
  // The lean is judged mostly by hue: m = d with its lightness (grey) part
  // weighted LIGHTNESS_WEIGHT, lean = (F - Fb).m / d.m. Fur's own shading
  // varies in lightness, seldom towards the background's hue; a plain
  // projection on d read a lighter grey tip against a bright green
  // background as green and took green out of it (a magenta cast).
  const grey = (1 - LIGHTNESS_WEIGHT) * (dr + dg + db) / 3;
  const mr = dr - grey, mg = dg - grey, mb = db - grey;
  const dm = dr * mr + dg * mg + db * mb;
  if (dr * dr + dg * dg + db * db > MIN_CONTRAST2) {
    const lean = ((r - fr) * mr + (g - fg) * mg + (b - fb) * mb) / dm;
    if (lean > 0) {
      const k = lean < 1 ? lean : 1;
      r -= k * dr; g -= k * dg; b -= k * db;
    }
  }
  rgb[p] = r < 0 ? 0 : r > 254.5 ? 255 : r + 0.5;
  rgb[p + 1] = g < 0 ? 0 : g > 254.5 ? 255 : g + 0.5;
  rgb[p + 2] = b < 0 ? 0 : b > 254.5 ? 255 : b + 0.5;
}

/** Below this |Bb - Fb|^2 (10 levels) foreground and background are too alike to say which way the background leans. */
const MIN_CONTRAST2 = 100;
/** How much a difference in lightness counts, against one in hue, when judging the lean (squared units). */
const LIGHTNESS_WEIGHT = 0.1;

/** The result never shows what the input itself hid. */
function applyInputAlpha(rgb: Uint8Array, alpha: Uint8Array, inputAlpha: Uint8Array): void {
  for (let i = 0; i < alpha.length; i++) {
    if (inputAlpha[i]! >= alpha[i]!) continue;
    alpha[i] = inputAlpha[i]!;
    if (alpha[i] === 0) rgb.fill(0, i * 3, i * 3 + 3);
  }
}

/** Bounding box of alpha >= t at full resolution, or null. */
export function alphaBox(alpha: Uint8Array, width: number, height: number, t: number): Box | null {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let first = -1, last = -1;
    for (let x = 0; x < width; x++) {
      if (alpha[row + x]! >= t) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    if (first < x0) x0 = first;
    if (last > x1) x1 = last;
    if (y < y0) y0 = y;
    y1 = y;
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}
